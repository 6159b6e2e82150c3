import re

import pytest

from integrations.models import Integration
from integrations.providers import TwilioIntegration
from tenants import tokens
from tenants.models import ApiToken, Tenant
from tenants.services import api_token_create, tenant_delete
from tests.factories import SalesforceFactory, TwilioFactory, actor_named


@pytest.mark.django_db
def test_the_tenant_list_filters_live_and_deleted_tenants_and_searches(admin, tenant, other_tenant):
    tenant_delete(tenant=other_tenant, actor=actor_named())

    live = admin.get("/admin/tenants/tenant/")
    deleted = admin.get("/admin/tenants/tenant/", {"status": "deleted"})
    everyone = admin.get("/admin/tenants/tenant/", {"status": "all"})
    searched = admin.get("/admin/tenants/tenant/", {"q": "glob", "status": "all"})

    def names(response):
        return [t.name for t in response.context["cl"].result_list]

    assert names(live) == ["acme"]
    assert names(deleted) == ["globex"]
    assert sorted(names(everyone)) == ["acme", "globex"]
    assert names(searched) == ["globex"]


@pytest.mark.django_db
def test_admin_soft_deletes_and_restores_tenants_keeping_their_integrations(admin, tenant):
    TwilioFactory(tenant=tenant)
    changelist = "/admin/tenants/tenant/"

    admin.post(changelist, {"action": "soft_delete", "_selected_action": [tenant.pk]})
    tenant.refresh_from_db()
    assert tenant.deleted_at is not None
    assert Integration.objects.filter(tenant=tenant).count() == 1

    admin.post(
        changelist + "?status=deleted", {"action": "restore", "_selected_action": [tenant.pk]}
    )
    tenant.refresh_from_db()
    assert tenant.deleted_at is None


