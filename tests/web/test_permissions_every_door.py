"""One permission for one act, whichever door it comes in by.

An integration of any provider is governed by the base model's permissions,
`integrations.{view,add,change,delete}_integration`: on the staff pages, on the admin pages
(the per-provider child admins too), in the inline rows of a tenant's admin page, and in the
admin actions (soft delete and restore are deletes; testing a connection, on a card or with
"Verify selected", is a change). Each staff user below holds
`tenants.view_tenant` and `tenants.change_tenant` (so that the tenant's admin page opens and
saves) and one integration permission besides view; every act is tried at every door, and it
takes effect exactly when the user holds the act's permission. A refused act leaves the
database and the admin history as they were.
"""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from integrations import services
from integrations.models import Integration
from integrations.providers import TwilioIntegration
from tenants.services import tenant_delete
from tests.factories import TwilioFactory, actor_named
from tests.web.conftest import logged_in, staff_user

TENANT_PAGE_PERMISSIONS = ["tenants.view_tenant", "tenants.change_tenant"]
USERS = {
    "no integration permission": [],
    "view_integration": ["integrations.view_integration"],
    "add_integration": ["integrations.view_integration", "integrations.add_integration"],
    "change_integration": ["integrations.view_integration", "integrations.change_integration"],
    "delete_integration": ["integrations.view_integration", "integrations.delete_integration"],
}


def _twilio_ctype() -> int:
    return ContentType.objects.get_for_model(TwilioIntegration).pk


def _row(twilio) -> dict:
    return TwilioIntegration.all_objects.filter(pk=twilio.pk).values().get()


def _changed(twilio) -> bool:
    return _row(twilio)["account"] == "AC-NEW"


def _deleted(twilio) -> bool:
    return _row(twilio)["deleted_at"] is not None


def _added() -> bool:
    return Integration.all_objects.filter(ident="twilio-new").exists()


def _tenant_page(tenant, twilio, **changes) -> dict:
    """The tenant's admin page as posted back with its one integration row."""
    data = {
        "name": tenant.name,
        "display_name": tenant.display_name,
        "integrations-TOTAL_FORMS": "1",
        "integrations-INITIAL_FORMS": "1",
        "integrations-MIN_NUM_FORMS": "0",
        "integrations-MAX_NUM_FORMS": "1000",
        "integrations-0-id": twilio.pk,
        "integrations-0-polymorphic_ctype": _twilio_ctype(),
        "integrations-0-tenant": tenant.pk,
        "integrations-0-ident": twilio.ident,
        "integrations-0-account": twilio.account,
        "integrations-0-password": "",
    }
    data.update(changes)
    return data


# --- the doors: each tries one act and says whether it took effect -----------------------------


def staff_view(client, tenant, twilio):
    response = client.get(f"/tenants/{tenant.name}/")
    return response.status_code == 200 and twilio.account in response.content.decode()


def staff_add(client, tenant, twilio):
    client.post(
        f"/tenants/{tenant.name}/add-integration/twilio/",
        {"ident": "twilio-new", "account": "AC-ADDED", "password": "new-token"},
    )
    return _added()


def staff_change(client, tenant, twilio):
    client.post(
        f"/tenants/{tenant.name}/integrations/{twilio.ident}/edit/",
        {"account": "AC-NEW", "password": ""},
    )
    return _changed(twilio)


def staff_delete(client, tenant, twilio):
    client.post(f"/tenants/{tenant.name}/integrations/{twilio.ident}/delete/")
    return _deleted(twilio)


def admin_view(client, tenant, twilio):
    listing = client.get("/admin/integrations/integration/")
    page = client.get(f"/admin/integrations/integration/{twilio.pk}/change/")
    shown = page.status_code == 200 and twilio.account in page.content.decode()
    return listing.status_code == 200 and shown


def admin_add(client, tenant, twilio):
    choice = client.get("/admin/integrations/integration/add/")
    client.post(
        f"/admin/integrations/integration/add/?ct_id={_twilio_ctype()}",
        {"tenant": tenant.pk, "ident": "twilio-new", "account": "AC-ADDED", "password": "t"},
    )
    assert (choice.status_code in (200, 302)) == _added()
    return _added()


def admin_add_through_the_provider_admin(client, tenant, twilio):
    client.post(
        "/admin/integrations/twiliointegration/add/",
        {"tenant": tenant.pk, "ident": "twilio-new", "account": "AC-ADDED", "password": "t"},
    )
    return _added()


def admin_change(client, tenant, twilio):
    client.post(
        f"/admin/integrations/integration/{twilio.pk}/change/",
        {"tenant": tenant.pk, "ident": twilio.ident, "account": "AC-NEW", "password": ""},
    )
    return _changed(twilio)


def admin_delete(client, tenant, twilio):
    client.post(f"/admin/integrations/integration/{twilio.pk}/delete/", {"post": "yes"})
    return _deleted(twilio)


def inline_view(client, tenant, twilio):
    response = client.get(f"/admin/tenants/tenant/{tenant.pk}/change/")
    return response.status_code == 200 and twilio.account in response.content.decode()


def inline_add(client, tenant, twilio):
    client.post(
        f"/admin/tenants/tenant/{tenant.pk}/change/",
        _tenant_page(
            tenant,
            twilio,
            **{
                "integrations-TOTAL_FORMS": "2",
                "integrations-1-polymorphic_ctype": _twilio_ctype(),
                "integrations-1-tenant": tenant.pk,
                "integrations-1-ident": "twilio-new",
                "integrations-1-account": "AC-ADDED",
                "integrations-1-password": "new-token",
            },
        ),
    )
    return _added()


