"""DELETE /1.0/tenants/{tenant}/integrations/{id}: a soft delete; the id can be created again."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import Integration
from tenants.services import tenant_delete
from tests.api.support import fields_of
from tests.factories import SalesforceFactory, TwilioFactory, actor_named, token_actor_name

pytestmark = pytest.mark.django_db

JSON = "application/json"
TWILIO = {"account": "AC0123456789", "password": "a-new-auth-token"}


def url(ident: str, tenant: str = "acme") -> str:
    return f"/1.0/tenants/{tenant}/integrations/{ident}"


def reloaded(integration):
    return Integration.all_objects.get(pk=integration.pk)


def test_deleting_answers_204_without_a_body_and_keeps_the_row_as_history(tenant_client, tenant):
    twilio = TwilioFactory(tenant=tenant, password="kept-as-history")

    response = tenant_client.delete(url("twilio"))

    assert response.status_code == 204
    assert response.content == b""
    row = reloaded(twilio)
    assert row.deleted_at is not None
    assert row.updated_by == token_actor_name("acme ops")
    assert row.password == "kept-as-history"
    assert not Integration.objects.filter(tenant=tenant).exists()


def test_a_deleted_integration_is_gone_from_reads(tenant_client, tenant):
    TwilioFactory(tenant=tenant)
    SalesforceFactory(tenant=tenant)

    tenant_client.delete(url("twilio"))

    assert tenant_client.get(url("twilio")).status_code == 422
    assert [r["id"] for r in tenant_client.get("/1.0/tenants/acme/integrations").json()] == [
        "salesforce"
    ]


def test_deleting_twice_answers_422_the_second_time(tenant_client, tenant):
    TwilioFactory(tenant=tenant)

    assert tenant_client.delete(url("twilio")).status_code == 204
    response = tenant_client.delete(url("twilio"))

    assert response.status_code == 422
    assert response.json() == {"error": "Integration 'twilio' does not exist or has been deleted."}


@pytest.mark.parametrize("route", [url("twilio"), "/1.0/tenants/acme/twilio"])
def test_a_post_after_a_delete_creates_the_id_again_with_201(tenant_client, tenant, route):
    old = TwilioFactory(tenant=tenant, account="AC-old")
    tenant_client.delete(url("twilio"))

    response = tenant_client.post(route, json.dumps(TWILIO), content_type=JSON)

    assert response.status_code == 201, response.content
    assert fields_of(response.json()) == {"id": "twilio", "type": "twilio", **TWILIO}
    rows = Integration.all_objects.filter(tenant=tenant, ident="twilio").order_by("pk")
    assert [r.pk == old.pk for r in rows] == [True, False]
    assert rows[0].deleted_at is not None and rows[0].account == "AC-old"
    assert rows[1].deleted_at is None and rows[1].account == "AC0123456789"
    assert tenant_client.get(url("twilio")).json()["account"] == "AC0123456789"


def test_an_id_deleted_as_one_type_can_come_back_as_another(tenant_client, tenant):
    TwilioFactory(tenant=tenant, ident="messaging")
    tenant_client.delete(url("messaging"))

    response = tenant_client.post(
        url("messaging"),
        json.dumps({"type": "sendgrid", "account": "u", "password": "p"}),
        content_type=JSON,
    )

    assert response.status_code == 201, response.content
    assert Integration.objects.get(tenant=tenant, ident="messaging").provider_key == "sendgrid"


def test_deleting_a_missing_integration_answers_422(tenant_client, tenant):
    response = tenant_client.delete(url("nothing-here"))

    assert response.status_code == 422
    assert response.json() == {
        "error": "Integration 'nothing-here' does not exist or has been deleted."
    }


def test_deleting_in_a_deleted_tenant_answers_422_and_keeps_its_records(global_client, tenant):
    twilio = TwilioFactory(tenant=tenant)
    tenant_delete(tenant=tenant, actor=actor_named())

    response = global_client.delete(url("twilio"))

    assert response.status_code == 422
    assert response.json() == {"error": "Tenant 'acme' does not exist or has been deleted."}
    assert reloaded(twilio).deleted_at is None


def test_deleting_needs_the_write_scope(token_client, tenant):
    twilio = TwilioFactory(tenant=tenant)

    response = token_client(tenant, "read,secrets").delete(url("twilio"))

    assert response.status_code == 403
    assert response.json() == {"error": "This token lacks the 'write' scope."}
    assert reloaded(twilio).deleted_at is None


def test_a_token_of_another_tenant_may_not_delete(token_client, tenant, other_tenant):
    theirs = TwilioFactory(tenant=other_tenant)

    response = token_client(tenant).delete(url("twilio", tenant="globex"))

    assert response.status_code == 403
    assert reloaded(theirs).deleted_at is None


def test_deleting_without_a_token_answers_401(anonymous_client, tenant):
    twilio = TwilioFactory(tenant=tenant)

    response = anonymous_client.delete(url("twilio"))

    assert response.status_code == 401
    assert reloaded(twilio).deleted_at is None


def test_the_short_route_does_not_take_delete(tenant_client, tenant):
    twilio = TwilioFactory(tenant=tenant)

    response = tenant_client.delete("/1.0/tenants/acme/twilio")

    assert response.status_code == 405
    assert response.json() == {"error": 'Method "DELETE" not allowed.'}
    assert reloaded(twilio).deleted_at is None


def test_an_already_deleted_row_stays_deleted_with_its_first_timestamp(tenant_client, tenant):
    when = timezone.now() - timedelta(days=3)
    gone = TwilioFactory(tenant=tenant, deleted_at=when)

    tenant_client.delete(url("twilio"))

    assert reloaded(gone).deleted_at == when