@pytest.mark.django_db
def test_a_tenant_cannot_be_hard_deleted_from_the_admin(admin, tenant):
    response = admin.post(f"/admin/tenants/tenant/{tenant.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert Tenant.all_objects.filter(pk=tenant.pk, deleted_at=None).exists()


@pytest.mark.django_db
def test_the_tenant_page_edits_its_integrations_inline_keeping_blank_secrets(admin, tenant):
    twilio = TwilioFactory(tenant=tenant, password="kept-token")
    page = admin.get(f"/admin/tenants/tenant/{tenant.pk}/change/")
    assert page.status_code == 200
    assert "kept-token" not in page.content.decode()

    data = {
        "name": "acme",
        "display_name": "Acme Corp",
        "integrations-TOTAL_FORMS": "2",
        "integrations-INITIAL_FORMS": "1",
        "integrations-MIN_NUM_FORMS": "0",
        "integrations-MAX_NUM_FORMS": "1000",
        "integrations-0-id": twilio.pk,
        "integrations-0-polymorphic_ctype": twilio.polymorphic_ctype_id,
        "integrations-0-tenant": tenant.pk,
        "integrations-0-ident": "twilio",
        "integrations-0-account": "AC-INLINE",
        "integrations-0-password": "",
        "integrations-1-polymorphic_ctype": _ctype_id("salesforceintegration"),
        "integrations-1-tenant": tenant.pk,
        "integrations-1-ident": "salesforce-us",
        "integrations-1-consumer_key": "ck",
        "integrations-1-consumer_secret": "cs",
        "integrations-1-username": "ops@acme.test",
        "integrations-1-password": "pw",
        "integrations-1-secret_token": "st",
        # The select a browser submits with its default chosen.
        "integrations-1-login_host": "login.salesforce.com",
    }
    response = admin.post(f"/admin/tenants/tenant/{tenant.pk}/change/", data)

    assert response.status_code == 302, response.context and [
        f.errors for f in response.context["inline_admin_formsets"][0].formset
    ]
    twilio.refresh_from_db()
    assert (twilio.account, twilio.password, twilio.updated_by) == (
        "AC-INLINE",
        "kept-token",
        "boss",
    )
    added = Integration.objects.get(tenant=tenant, ident="salesforce-us")
    assert (added.provider_key, added.password, added.updated_by) == ("salesforce", "pw", "boss")


def _ctype_id(model_name: str) -> int:
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get(app_label="integrations", model=model_name).pk


@pytest.mark.django_db
def test_the_integration_list_spans_providers_with_filters_and_search(admin, tenant, other_tenant):
    TwilioFactory(tenant=tenant)
    SalesforceFactory(tenant=tenant)
    TwilioFactory(tenant=other_tenant, ident="twilio-eu")
    url = "/admin/integrations/integration/"

    def idents(**params):
        response = admin.get(url, params)
        assert response.status_code == 200
        return sorted(i.ident for i in response.context["cl"].result_list)

    assert idents() == ["salesforce", "twilio", "twilio-eu"]
    assert idents(provider="twilio") == ["twilio", "twilio-eu"]
    assert idents(tenant__id__exact=other_tenant.pk) == ["twilio-eu"]
    assert idents(q="globex") == ["twilio-eu"]
    assert idents(q="salesf") == ["salesforce"]


@pytest.mark.django_db
def test_adding_an_integration_in_the_admin_goes_through_the_service(admin, tenant):
    choose = admin.get("/admin/integrations/integration/add/")
    assert choose.status_code == 200

    response = admin.post(
        "/admin/integrations/twiliointegration/add/",
        {"tenant": tenant.pk, "ident": "twilio", "account": "AC9", "password": "admin-token"},
    )

    assert response.status_code == 302
    stored = TwilioIntegration.objects.get(tenant=tenant)
    assert (stored.password, stored.provider_key, stored.updated_by) == (
        "admin-token",
        "twilio",
        "boss",
    )


@pytest.mark.django_db
def test_the_admin_refuses_a_duplicate_live_id(admin, tenant):
    TwilioFactory(tenant=tenant)

    response = admin.post(
        "/admin/integrations/twiliointegration/add/",
        {"tenant": tenant.pk, "ident": "twilio", "account": "AC9", "password": "x"},
    )

    assert response.status_code == 200
    assert "already has an integration with this id" in response.content.decode()
    assert Integration.all_objects.count() == 1


@pytest.mark.django_db
def test_admin_soft_deletes_and_restores_integrations(admin, tenant):
    twilio = TwilioFactory(tenant=tenant)
    url = "/admin/integrations/integration/"

    admin.post(url, {"action": "soft_delete", "_selected_action": [twilio.pk]})
    twilio.refresh_from_db()
    assert twilio.deleted_at is not None

    admin.post(url + "?status=deleted", {"action": "restore", "_selected_action": [twilio.pk]})
    twilio.refresh_from_db()
    assert twilio.deleted_at is None


@pytest.mark.django_db
def test_restoring_an_integration_whose_id_was_reused_is_refused(admin, tenant):
    old = TwilioFactory(tenant=tenant)
    old.deleted_at = old.created_at
    old.save()
    TwilioFactory(tenant=tenant)

    response = admin.post(
        "/admin/integrations/integration/?status=all",
        {"action": "restore", "_selected_action": [old.pk]},
        follow=True,
    )

    assert "has been created again since" in response.content.decode()
    old.refresh_from_db()
    assert old.deleted_at is not None


@pytest.mark.django_db
def test_creating_a_token_in_the_admin_shows_it_once_and_stores_only_its_digest(admin, tenant):
    response = admin.post(
        "/admin/tenants/apitoken/add/",
        {"label": "billing", "tenant": tenant.pk, "scope_choices": ["read", "write"]},
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    shown = re.search(r'value="(ir_[A-Za-z0-9_-]+)"', response.content.decode()).group(1)
    stored = ApiToken.objects.get(label="billing")
    assert stored.digest == tokens.digest_of(shown)
    assert stored.scopes == "read,write"
    assert shown not in str(ApiToken.objects.values_list().get())
    change_page = admin.get(f"/admin/tenants/apitoken/{stored.pk}/change/").content.decode()
    assert shown not in change_page and stored.digest not in change_page


@pytest.mark.django_db
def test_a_token_needs_exactly_one_of_a_tenant_or_all_tenants(admin, tenant):
    both = admin.post(
        "/admin/tenants/apitoken/add/",
        {"label": "x", "tenant": tenant.pk, "all_tenants": "on", "scope_choices": ["read"]},
    )
    neither = admin.post("/admin/tenants/apitoken/add/", {"label": "x", "scope_choices": ["read"]})

    for response in (both, neither):
        assert "Choose one tenant, or tick" in response.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_the_token_list_shows_scope_and_status_and_revokes(admin, tenant):
    api_token, _ = api_token_create(
        actor=actor_named("tests"), label="ci", tenant=tenant, scopes="read"
    )
    listing = admin.get("/admin/tenants/apitoken/").content.decode()
    assert "ci" in listing and "acme" in listing and "active" in listing
    assert api_token.digest not in listing

    admin.post("/admin/tenants/apitoken/", {"action": "revoke", "_selected_action": [api_token.pk]})

    api_token.refresh_from_db()
    assert api_token.revoked_at is not None
    assert "revoked" in admin.get("/admin/tenants/apitoken/").content.decode()


@pytest.mark.django_db
def test_admin_pages_need_a_staff_login(client, support):
    assert client.get("/admin/integrations/integration/").status_code == 302
    # support staff are not Django staff users: the admin is for admins
    assert support.get("/admin/integrations/integration/").status_code == 302
