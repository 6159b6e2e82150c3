"""A list with secrets in one statement (integrations.reveal_reads.integration_list_revealed):
on PostgreSQL the page, its reveal events and its last-used-at are written by the statement
that reads the page. It must answer and audit exactly as the two steps do (the page, then
services.integration_reveals_record), audit only the rows it answers (not the one read to
tell that a next page exists), and keep nothing when a part of it fails."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config import compiled_write
from integrations.models import Integration
from integrations.sealed import MASK
from tenants.models import AuditAction, AuditEvent
from tests.api.support import EVENT_FIELDS, client_for, token_for
from tests.db_faults import allow_inserts, allow_writes, refuse_writes, skip_inserts
from tests.factories import (
    DataSiftFactory,
    SalesforceFactory,
    SendGridFactory,
    TenantFactory,
    TwilioFactory,
)

LIST = "/1.0/tenants/acme/integrations"


def reveals() -> list[dict]:
    return list(
        AuditEvent.objects.filter(action=AuditAction.REVEAL)
        .order_by("integration_ident", "pk")
        .values(*EVENT_FIELDS)
    )


def used() -> dict[str, bool]:
    return {
        ident: last_used is not None
        for ident, last_used in Integration.all_objects.values_list("ident", "last_used_at")
    }


def _records(response) -> list[dict]:
    return [{k: v for k, v in record.items() if k != "last-used-at"} for record in response.json()]


@pytest.fixture
def acme():
    return TenantFactory(name="acme")


@pytest.fixture
def four_providers(acme):
    """One integration of each provider, ids that sort differently by code point ('-' < '_'
    < 'a') than by a language's collation."""
    return [
        SalesforceFactory(tenant=acme, ident="a_sales"),
        TwilioFactory(tenant=acme, ident="a-twilio"),
        SendGridFactory(tenant=acme, ident="aSend"),
        DataSiftFactory(tenant=acme, ident="a.datasift"),
    ]


def _two_steps(monkeypatch) -> None:
    monkeypatch.setattr(compiled_write, "can_guard", lambda alias: False)


@pytest.mark.django_db
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
@pytest.mark.parametrize("query", ["", "?limit=2", "?limit=3&after=a-twilio", "?type=twilio"])
def test_the_one_statement_answers_and_audits_as_the_two_steps(
    monkeypatch, acme, four_providers, scoped, query
):
    client = client_for(token_for(acme if scoped else None), HTTP_X_REQUEST_ID="rq-list")
    one = client.get(LIST + query)
    one_reveals, one_used = reveals(), used()
    AuditEvent.objects.filter(action=AuditAction.REVEAL).delete()
    Integration.all_objects.update(last_used_at=None)
    with monkeypatch.context() as patched:
        _two_steps(patched)
        two = client.get(LIST + query)

    assert one.status_code == two.status_code == 200, (one.content, two.content)
    assert _records(one) == _records(two)
    assert one.get("Link") == two.get("Link")
    assert one.get("Next-Cursor") == two.get("Next-Cursor")
    assert one_reveals == reveals()
    assert one_used == used()
    answered = [record["id"] for record in one.json()]
    assert [event["integration_ident"] for event in one_reveals] == sorted(answered)
    assert all(record["last-used-at"] is not None for record in one.json())


@pytest.mark.django_db
def test_the_row_that_tells_of_a_next_page_is_neither_audited_nor_used(acme, four_providers):
    response = client_for(token_for()).get(LIST + "?limit=3")

    assert response.status_code == 200, response.content
    # By code point: '-' (0x2d) < '.' (0x2e) < 'S' (0x53) < '_' (0x5f).
    assert [record["id"] for record in response.json()] == ["a-twilio", "a.datasift", "aSend"]
    assert response["Next-Cursor"] == "aSend"
    assert sorted(event["integration_ident"] for event in reveals()) == [
        "a-twilio",
        "a.datasift",
        "aSend",
    ]
    assert used() == {"a-twilio": True, "a.datasift": True, "aSend": True, "a_sales": False}


