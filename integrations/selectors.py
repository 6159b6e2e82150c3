"""Reads shared by the API and the staff views."""

from collections.abc import Callable

from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.functions import Collate

from config.compiled_query import CompiledPerModel, CompiledQuery
from integrations.exceptions import IntegrationNotFound, UnknownProvider
from integrations.models import Integration, IntegrationVersion
from integrations.providers import all_providers, provider_for, provider_for_ctype_id
from integrations.verification import NEVER, STATUS_FILTERS, VerificationStatus
from tenants.models import AuditEvent, Tenant
from tenants.selectors import could_be_stored, tenant_get_live, tenant_name_could_be_stored


def provider_get(*, key: str) -> type[Integration]:
    provider = provider_for(key)
    if provider is None:
        raise UnknownProvider(key)
    return provider


def integration_list(
    *,
    tenant: Tenant | str,
    provider: type[Integration] | None = None,
    after: str | None = None,
    limit: int | None = None,
    status: str | None = None,
) -> list[Integration]:
    """The tenant's live integrations (of one provider, if given; whose last verification
    ended in `status`, if given: ok, rejected, unreachable or never), ordered by id: all of them,
    or the `limit` first whose id sorts after `after` (keyset pagination: stable while others
    write, since ids are unique among live rows and a page never skips or repeats one).

    `tenant` is a Tenant, or the name of one (an API request of an all-tenants token): then
    the live tenant of that name is JOINed into the page's query. Only when that page is empty
    is the tenant read by itself (TenantNotFound, as tenant_get_live, when it is not live),
    and then its page again: a tenant restored between the two reads shows its integrations,
    not an empty page. A Tenant given is checked live in the page's query too, and read again
    when the page is empty (TenantNotFound when deleted since). Each integration's `tenant`
    is loaded.

    One query: the base rows LEFT JOINed to every provider's table (or, for one provider, its
    own model), each row made its provider's instance from that same row, instead of a
    polymorphic base query plus one per type. `non_polymorphic()` because the rows come
    complete already: downcasting would only add content-type lookups and queries.
    """
    return rows_of_live_tenant(
        tenant,
        lambda key: _page(key, provider=provider, after=after, limit=limit, status=status),
    )


def rows_of_live_tenant(
    tenant: Tenant | str, read: Callable[[int | str], list[Integration]]
) -> list[Integration]:
    """What `read` (a page reader such as _page: given a live tenant's key, or the name of a
    live tenant, its rows; none when it is not live) reads of `tenant`, checked as
    integration_list says: by name when a name is given; a page that comes back empty asks
    whether the tenant is live (TenantNotFound if not), and then is read again by the key.
    Each row's `tenant` is set."""
    if isinstance(tenant, str):
        rows = read(tenant) if tenant_name_could_be_stored(tenant) else []
        if rows:
            return rows
        # No live tenant of that name (TenantNotFound), or none of its integrations on this
        # page, or a tenant restored since the page was read: its page, read after it.
        tenant = tenant_get_live(name=tenant)
    rows = read(tenant.pk)
    if not rows:
        tenant_get_live(name=tenant.name)  # TenantNotFound when deleted since it was read
    for integration in rows:
        integration.tenant = tenant  # known already; saves a query per row if it is read
    return rows


def _page(
    tenant: int | str,
    *,
    provider: type[Integration] | None,
    after: str | None,
    limit: int | None,
    status: str | None,
) -> list[Integration]:
    """integration_list's rows, of the tenant of this primary key or (a str) live name."""
    query, values = page_read(tenant, provider=provider, after=after, limit=limit, status=status)
    rows = query.all(*values)
    if provider is None:
        by_name = isinstance(tenant, str)
        rows = [child for row in rows if (child := as_provider(row, with_tenant=by_name))]
    return rows


def page_read(
    tenant: int | str,
    *,
    provider: type[Integration] | None,
    after: str | None,
    limit: int | None,
    status: str | None,
) -> tuple[CompiledQuery[Integration], list[int | str]]:
    """The compiled query of integration_list's page and the values to run it with, for the
    tenant of this primary key or (a str) live name. Its rows are base Integration rows
    (as_provider makes them the providers' instances) when `provider` is None, else the
    provider's; ordered by the annotation `ident_bytes` (the id, by code point)."""
    stored_status = None if status is None else verification_status_value(status)
    query = _page_query(
        provider,
        limit=limit,
        after=after is not None,
        status=status is not None,
        by_name=isinstance(tenant, str),
    )
    values: list[int | str] = [tenant]
    if after is not None:
        values.append(after)
    if stored_status is not None:
        values.append(stored_status)
    return query, values


def as_provider(row: Integration, *, with_tenant: bool) -> Integration | None:
    """The provider instance a base row of `page_read(…, provider=None)` carries: its child, loaded
    by the LEFT JOIN (select_related of the reverse parent link) from that same row, with the
    row's JOINed tenant if `with_tenant`. None for a base row without its provider's row (not
    an integration the API can serve)."""
    for name in _provider_links():
        child: Integration | None = row._state.fields_cache.get(name)
        if child is not None:
            if with_tenant:
                child.tenant = row.tenant
            return child
    return None


