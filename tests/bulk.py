"""Many tenants and integrations fast, for query-count tests and benchmarks.

Bulk inserts, around the services on purpose (no audit events or versions: nothing to record):
multi-table inheritance has no bulk_create for provider rows, so the base rows are bulk-created
and each provider's own rows inserted directly. Values are derived from the provider models:
non-secret fields get distinct readable values, secrets are sealed like any stored secret.
"""

from collections.abc import Callable, Iterable
from itertools import cycle, islice

from django.db import connection, models, transaction

from integrations.fields import SecretField
from integrations.models import Integration
from integrations.providers import all_providers, ctype_of
from tenants.models import Tenant

BATCH = 1000


def credential_value(field: models.Field, n: int) -> str:
    """A value for `field` of the n-th row: as stored (sealed) for a secret."""
    if isinstance(field, SecretField):
        return field.get_prep_value(f"bulk-secret-{field.name}-{n}")
    if isinstance(field, models.EmailField):
        return f"ops{n}@tenant-{n}.example.com"
    return f"{field.name[:2].upper()}{n:030d}"[: field.max_length or 255]


def idents_for(count: int, start: int = 0) -> list[tuple[type[Integration], str]]:
    """`count` (provider, id) pairs cycling through the providers: `twilio`, then
    `twilio-2`, ... once every provider has one."""
    providers = list(islice(cycle(all_providers()), start, start + count))
    pairs = []
    for n, provider in enumerate(providers, start=start):
        round_ = n // len(all_providers())
        ident = provider.provider_key if round_ == 0 else f"{provider.provider_key}-{round_ + 1}"
        pairs.append((provider, ident))
    return pairs


Value = Callable[[models.Field, int], str]


def add_integrations(
    tenants: Iterable[Tenant],
    pairs: Callable[[Tenant], list[tuple[type[Integration], str]]],
    value: Value = credential_value,
) -> None:
    """Gives each tenant the (provider, id) pairs `pairs(tenant)` returns; `value(field, n)`
    is the stored value of a field of the n-th row."""
    tenants = list(tenants)
    for provider in all_providers():
        wanted = [
            (tenant, ident) for tenant in tenants for p, ident in pairs(tenant) if p is provider
        ]
        if not wanted:
            continue
        base = Integration.objects.non_polymorphic().bulk_create(
            Integration(
                tenant=tenant, ident=ident, polymorphic_ctype=ctype_of(provider), updated_by="bulk"
            )
            for tenant, ident in wanted
        )
        if any(row.pk is None for row in base):  # a database that returns no ids
            by_key = {
                (row.tenant_id, row.ident): row.pk
                for row in Integration.objects.non_polymorphic().filter(
                    tenant__in=tenants, polymorphic_ctype=ctype_of(provider)
                )
            }
            for row in base:
                row.pk = by_key[(row.tenant_id, row.ident)]
        fields = provider.credential_fields()
        ptr = provider._meta.get_ancestor_link(Integration).column
        columns = ", ".join(
            connection.ops.quote_name(c) for c in [ptr, *(f.column for f in fields)]
        )
        marks = ", ".join(["%s"] * (len(fields) + 1))
        table = connection.ops.quote_name(provider._meta.db_table)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608 (names only)
                [[row.pk, *(value(f, row.pk) for f in fields)] for row in base],
            )


def bulk_tenants(
    names: list[str],
    *,
    integrations_each: int = 0,
    display: str = "Customer {name}",
    value: Value = credential_value,
) -> list[Tenant]:
    """Creates tenants `names` with `integrations_each` integrations each (see idents_for)."""
    created = []
    for start in range(0, len(names), BATCH):
        with transaction.atomic():
            batch = Tenant.objects.bulk_create(
                Tenant(name=name, display_name=display.format(name=name))
                for name in names[start : start + BATCH]
            )
            if any(tenant.pk is None for tenant in batch):
                batch = list(Tenant.objects.filter(name__in=[t.name for t in batch]))
            add_integrations(batch, lambda tenant: idents_for(integrations_each), value)
            created += batch
    return created
