"""Every staff page and every admin page costs the same number of SQL statements whatever the
numbers of tenants and integrations: measured with 10 tenants of 5 integrations, again once
those tenants hold 50 integrations each, and again with 1,000 tenants. No N+1 anywhere.

The admin pages are read from the admin site's registry (each model's list, add and change
pages), so a model admin added later is measured too.
"""

import pytest
from django.contrib import admin as admin_site
from django.contrib.auth.models import Group
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.timezone import now

from integrations import services
from integrations.models import Integration
from integrations.providers import all_providers, ctype_of
from integrations.search import searchable_fields
from tenants.models import Tenant
from tenants.services import api_token_create
from tests.bulk import add_integrations, bulk_tenants, credential_value, idents_for
from tests.factories import TenantFactory, actor_named
from tests.web.conftest import SUPPORT_PERMISSIONS, logged_in, make_user

TARGET = "target"
MOST_STATEMENTS = 25  # the dearest page (a tenant's admin page with its inline formsets)


def statements(client, url: str) -> int:
    client.get(url)  # warm caches (content types, session) as a steady page view would
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured)


def an_object(model, target: Tenant):
    """A row of `model` to open in the admin: the target tenant or one of its rows."""
    if model is Tenant:
        return target
    rows = model._default_manager.order_by("pk")
    if any(field.name == "tenant" for field in model._meta.fields):
        rows = rows.filter(tenant=target)
    return rows.first()


def admin_pages(target: Tenant, user) -> list[str]:
    """Each registered model's list, add (where it may be added) and change pages, and a few
    more: a search, a provider's add form, the tenant autocomplete."""
    request = RequestFactory().get("/admin/")
    request.user = user
    urls = []
    for model, model_admin in admin_site.site._registry.items():
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls.append(reverse(f"{info}_changelist"))
        if model_admin.has_add_permission(request):
            urls.append(reverse(f"{info}_add"))
        row = an_object(model, target)
        if row is not None:
            urls.append(reverse(f"{info}_change", args=[row.pk]))
    twilio = next(p for p in all_providers() if p.provider_key == "twilio")
    return sorted(
        {
            *urls,
            f"/admin/integrations/integration/add/?ct_id={ctype_of(twilio).pk}",
            "/admin/integrations/integration/?q=AC",
            "/admin/integrations/integration/?q=twilio&status=all",
            "/admin/integrations/integration/?verification=rejected",
            "/admin/integrations/integration/?verification=never",
            "/admin/tenants/tenant/?q=t",
            "/admin/autocomplete/?term=t&app_label=integrations&model_name=twiliointegration"
            "&field_name=tenant",
            "/admin/",
        }
    )


def staff_pages(target: Tenant) -> list[str]:
    tenant_page = f"/tenants/{target.name}/"
    ident = Integration.objects.filter(tenant=target).order_by("ident").first().ident
    return [
        "/",
        "/?q=AC",
        "/?q=twilio",
        "/?provider=sendgrid",
        "/?q=AC&provider=twilio",
        "/?status=failing",
        "/?status=failing&provider=twilio",
        "/?status=failing&q=t-",
        "/new-tenant/",
        tenant_page,
        f"{tenant_page}add-integration/",
        *(f"{tenant_page}add-integration/{p.provider_key}/" for p in all_providers()),
        f"{tenant_page}integrations/{ident}/edit/",
        f"{tenant_page}integrations/{ident}/delete/",
        f"{tenant_page}integrations/{ident}/versions/1/restore/",
    ]


def measure(clients: dict, pages: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    fail_some()
    return {(who, url): statements(clients[who], url) for who, url in pages}


def fail_some() -> None:
    """In every tenant, the first provider's integration failed its last test, the second's
    was unreachable, the third's passed, and the API used the "-2" ones (the cards' status, the
    failing filter, the admin's column): as many more as there are tenants."""
    rows = Integration.objects.non_polymorphic()
    first, second, third, *_ = (provider.provider_key for provider in all_providers())
    for ident, status in [(first, "rejected"), (second, "unreachable"), (third, "ok")]:
        rows.filter(ident=ident).update(
            last_verification=status, last_verification_detail="A sentence.", last_verified_at=now()
        )
    rows.filter(ident__endswith="-2").update(last_used_at=now())


@pytest.mark.django_db
def test_every_page_costs_the_same_with_5_or_50_integrations_each_and_10_or_1000_tenants(
    admin_user,
):
    clients = {
        "superuser": logged_in(admin_user),
        "support": logged_in(make_user("support", SUPPORT_PERMISSIONS)),
    }
    tenants = bulk_tenants([TARGET, *(f"t-{n:04}" for n in range(9))], integrations_each=5)
    target = next(t for t in tenants if t.name == TARGET)
    api_token_create(actor=actor_named(), label="target token", tenant=target)
    Group.objects.create(name="support")
    first = Integration.objects.filter(tenant=target).order_by("ident").first()
    field = searchable_fields(type(first))[0]
    for n in [1, 2]:  # versions and history for the edit and restore pages
        first = services.integration_update(
            integration=first,
            data={field.name: credential_value(field, 10**6 + n)},
            actor=actor_named(),
        )
    pages = [("superuser", url) for url in admin_pages(target, admin_user) + staff_pages(target)]
    pages += [("support", url) for url in staff_pages(target)]

    with_10_of_5 = measure(clients, pages)
    add_integrations(tenants, lambda tenant: idents_for(45, start=5))
    with_10_of_50 = measure(clients, pages)
    bulk_tenants([f"t-{n:04}" for n in range(9, 999)], integrations_each=5)
    with_1000 = measure(clients, pages)

    assert Tenant.objects.count() == 1000
    assert Integration.objects.filter(tenant=target).count() == 50
    for key in pages:
        counts = (with_10_of_5[key], with_10_of_50[key], with_1000[key])
        print(f"{key[0]:>9} {key[1]:<90} {counts}")
    differing = {
        key: (with_10_of_5[key], with_10_of_50[key], with_1000[key])
        for key in pages
        if not with_10_of_5[key] == with_10_of_50[key] == with_1000[key]
    }
    assert differing == {}
    assert max(with_1000.values()) <= MOST_STATEMENTS


@pytest.mark.django_db
def test_a_tenant_page_costs_one_query_per_provider_plus_a_fixed_few(admin):
    tenant = TenantFactory(name="big")
    add_integrations([tenant], lambda t: idents_for(100))

    count = statements(admin, "/tenants/big/")
    print(f"\n/tenants/big/ with 100 integrations: {count} queries")

    # session + user + tenant, then one JOINed query per provider type
    assert count <= 3 + len(all_providers())


@pytest.mark.django_db
def test_the_bulk_helper_makes_rows_the_services_can_read(admin):
    [tenant] = bulk_tenants(["bulk"], integrations_each=len(all_providers()) + 1)

    rows = list(Integration.objects.filter(tenant=tenant).order_by("ident"))

    first = all_providers()[0]
    assert sorted(row.ident for row in rows) == sorted(
        [*(p.provider_key for p in all_providers()), f"{first.provider_key}-2"]
    )
    assert {type(row) for row in rows} == set(all_providers())
    for row in rows:
        for name in row.secret_field_names():
            assert getattr(row, name).reveal().startswith("bulk-secret-")
    assert admin.get("/tenants/bulk/").status_code == 200
