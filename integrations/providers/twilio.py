from typing import ClassVar

from django.db import models

from integrations.fields import SecretField
from integrations.models import Integration


class TwilioIntegration(Integration):
    provider_key = "twilio"
    label = "Twilio"

    account = models.CharField("Account SID", max_length=64, help_text="Twilio SID")
    password = SecretField(
        "Auth token",
        max_length=255,
        help_text=(
            '<a href="https://www.twilio.com/help/faq/twilio-basics/'
            'what-is-the-auth-token-and-how-can-it-be-reset" target="_blank" rel="noopener">'
            "Twilio Token</a>"
        ),
    )

    # The API document's "Twilio Example" body (credential keys only): the OpenAPI examples.
    api_example: ClassVar[dict[str, str]] = {"account": "SID", "password": "Token"}

    class Meta:
        verbose_name = "Twilio integration"
