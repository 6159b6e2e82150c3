"""Reads of integrations' secrets in clear (GET with the `secrets` scope) as one PostgreSQL
statement each: the rows, their `reveal` audit events and their last-used-at together
(compiled_write.read_rows_with_writes), where the two steps (selectors, then
services.integration_reveals_record) take a read and then a write. One round trip fewer, and
less CPU (measured in-process, interleaved with the two steps): about a fifth of a GET of one,
about a quarter of a list's."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from django.db import connections, router
from django.utils import timezone
from psycopg import sql

from config import compiled_write
from config.compiled_query import CompiledQuery
from integrations import history, selectors, services
from integrations.models import Integration
from integrations.providers import all_providers, provider_for
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
            (plan.used_sql, list(services.used_params(now, connection)), None),
            (*compiled_write.insert_from_read(event, plan.subject), compiled_write.EVERY_ROW),
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


def integration_list_revealed(
    *,
    tenant: Tenant | str,
    provider: type[Integration] | None,
    after: str | None,
    limit: int,
    status: str | None,
    actor: Actor,
) -> list[Integration]:
    """selectors.integration_list's page of `limit` integrations, followed by the first of
    the next page when there is one (not part of the answer: it tells that a next page
    exists), for an answer that carries the page's secrets in clear: the page's `reveal`
    events (one per integration whose provider has secrets) and last-used-at are written as
    services.integration_reveals_record(read=True) writes them, before the page is returned;
    the instances show the new last-used-at. In the statement that reads the page on
    PostgreSQL, else in the two steps.

    Raises TenantNotFound as integration_list does (nothing is written); DatabaseError when
    the writes fail, RowsNotAsExpected when a reveal event was dropped (nothing of the
    statement is kept, and nothing is returned). The last-used-at is bookkeeping, not audit:
    a racing read may write it first, and then the instances show the value read."""
    alias = router.db_for_write(Integration)
    if not compiled_write.can_guard(alias):
        page = selectors.integration_list(
            tenant=tenant, provider=provider, after=after, limit=limit + 1, status=status
        )
        services.integration_reveals_record(integrations=page[:limit], actor=actor, read=True)
        return page
    now = timezone.now()
    return selectors.rows_of_live_tenant(
        tenant,
        lambda key: _revealed_page(
            key, provider=provider, after=after, limit=limit, status=status, actor=actor, now=now
        ),
    )


def _revealed_page(
    tenant: int | str,
    *,
    provider: type[Integration] | None,
    after: str | None,
    limit: int,
    status: str | None,
    actor: Actor,
    now: datetime,
) -> list[Integration]:
    query, values = selectors.page_read(
        tenant, provider=provider, after=after, limit=limit + 1, status=status
    )
    alias = router.db_for_write(Integration)
    # The providers the page may hold whose secrets it reveals, with their secret names (which
    # the plan writes into its SQL: part of its key).
    revealing = tuple(
        (shown, tuple(shown.secret_field_names()))
        for shown in all_providers()
        if shown.secret_field_names() and query.model in (Integration, shown)
    )
    plan = _page_plan(query, limit, alias, revealing)
    writes: list[tuple[str, Sequence[Any], str | None]] = [
        (plan.used_sql, services.used_params(now, connections[alias]), None)
    ]
    if plan.reveal_where is not None:
        event = history.reveal_event_of_rows(actor=actor)
        insert = compiled_write.insert_from_read(
            event, plan.reveal_from_read, where=plan.reveal_where
        )
        writes.append((*insert, plan.reveal_where))
    rows, (used, *_) = compiled_write.read_rows_with_writes(
        alias, query.statement(*values), plan.width, writes
    )
    # In the page's order: by id, code point by code point, as the statement's COLLATE "C".
    rows.sort(key=lambda row: row[plan.ident])
    page = [query.instance_of(row) for row in rows]
    if provider is None:
        by_name = isinstance(tenant, str)
        page = [child for row in page if (child := selectors.as_provider(row, with_tenant=by_name))]
    due = services.used_due(page[:limit], now)
    if used == len(due):
        # The UPDATE wrote every one: they show it. Fewer means a racing read wrote some (or a
        # trigger dropped them): which is not known, so all show the value read, as stored.
        for integration in due:
            integration.last_used_at = now
    return page


@dataclass(frozen=True)
class _PagePlan:
    """What a page's revealed read needs besides its values, worked out once per page query
    and limit."""

    width: int  # columns of the rows read
    ident: int  # the column of the id, the page's order
    # The reveal events: which rows get one (SQL; None when no provider there has secrets),
    # and their fields taken from each row read (insert_from_read's `from_read`).
    reveal_where: str | None
    reveal_from_read: dict[str, int | str]
    used_sql: str


@lru_cache(maxsize=256)
def _page_plan(
    query: CompiledQuery[Integration],
    limit: int,
    alias: str,
    revealing: tuple[tuple[type[Integration], tuple[str, ...]], ...],
) -> _PagePlan:
    key_column = query.column("id")
    key = compiled_write.read_column(key_column)
    ident = query.column("ident")
    # The page's rows: all read but the first of the next page, which is there only when
    # more than `limit` rows were read, and is then the last by id. Two uncorrelated scalar
    # sub-SELECTs, each run once (an IN over the read ordered and limited was planned, on a
    # table without statistics, as a scan of the read per row: a page of 1,000 timed out).
    # `limit` is a whole number (the view's int_param), written in the SQL.
    read_row = compiled_write.READ_ROW
    on_page = (
        f"NOT ((SELECT count(*) FROM {read_row} AS page) > {int(limit)} "  # noqa: S608
        f'AND {compiled_write.read_column(ident)} COLLATE "C" = '
        f'(SELECT max(page.c{ident} COLLATE "C") FROM {read_row} AS page))'
    )
    # Each row's provider, as the answer sees it: the one whose table holds the row (the
    # page's JOIN, not the content type column), with SQL that holds for that provider's rows.
    shown = {
        revealed: "TRUE"
        if query.model is revealed
        else f"{compiled_write.read_column(query.field_column(revealed._meta.pk))} IS NOT NULL"
        for revealed, _ in revealing
    }
    has_secrets = " OR ".join(shown.values())
    return _PagePlan(
        width=query.width(),
        ident=ident,
        reveal_where=f"({has_secrets}) AND {on_page}" if shown else None,
        reveal_from_read={
            "tenant_id": query.column("tenant_id"),
            "integration_pk": key_column,
            "integration_ident": ident,
            # What history.reveal_event writes of each provider.
            "integration_type": _of_provider(
                {present: revealed.provider_key for revealed, present in shown.items()}
            ),
            "changes": "CAST({} AS jsonb)".format(
                _of_provider(
                    {
                        present: json.dumps(history.revealed_changes(revealed))
                        for revealed, present in shown.items()
                    }
                )
            ),
        },
        # services.integration_used_record's UPDATE, of the page's rows.
        used_sql=services.used_update_sql(
            alias,
            f"SELECT {key} FROM {compiled_write.READ_ROW} WHERE {on_page}",  # noqa: S608
        ),
    )


def _of_provider(values: dict[str, str]) -> str:
    """SQL worth values[p] for a row for which the SQL condition p holds (one per provider):
    the values are the providers' own (keys, secret names), literals quoted by psycopg."""
    whens = " ".join(
        f"WHEN {present} THEN {sql.Literal(value).as_string()}" for present, value in values.items()
    )
    return f"CASE {whens} END"
