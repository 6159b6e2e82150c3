"""The audit trail and the versions of an integration, through the API.

Every change is an event (who, which door, what changed: old → new for plain values, only
"changed" for secrets); every response that carries secrets in clear is a `reveal` event; a
write that changes nothing records nothing. Versions keep past values for rollback, which a
token without `secrets` may run. A value equal to the mask is never stored.
"""

import json

import pytest
from django.test import override_settings

from integrations.models import Integration, IntegrationVersion
from tenants.models import AuditEvent
from tests.api.support import JSON, SALESFORCE, TWILIO, post_json, url

pytestmark = pytest.mark.django_db

SECRET_MARKERS = ("twilio-auth-token-value", "rotated-token-value", "third-token-value")


def patch(client, path: str, body: dict):
    return client.patch(path, json.dumps(body), content_type=JSON)


def history(client, ident: str = "twilio", **params) -> dict:
    response = client.get(url(ident) + "/history", params)
    assert response.status_code == 200, response.content
    return response.json()


def changes(client, ident: str = "twilio") -> list[dict]:
    """The history's change events, leaving out reveals (tenant_client holds `secrets`)."""
    return [e for e in history(client, ident)["events"] if e["action"] != "reveal"]


@pytest.fixture
def write_only(token_client, tenant):
    return token_client(tenant, "write")


@pytest.fixture
def reader(token_client, tenant):
    return token_client(tenant, "read")


def test_each_change_is_an_event_naming_what_changed_never_a_secret(tenant_client, reader):
    post_json(tenant_client, url("twilio"), TWILIO)
    post_json(tenant_client, url("twilio"), {**TWILIO, "account": "AC-NEW"})
    patch(tenant_client, url("twilio"), {"password": "rotated-token-value"})
    tenant_client.delete(url("twilio"))

    events = changes(reader)

    assert [e["action"] for e in events] == ["delete", "update", "replace", "create"]
    create, replace, update = events[3], events[2], events[1]
    assert create["changes"] == {
        "account": {"old": "", "new": TWILIO["account"]},
        "password": "changed",
    }
    assert replace["changes"] == {"account": {"old": TWILIO["account"], "new": "AC-NEW"}}
    assert update["changes"] == {"password": "changed"}
    assert {e["channel"] for e in events} == {"api"}
    assert all(e["actor"].startswith("token:acme ops (ir_") for e in events)
    assert all(e["type"] == "twilio" for e in events)
    text = json.dumps(events)
    assert not any(marker in text for marker in SECRET_MARKERS)


def test_a_write_that_changes_nothing_records_nothing_and_touches_nothing(tenant_client):
    post_json(tenant_client, url("twilio"), TWILIO)
    before = Integration.objects.get()
    events_before = AuditEvent.objects.exclude(action="reveal").count()

    again = post_json(tenant_client, url("twilio"), TWILIO)
    patched = patch(tenant_client, url("twilio"), {"account": TWILIO["account"]})

    after = Integration.objects.get()
    assert (again.status_code, patched.status_code) == (200, 200)
    assert (after.updated_at, after.updated_by, after.version) == (
        before.updated_at,
        before.updated_by,
        before.version,
    )
    assert AuditEvent.objects.exclude(action="reveal").count() == events_before
    assert IntegrationVersion.objects.count() == 1


def test_every_answer_that_carries_secrets_in_clear_is_a_reveal_event(
    tenant_client, reader, write_only
):
    post_json(tenant_client, url("salesforce"), SALESFORCE)  # the answer reveals: 1
    tenant_client.get(url("salesforce"))  # 2
    tenant_client.get("/1.0/tenants/acme/integrations")  # 3
    reader.get(url("salesforce"))  # masked: no reveal
    post_json(write_only, url("salesforce"), SALESFORCE)  # id and type only: no reveal

    reveals = AuditEvent.objects.filter(action="reveal")

    assert reveals.count() == 3
    assert reveals.first().changes == {"revealed": ["consumer_secret", "password", "secret_token"]}
    shown = history(reader, "salesforce")["events"][0]
    assert shown["changes"] == {"revealed": ["consumer-secret", "password", "secret-token"]}


def test_history_outlives_the_integration_and_covers_each_incarnation(tenant_client, reader):
    post_json(tenant_client, url("twilio"), TWILIO)
    tenant_client.delete(url("twilio"))
    post_json(tenant_client, url("twilio"), TWILIO)

    events = history(reader)["events"]

    assert [e["action"] for e in events] == ["reveal", "create", "delete", "reveal", "create"]


