"""Finding tenants by anything a support person has at hand: a tenant's name or display name,
an integration id, a provider (key or label), or any non-secret credential value (an Account
SID, a username, a consumer key), across all tenants.

Generic over providers: what is searchable in a provider is derived from its model (its
credential fields minus the SecretField ones); nothing here names a provider or a field.
Secrets are never searched (they are ciphertext in the database anyway) nor selected.

Cost: `tenant_search` is one statement, a UNION of one branch per table (tenants, the base
integration table, each provider's table), so that on PostgreSQL each branch can use its own
trigram index (migration integrations 0005); `search_hits` and `tenant_overviews` are one
statement each for a page of tenants. None depends on the number of tenants or integrations.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from django.db import models
from django.db.models import Count, Max, Q, QuerySet

from integrations.fields import SecretField
from integrations.models import Integration
from integrations.providers import all_providers, ctype_of, provider_for_ctype_id
from tenants.models import Tenant

MAX_QUERY_LENGTH = 200


def searchable_fields(provider: type[Integration]) -> list[models.Field]:
    """The provider's credential fields that may be searched and shown: the non-secret ones
    typed in freely. A field of fixed choices (Salesforce's login host) is left out: its few
    values tell no record apart, and would cost a UNION branch and an index for nothing."""
    return [
        f for f in provider.credential_fields() if not isinstance(f, SecretField) and not f.choices
    ]


def _provider_link(provider: type[Integration]) -> str:
    """The lookup from the base Integration to the provider's own row (its parent link)."""
    # Every provider is a multi-table child of Integration: the link exists.
    link = cast(models.OneToOneField, provider._meta.get_ancestor_link(Integration))
    return link.related_query_name()


def integration_search_paths() -> list[str]:
    """Lookups from Integration to every searchable provider column, e.g.
    `<provider row>__<field>`: the admin's search_fields use them too."""
    return [
        f"{_provider_link(provider)}__{f.name}"
        for provider in all_providers()
        for f in searchable_fields(provider)
    ]


def providers_named(query: str) -> list[type[Integration]]:
    """Providers whose key or label contains `query` (case-insensitive)."""
    wanted = query.casefold()
    if not wanted:
        return []
    return [
        provider
        for provider in all_providers()
        if wanted in provider.provider_key.casefold() or wanted in provider.label.casefold()
    ]


def _any_contains(paths: list[str], query: str) -> Q:
    condition = Q()
    for path in paths:
        condition |= Q(**{f"{path}__icontains": query})
    return condition


def integration_matches(query: str) -> Q:
    """A filter on Integration: its id, its provider or one of its non-secret values contains
    `query`. (The provider columns are reached through LEFT JOINs: fine for a page of rows;
    `tenant_search` searches each provider's table on its own instead.)"""
    condition = Q(ident__icontains=query) | _any_contains(integration_search_paths(), query)
    named = providers_named(query)
    if named:
        condition |= Q(polymorphic_ctype__in=[ctype_of(provider) for provider in named])
    return condition


def _tenant_ids_matching(query: str) -> QuerySet:
    """The ids of live tenants that match `query` anywhere, as one UNION subquery."""
    branches: list[QuerySet] = [
        Tenant.objects.filter(Q(name__icontains=query) | Q(display_name__icontains=query)).values(
            "pk"
        )
    ]
    on_base = Q(ident__icontains=query)
    named = providers_named(query)
    if named:
        on_base |= Q(polymorphic_ctype__in=[ctype_of(provider) for provider in named])
    branches.append(Integration.objects.non_polymorphic().filter(on_base).values("tenant_id"))
    for provider in all_providers():
        names = [f.name for f in searchable_fields(provider)]
        if names:
            rows = provider.objects.non_polymorphic().filter(_any_contains(names, query))
            branches.append(rows.values("tenant_id"))
    first, *rest = (branch.order_by() for branch in branches)
    return first.union(*rest)


def integration_ids_matching(query: str) -> QuerySet:
    """The ids of integrations, deleted ones included (the admin lists them too), whose id,
    provider, tenant or non-secret values contain `query`: one UNION subquery, one branch per
    table, like `tenant_search` (what lets PostgreSQL use each table's trigram index)."""
    tenants = Tenant.all_objects.filter(Q(name__icontains=query) | Q(display_name__icontains=query))
    on_base = Q(ident__icontains=query)
    named = providers_named(query)
    if named:
        on_base |= Q(polymorphic_ctype__in=[ctype_of(provider) for provider in named])
    every = Integration.all_objects.non_polymorphic()
    branches = [
        every.filter(on_base).values("pk"),
        # Its own branch: an OR with the id's condition would make the base table a scan.
        every.filter(tenant_id__in=tenants.values("pk")).values("pk"),
    ]
    for provider in all_providers():
        names = [f.name for f in searchable_fields(provider)]
        if names:
            rows = provider.all_objects.non_polymorphic().filter(_any_contains(names, query))
            branches.append(rows.values("pk"))
    first, *rest = (branch.order_by() for branch in branches)
    return first.union(*rest)


def tenant_search(
    *, query: str = "", provider: type[Integration] | None = None
) -> QuerySet[Tenant]:
    """Live tenants, ordered by name, that match `query` (see the module) and, if given, hold a
    live integration of `provider`. Lazy: paginate it."""
    tenants = Tenant.objects.order_by("name")
    query = query.strip()[:MAX_QUERY_LENGTH]
    if query:
        tenants = tenants.filter(pk__in=_tenant_ids_matching(query))
    if provider is not None:
        of_provider = Integration.objects.non_polymorphic().filter(
            polymorphic_ctype=ctype_of(provider)
        )
        tenants = tenants.filter(pk__in=of_provider.values("tenant_id"))
    return tenants


@dataclass(frozen=True)
class Marked:
    """A value cut around the part that matched the query, for <mark> in the page."""

    before: str
    hit: str
    after: str

    @classmethod
    def of(cls, value: str, query: str) -> "Marked | None":
        found = re.search(re.escape(query), value, re.IGNORECASE)
        if found is None:
            return None
        return cls(value[: found.start()], found.group(), value[found.end() :])


@dataclass
class MatchedValue:
    label: str
    value: str
    marked: Marked


@dataclass
class Hit:
    """An integration that matched the query, with what of it matched."""

    ident: str
    provider: type[Integration]
    ident_marked: Marked | None
    provider_matched: bool
    values: list[MatchedValue] = field(default_factory=list)


def search_hits(*, tenant_ids: list[int], query: str) -> dict[int, list[Hit]]:
    """For a page of tenants: their live integrations that match `query`, and what matched.
    One statement; the values read are the non-secret ones only."""
    query = query.strip()[:MAX_QUERY_LENGTH]
    if not query or not tenant_ids:
        return {}
    columns = {
        provider: [
            (f, f"{_provider_link(provider)}__{f.name}") for f in searchable_fields(provider)
        ]
        for provider in all_providers()
    }
    paths = [path for pairs in columns.values() for _, path in pairs]
    rows = (
        Integration.objects.non_polymorphic()
        .filter(tenant_id__in=tenant_ids)
        .filter(integration_matches(query))
        .order_by("ident")
        .values("tenant_id", "ident", "polymorphic_ctype_id", *paths)
    )
    named = set(providers_named(query))
    hits: dict[int, list[Hit]] = {}
    for row in rows:
        provider = provider_for_ctype_id(row["polymorphic_ctype_id"])
        if provider is None:
            continue
        hit = Hit(
            ident=row["ident"],
            provider=provider,
            ident_marked=Marked.of(row["ident"], query),
            provider_matched=provider in named,
        )
        for model_field, path in columns[provider]:
            value = row[path]
            marked = Marked.of(str(value), query) if value else None
            if marked is not None:
                hit.values.append(MatchedValue(str(model_field.verbose_name), str(value), marked))
        hits.setdefault(row["tenant_id"], []).append(hit)
    return hits


@dataclass
class Configured:
    provider: type[Integration]
    count: int


@dataclass
class TenantOverview:
    """What the tenant list says of a tenant: each provider once (with how many), the total,
    the last change."""

    configured: list[Configured] = field(default_factory=list)
    total: int = 0
    last_change: datetime | None = None


def tenant_overviews(*, tenant_ids: list[int]) -> dict[int, TenantOverview]:
    """Live integrations per tenant and provider for a page of tenants: one statement."""
    rows = (
        Integration.objects.non_polymorphic()
        .filter(tenant_id__in=tenant_ids)
        .order_by()
        .values("tenant_id", "polymorphic_ctype_id")
        .annotate(count=Count("pk"), last_change=Max("updated_at"))
    )
    order = {provider: n for n, provider in enumerate(all_providers())}
    overviews = {tenant_id: TenantOverview() for tenant_id in tenant_ids}
    for row in rows:
        overview = overviews[row["tenant_id"]]
        provider = provider_for_ctype_id(row["polymorphic_ctype_id"])
        if provider is not None:
            overview.configured.append(Configured(provider, row["count"]))
        overview.total += row["count"]
        if overview.last_change is None or row["last_change"] > overview.last_change:
            overview.last_change = row["last_change"]
    for overview in overviews.values():
        overview.configured.sort(key=lambda configured: order[configured.provider])
    return overviews