@pytest.mark.django_db
def test_each_provider_gets_its_own_type_and_secret_names(acme, four_providers):
    response = client_for(token_for()).get(LIST)

    assert response.status_code == 200, response.content
    by_ident = {event["integration_ident"]: event for event in reveals()}
    assert {ident: (e["integration_type"], e["changes"]) for ident, e in by_ident.items()} == {
        "a-twilio": ("twilio", {"revealed": ["password"]}),
        "a.datasift": ("datasift", {"revealed": ["api_key"]}),
        "aSend": ("sendgrid", {"revealed": ["password"]}),
        "a_sales": ("salesforce", {"revealed": ["consumer_secret", "password", "secret_token"]}),
    }
    pks = {integration.ident: integration.pk for integration in four_providers}
    assert {ident: e["integration_pk"] for ident, e in by_ident.items()} == pks
    assert {e["tenant_id"] for e in by_ident.values()} == {acme.pk}


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_a_warm_tokens_list_is_two_statements(acme, four_providers, scoped):
    client = client_for(token_for(acme if scoped else None))
    assert client.get(LIST).status_code == 200  # the token's last-used-at written
    Integration.all_objects.update(last_used_at=None)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST)

    assert response.status_code == 200
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["SELECT", "WITH"]
    assert len(reveals()) == 2 * 4
    assert all(used().values())


@pytest.mark.django_db
def test_a_fresh_last_use_is_kept_and_the_reveal_written(acme, four_providers):
    client = client_for(token_for())
    client.get(LIST)
    before = dict(Integration.all_objects.values_list("ident", "last_used_at"))

    response = client.get(LIST)

    assert response.status_code == 200
    assert dict(Integration.all_objects.values_list("ident", "last_used_at")) == before
    assert len(reveals()) == 2 * 4


@pytest.mark.django_db
def test_a_stale_last_use_is_written_again(acme, four_providers):
    client = client_for(token_for())
    long_ago = timezone.now() - timedelta(hours=1)
    Integration.all_objects.update(last_used_at=long_ago)

    response = client.get(LIST)

    assert response.status_code == 200
    assert all(
        stamp > long_ago for stamp in Integration.all_objects.values_list("last_used_at", flat=True)
    )
    assert all(record["last-used-at"] != long_ago.isoformat() for record in response.json())


@pytest.mark.django_db
@pytest.mark.parametrize("scopes", ["read", "read,write"])
def test_a_token_without_secrets_writes_neither(acme, four_providers, scopes):
    response = client_for(token_for(scopes=scopes)).get(LIST)

    assert response.status_code == 200
    twilio = next(record for record in response.json() if record["id"] == "a-twilio")
    assert twilio["password"] == MASK
    assert reveals() == []
    assert not any(used().values())


@pytest.mark.django_db
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_an_empty_page_writes_nothing(acme, four_providers, scoped):
    client = client_for(token_for(acme if scoped else None))

    response = client.get(LIST + "?after=zzz")

    assert response.status_code == 200, response.content
    assert response.json() == []
    assert reveals() == []


@pytest.mark.django_db
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_a_deleted_tenant_answers_422_and_writes_nothing(acme, four_providers, scoped):
    client = client_for(token_for(acme if scoped else None))
    acme.deleted_at = timezone.now()
    acme.save(update_fields=["deleted_at"])

    response = client.get(LIST)

    assert response.status_code == 422, response.content
    assert response.json() == {"error": "Tenant 'acme' does not exist or has been deleted."}
    assert reveals() == []
    assert not any(used().values())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_reveal_row_dropped_by_a_trigger_fails_the_read_and_keeps_nothing(acme, four_providers):
    client = client_for(token_for())
    client.get(LIST + "?type=none-such")  # the token's last use, written before the trigger
    skip_inserts("tenants_auditevent")
    try:
        response = client.get(LIST)
    finally:
        allow_inserts("tenants_auditevent")

    assert response.status_code == 500, response.content
    assert "password" not in response.content.decode()
    assert reveals() == []
    assert not any(used().values())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("table", ["tenants_auditevent", "integrations_integration"])
def test_a_write_the_database_refuses_answers_no_secret_and_keeps_nothing(
    acme, four_providers, table
):
    client = client_for(token_for())
    client.get(LIST + "?type=none-such")  # the token's last use, written before the trigger
    refuse_writes(table, "refused by the test")
    try:
        response = client.get(LIST)
    finally:
        allow_writes(table)

    assert response.status_code == 500, response.content
    body = response.content.decode()
    assert "password" not in body and "refused by the test" not in body
    assert reveals() == []
    assert not any(used().values())


@pytest.mark.django_db
def test_a_provider_without_rows_on_the_page_writes_no_event_for_it(acme):
    TwilioFactory(tenant=acme, ident="only-twilio")

    response = client_for(token_for()).get(LIST)

    assert response.status_code == 200
    assert [(e["integration_ident"], e["integration_type"]) for e in reveals()] == [
        ("only-twilio", "twilio")
    ]
