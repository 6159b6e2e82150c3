"""The provider registry: every concrete Integration subclass is a provider.

To add one, see CONTRIBUTING.md: one module here, its import below, a migration, its tests.
"""

from integrations.models import Integration
from integrations.providers.datasift import DataSiftIntegration
from integrations.providers.salesforce import SalesforceIntegration
from integrations.providers.sendgrid import SendGridIntegration
from integrations.providers.twilio import TwilioIntegration

__all__ = [
    "DataSiftIntegration",
    "SalesforceIntegration",
    "SendGridIntegration",
    "TwilioIntegration",
    "all_providers",
    "provider_for",
]


def all_providers() -> list[type[Integration]]:
    """Provider classes ordered by their key; derived from the subclasses, never listed twice."""
    return sorted(Integration.__subclasses__(), key=lambda cls: cls.provider_key)


def provider_for(key: str) -> type[Integration] | None:
    return next((cls for cls in all_providers() if cls.provider_key == key), None)
