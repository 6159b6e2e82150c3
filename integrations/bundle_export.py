"""What `export_integrations` puts in a bundle: tenants and their live integrations, each
integration as the API's body for it (hyphenated keys, `id`, `type`, secrets in clear), so
that `import_integrations` validates it with the API's own serializers.

The payload (a dict) is sealed by integrations.bundles; it never leaves this process in clear.
"""

from collections.abc import Callable, Iterable
from typing import Any

from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations.api.serializers import json_key, serializer_for
from integrations.encryption import SecretDecryptionError
from integrations.models import Integration
from integrations.providers import all_providers
from tenants.exceptions import RegistryError
from tenants.models import Tenant
from tenants.selectors import tenant_get_live


class ExportFailed(RegistryError):
    """A record could not be exported (a secret that no configured key decrypts); the message
    names the record and field, never a value."""


def export_tenants(*, names: Iterable[str] = ()) -> list[Tenant]:
    """The live tenants to export: those named (each must be live: TenantNotFound otherwise),
    or every live tenant when `names` is empty; ordered by name."""
    wanted = sorted(set(names))
    if not wanted:
        return list(Tenant.objects.order_by("name"))
    return [tenant_get_live(name=name) for name in wanted]


@sensitive_variables("payload", "records")
def export_payload(
    *, tenants: list[Tenant], progress: Callable[[int], None] = lambda done: None
) -> tuple[dict[str, Any], list[Integration]]:
    """The bundle payload of `tenants` and the integrations it holds in clear (for the reveal
    audit). `progress(1)` is called after each integration.

    Payload: {"exported-at": RFC 3339, "tenants": [{"name", "display-name", "integrations":
    [{"id", "type", <every credential field by JSON key>}]}]}. Raises ExportFailed for a secret
    that no key in FIELD_ENCRYPTION_KEYS decrypts (nothing is exported then).
    """
    exported: list[Integration] = []
    records = []
    for tenant in tenants:
        integrations = live_integrations(tenant=tenant)
        records.append(
            {
                "name": tenant.name,
                "display-name": tenant.display_name,
                "integrations": [_record(integration, progress) for integration in integrations],
            }
        )
        exported.extend(integrations)
    payload = {"exported-at": timezone.now().isoformat(), "tenants": records}
    return payload, exported


def live_integrations(*, tenant: Tenant) -> list[Integration]:
    """Every live integration of `tenant`, as its provider's class, ordered by id: one query per
    provider, never paginated (a bundle must hold them all)."""
    found = [
        integration
        for provider in all_providers()
        for integration in provider.objects.non_polymorphic().filter(tenant=tenant)
    ]
    for integration in found:
        integration.tenant = tenant  # known already; saves a query per row
    return sorted(found, key=lambda integration: integration.ident)


# Tenants per COUNT: a statement takes at most 65,535 parameters on PostgreSQL (the protocol's
# 16-bit count, with server-side binding) and 32,766 on SQLite.
COUNT_BATCH = 10_000


def count_integrations(tenants: list[Tenant]) -> int:
    """How many live integrations `tenants` hold: one query per COUNT_BATCH tenants."""
    ids = [tenant.pk for tenant in tenants]
    return sum(
        Integration.objects.filter(tenant_id__in=ids[start : start + COUNT_BATCH]).count()
        for start in range(0, len(ids), COUNT_BATCH)
    )


@sensitive_variables("record", "value")
def _record(integration: Integration, progress: Callable[[int], None]) -> dict[str, Any]:
    provider = type(integration)
    fields = serializer_for(provider)().fields
    secrets = set(provider.secret_field_names())
    record: dict[str, Any] = {"id": integration.ident, "type": provider.provider_key}
    for field in provider.credential_fields():
        value = getattr(integration, field.name)
        if field.name in secrets:
            try:
                value = value.reveal() if value is not None else None
            except SecretDecryptionError:
                raise ExportFailed(
                    f"Tenant '{integration.tenant.name}', integration '{integration.ident}': "
                    f"the secret {json_key(field.name)} does not decrypt with any key in "
                    "FIELD_ENCRYPTION_KEYS; nothing was exported. Re-enter it, or put its key "
                    "back."
                ) from None
        elif value is not None:
            value = fields[json_key(field.name)].to_representation(value)
        record[json_key(field.name)] = value
    progress(1)
    return record