def inline_change(client, tenant, twilio):
    client.post(
        f"/admin/tenants/tenant/{tenant.pk}/change/",
        _tenant_page(tenant, twilio, **{"integrations-0-account": "AC-NEW"}),
    )
    return _changed(twilio)


def inline_delete(client, tenant, twilio):
    client.post(
        f"/admin/tenants/tenant/{tenant.pk}/change/",
        _tenant_page(tenant, twilio, **{"integrations-0-DELETE": "on"}),
    )
    return _deleted(twilio)


def _verified(twilio) -> bool:
    return _row(twilio)["last_verification"] != ""


def staff_test_connection(client, tenant, twilio):
    client.post(f"/tenants/{tenant.name}/integrations/{twilio.ident}/test-connection/")
    return _verified(twilio)


def action_verify_selected(client, tenant, twilio):
    client.post(
        "/admin/integrations/integration/",
        {"action": "verify_selected", "_selected_action": [twilio.pk]},
    )
    return _verified(twilio)


def action_soft_delete(client, tenant, twilio):
    client.post(
        "/admin/integrations/integration/",
        {"action": "soft_delete", "_selected_action": [twilio.pk]},
    )
    return _deleted(twilio)


def action_delete_selected_of_the_provider_admin(client, tenant, twilio):
    client.post(
        "/admin/integrations/twiliointegration/",
        {"action": "delete_selected", "_selected_action": [twilio.pk], "post": "yes"},
    )
    return _deleted(twilio)


def action_restore(client, tenant, twilio):
    services.integration_delete(integration=twilio, actor=actor_named("setup"))
    before = _row(twilio)
    client.post(
        "/admin/integrations/integration/?status=deleted",
        {"action": "restore", "_selected_action": [twilio.pk]},
    )
    restored = not _deleted(twilio)
    if not restored:
        assert _row(twilio) == before
    return restored


DOORS = {
    "view": [staff_view, admin_view, inline_view],
    "add": [staff_add, admin_add, admin_add_through_the_provider_admin, inline_add],
    # Testing a connection records its outcome: it needs the change permission.
    "change": [
        staff_change,
        admin_change,
        inline_change,
        staff_test_connection,
        action_verify_selected,
    ],
    "delete": [
        staff_delete,
        admin_delete,
        inline_delete,
        action_soft_delete,
        action_delete_selected_of_the_provider_admin,
        action_restore,
    ],
}
CASES = [(act, door) for act, doors in DOORS.items() for door in doors]


def _permitted(user: str, act: str) -> bool:
    if act == "view":
        return user != "no integration permission"
    return user == f"{act}_integration"


@pytest.mark.django_db
@pytest.mark.parametrize("user", list(USERS))
@pytest.mark.parametrize(("act", "door"), CASES, ids=[door.__name__ for _, door in CASES])
def test_an_act_takes_effect_at_a_door_exactly_when_the_user_holds_its_permission(
    tenant, user, act, door
):
    twilio = TwilioFactory(tenant=tenant, account="AC-OLD", password="stored-token")
    client = logged_in(staff_user("staff", TENANT_PAGE_PERMISSIONS + USERS[user]))
    rows_before = list(Integration.all_objects.non_polymorphic().order_by("pk").values())

    took_effect = door(client, tenant, twilio)

    assert took_effect == _permitted(user, act)
    if act != "view" and not took_effect and door is not action_restore:
        rows_after = list(Integration.all_objects.non_polymorphic().order_by("pk").values())
        assert rows_after == rows_before
        assert _row(twilio)["account"] == "AC-OLD"
        integration_history = LogEntry.objects.filter(
            content_type__app_label="integrations"
        ).exclude(change_message="[]")
        assert not integration_history.exists()
        tenant_history = LogEntry.objects.filter(content_type__model="tenant")
        assert all("integration" not in entry.get_change_message() for entry in tenant_history)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("permissions", "allowed"),
    [(["tenants.view_tenant", "tenants.change_tenant"], False), (["tenants.delete_tenant"], True)],
    ids=["change_tenant", "delete_tenant"],
)
def test_soft_deleting_and_restoring_a_tenant_in_the_admin_needs_delete_tenant(
    tenant, permissions, allowed
):
    client = logged_in(staff_user("staff", ["tenants.view_tenant", *permissions]))

    client.post(
        "/admin/tenants/tenant/", {"action": "soft_delete", "_selected_action": [tenant.pk]}
    )
    tenant.refresh_from_db()
    assert (tenant.deleted_at is not None) == allowed

    if not allowed:
        tenant_delete(tenant=tenant, actor=actor_named())
    client.post(
        "/admin/tenants/tenant/?status=deleted",
        {"action": "restore", "_selected_action": [tenant.pk]},
    )
    tenant.refresh_from_db()
    assert (tenant.deleted_at is None) == allowed


@pytest.mark.django_db
def test_the_tenant_page_shows_a_user_who_may_not_change_integrations_their_rows_read_only(
    tenant,
):
    TwilioFactory(tenant=tenant, account="AC-SHOWN", password="stored-token")
    client = logged_in(
        staff_user("staff", [*TENANT_PAGE_PERMISSIONS, "integrations.view_integration"])
    )

    html = client.get(f"/admin/tenants/tenant/{tenant.pk}/change/").content.decode()

    assert "AC-SHOWN" in html
    assert 'name="integrations-0-account"' not in html
    assert 'name="integrations-0-password"' not in html
    assert "stored-token" not in html
