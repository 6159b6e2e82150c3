from django.db import models

from integrations.fields import SecretField
from integrations.models import Integration


class SendGridIntegration(Integration):
    provider_key = "sendgrid"
    label = "SendGrid"

    account = models.CharField("Account", max_length=255, help_text="SendGrid account")
    password = SecretField("Password", max_length=255, help_text="SendGrid password")

    class Meta:
        verbose_name = "SendGrid integration"