def test_history_pages_newest_first_with_next_and_a_link_header(tenant_client, reader):
    post_json(tenant_client, url("twilio"), TWILIO)
    for n in range(4):
        patch(tenant_client, url("twilio"), {"account": f"AC{n}"})
    AuditEvent.objects.filter(action="reveal").delete()

    first = reader.get(url("twilio") + "/history", {"limit": 2})
    body = first.json()
    second = history(reader, limit=2, before=body["next"])
    third = history(reader, limit=2, before=second["next"])

    assert [e["changes"]["account"]["new"] for e in body["events"]] == ["AC3", "AC2"]
    assert f"before={body['next']}" in first["Link"] and first["Link"].endswith('rel="next"')
    assert [e["changes"]["account"]["new"] for e in second["events"]] == ["AC1", "AC0"]
    assert [e["action"] for e in third["events"]] == ["create"]
    assert third["next"] is None


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "201"}, {"before": "x"}])
def test_history_refuses_a_bad_page_parameter(tenant_client, reader, query):
    post_json(tenant_client, url("twilio"), TWILIO)

    response = reader.get(url("twilio") + "/history", query)

    assert response.status_code == 400
    assert "must be a whole number" in response.json()["error"]


def test_history_of_an_id_that_never_existed_is_422(reader):
    response = reader.get(url("nothing-here") + "/history")

    assert response.status_code == 422
    assert response.json() == {
        "error": "Integration 'nothing-here' does not exist or has been deleted."
    }


def test_history_and_versions_need_the_read_scope(tenant_client, write_only):
    post_json(tenant_client, url("twilio"), TWILIO)

    for path in (url("twilio") + "/history", url("twilio") + "/versions"):
        response = write_only.get(path)
        assert response.status_code == 403
        assert response.json() == {"error": "This token lacks the 'read' scope."}


def test_versions_list_numbers_and_changed_fields_never_values(tenant_client, reader):
    post_json(tenant_client, url("twilio"), TWILIO)
    patch(tenant_client, url("twilio"), {"password": "rotated-token-value"})
    patch(tenant_client, url("twilio"), {"account": "AC-3"})

    response = reader.get(url("twilio") + "/versions")

    body = response.json()
    assert body["current"] == 3
    assert [(v["version"], v["changed"]) for v in body["versions"]] == [
        (3, ["account"]),
        (2, ["password"]),
        (1, ["account", "password"]),
    ]
    assert not any(marker in response.content.decode() for marker in SECRET_MARKERS)


def test_a_write_only_token_rolls_back_a_bad_rotation_without_seeing_a_secret(
    tenant_client, write_only
):
    post_json(tenant_client, url("twilio"), TWILIO)
    patch(write_only, url("twilio"), {"password": "a-bad-rotation"})

    response = write_only.post(url("twilio") + "/versions/1/restore")

    assert response.status_code == 200
    assert response.json() == {"id": "twilio", "type": "twilio"}
    restored = Integration.objects.get()
    assert (restored.password, restored.version) == (TWILIO["password"], 3)
    latest = AuditEvent.objects.exclude(action="reveal").order_by("-id").first()
    assert (latest.action, latest.changes) == ("rollback", {"password": "changed"})


def test_restoring_an_unknown_version_is_422_and_changes_nothing(tenant_client):
    post_json(tenant_client, url("twilio"), TWILIO)

    response = tenant_client.post(url("twilio") + "/versions/9/restore")

    assert response.status_code == 422
    assert response.json() == {"error": "Version 9 does not exist or is no longer kept."}
    assert Integration.objects.get().version == 1


@override_settings(INTEGRATION_VERSIONS_KEPT=3)
def test_only_the_newest_versions_are_kept(tenant_client):
    post_json(tenant_client, url("twilio"), TWILIO)
    for n in range(5):
        patch(tenant_client, url("twilio"), {"account": f"AC{n}"})

    kept = list(IntegrationVersion.objects.values_list("number", flat=True).order_by("number"))
    pruned = tenant_client.post(url("twilio") + "/versions/1/restore")

    assert kept == [4, 5, 6]
    assert pruned.status_code == 422


# --- the mask is never stored -----------------------------------------------------------------


def test_the_mask_sent_back_keeps_the_stored_secret_on_replace_and_patch(tenant_client, reader):
    post_json(tenant_client, url("twilio"), TWILIO)
    masked = reader.get(url("twilio")).json()
    assert masked["password"] == "********"

    replaced = post_json(tenant_client, url("twilio"), {**masked, "account": "AC-NEW"})
    patched = patch(tenant_client, url("twilio"), {"password": "********"})

    assert (replaced.status_code, patched.status_code) == (200, 200)
    stored = Integration.objects.get()
    assert (stored.account, stored.password) == ("AC-NEW", TWILIO["password"])
    assert changes(reader)[0]["changes"] == {"account": {"old": TWILIO["account"], "new": "AC-NEW"}}


def test_the_mask_on_create_is_a_400_naming_the_field(tenant_client):
    response = post_json(tenant_client, url("twilio"), {**TWILIO, "password": "********"})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["password"]
    assert "mask" in response.json()["fields"]["password"][0]
    assert not Integration.all_objects.exists()
