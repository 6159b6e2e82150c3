"""List pages keep a constant number of queries as rows grow (no N+1)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.providers import all_providers
from tenants.services import api_token_create
from tests.factories import PROVIDER_FACTORIES, TenantFactory, actor_named


def _populate(tenants: int, start: int = 0) -> None:
    for n in range(start, start + tenants):
        tenant = TenantFactory(name=f"t-{n:03}")
        for factory in PROVIDER_FACTORIES:
            factory(tenant=tenant)
        api_token_create(actor=actor_named("tests"), label=f"token {n}", tenant=tenant)


def _queries(client, url: str) -> int:
    client.get(url)  # warm caches (content types, session) as a steady page view would
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


LIST_PAGES = [
    "/",
    "/admin/tenants/tenant/",
    "/admin/integrations/integration/",
    "/admin/tenants/apitoken/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", LIST_PAGES)
def test_list_pages_cost_the_same_for_10_and_100_tenants_of_4_integrations(admin, url):
    _populate(10)
    with_10 = _queries(admin, url)
    _populate(90, start=10)
    with_100 = _queries(admin, url)

    print(f"\n{url}: {with_10} queries with 10 tenants, {with_100} with 100")
    assert with_100 == with_10
    assert with_100 <= 8


@pytest.mark.django_db
def test_a_tenant_page_costs_one_query_per_provider_plus_a_fixed_few(admin):
    tenant = TenantFactory(name="big")
    for n in range(25):
        for factory in PROVIDER_FACTORIES:
            factory(tenant=tenant, ident=f"{factory._meta.model.provider_key}-{n}")

    count = _queries(admin, "/tenants/big/")
    print(f"\n/tenants/big/ with 100 integrations: {count} queries")

    # session + user + tenant, then one JOINed query per provider type
    assert count <= 3 + len(all_providers())
