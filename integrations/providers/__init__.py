"""The provider registry: every concrete Integration subclass is a provider.

To add one, see CONTRIBUTING.md: one module here, its import below, a migration, its tests.
"""

from django.contrib.contenttypes.models import ContentType

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
    "ctype_of",
    "provider_for",
    "provider_for_ctype_id",
    "provider_of",
]


def all_providers() -> list[type[Integration]]:
    """Provider classes ordered by their key; derived from the subclasses, never listed twice."""
    return sorted(Integration.__subclasses__(), key=lambda cls: cls.provider_key)


def provider_for(key: str) -> type[Integration] | None:
    """The provider whose `provider_key` (the JSON `type`) is `key`, or None."""
    return next((cls for cls in all_providers() if cls.provider_key == key), None)


def provider_for_ctype_id(ctype_id: int) -> type[Integration] | None:
    """The provider of a row, from its `polymorphic_ctype_id` (content types are cached per
    process by Django: no query after the first)."""
    model = ContentType.objects.get_for_id(ctype_id).model_class()
    return model if model in all_providers() else None


def provider_of(integration: Integration) -> type[Integration]:
    """The provider of a row, even one loaded as the base Integration (no query: content types
    are cached). LookupError for a row whose content type is no provider (a removed one)."""
    ctype_id = integration.polymorphic_ctype_id
    provider = None if ctype_id is None else provider_for_ctype_id(ctype_id)
    if provider is None:
        raise LookupError(f"Integration pk {integration.pk} is of no installed provider.")
    return provider


def ctype_of(provider: type[Integration]) -> ContentType:
    """The content type that marks rows of `provider` (cached like provider_for_ctype_id)."""
    return ContentType.objects.get_for_model(provider, for_concrete_model=False)
