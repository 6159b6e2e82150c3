"""Admin requests that answered 500: odd type choices, deleted integrations, odd ids."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from integrations import services
from integrations.models import Integration
from integrations.providers import TwilioIntegration
from tenants.models import Tenant
from tests.factories import TwilioFactory, actor_named

ADD = "/admin/integrations/integration/add/"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "ct_id", ["x", "1.5", "", " ", "-", "1e3", "99999999999999999999", "٣"], ids=repr
)
def test_a_type_choice_that_is_no_number_sends_back_to_the_choice(admin, ct_id):
    response = admin.get(ADD, {"ct_id": ct_id})

    assert response.status_code == 302
    assert response["Location"] == ADD
    assert admin.get(response["Location"]).status_code == 200


@pytest.mark.django_db
def test_a_type_choice_keeps_the_other_parameters_when_sending_back(admin):
    response = admin.get(ADD, {"ct_id": "x", "_popup": "1"})

    assert (response.status_code, response["Location"]) == (302, f"{ADD}?_popup=1")


@pytest.mark.django_db
@pytest.mark.parametrize(("which", "status"), [("unknown", 404), ("not a provider", 403)])
def test_a_type_choice_of_no_provider_is_refused_without_a_500(admin, which, status):
    ct_id = 999999 if which == "unknown" else ContentType.objects.get_for_model(Tenant).pk

    assert admin.get(ADD, {"ct_id": ct_id}).status_code == status


@pytest.fixture
def deleted_twilio(tenant):
    twilio = TwilioFactory(tenant=tenant, account="AC-GONE", password="old-token")
    services.integration_delete(integration=twilio, actor=actor_named("setup"))
    twilio.refresh_from_db()
    return twilio


def _links_of_the_deleted_list(admin) -> list[str]:
    response = admin.get("/admin/integrations/integration/", {"status": "deleted"})
    assert response.status_code == 200
    changelist = response.context["cl"]
    return [changelist.url_for_result(result) for result in changelist.result_list]


@pytest.mark.django_db
def test_the_links_of_deleted_integrations_in_the_admin_list_open_their_pages(
    admin, deleted_twilio
):
    (link,) = _links_of_the_deleted_list(admin)

    page = admin.get(link)
    history = admin.get(f"/admin/integrations/integration/{deleted_twilio.pk}/history/")

    assert page.status_code == 200
    assert "AC-GONE" in page.content.decode()
    assert "old-token" not in page.content.decode()
    assert history.status_code == 200


@pytest.mark.django_db
def test_a_deleted_integrations_page_is_read_only_and_says_how_to_restore_it(admin, deleted_twilio):
    page = admin.get(f"/admin/integrations/integration/{deleted_twilio.pk}/change/")
    html = page.content.decode()

    assert page.status_code == 200
    assert 'name="account"' not in html and 'name="_save"' not in html
    assert "deleted, so it is read-only" in html
    assert "Restore selected integrations" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/admin/integrations/integration/{pk}/change/",
        "/admin/integrations/twiliointegration/{pk}/change/",
    ],
)
def test_saving_a_deleted_integration_in_the_admin_is_refused_without_a_500(
    admin, deleted_twilio, url
):
    before = TwilioIntegration.all_objects.filter(pk=deleted_twilio.pk).values().get()

    response = admin.post(
        url.format(pk=deleted_twilio.pk),
        {"tenant": deleted_twilio.tenant_id, "ident": "twilio", "account": "AC-NEW"},
    )

    assert response.status_code == 403
    assert TwilioIntegration.all_objects.filter(pk=deleted_twilio.pk).values().get() == before
    assert not LogEntry.objects.exists()


@pytest.mark.django_db
def test_deleting_a_deleted_integration_in_the_admin_is_refused(admin, deleted_twilio):
    response = admin.post(
        f"/admin/integrations/integration/{deleted_twilio.pk}/delete/", {"post": "yes"}
    )

    assert response.status_code == 403
    deleted_at = Integration.all_objects.values_list("deleted_at", flat=True).get()
    assert deleted_at == deleted_twilio.deleted_at


@pytest.mark.django_db
def test_restoring_brings_a_deleted_integrations_page_back_to_editable(admin, deleted_twilio):
    admin.post(
        "/admin/integrations/integration/?status=deleted",
        {"action": "restore", "_selected_action": [deleted_twilio.pk]},
    )

    page = admin.get(f"/admin/integrations/integration/{deleted_twilio.pk}/change/")

    assert 'name="account"' in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("object_id", ["abc", "99999999999999999999", "1.5", "-1", "0"], ids=repr)
@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_an_integration_id_that_is_no_row_is_a_404_not_a_500(admin, object_id, view):
    response = admin.get(f"/admin/integrations/integration/{object_id}/{view}/")

    assert response.status_code == 404


@pytest.mark.django_db
def test_moving_an_integration_to_a_tenant_that_has_its_id_is_a_form_error_not_a_500(
    admin, tenant, other_tenant
):
    twilio = TwilioFactory(tenant=tenant)
    TwilioFactory(tenant=other_tenant)

    response = admin.post(
        f"/admin/integrations/integration/{twilio.pk}/change/",
        {"tenant": other_tenant.pk, "ident": "twilio", "account": "AC", "password": ""},
    )

    assert response.status_code == 200
    assert "This tenant already has an integration with this id." in response.content.decode()
    twilio.refresh_from_db()
    assert twilio.tenant == tenant
