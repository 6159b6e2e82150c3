"""Staff pages and the admin name things alike: the tenant by its slug first (its display name
after), the provider by its label in its badge, never by its raw key."""

import pytest

from integrations.providers import all_providers
from tests.factories import PROVIDER_FACTORIES, TenantFactory


@pytest.mark.django_db
def test_a_tenant_page_leads_with_the_slug_and_follows_with_the_display_name(support):
    TenantFactory(name="acme", display_name="Acme Corp")

    html = support.get("/tenants/acme/").content.decode()

    assert """<h1 class="mono" title="The tenant's API name">acme</h1>""" in html
    assert '<span class="display-name">Acme Corp</span>' in html
    assert html.index(">acme</h1>") < html.index("Acme Corp</span>")


@pytest.mark.django_db
def test_the_admin_integration_list_names_tenants_by_slug_and_providers_by_badge(admin):
    tenant = TenantFactory(name="acme", display_name="Acme Corp")
    for factory in PROVIDER_FACTORIES:
        factory(tenant=tenant)

    html = admin.get("/admin/integrations/integration/").content.decode()

    for provider in all_providers():
        badge = f'<span class="badge badge-{provider.provider_key}">{provider.label}</span>'
        assert f'<td class="field-provider">{badge}</td>' in html
    tenant_cell = (
        f'<td class="field-tenant_name"><a href="?tenant__id__exact={tenant.pk}" '
        'title="Only the integrations of acme">acme</a></td>'
    )
    assert html.count(tenant_cell) == len(all_providers())
    assert "Acme Corp" not in html.split('id="result_list"')[1]
    assert "css/badges.css" in html


@pytest.mark.django_db
def test_the_admin_names_a_tenant_slug_first(admin):
    tenant = TenantFactory(name="acme", display_name="Acme Corp")
    [factory] = PROVIDER_FACTORIES[:1]
    integration = factory(tenant=tenant)

    change = admin.get(f"/admin/integrations/integration/{integration.pk}/change/")

    assert change.status_code == 200
    assert "acme (Acme Corp)" in change.content.decode()
