from typing import ClassVar

from django.db import models

from integrations.fields import SecretField
from integrations.models import Integration

CONSUMER_KEY_HELP = (
    '<a href="http://www.salesforce.com/us/developer/docs/api_streaming/Content/'
    'code_sample_auth_oauth.htm" target="_blank" rel="noopener">'
    "Get Salesforce Consumer key/secret</a>"
)


class SalesforceIntegration(Integration):
    provider_key = "salesforce"
    label = "Salesforce"

    consumer_key = models.CharField("Consumer key", max_length=255, help_text=CONSUMER_KEY_HELP)
    consumer_secret = SecretField("Consumer secret", max_length=255, help_text=CONSUMER_KEY_HELP)
    username = models.EmailField("Username", max_length=254, help_text="Salesforce username")
    password = SecretField("Password", max_length=255, help_text="Salesforce password")
    secret_token = SecretField(
        "Secret token",
        max_length=255,
        help_text=(
            '<a href="https://help.salesforce.com/apex/HTViewHelpDoc?'
            'id=user_security_token.htm&amp;language=en" target="_blank" rel="noopener">'
            "Get Salesforce secret token</a>"
        ),
    )

    # The API document's "Salesforce Example" body (credential keys only): the OpenAPI examples.
    api_example: ClassVar[dict[str, str]] = {
        "consumer-key": "consumerkey",
        "consumer-secret": "consumersecret",
        "username": "dev@userevents.com",
        "secret-token": "secret-token",
        "password": "password",
    }

    class Meta:
        verbose_name = "Salesforce integration"
