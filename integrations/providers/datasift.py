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


class DataSiftIntegration(Integration):
    provider_key = "datasift"
    label = "DataSift"

    username = models.CharField("Username", max_length=255, help_text="DataSift username")
    api_key = SecretField(
        "API key",
        max_length=255,
        help_text=(
            '<a href="http://dev.datasift.com/docs/getting-started/api-faq#APIkey" '
            'target="_blank" rel="noopener">DataSift api key</a>'
        ),
    )

    # The API document's "Datasift Example" body (credential keys only): the OpenAPI examples.
    api_example: ClassVar[dict[str, str]] = {"api-key": "api-key", "username": "username"}

    class Meta:
        verbose_name = "DataSift integration"

    @sensitive_variables("credentials", "headers")
    def verify(self) -> VerificationResult:
        """Read the account's usage: `GET {DATASIFT_API_URL}/usage` (the URL holds the API
        version, default https://api.datasift.com/v1.6) with `Authorization: username:api_key`.
        2xx → ok, 401/403 → rejected, else unreachable. Raises verification.Unreachable for
        transport failures, SecretDecryptionError for an unreadable key.
        Docs: https://dev.datasift.com/docs/api/rest-api/endpoints/usage and
        https://dev.datasift.com/docs/platform/api/rest-api/api-authentication"""
        credentials = f"{self.username}:{self.api_key.reveal()}"
        if not sendable_in_header(credentials):
            return rejected("The username or API key holds characters DataSift cannot accept.")
        url = f"{base_url('DATASIFT_API_URL')}/usage"
        headers = {"Authorization": credentials, "Accept": "application/json"}
        answer = exchange("GET", url, label=self.label, headers=headers)
        return outcome_of_status(
            answer,
            label=self.label,
            host=host_of(url),
            accepted="DataSift accepted the username and API key.",
            refused="DataSift refused the username and API key",
        )
