"""Reads shared by the API and the staff views."""

from integrations.exceptions import TenantNotFound, UnknownProvider
from integrations.models import Integration
from integrations.providers import provider_for
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
