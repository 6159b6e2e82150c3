"""Reads shared by the API and the staff views."""

from integrations.exceptions import TenantNotFound, UnknownProvider
from integrations.models import Integration
from integrations.providers import all_providers, provider_for
from tenants.models import Tenant


def tenant_get_live(*, name: str) -> Tenant:
    tenant = Tenant.objects.filter(name=name).first()
    if tenant is None:
        raise TenantNotFound(name)
    return tenant


def provider_get(*, key: str) -> type[Integration]:
    provider = provider_for(key)
    if provider is None:
        raise UnknownProvider(key)
    return provider


def providers_by_tenant(*, tenant_ids: list[int]) -> dict[int, list[type[Integration]]]:
    """Which providers each tenant has live integrations of: one query for a page of tenants."""
    rows = (
        Integration.objects.non_polymorphic()
        .filter(tenant_id__in=tenant_ids)
        .values_list("tenant_id", "provider")
        .distinct()
    )
    found: dict[int, set[str]] = {}
    for tenant_id, key in rows:
        found.setdefault(tenant_id, set()).add(key)
    return {
        tenant_id: [p for p in all_providers() if p.provider_key in keys]
        for tenant_id, keys in found.items()
    }


def integration_list(*, tenant: Tenant) -> list[Integration]:
    """The tenant's live integrations, ordered by id: one JOINed query per provider type,
    instead of a polymorphic base query plus one per type."""
    found = [
        integration
        for provider in all_providers()
        for integration in provider.objects.filter(tenant=tenant)
    ]
    return sorted(found, key=lambda integration: integration.ident)
