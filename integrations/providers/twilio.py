from typing import ClassVar
from urllib.parse import quote

from django.db import models
from django.views.decorators.debug import sensitive_variables

from integrations.fields import SecretField
from integrations.models import Integration
from integrations.verification import (
    VerificationResult,
    base_url,
    exchange,
    host_of,
    outcome_of_status,
)


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

    @sensitive_variables("auth")
    def verify(self) -> VerificationResult:
        """Fetch the account: `GET {TWILIO_API_URL}/2010-04-01/Accounts/{SID}.json` with HTTP
        basic auth (SID, auth token); the SID is percent-encoded into the path. 2xx → ok,
        401/403 → rejected, else unreachable. Raises verification.Unreachable for transport
        failures, SecretDecryptionError for an unreadable token.
        Docs: https://www.twilio.com/docs/iam/api/account#fetch-an-account-resource"""
        sid = quote(self.account, safe="")
        url = f"{base_url('TWILIO_API_URL')}/2010-04-01/Accounts/{sid}.json"
        auth = (self.account, self.password.reveal())
        answer = exchange("GET", url, label=self.label, auth=auth)
        return outcome_of_status(
            answer,
            label=self.label,
            host=host_of(url),
            accepted="Twilio accepted the account SID and auth token.",
            refused="Twilio refused the account SID and auth token",
        )
