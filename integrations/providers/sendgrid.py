from typing import ClassVar

from django.db import models

from integrations.fields import SecretField
from integrations.models import Integration


class SendGridIntegration(Integration):
    provider_key = "sendgrid"
    label = "SendGrid"

    account = models.CharField("Account", max_length=255, help_text="SendGrid account")
    password = SecretField("Password", max_length=255, help_text="SendGrid password")

    # The API document's "Sendgrid Example" body (credential keys only): the OpenAPI examples.
    api_example: ClassVar[dict[str, str]] = {"account": "username", "password": "password"}

    class Meta:
        verbose_name = "SendGrid integration"
