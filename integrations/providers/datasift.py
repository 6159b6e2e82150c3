from typing import ClassVar

from django.db import models

from integrations.fields import SecretField
from integrations.models import Integration


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