def _provider_links() -> list[str]:
    # Each provider's table, as the base model's reverse one-to-one (its parent link).
    return [str(provider._meta.model_name) for provider in all_providers()]


# A page of one provider's rows (or of every provider's: provider None), compiled once per
# provider, limit and filters (config.compiled_query): one query on every list request. The
# limit is part of the SQL, so the kept ones are bounded: past PAGE_QUERIES_KEPT, others
# compile every time.
_PAGE_QUERIES: dict[
    tuple[type[Integration] | None, int | None, bool, bool, bool], CompiledQuery[Integration]
] = {}
PAGE_QUERIES_KEPT = 64


def _page_query(
    provider: type[Integration] | None,
    *,
    limit: int | None,
    after: bool,
    status: bool,
    by_name: bool,
) -> CompiledQuery[Integration]:
    key = (provider, limit, after, status, by_name)
    query = _PAGE_QUERIES.get(key)
    if query is None:
        model = Integration if provider is None else provider

        def build(tenant: int | str, *filters: str) -> QuerySet[Integration, Integration]:
            rows = model.objects.non_polymorphic()
            if by_name:
                rows = rows.select_related("tenant").filter(
                    tenant__name=tenant, tenant__deleted_at=None
                )
            else:  # the tenant read earlier: still live (see _LIVE_OF_PROVIDER)
                rows = rows.filter(tenant_id=tenant, tenant__deleted_at=None)
            if provider is None:
                # Only base rows that have their provider's row (as the per-provider INNER
                # JOINs read them): dropped after the LIMIT, such rows would shorten a page
                # and hide the next one.
                links = _provider_links()
                has_provider_row = Q()
                for link in links:
                    has_provider_row |= Q(**{f"{link}__isnull": False})
                rows = rows.filter(has_provider_row).select_related(*links)
            # Compared and ordered by code point, as clients (and Python) sort: a database
            # collation that orders '_' and '-' otherwise (ICU, glibc locales) would make
            # pages skip ids.
            rows = rows.annotate(ident_bytes=Collate("ident", _binary_collation())).order_by(
                "ident_bytes"
            )
            rest = list(filters)
            if after:
                rows = rows.filter(ident_bytes__gt=rest.pop(0))
            if status:
                rows = rows.filter(last_verification=rest.pop(0))
            return rows if limit is None else rows[:limit]

        kinds = [str if by_name else int, *([str] if after else []), *([str] if status else [])]
        query = CompiledQuery(model, build, *kinds)
        if len(_PAGE_QUERIES) < PAGE_QUERIES_KEPT:
            _PAGE_QUERIES[key] = query
    return query


def verification_status_value(status: str) -> str:
    """The stored `last_verification` of a status filter: "never" is stored as "". Raises
    ValueError for a word not in verification.STATUS_FILTERS."""
    if status not in STATUS_FILTERS:
        raise ValueError(f"Unknown verification status {status!r}.")
    return "" if status == NEVER else status


def integrations_to_verify(
    *, tenant: Tenant | None = None, status: str | None = None
) -> list[Integration]:
    """Live integrations of live tenants (of `tenant` only, if given; whose last verification
    ended in `status`, if given: ok, rejected, unreachable or never), as their providers'
    classes with their tenants loaded, ordered by tenant name and id: what a bulk
    verification runs over. One query per provider. ValueError for an unknown `status`."""
    found: list[Integration] = []
    for cls in all_providers():
        rows = (
            cls.objects.non_polymorphic()
            .select_related("tenant")
            .filter(tenant__deleted_at__isnull=True)
        )
        if tenant is not None:
            rows = rows.filter(tenant=tenant)
        if status is not None:
            rows = rows.filter(last_verification=verification_status_value(status))
        found.extend(rows)
    found.sort(key=lambda integration: (integration.tenant.name, integration.ident))
    return found


def failing_integration_tenant_ids() -> QuerySet[Integration, int]:
    """The primary keys of tenants having a live integration whose last verification was
    rejected or unreachable, as a lazy subquery for `Tenant.objects.filter(pk__in=...)`: the
    tenant list filters with it in its own statement, without reading every id into Python."""
    failing = (VerificationStatus.REJECTED, VerificationStatus.UNREACHABLE)
    return (
        Integration.objects.non_polymorphic()
        .filter(last_verification__in=failing)
        .values_list("tenant_id", flat=True)
    )


def _binary_collation() -> str:
    return "C" if connection.vendor == "postgresql" else "BINARY"


