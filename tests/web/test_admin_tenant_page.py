"""The tenant's admin page with its integration rows: what it records, what it refuses."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from integrations.models import Integration
from integrations.providers import TwilioIntegration
from tests.factories import PROVIDER_FACTORIES, TwilioFactory
from tests.web.conftest import logged_in, staff_user
from tests.web.support import submitted_form


def _page(tenant) -> str:
    return f"/admin/tenants/tenant/{tenant.pk}/change/"


def _rows() -> list[dict]:
    return list(Integration.all_objects.non_polymorphic().order_by("pk").values())


@pytest.fixture(params=["superuser", "change-only", "view-integrations"])
def tenant_editor(request, db):
    """Each kind of staff who may save a tenant's page."""
    if request.param == "superuser":
        return logged_in(request.getfixturevalue("admin_user"))
    if request.param == "change-only":
        return logged_in(request.getfixturevalue("change_only_staff_user"))
    return logged_in(
        staff_user(
            "tenant-editor",
            ["tenants.view_tenant", "tenants.change_tenant", "integrations.view_integration"],
        )
    )


@pytest.mark.django_db
def test_saving_the_tenant_page_untouched_records_no_change_to_any_integration(
    tenant_editor, tenant
):
    for factory in PROVIDER_FACTORIES:
        factory(tenant=tenant)
    before = _rows()
    page = tenant_editor.get(_page(tenant))

    response = tenant_editor.post(_page(tenant), submitted_form(page.content.decode()))

    assert response.status_code == 302
    assert _rows() == before
    entry = LogEntry.objects.get()
    assert (entry.object_id, entry.change_message) == (str(tenant.pk), "[]")
    assert entry.get_change_message() == "No fields changed."


@pytest.mark.django_db
def test_a_secret_typed_into_the_tenant_page_by_someone_who_may_not_change_integrations_is_not_recorded(  # noqa: E501
    tenant,
):
    twilio = TwilioFactory(tenant=tenant, account="AC-OLD", password="stored-token")
    client = logged_in(
        staff_user(
            "tenant-editor",
            ["tenants.view_tenant", "tenants.change_tenant", "integrations.view_integration"],
        )
    )
    before = _rows()
    data = submitted_form(client.get(_page(tenant)).content.decode())
    # The rows are read-only for this user; a hand-made post sends values anyway.
    data.update(
        {
            "integrations-0-ident": "twilio",
            "integrations-0-account": "AC-TYPED",
            "integrations-0-password": "typed-token",
        }
    )

    response = client.post(_page(tenant), data)

    assert response.status_code == 302
    assert _rows() == before
    twilio.refresh_from_db()
    assert (twilio.account, twilio.password, twilio.updated_by) == (
        "AC-OLD",
        "stored-token",
        "factory",
    )
    assert LogEntry.objects.get().get_change_message() == "No fields changed."


def _new_row(tenant, index: int, ident: str) -> dict:
    ctype = ContentType.objects.get_for_model(TwilioIntegration).pk
    return {
        f"integrations-{index}-polymorphic_ctype": ctype,
        f"integrations-{index}-tenant": tenant.pk,
        f"integrations-{index}-ident": ident,
        f"integrations-{index}-account": f"AC-{index}",
        f"integrations-{index}-password": f"token-{index}",
    }


@pytest.mark.django_db
def test_two_new_rows_with_one_id_on_the_tenant_page_are_a_form_error_not_a_500(admin, tenant):
    twilio = TwilioFactory(tenant=tenant)
    data = submitted_form(admin.get(_page(tenant)).content.decode())
    data.update(
        {
            "integrations-TOTAL_FORMS": "3",
            **_new_row(tenant, 1, "twilio-eu"),
            **_new_row(tenant, 2, "twilio-eu"),
        }
    )

    response = admin.post(_page(tenant), data)

    assert response.status_code == 200
    assert "This tenant already has an integration with this id." in response.content.decode()
    assert list(Integration.all_objects.values_list("pk", flat=True)) == [twilio.pk]


@pytest.mark.django_db
def test_a_new_row_taking_the_id_a_row_is_renamed_to_on_the_same_page_is_a_form_error(
    admin, tenant
):
    twilio = TwilioFactory(tenant=tenant)
    data = submitted_form(admin.get(_page(tenant)).content.decode())
    data.update(
        {
            "integrations-0-ident": "twilio-eu",
            "integrations-TOTAL_FORMS": "2",
            **_new_row(tenant, 1, "twilio-eu"),
        }
    )

    response = admin.post(_page(tenant), data)

    assert response.status_code == 200
    assert "This tenant already has an integration with this id." in response.content.decode()
    assert list(Integration.all_objects.values_list("pk", "ident")) == [(twilio.pk, "twilio")]


@pytest.mark.django_db
def test_a_new_row_taking_the_id_of_a_row_deleted_on_the_same_page_is_a_form_error(admin, tenant):
    twilio = TwilioFactory(tenant=tenant, ident="twilio-eu")
    data = submitted_form(admin.get(_page(tenant)).content.decode())
    data.update(
        {
            "integrations-0-DELETE": "on",
            "integrations-TOTAL_FORMS": "2",
            **_new_row(tenant, 1, "twilio-eu"),
        }
    )

    response = admin.post(_page(tenant), data)

    assert response.status_code == 200
    assert "This tenant already has an integration with this id." in response.content.decode()
    assert list(Integration.all_objects.values_list("pk", "deleted_at")) == [(twilio.pk, None)]
