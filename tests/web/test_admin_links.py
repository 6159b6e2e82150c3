"""Links both ways between a staff page and the same record in the admin: shown on the staff
pages only to staff users who may open that record in the admin; the admin's "View on site"
leads to the tenant's page or the integration's card (live records only). The admin's tenant
field is a search box (autocomplete) offering live tenants only."""

import pytest

from integrations.services import integration_delete
from tenants.services import tenant_delete
from tests.factories import TenantFactory, TwilioFactory, actor_named
from tests.web.conftest import logged_in, staff_user


@pytest.fixture
def twilio(db):
    return TwilioFactory(tenant=TenantFactory(name="acme", display_name="Acme Corp"))


@pytest.mark.django_db
def test_staff_who_may_open_the_admin_get_links_to_the_same_records(admin, twilio):
    html = admin.get("/tenants/acme/").content.decode()

    assert f'href="/admin/tenants/tenant/{twilio.tenant.pk}/change/"' in html
    assert f'href="/admin/integrations/integration/{twilio.pk}/change/"' in html
    assert admin.get(f"/admin/integrations/integration/{twilio.pk}/change/").status_code == 200


@pytest.mark.django_db
def test_staff_with_view_permissions_only_get_the_links_too(view_only_staff, twilio):
    html = view_only_staff.get("/tenants/acme/").content.decode()

    assert 'class="admin-link">Open in admin</a>' in html
    assert f'href="/admin/integrations/integration/{twilio.pk}/change/"' in html


@pytest.mark.django_db
def test_users_who_cannot_open_the_admin_get_no_admin_links(support, twilio):
    html = support.get("/tenants/acme/").content.decode()  # not staff

    assert "/admin/" not in html.split("<main")[1]


@pytest.mark.django_db
def test_staff_who_may_see_integrations_but_not_tenants_get_the_integration_links_only(twilio):
    client = logged_in(staff_user("integrations-only", ["integrations.view_integration"]))

    html = client.get("/tenants/acme/").content.decode()

    assert "Open in admin" not in html
    assert f'href="/admin/integrations/integration/{twilio.pk}/change/"' in html


@pytest.mark.django_db
def test_the_admin_links_back_to_the_staff_page_of_the_same_record(admin, twilio):
    integration_page = admin.get(f"/admin/integrations/integration/{twilio.pk}/change/")
    tenant_page = admin.get(f"/admin/tenants/tenant/{twilio.tenant.pk}/change/")

    assert 'href="/tenants/acme/#integration-twilio" class="viewsitelink"' in (
        integration_page.content.decode()
    )
    assert 'href="/tenants/acme/" class="viewsitelink"' in tenant_page.content.decode()
    assert admin.get("/tenants/acme/").status_code == 200


@pytest.mark.django_db
def test_deleted_records_have_no_link_to_the_staff_pages(admin, twilio):
    integration_delete(integration=twilio, actor=actor_named())
    deleted_integration = admin.get(f"/admin/integrations/integration/{twilio.pk}/change/")
    tenant_delete(tenant=twilio.tenant, actor=actor_named())
    deleted_tenant = admin.get(f"/admin/tenants/tenant/{twilio.tenant.pk}/change/")

    assert deleted_integration.status_code == deleted_tenant.status_code == 200
    assert "viewsitelink" not in deleted_integration.content.decode()
    assert "viewsitelink" not in deleted_tenant.content.decode()


@pytest.mark.django_db
def test_the_admin_tenant_field_is_a_search_box_of_live_tenants(admin, twilio):
    TenantFactory(name="acme-eu", display_name="Acme Europe")
    tenant_delete(tenant=TenantFactory(name="acme-old"), actor=actor_named())

    form = admin.get(f"/admin/integrations/integration/{twilio.pk}/change/").content.decode()
    found = admin.get(
        "/admin/autocomplete/",
        {
            "term": "acme",
            "app_label": "integrations",
            "model_name": "twiliointegration",
            "field_name": "tenant",
        },
    )

    assert 'class="admin-autocomplete' in form
    assert found.status_code == 200
    assert [r["text"] for r in found.json()["results"]] == [
        "acme (Acme Corp)",
        "acme-eu (Acme Europe)",
    ]


@pytest.mark.django_db
def test_the_admin_integration_list_filters_by_a_tenant_without_listing_every_tenant(admin):
    for n in range(30):
        TwilioFactory(tenant=TenantFactory(name=f"shop-{n:02}"))

    everything = admin.get("/admin/integrations/integration/").content.decode()
    shop_07 = TenantFactory(name="shop-07")
    one = admin.get("/admin/integrations/integration/", {"tenant__id__exact": shop_07.pk})

    assert "By tenant" not in everything  # no list of 30 (or 10,000) tenants in the sidebar
    assert f'href="?tenant__id__exact={shop_07.pk}"' in everything
    assert [i.tenant.name for i in one.context["cl"].result_list] == ["shop-07"]
    assert "By tenant" in one.content.decode()
    assert "shop-07" in one.content.decode().split('id="changelist-filter"')[1]