# The hot reads of one integration, compiled once per provider (config.compiled_query): the
# ORM building these anew cost about a millisecond of CPU each per request.
# By the tenant's key, its tenant still checked live in the same statement: a Tenant read
# earlier in the request (an API token's own) may have been soft-deleted since.
_CTYPE_OF_LIVE = CompiledQuery(
    Integration,
    lambda tenant_id, ident: (
        Integration.objects.non_polymorphic()
        .filter(tenant_id=tenant_id, tenant__deleted_at=None, ident=ident)
        .values_list("polymorphic_ctype_id")
    ),
    int,
    str,
)
_LIVE_OF_PROVIDER: CompiledPerModel[Integration] = CompiledPerModel(
    lambda provider, tenant_id, ident: provider.objects.non_polymorphic().filter(
        tenant_id=tenant_id, tenant__deleted_at=None, ident=ident
    ),
    int,
    str,
)


def integration_get_live(*, tenant: Tenant, ident: str) -> Integration:
    """The tenant's live integration `ident`, as its provider's class. IntegrationNotFound
    otherwise; TenantNotFound when the tenant, live when read, has been soft-deleted since (its
    integrations are no longer served).

    An id that names a provider is of that provider (integration_check_ident), so its JOINed
    row is read at once: one query. Other ids take two (the base row names the provider, then
    that provider's JOINed row), as does a provider-named id not found that way."""
    if not could_be_stored(Integration, "ident", ident):
        raise IntegrationNotFound(ident)
    named = provider_for(ident)
    integration = _LIVE_OF_PROVIDER.of(named).first(tenant.pk, ident) if named else None
    if integration is None:
        found = _CTYPE_OF_LIVE.row(tenant.pk, ident)
        provider = provider_for_ctype_id(found[0]) if found is not None else None
        if provider is not None and provider is not named:
            integration = _LIVE_OF_PROVIDER.of(provider).first(tenant.pk, ident)
    if integration is None:
        tenant_get_live(name=tenant.name)  # TenantNotFound when deleted since it was read
        raise IntegrationNotFound(ident)
    integration.tenant = tenant
    return integration


_LIVE_IN_NAMED_TENANT: CompiledPerModel[Integration] = CompiledPerModel(
    lambda provider, tenant_name, ident: (
        provider.objects.non_polymorphic()
        .select_related("tenant")
        .filter(tenant__name=tenant_name, tenant__deleted_at=None, ident=ident)
    ),
    str,
    str,
)


def live_integration_query(
    provider: type[Integration], *, by_tenant_name: bool
) -> CompiledQuery[Integration]:
    """The compiled read of a live integration of `provider`: by (tenant primary key, id), or
    by (live tenant's name, id) with its tenant JOINed. What integration_get_live and
    integration_get_live_by_name run first, for a caller that runs it inside a statement of
    its own (integrations.reveal_reads)."""
    return (_LIVE_IN_NAMED_TENANT if by_tenant_name else _LIVE_OF_PROVIDER).of(provider)


def integration_get_live_by_name(*, tenant_name: str, ident: str) -> Integration:
    """The live integration `ident` of the live tenant called `tenant_name`, as its provider's
    class, its tenant loaded. TenantNotFound or IntegrationNotFound otherwise, exactly as
    `tenant_get_live` then `integration_get_live` would answer.

    An id that names a provider (the usual case) is read with its tenant in one JOINed query,
    where the two steps take two; anything else, found or not, takes those two steps."""
    named = provider_for(ident)
    if (
        named
        and tenant_name_could_be_stored(tenant_name)
        and could_be_stored(Integration, "ident", ident)
    ):
        integration = _LIVE_IN_NAMED_TENANT.of(named).first(tenant_name, ident)
        if integration is not None:
            return integration
    return integration_get_live(tenant=tenant_get_live(name=tenant_name), ident=ident)


def integration_history(
    *, tenant: Tenant, ident: str, before: int | None = None, limit: int = 50
) -> list[AuditEvent]:
    """The audit events of the tenant's integration `ident`, newest first: every incarnation
    of the id, deleted ones included. Keyset-paginated: `before` is the id of the last event
    of the previous page. IntegrationNotFound when the id never existed in the tenant;
    TenantNotFound when the tenant, live when read, has been soft-deleted since (checked in the
    same statement, as integration_get_live does)."""
    if not could_be_stored(Integration, "ident", ident):
        raise IntegrationNotFound(ident)
    events = AuditEvent.objects.filter(
        tenant=tenant, tenant__deleted_at=None, integration_ident=ident
    ).order_by("-id")
    if before is not None:
        events = events.filter(id__lt=before)
    page = list(events[:limit])
    if not page:
        tenant_get_live(name=tenant.name)  # TenantNotFound when deleted since it was read
    # Rows written around the services (fixtures, old data) have no events yet.
    stored = Integration.all_objects.filter(tenant=tenant, ident=ident)
    if not page and before is None and not stored.exists():
        raise IntegrationNotFound(ident)
    return page


def integration_versions(*, integration: Integration) -> list[IntegrationVersion]:
    """The kept versions of a live integration, newest first (values not loaded)."""
    return list(
        IntegrationVersion.objects.filter(integration=integration)
        .defer("values")
        .order_by("-number")
    )
