from typing import ClassVar

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
    rejected,
    sendable_in_header,
)


class SendGridIntegration(Integration):
    provider_key = "sendgrid"
    label = "SendGrid"

    account = models.CharField("Account", max_length=255, help_text="SendGrid account")
    password = SecretField("Password", max_length=255, help_text="SendGrid password")

    # The API document's "Sendgrid Example" body (credential keys only): the OpenAPI examples.
    api_example: ClassVar[dict[str, str]] = {"account": "username", "password": "password"}

    class Meta:
        verbose_name = "SendGrid integration"

    @sensitive_variables("key", "headers")
    def verify(self) -> VerificationResult:
        """List the API key's scopes: `GET {SENDGRID_API_URL}/v3/scopes` with
        `Authorization: Bearer {password}`. SendGrid's v3 API takes API keys only (basic
        authentication with the account's password ended in 2020), so the password must be
        an API key; `account` is not part of the call. /v3/scopes answers any valid key,
        whatever its permissions (unlike /v3/user/account, which needs `user.account.read`).
        2xx → ok, 401/403 → rejected, else unreachable. Raises verification.Unreachable for
        transport failures, SecretDecryptionError for an unreadable password.
        Docs: https://www.twilio.com/docs/sendgrid/api-reference/api-key-permissions/
        retrieve-a-list-of-scopes-assigned-to-this-api-key"""
        key = self.password.reveal()
        if not sendable_in_header(key):
            return rejected("The password holds characters that no SendGrid API key has.")
        url = f"{base_url('SENDGRID_API_URL')}/v3/scopes"
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        answer = exchange("GET", url, label=self.label, headers=headers)
        return outcome_of_status(
            answer,
            label=self.label,
            host=host_of(url),
            accepted="SendGrid accepted the password as an API key.",
            refused="SendGrid refused the password as an API key",
        )
