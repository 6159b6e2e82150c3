"""An id or tenant name with a trailing newline (`%0A`) is not a slug: a `$`-anchored pattern
matched before the newline, so `twilio\\n` made a second "twilio" card. Every door refuses it."""

import pytest

from integrations.models import Integration
from tests.api.support import SENDGRID, TWILIO, post_json, url
from tests.factories import TwilioFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("short", [False, True], ids=["integrations-route", "short-route"])
@pytest.mark.parametrize(
    "body",
    [{"type": "sendgrid", **SENDGRID}, {"type": "twilio", **TWILIO}],
    ids=["sendgrid-body", "twilio-body"],
)
@pytest.mark.parametrize("suffix", ["%0A", "%0D%0A", "%0A%0A"])
def test_it_refuses_an_id_with_a_trailing_newline_and_creates_nothing(
    tenant_client, tenant, short, body, suffix
):
    existing = TwilioFactory(tenant=tenant)

    response = post_json(tenant_client, url(f"twilio{suffix}", short=short), body)

    assert response.status_code == 400, response.content
    assert response.json() == {
        "error": "The request body is invalid.",
        "fields": {"id": ["Use lower-case letters, digits, and single '-' or '_' between them."]},
    }
    rows = Integration.all_objects.filter(tenant=tenant)
    assert [(row.pk, row.ident) for row in rows] == [(existing.pk, "twilio")]


def test_it_refuses_an_id_with_a_trailing_newline_when_the_body_has_no_type(tenant_client, tenant):
    existing = TwilioFactory(tenant=tenant)

    response = post_json(tenant_client, url("twilio%0A"), TWILIO)

    # "twilio\n" is no valid id: the body's fault, said before the type is looked for.
    assert response.status_code == 400, response.content
    assert response.json()["fields"] == {
        "id": ["Use lower-case letters, digits, and single '-' or '_' between them."]
    }
    assert [row.pk for row in Integration.all_objects.all()] == [existing.pk]


def test_it_refuses_a_body_id_with_a_trailing_newline(tenant_client, tenant):
    response = post_json(tenant_client, url("twilio"), {"id": "twilio\n", **TWILIO})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["id"]
    assert not Integration.all_objects.exists()


def test_it_does_not_read_change_or_delete_twilio_through_an_id_with_a_trailing_newline(
    tenant_client, tenant
):
    twilio = TwilioFactory(tenant=tenant, account="AC-kept")
    path = url("twilio%0A")

    responses = [
        tenant_client.get(path),
        tenant_client.patch(path, {"account": "AC-new"}, format="json"),
        tenant_client.delete(path),
    ]

    for response in responses:
        assert response.status_code == 422, response.content
        assert response.json() == {
            "error": "Integration 'twilio\n' does not exist or has been deleted."
        }
    row = Integration.all_objects.get(pk=twilio.pk)
    assert (row.account, row.deleted_at) == ("AC-kept", None)


def test_it_refuses_a_tenant_name_with_a_trailing_newline(global_client, tenant):
    response = post_json(global_client, url("twilio", tenant="acme%0A"), TWILIO)

    assert response.status_code == 422
    assert response.json() == {"error": "Tenant 'acme\n' does not exist or has been deleted."}
    assert not Integration.all_objects.exists()


def test_a_tenant_token_may_not_act_on_its_tenant_name_with_a_trailing_newline(
    tenant_client, tenant
):
    response = post_json(tenant_client, url("twilio", tenant="acme%0A"), TWILIO)

    assert response.status_code == 403
    assert not Integration.all_objects.exists()
