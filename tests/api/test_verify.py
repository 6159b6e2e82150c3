"""`POST /1.0/tenants/{tenant}/integrations/{id}/verify`, the outcome in every record, the
list's `status` filter, and `last-used-at` (issue 11), against the local fake providers."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import Integration
from integrations.services import LAST_USED_PRECISION
from tenants.models import AuditEvent
from tests import fake_providers as fakes
from tests.api.support import RFC3339_UTC
from tests.factories import DataSiftFactory, SendGridFactory, TwilioFactory

pytestmark = pytest.mark.django_db

LIST = "/1.0/tenants/acme/integrations"


def verify_path(ident: str, tenant: str = "acme") -> str:
    return f"/1.0/tenants/{tenant}/integrations/{ident}/verify"


@pytest.fixture
def good_twilio(tenant):
    return TwilioFactory(tenant=tenant, **fakes.ACCEPTED["twilio"])


@pytest.fixture
def bad_sendgrid(tenant):
    return SendGridFactory(tenant=tenant, **fakes.REFUSED["sendgrid"])


# --- the route -------------------------------------------------------------------------------


def test_it_answers_the_outcome(fake_providers, tenant_client, good_twilio):
    response = tenant_client.post(verify_path("twilio"))

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"status", "detail", "checked-at"}
    assert body["status"] == "ok"
    assert body["detail"] == "Twilio accepted the account SID and auth token."
    assert RFC3339_UTC.match(body["checked-at"])


def test_refused_credentials_answer_200_with_rejected(fake_providers, tenant_client, bad_sendgrid):
    response = tenant_client.post(verify_path("sendgrid"))

    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert "HTTP 401" in response.json()["detail"]


def test_the_outcome_is_in_the_record_and_the_etag_stays(
    fake_providers, tenant_client, good_twilio
):
    before = tenant_client.get(f"{LIST}/twilio")

    verified = tenant_client.post(verify_path("twilio")).json()
    after = tenant_client.get(f"{LIST}/twilio")

    assert before.json()["last-verification"] == "never"
    assert before.json()["last-verified-at"] is None
    record = after.json()
    assert record["last-verification"] == "ok"
    assert record["last-verified-at"] == verified["checked-at"]
    assert record["last-verification-detail"] == verified["detail"]
    assert after["ETag"] == before["ETag"]
    assert record["version"] == before.json()["version"]
    assert record["updated-at"] == before.json()["updated-at"]


def test_it_needs_the_write_scope(fake_providers, token_client, tenant, good_twilio):
    response = token_client(tenant, "read,secrets").post(verify_path("twilio"))

    assert response.status_code == 403
    assert response.json() == {"error": "This token lacks the 'write' scope."}
    assert fake_providers.seen == []


def test_a_write_only_token_may_verify(fake_providers, token_client, tenant, good_twilio):
    response = token_client(tenant, "write").post(verify_path("twilio"))

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_a_token_of_another_tenant_gets_403(fake_providers, token_client, other_tenant, tenant):
    TwilioFactory(tenant=tenant)

    response = token_client(other_tenant).post(verify_path("twilio"))

    assert response.status_code == 403
    assert fake_providers.seen == []


def test_no_token_gets_401(fake_providers, anonymous_client, good_twilio):
    assert anonymous_client.post(verify_path("twilio")).status_code == 401


@pytest.mark.parametrize(
    "path",
    [verify_path("twilio", tenant="nobody"), verify_path("nothing")],
    ids=["missing tenant", "missing integration"],
)
def test_a_missing_tenant_or_integration_answers_422(fake_providers, global_client, tenant, path):
    response = global_client.post(path)

    assert response.status_code == 422
    assert "does not exist or has been deleted" in response.json()["error"]
    assert fake_providers.seen == []


def test_a_deleted_integration_answers_422(fake_providers, tenant_client, good_twilio):
    tenant_client.delete(f"{LIST}/twilio")

    response = tenant_client.post(verify_path("twilio"))

    assert response.status_code == 422
    assert fake_providers.seen == []


def test_get_on_the_route_answers_405(fake_providers, tenant_client, good_twilio):
    response = tenant_client.get(verify_path("twilio"))

    assert response.status_code == 405
    assert "error" in response.json()


def test_it_writes_one_verify_event_in_the_history(fake_providers, tenant_client, good_twilio):
    tenant_client.post(verify_path("twilio"))

    events = tenant_client.get(f"{LIST}/twilio/history").json()["events"]
    verify_events = [event for event in events if event["action"] == "verify"]
    assert len(verify_events) == 1
    assert verify_events[0]["actor"].startswith("token:acme ops")
    assert verify_events[0]["changes"]["last-verification"] == {"old": "never", "new": "ok"}


def test_no_secret_nor_provider_answer_in_the_answer_the_audit_or_the_log(
    fake_providers, tenant_client, tenant, caplog
):
    for provider, factory in (("twilio", TwilioFactory), ("datasift", DataSiftFactory)):
        for credentials in (fakes.ACCEPTED[provider], fakes.REFUSED[provider]):
            factory(tenant=tenant, ident=f"{provider}-x", **credentials)
            with caplog.at_level(logging.DEBUG):
                answer = tenant_client.post(verify_path(f"{provider}-x")).content.decode()
            Integration.objects.filter(ident=f"{provider}-x").delete()
            audit = str(list(AuditEvent.objects.values_list("changes", flat=True)))
            secrets = [fakes.ACCEPTED[provider], fakes.REFUSED[provider]]
            for text in (answer, audit, caplog.text):
                assert fakes.BODY_MARK not in text
                for values in secrets:
                    for name in ("password", "api_key"):
                        if name in values:
                            assert values[name] not in text


# --- the list's status filter ----------------------------------------------------------------


def test_the_list_filters_by_the_last_verification(
    fake_providers, tenant_client, good_twilio, bad_sendgrid, tenant
):
    DataSiftFactory(tenant=tenant)  # never verified
    tenant_client.post(verify_path("twilio"))
    tenant_client.post(verify_path("sendgrid"))

    def ids(status: str) -> list[str]:
        response = tenant_client.get(LIST, {"status": status})
        assert response.status_code == 200
        return [record["id"] for record in response.json()]

    assert ids("rejected") == ["sendgrid"]
    assert ids("ok") == ["twilio"]
    assert ids("never") == ["datasift"]
    assert ids("unreachable") == []


def test_an_unknown_status_answers_400(tenant_client, tenant):
    response = tenant_client.get(LIST, {"status": "broken"})

    assert response.status_code == 400
    assert response.json() == {
        "error": "'status' must be one of: ok, rejected, unreachable, never."
    }


# --- last-used-at ----------------------------------------------------------------------------


def last_used(ident: str):
    return Integration.objects.get(ident=ident).last_used_at


def test_reading_secrets_records_last_used(tenant_client, good_twilio):
    response = tenant_client.get(f"{LIST}/twilio")

    assert response.json()["last-used-at"] is not None
    assert last_used("twilio") is not None


def test_reading_without_the_secrets_scope_is_no_use(token_client, tenant, good_twilio):
    response = token_client(tenant, "read").get(f"{LIST}/twilio")

    assert response.json()["last-used-at"] is None
    assert last_used("twilio") is None


def test_a_write_answer_carrying_secrets_is_no_use(tenant_client, good_twilio):
    tenant_client.patch(f"{LIST}/twilio", {"password": "new-token"}, format="json")

    assert last_used("twilio") is None


def test_last_used_is_written_at_most_once_a_minute(tenant_client, good_twilio, count_sql):
    tenant_client.get(f"{LIST}/twilio")
    first = last_used("twilio")

    with count_sql() as sql:
        tenant_client.get(f"{LIST}/twilio")

    assert last_used("twilio") == first
    assert not [s for s in sql.statements if "last_used_at" in s and s.startswith("UPDATE")]


def test_last_used_moves_again_after_a_minute(tenant_client, good_twilio):
    long_ago = timezone.now() - LAST_USED_PRECISION - timedelta(seconds=1)
    Integration.objects.filter(ident="twilio").update(last_used_at=long_ago)

    tenant_client.get(f"{LIST}/twilio")

    assert last_used("twilio") > long_ago


def test_a_listing_records_the_use_of_every_record_in_one_statement(
    tenant_client, tenant, good_twilio, bad_sendgrid, count_sql
):
    with count_sql() as sql:
        tenant_client.get(LIST)

    # On PostgreSQL the UPDATE is a part (WITH …) of the statement that INSERTs the reveals.
    updates = [s for s in sql.statements if "UPDATE" in s and "last_used_at" in s]
    assert len([s for s in updates if '"integrations_integration" SET' in s]) == 1
    assert last_used("twilio") == last_used("sendgrid") is not None
