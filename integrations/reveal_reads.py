"""A read of one integration's secrets in clear (GET with the `secrets` scope) as one
PostgreSQL statement: the row, its `reveal` audit event and its last-used-at together
(compiled_write.read_with_writes), where the two steps (selectors, then
services.integration_reveals_record) take a read and then a write. One round trip fewer and
about a fifth less of the read's CPU (measured in-process, interleaved with the two steps)."""

from dataclasses import dataclass
from functools import cache

from django.db import connections, router
from django.utils import timezone

from config import compiled_write
from config.compiled_query import CompiledQuery
from integrations import history, selectors, services
from integrations.models import Integration
from integrations.providers import provider_for
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.selectors import could_be_stored, tenant_name_could_be_stored


def integration_get_revealed(*, tenant: Tenant | str, ident: str, actor: Actor) -> Integration:
    """The live integration `ident` of `tenant` (a live Tenant, or the name of one), for an
    answer that carries its secrets in clear: its `reveal` event is written and its
    last-used-at noted (when due), as services.integration_reveals_record(read=True) writes
    them, before it is returned; the instance shows the new last-used-at. In one statement
    when the id names its provider on PostgreSQL, else in the two steps.

    Raises TenantNotFound or IntegrationNotFound as the selectors do (nothing is written);
    DatabaseError when the writes fail, RowsNotAsExpected when one was dropped (nothing of
    the statement is kept, and nothing is returned)."""
    provider = provider_for(ident)
    alias = router.db_for_write(Integration)
    by_name = isinstance(tenant, str)
    if (
        provider is None
        or not provider.secret_field_names()
        or not compiled_write.can_guard(alias)
        or not could_be_stored(Integration, "ident", ident)
        or (isinstance(tenant, str) and not tenant_name_could_be_stored(tenant))
    ):
        return _in_two_steps(tenant, ident, actor)
    plan = _plan(provider, by_name, alias)
    now = timezone.now()
    event = history.reveal_event(provider, actor=actor)
    connection = connections[alias]
    found = compiled_write.read_with_writes(
        alias,
        plan.query.statement(tenant if isinstance(tenant, str) else tenant.pk, ident),
        plan.width,
        [
            (plan.used_sql, list(services.used_params(now, connection)), False),
            (*compiled_write.insert_from_read(event, plan.subject), True),
        ],
    )
    if found is None:  # or found in two steps (an id of another provider's, from before)
        return _in_two_steps(tenant, ident, actor)
    row, (used, _) = found
    integration = plan.query.instance_of(row)
    if isinstance(tenant, Tenant):
        integration.tenant = tenant
    if used:
        integration.last_used_at = now
    return integration


def _in_two_steps(tenant: Tenant | str, ident: str, actor: Actor) -> Integration:
    integration = (
        selectors.integration_get_live_by_name(tenant_name=tenant, ident=ident)
        if isinstance(tenant, str)
        else selectors.integration_get_live(tenant=tenant, ident=ident)
    )
    services.integration_reveals_record(integrations=[integration], actor=actor, read=True)
    return integration


@dataclass(frozen=True)
class _Plan:
    """What a provider's revealed read needs besides its values, worked out once."""

    query: CompiledQuery[Integration]
    width: int  # columns of the row read
    subject: dict[str, int]  # the reveal event's fields taken from the row read: its columns
    used_sql: str


@cache
def _plan(provider: type[Integration], by_name: bool, alias: str) -> _Plan:
    query = selectors.live_integration_query(provider, by_tenant_name=by_name)
    key = query.column("id")
    # services.integration_used_record's UPDATE, of the row read.
    row_key = f"SELECT {compiled_write.read_column(key)} FROM {compiled_write.READ_ROW}"  # noqa: S608
    used_sql = services.used_update_sql(alias, row_key)
    return _Plan(
        query=query,
        width=query.width(),
        subject={
            "tenant_id": query.column("tenant_id"),
            "integration_pk": key,
            "integration_ident": query.column("ident"),
        },
        used_sql=used_sql,
    )
