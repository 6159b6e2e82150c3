"""The past of an integration on the staff pages (History, Versions, restore, undo), and the
audit events of every door: staff pages, admin and commands."""

import pytest
from django.core.management import call_command

from integrations.models import Integration
from tenants.models import AuditEvent, Tenant
from tests.factories import TwilioFactory

pytestmark = pytest.mark.django_db

EDIT = "/tenants/acme/integrations/twilio/edit/"
TYPED = "typed-secret-value"


def add_twilio(client, password: str = "first-secret-value") -> Integration:
    response = client.post(
        "/tenants/acme/add-integration/twilio/",
        {"ident": "twilio", "account": "AC1", "password": password},
    )
    assert response.status_code == 302
    return Integration.objects.get(ident="twilio")


def test_a_staff_edit_is_an_event_of_the_web_door_shown_in_the_history(support, tenant):
    add_twilio(support)
    support.post(EDIT, {"account": "AC2", "password": TYPED})

    page = support.get(EDIT).content.decode()

    event = AuditEvent.objects.filter(action="update").get()
    assert (event.actor, event.channel) == ("support", "web")
    assert event.changes == {"account": {"old": "AC1", "new": "AC2"}, "password": "changed"}
    assert "Account SID: AC1 → AC2" in page
    assert "Auth token: changed" in page
    assert TYPED not in page and "first-secret-value" not in page


def test_a_staff_save_that_changes_nothing_records_nothing(support, tenant):
    twilio = add_twilio(support)

    response = support.post(EDIT, {"account": "AC1", "password": ""})

    after = Integration.objects.get(pk=twilio.pk)
    assert response.status_code == 302
    assert (after.updated_at, after.version) == (twilio.updated_at, twilio.version)
    assert not AuditEvent.objects.filter(action="update").exists()


def test_a_version_is_restored_after_asking_first(support, tenant):
    add_twilio(support)
    support.post(EDIT, {"account": "AC-BAD", "password": "a-bad-rotation"})

    versions = support.get(EDIT).content.decode()
    confirm = support.get("/tenants/acme/integrations/twilio/versions/1/restore/")
    done = support.post("/tenants/acme/integrations/twilio/versions/1/restore/")

    assert 'href="/tenants/acme/integrations/twilio/versions/1/restore/"' in versions
    assert confirm.status_code == 200
    assert "Restore version 1 of “twilio”?" in confirm.content.decode()
    assert (done.status_code, done["Location"]) == (302, EDIT)
    restored = Integration.objects.get(ident="twilio")
    assert (restored.account, restored.password, restored.version) == (
        "AC1",
        "first-secret-value",
        3,
    )
    assert AuditEvent.objects.filter(action="rollback", channel="web").count() == 1


def test_a_viewer_can_neither_restore_nor_undo(viewer, tenant):
    twilio = TwilioFactory(tenant=tenant)
    twilio.versions.create(number=1, actor="x", values={"account": "AC0"})

    restore = viewer.post("/tenants/acme/integrations/twilio/versions/1/restore/")
    undo = viewer.post(f"/tenants/acme/deleted-integrations/{twilio.pk}/restore/")

    assert (restore.status_code, undo.status_code) == (403, 403)
    assert Integration.objects.get().account == twilio.account


def test_a_delete_can_be_undone_right_after(support, tenant):
    twilio = add_twilio(support)

    deleted = support.post("/tenants/acme/integrations/twilio/delete/")
    page = support.get(deleted["Location"]).content.decode()
    undone = support.post(f"/tenants/acme/deleted-integrations/{twilio.pk}/restore/")

    assert deleted["Location"] == f"/tenants/acme/?undo={twilio.pk}"
    assert f'action="/tenants/acme/deleted-integrations/{twilio.pk}/restore/"' in page
    assert undone["Location"] == "/tenants/acme/#integration-twilio"
    assert Integration.objects.get(pk=twilio.pk).deleted_at is None
    assert [e.action for e in AuditEvent.objects.order_by("id")][-2:] == ["delete", "restore"]


def test_no_undo_is_offered_once_the_id_is_taken_again(support, tenant):
    twilio = add_twilio(support)
    support.post("/tenants/acme/integrations/twilio/delete/")
    add_twilio(support, password="second-secret")

    page = support.get(f"/tenants/acme/?undo={twilio.pk}").content.decode()
    forced = support.post(f"/tenants/acme/deleted-integrations/{twilio.pk}/restore/", follow=True)

    assert "deleted-integrations" not in page
    assert "has been created again since" in forced.content.decode()
    assert Integration.all_objects.get(pk=twilio.pk).deleted_at is not None


def test_the_admin_door_records_its_channel(admin, tenant):
    twilio = TwilioFactory(tenant=tenant, account="AC1")

    admin.post(
        f"/admin/integrations/twiliointegration/{twilio.pk}/change/",
        {"tenant": tenant.pk, "ident": "twilio", "account": "AC2", "password": ""},
    )
    admin.post(
        "/admin/tenants/tenant/",
        {"action": "soft_delete", "_selected_action": [tenant.pk]},
    )

    events = list(AuditEvent.objects.order_by("id").values_list("action", "channel", "actor"))
    assert events == [("update", "admin", "boss"), ("delete", "admin", "boss")]
    assert Tenant.all_objects.get().deleted_at is not None


def test_a_command_door_records_its_channel(db):
    call_command("createtenant", "initech")

    event = AuditEvent.objects.get()
    assert (event.action, event.channel, event.actor) == (
        "create",
        "command",
        "manage.py createtenant",
    )


# --- the mask is never stored, at the staff and admin doors either ----------------------------


def test_the_mask_typed_into_the_staff_edit_form_keeps_the_stored_secret(support, tenant):
    add_twilio(support)

    response = support.post(EDIT, {"account": "AC2", "password": "********"})

    assert response.status_code == 302
    assert Integration.objects.get().password == "first-secret-value"
    update = AuditEvent.objects.get(action="update")
    assert update.changes == {"account": {"old": "AC1", "new": "AC2"}}


def test_the_mask_typed_into_the_staff_add_form_is_refused(support, tenant):
    response = support.post(
        "/tenants/acme/add-integration/twilio/",
        {"ident": "twilio", "account": "AC1", "password": "********"},
    )

    assert response.status_code == 400
    assert "is the mask shown in place of a secret" in response.content.decode()
    assert not Integration.all_objects.exists()


def test_the_mask_in_the_admin_keeps_on_change_and_is_refused_on_add(admin, tenant):
    twilio = TwilioFactory(tenant=tenant, password="stored-secret")

    changed = admin.post(
        f"/admin/integrations/twiliointegration/{twilio.pk}/change/",
        {"tenant": tenant.pk, "ident": "twilio", "account": "AC2", "password": "********"},
    )
    added = admin.post(
        "/admin/integrations/twiliointegration/add/",
        {"tenant": tenant.pk, "ident": "twilio-two", "account": "AC3", "password": "********"},
    )

    assert changed.status_code == 302
    assert Integration.objects.get(pk=twilio.pk).password == "stored-secret"
    assert added.status_code == 200  # the form again, with the error
    assert "is the mask shown in place of a secret" in added.content.decode()
    assert not Integration.objects.filter(ident="twilio-two").exists()
