"""An outsider's attack on 1648caf and 9fae3dd.

1648caf: on PostgreSQL a POST that creates (no If-Match / If-None-Match, the read without a
lock found no row) is one statement (services._insert_unless_raced): the tenant held live
first (FOR SHARE; by name, its key then a compiled_write.guard_column), both rows, the version
and the events referring to the new key as `(SELECT "id" FROM w0)`; a lost race writes
nothing and falls back to the locked attempts. Location is built from the URL's tenant.

9fae3dd: a tenant token's reads (GET one, the list) check the tenant live in the same
statement; a read finding nothing re-reads the tenant (422 when deleted since).

Invariants checked: exactly one 201 per id among racing creates, the rest 200 replaces,
versions contiguous, one create event; no 500, no deadlock; no write acknowledged into a
deleted tenant; never two live rows of one id; every value stored verbatim (no Sql from user
input); a refused or dropped row is a 500 with nothing kept and no secret in the body or the
logs; audit events and versions point at the new row. Tests marked xfail(strict=True,
reason="HOLE: ...") show what did not hold.
"""

import re
import threading
import time

import psycopg
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from config import compiled_write
from integrations import services
from integrations.api import views as api_views
from integrations.models import Integration, IntegrationVersion
from integrations.providers.salesforce import SalesforceIntegration
from integrations.providers.twilio import TwilioIntegration
from integrations.sealed import MASK
from tenants.models import AuditAction, AuditEvent, Tenant
from tenants.services import tenant_delete
from tests.api.support import EVENT_FIELDS, JSON, client_for, post_json, token_for, url
from tests.concurrency import from_another_session, run_together
from tests.db_faults import (
    allow_inserts,
    allow_writes,
    divide_by_zero_on_writes,
    refuse_writes,
    skip_inserts,
)
from tests.factories import SendGridFactory, TenantFactory, TwilioFactory, actor_named

PASSWORD = "create-attack-pw-0123456789"
BODY = {"type": "twilio", "account": "AC-new", "password": PASSWORD}
FAULT = "create-attack-refused"
TABLES = [
    "integrations_integration",
    "integrations_twiliointegration",
    "integrations_integrationversion",
    "tenants_auditevent",
]
INTERNAL = {"error": "Internal server error."}

postgres_tx = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme(db):
    return TenantFactory(name="acme")


def _client(acme, scoped: bool, scopes: str = "read,write,secrets"):
    client = client_for(token_for(acme if scoped else None, scopes))
    client.get("/1.0/tenants/acme/integrations")  # the token's first use, noted
    return client


def _written() -> tuple[int, int, int]:
    """Integrations (deleted too), versions, and audit events of integrations."""
    return (
        Integration.all_objects.count(),
        IntegrationVersion.objects.count(),
        AuditEvent.objects.exclude(integration_ident="").count(),
    )


def _events_of(pk: int) -> list[dict]:
    return list(AuditEvent.objects.filter(integration_pk=pk).order_by("pk").values(*EVENT_FIELDS))


def _post(token: str, path: str, body: dict, **extra):
    def job():
        response = post_json(client_for(token), path, body, **extra)
        return response.status_code, response.json() if response.content else None

    return job


def _statuses(results) -> list:
    return [result[0] for result in results]


# --- racing creates of one id ----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_racing_creates_of_one_id_one_201_the_rest_replace(acme, scoped):
    token = token_for(acme if scoped else None)
    client_for(token).get("/1.0/tenants/acme/integrations")
    jobs = [_post(token, url("tw"), {**BODY, "account": f"AC-{i}"}) for i in range(8)]

    results = run_together(jobs)

    statuses = _statuses(results)
    assert sorted(statuses) == [200] * 7 + [201], results
    [live] = TwilioIntegration.objects.filter(tenant=acme, ident="tw")
    versions = sorted(
        IntegrationVersion.objects.filter(integration_id=live.pk).values_list("number", flat=True)
    )
    assert versions == list(range(1, 9))
    assert sorted(body["version"] for _, body in results) == list(range(1, 9))
    actions = [event["action"] for event in _events_of(live.pk)]
    assert actions.count(AuditAction.CREATE) == 1
    assert actions.count(AuditAction.REPLACE) == 7
    assert actions.count(AuditAction.REVEAL) == 8
    last = max(results, key=lambda result: result[1]["version"])[1]
    assert live.account == last["account"] and live.version == 8
    assert Integration.all_objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_creates_of_one_id_in_two_types_leave_one_live_row(acme):
    token = token_for(None)
    jobs = [
        _post(token, url("shared"), {"type": "twilio", "account": f"AC-{i}", "password": "p"})
        if i % 2
        else _post(token, url("shared"), {"type": "sendgrid", "account": f"u-{i}", "password": "p"})
        for i in range(8)
    ]

    results = run_together(jobs)

    assert 500 not in _statuses(results), results
    [live] = Integration.objects.filter(tenant=acme, ident="shared")
    winner = "twilio" if isinstance(live.get_real_instance(), TwilioIntegration) else "sendgrid"
    for index, (status, body) in enumerate(results):
        kind = "twilio" if index % 2 else "sendgrid"
        if kind == winner:
            assert status in (200, 201), body
        else:
            assert status == 400, body
            assert "type" in body["fields"], body
    assert sorted(_statuses(results)).count(201) == 1
    assert Integration.all_objects.count() == 1
    assert [e["action"] for e in _events_of(live.pk)].count(AuditAction.CREATE) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_create_of_another_type_is_a_400_and_writes_nothing(acme, global_client):
    SendGridFactory(tenant=acme, ident="shared")
    before = _written()

    response = post_json(global_client, url("shared"), {**BODY})

    assert response.status_code == 400, response.content
    assert "type" in response.json()["fields"]
    assert _written() == before
    assert Integration.objects.filter(tenant=acme, ident="shared").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(3))
def test_creates_racing_deletes_of_the_same_id(acme, attempt):
    token = token_for(None)

    def delete():
        response = client_for(token).delete(url("tw"))
        return response.status_code, response.json() if response.content else None

    results = run_together([_post(token, url("tw"), BODY), delete, delete])

    statuses = _statuses(results)
    assert statuses[0] == 201, results
    assert all(status in (204, 404, 422) for status in statuses[1:]), results
    assert statuses[1:].count(204) <= 1
    live = Integration.objects.filter(tenant=acme, ident="tw").count()
    assert live == (0 if 204 in statuses[1:] else 1)
    assert Integration.all_objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_creates_in_many_tenants_at_once_land_in_their_own(db):
    tenants = [TenantFactory(name=f"t{i}") for i in range(6)]
    tokens = [token_for(tenant if i % 2 else None) for i, tenant in enumerate(tenants)]
    jobs = [
        _post(token, url("tw", tenant.name), {**BODY, "account": tenant.name})
        for token, tenant in zip(tokens, tenants, strict=True)
    ]

    results = run_together(jobs)

    assert _statuses(results) == [201] * 6, results
    for tenant in tenants:
        [row] = TwilioIntegration.objects.filter(ident="tw", tenant=tenant)
        assert row.account == tenant.name
        events = _events_of(row.pk)
        assert {e["tenant_id"] for e in events} == {tenant.pk}
        assert {(e["integration_ident"], e["integration_type"]) for e in events} == {
            ("tw", "twilio")
        }
        version = IntegrationVersion.objects.get(integration_id=row.pk)
        assert version.number == 1


# --- racing the tenant's soft delete and restore ---------------------------------------------


def _held_open(sql: str, params: list):
    """Another session with `sql` run in an open transaction: (connection, commit)."""
    other = psycopg.connect(**connection.get_connection_params())
    other.execute(sql, params)
    return other


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_a_create_waiting_on_an_uncommitted_tenant_delete_is_a_422(acme, scoped):
    client = _client(acme, scoped)
    other = _held_open("UPDATE tenants_tenant SET deleted_at = now() WHERE id = %s", [acme.pk])
    answers = []
    thread = threading.Thread(
        target=lambda: (answers.append(post_json(client, url("tw"), BODY)), connection.close())
    )
    try:
        thread.start()
        time.sleep(0.6)
        other.commit()
    finally:
        other.close()
        thread.join(timeout=30)

    [response] = answers
    assert response.status_code == 422, response.content
    assert _written() == (0, 0, 0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_delete_right_after_the_one_statement_leaves_the_create_acknowledged(acme, monkeypatch):
    """The one statement is committed when it returns (autocommit): a soft delete committed
    right after it neither waits nor undoes it, and the create is answered 201."""
    global_token = token_for(None)
    original = compiled_write._counted
    seen = []

    def slow(alias, sql, params, what):
        rows = original(alias, sql, params, what)
        if "guard_row" in sql and "FOR SHARE" in sql and not seen:
            # The statement is done (autocommit: committed); a delete now finds the row.
            seen.append(
                from_another_session(
                    "UPDATE tenants_tenant SET deleted_at = now() WHERE id = %s", [acme.pk]
                )
            )
        return rows

    monkeypatch.setattr(compiled_write, "_counted", slow)
    response = post_json(client_for(global_token), url("tw"), BODY)

    assert response.status_code == 201, response.content
    assert seen == ["done"]
    assert TwilioIntegration.all_objects.filter(tenant=acme, ident="tw").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_creates_racing_a_tenant_delete_are_all_or_nothing(acme, scoped):
    token = token_for(acme if scoped else None)
    client_for(token).get("/1.0/tenants/acme/integrations")

    def delete_tenant():
        return tenant_delete(tenant=Tenant.all_objects.get(pk=acme.pk), actor=actor_named())

    jobs = [_post(token, url(f"tw-{i}"), BODY) for i in range(6)] + [delete_tenant]
    results = run_together(jobs)

    assert results[-1] is True, results
    for index, (status, body) in enumerate(results[:-1]):
        rows = Integration.all_objects.filter(tenant=acme, ident=f"tw-{index}")
        if status == 201:
            [row] = rows
            actions = [e["action"] for e in _events_of(row.pk)]
            assert actions == [AuditAction.CREATE, AuditAction.REVEAL]
        else:
            assert status == 422, (status, body)
            assert not rows.exists()
    assert Tenant.all_objects.get(pk=acme.pk).deleted_at is not None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_create_racing_a_restore_answers_consistently(acme):
    Tenant.all_objects.filter(pk=acme.pk).update(deleted_at=timezone.now())
    token = token_for(None)

    def restore():
        from tenants.services import tenant_restore

        return tenant_restore(tenant=Tenant.all_objects.get(pk=acme.pk), actor=actor_named())

    results = run_together([_post(token, url("tw"), BODY), restore])

    status, _ = results[0]
    assert results[1] is True
    assert status in (201, 422), results
    rows = Integration.all_objects.filter(tenant=acme, ident="tw").count()
    assert rows == (1 if status == 201 else 0)


# --- odd tenant names and ids ----------------------------------------------------------------


ODD_TENANTS = [
    "ACME",
    "Acme",
    "acme%00",
    "acme%0A",
    "acme%20",
    "%ED%A0%80",
    "acme%ED%B0%80",
    "x" * 65,
    "%C3%A1cme",
    "acm%C3%A9",
    "acme%2F",
    "acme.",
    "%EF%BC%A1cme",  # fullwidth A
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", ODD_TENANTS)
def test_odd_tenant_names_write_nothing(acme, global_client, name):
    response = post_json(global_client, f"/1.0/tenants/{name}/integrations/tw", BODY)

    assert response.status_code in (400, 404, 422), (name, response.status_code, response.content)
    assert _written() == (0, 0, 0)


ODD_IDS = ["TW", "tw%00", "tw%0A", "%ED%A0%80", "t" * 65, "caf%C3%A9", "tw.", "tw%20", "-tw"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("ident", ODD_IDS)
def test_odd_ids_write_nothing(acme, global_client, ident):
    response = post_json(global_client, f"/1.0/tenants/acme/integrations/{ident}", BODY)

    assert response.status_code in (400, 404, 422), (ident, response.content)
    assert _written() == (0, 0, 0)


@pytest.mark.django_db(transaction=True)
def test_a_legacy_upper_case_tenant_gets_its_own_location(global_client, token_client):
    legacy = TenantFactory(name="acme")
    Tenant.all_objects.filter(pk=legacy.pk).update(name="Legacy_Co")
    for client, ident in ((global_client, "tw-1"), (token_client(Tenant.objects.get()), "tw-2")):
        response = post_json(client, url(ident, "Legacy_Co"), BODY)
        assert response.status_code == 201, response.content
        assert response["Location"].endswith(f"/1.0/tenants/Legacy_Co/integrations/{ident}")
        lower = post_json(client, url(ident + "-x", "legacy_co"), BODY)
        assert lower.status_code in (403, 422), lower.content
    assert Integration.objects.filter(tenant=legacy).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_long_valid_id_round_trips_through_location(acme, global_client):
    ident = "a" + "-b" * 31  # 63 characters, the id rule's hyphens
    response = post_json(global_client, url(ident), BODY)

    assert response.status_code in (201, 400), response.content
    if response.status_code == 201:
        location = response["Location"]
        assert location.endswith(f"/1.0/tenants/acme/integrations/{ident}")
        path = location.split("testserver", 1)[1]
        assert global_client.get(path).json()["id"] == ident


# --- the mask and SQL-looking text -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
@pytest.mark.parametrize(
    "body",
    [
        {"type": "twilio", "account": "AC", "password": MASK},
        {
            "type": "salesforce",
            "consumer-key": "ck",
            "consumer-secret": "cs",
            "username": "u@example.com",
            "password": "pw",
            "secret-token": MASK,
        },
    ],
    ids=["twilio", "salesforce-one-of-three"],
)
def test_a_secret_equal_to_the_mask_is_a_400_and_writes_nothing(acme, scoped, body):
    client = _client(acme, scoped)
    ident = "tw" if body["type"] == "twilio" else "sf"

    response = post_json(client, url(ident), body)

    assert response.status_code == 400, response.content
    assert MASK not in str(Integration.all_objects.values_list())
    assert _written() == (0, 0, 0)


SQL_LOOKING = [
    '(SELECT "id" FROM w0)',
    "(SELECT id FROM guard_row)",
    "guard_row",
    "w0.id",
    "$1",
    "%s",
    "%(x)s",
    "%%",
    "'); DROP TABLE tenants_tenant; --",
    '"; SELECT 1; --',
    "COALESCE((SELECT id FROM guard_row), 0)",
    compiled_write.NOT_AS_EXPECTED[:40],
    "\\x00",
    "`backtick` {brace}",
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("value", SQL_LOOKING)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_sql_looking_values_are_stored_verbatim(acme, value, scoped):
    label = f"lbl {value}"[:100]
    from tenants.services import api_token_create

    _, token = api_token_create(
        actor=actor_named(value[:50]), label=label, tenant=acme if scoped else None
    )
    client = client_for(token, HTTP_X_REQUEST_ID="rq-1")
    body = {
        "type": "salesforce",
        "consumer-key": value,
        "consumer-secret": value + "-s",
        "username": "u@example.com",
        "password": value + "-p",
        "secret-token": value + "-t",
        "login-host": "login.salesforce.com",
    }

    response = post_json(client, url("sf"), body)

    assert response.status_code == 201, response.content
    stored = SalesforceIntegration.objects.get(tenant=acme, ident="sf")
    assert (stored.consumer_key, stored.username) == (value, "u@example.com")
    assert stored.consumer_secret.reveal() == value + "-s"
    assert stored.password.reveal() == value + "-p"
    assert stored.secret_token.reveal() == value + "-t"
    assert stored.tenant_id == acme.pk
    version = IntegrationVersion.objects.get(integration_id=stored.pk)
    assert version.values["consumer_key"] == value
    events = _events_of(stored.pk)
    assert [e["action"] for e in events] == [AuditAction.CREATE, AuditAction.REVEAL]
    for event in events:
        assert (event["tenant_id"], event["integration_pk"]) == (acme.pk, stored.pk)
        assert label in event["actor"]
    assert events[0]["changes"]["consumer_key"] == {"old": None, "new": value} or events[0][
        "changes"
    ]["consumer_key"] == {"old": "", "new": value}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_only_the_statements_own_sql_is_ever_written_in_place_of_a_value(monkeypatch, acme, scoped):
    """Every compiled_write.Sql the INSERTs write is one of the statement's own shapes: the
    new key, the parent's link, the guard's column. None comes from the request."""
    seen: list[str] = []
    original = compiled_write._with_sql_values

    def watched(sql, rows):
        seen.extend(value for row in rows for value in row if isinstance(value, compiled_write.Sql))
        return original(sql, rows)

    monkeypatch.setattr(compiled_write, "_with_sql_values", watched)
    client = _client(acme, scoped)
    body = {
        "type": "twilio",
        "account": compiled_write.Sql('(SELECT "id" FROM w0)'),
        "password": "x",
    }

    response = post_json(client, url("tw"), body)

    assert response.status_code == 201, response.content
    own = re.compile(
        r'\A(\(SELECT "id" FROM w\d+\)|w\d+\."id"|COALESCE\(\(SELECT id FROM guard_row\), .*\))\Z'
    )
    assert seen and all(own.fullmatch(value) for value in seen), seen
    assert TwilioIntegration.objects.get(ident="tw").account == '(SELECT "id" FROM w0)'


# --- the events and the version point at the new row ----------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_events_and_version_match_the_locked_paths(monkeypatch, acme, scoped):
    """A create in one statement records what the locked create records (field by field)."""
    token = token_for(acme if scoped else None)
    client = client_for(token, REMOTE_ADDR="198.51.100.9", HTTP_X_REQUEST_ID="rq-7")
    client.get("/1.0/tenants/acme/integrations")

    one = post_json(client, url("tw-one"), BODY)
    with monkeypatch.context() as patched:
        patched.setattr(services, "_can_be_held", lambda tenant: False)
        locked = post_json(client, url("tw-locked"), BODY)

    assert (one.status_code, locked.status_code) == (201, 201), (one.content, locked.content)
    rows = {r.ident: r for r in TwilioIntegration.objects.filter(tenant=acme)}
    compared = []
    for ident in ("tw-one", "tw-locked"):
        row = rows[ident]
        events = _events_of(row.pk)
        for event in events:
            assert event["tenant_id"] == acme.pk
            assert event["integration_ident"] == ident
            assert event["integration_type"] == "twilio"
            event.pop("integration_pk"), event.pop("integration_ident")
        compared.append(events)
        version = IntegrationVersion.objects.get(integration_id=row.pk)
        assert (version.number, version.changed_fields) == (1, ["account", "password"])
        assert row.tenant_id == acme.pk and row.version == 1
    assert compared[0] == compared[1]
    assert one.json().keys() == locked.json().keys()
    assert one["Location"].endswith("/integrations/tw-one")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("scopes", "shape", "reveal"),
    [
        ("write", {"id", "type"}, False),
        ("write,secrets", {"id", "type"}, False),
        ("read,write", None, False),
        ("read,write,secrets", None, True),
    ],
)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_a_token_without_read_or_secrets_gets_its_shape_and_no_reveal(
    acme, scopes, shape, reveal, scoped
):
    client = client_for(token_for(acme if scoped else None, scopes))

    response = post_json(client, url("tw"), BODY)

    assert response.status_code == 201, response.content
    body = response.json()
    if shape is not None:
        assert set(body) == shape and body == {"id": "tw", "type": "twilio"}
    else:
        assert body["account"] == "AC-new"
        assert (body["password"] == PASSWORD) is reveal
    assert PASSWORD not in response.content.decode() or reveal
    row = TwilioIntegration.objects.get(ident="tw")
    actions = [e["action"] for e in _events_of(row.pk)]
    assert actions == [AuditAction.CREATE, *([AuditAction.REVEAL] if reveal else [])]


# --- the database refusing or dropping a row -------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("fault", ["refuse", "skip", "divide"])
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_a_refused_or_dropped_row_is_a_500_with_nothing_kept_then_the_create_works(
    acme, table, fault, scoped, caplog
):
    if fault == "divide" and connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's division by zero in a trigger")
    client = _client(acme, scoped)
    before = _written()
    {"refuse": lambda: refuse_writes(table, FAULT), "skip": lambda: skip_inserts(table)}.get(
        fault, lambda: divide_by_zero_on_writes(table)
    )()
    try:
        failed = post_json(client, url("tw"), BODY)
    finally:
        allow_inserts(table) if fault == "skip" else allow_writes(table)

    assert failed.status_code == 500, (failed.status_code, failed.content)
    assert failed.json() == INTERNAL
    assert PASSWORD not in failed.content.decode() + caplog.text
    assert _written() == before

    again = post_json(client, url("tw"), BODY)

    assert again.status_code == 201, again.content
    row = TwilioIntegration.objects.get(ident="tw")
    assert [e["action"] for e in _events_of(row.pk)] == [AuditAction.CREATE, AuditAction.REVEAL]


# --- prepared statements, generic plans -------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_generic_plans_of_prepared_creates_still_hold(monkeypatch, acme):
    options = dict(connection.settings_dict.get("OPTIONS", {}))
    options.update(server_side_binding=True, prepare_threshold=1)
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    connection.close()
    globex = TenantFactory(name="globex")
    clients = {"all": client_for(token_for(None)), "acme": client_for(token_for(acme))}
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
    try:
        answers = []
        for n in range(8):
            for kind, client in clients.items():
                answers.append(post_json(client, url(f"{kind}-{n}"), BODY))
        answers.append(post_json(clients["all"], url("tw", "globex"), BODY))
        Tenant.all_objects.filter(pk=globex.pk).update(deleted_at=timezone.now())
        gone = post_json(clients["all"], url("tw-2", "globex"), BODY)
        skip_inserts("tenants_auditevent")
        try:
            dropped = post_json(clients["acme"], url("dropped"), BODY)
        finally:
            allow_inserts("tenants_auditevent")
        taken = post_json(clients["all"], url("all-0"), {**BODY, "account": "AC-2"})
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET plan_cache_mode")
        connection.close()

    assert [a.status_code for a in answers] == [201] * 17, [a.content for a in answers]
    assert (gone.status_code, dropped.status_code, taken.status_code) == (422, 500, 200)
    for row in Integration.objects.all():
        assert row.tenant_id == (globex.pk if row.ident == "tw" else acme.pk)
        for event in _events_of(row.pk):
            assert (event["tenant_id"], event["integration_ident"]) == (row.tenant_id, row.ident)
        assert IntegrationVersion.objects.filter(integration_id=row.pk).exists()
    assert not Integration.all_objects.filter(ident__in=["tw-2", "dropped"]).exists()


# --- older paths: a caller's transaction, the staff form --------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_staff_add_form_still_creates(acme):
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user("support-atk", password="x-not-used-1234")
    for codename in ("view_tenant", "view_integration", "add_integration", "change_integration"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    staff = Client()
    staff.force_login(user)

    added = staff.post(
        "/tenants/acme/add-integration/twilio/",
        {"ident": "tw-staff", "account": "AC1", "password": "staff-pw-1"},
    )
    twice = staff.post(
        "/tenants/acme/add-integration/twilio/",
        {"ident": "tw-staff", "account": "AC2", "password": "staff-pw-2"},
    )

    assert added.status_code == 302, added.content[:300]
    assert twice.status_code in (200, 400)  # the form again: the id is taken
    row = TwilioIntegration.objects.get(ident="tw-staff")
    assert (row.account, row.tenant_id, row.version) == ("AC1", acme.pk, 1)
    events = _events_of(row.pk)
    assert [e["action"] for e in events] == [AuditAction.CREATE]
    assert events[0]["tenant_id"] == acme.pk


@pytest.mark.django_db(transaction=True)
def test_the_service_create_of_the_admin_still_creates(acme):
    created = services.integration_create(
        integration=TwilioIntegration(tenant=acme, ident="tw-admin", account="A", password="p"),
        actor=actor_named("admin"),
    )

    row = TwilioIntegration.objects.get(pk=created.pk)
    assert (row.tenant_id, row.version) == (acme.pk, 1)
    assert [e["action"] for e in _events_of(row.pk)] == [AuditAction.CREATE]


# --- 9fae3dd: a tenant token's reads of a tenant deleted after the token was read ------------


def _deleted_after_auth(monkeypatch, tenant: Tenant) -> None:
    original = api_views.TenantAPIView.initial

    def initial(self, request, *args, **kwargs):
        original(self, request, *args, **kwargs)
        done = from_another_session(
            "UPDATE tenants_tenant SET deleted_at = now() WHERE id = %s", [tenant.pk]
        )
        assert done == "done"

    monkeypatch.setattr(api_views.TenantAPIView, "initial", initial)


READS = {
    "get": ("get", url("tw")),
    "get-no-secrets": ("get", url("tw")),
    "head": ("head", url("tw")),
    "list": ("get", "/1.0/tenants/acme/integrations"),
    "list-of-type": ("get", "/1.0/tenants/acme/integrations?type=twilio"),
    "versions": ("get", url("tw") + "/versions"),
    "verify": ("post", url("tw") + "/verify"),
    "patch": ("patch", url("tw")),
    "delete": ("delete", url("tw")),
    "rollback": ("post", url("tw") + "/versions/1/restore"),
}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("read", list(READS))
def test_a_tenant_deleted_after_auth_is_a_422_for_a_tenant_token(monkeypatch, acme, read):
    TwilioFactory(tenant=acme, ident="tw", password=PASSWORD)
    scopes = "read,write" if read == "get-no-secrets" else "read,write,secrets"
    client = _client(acme, True, scopes)
    AuditEvent.objects.filter(action=AuditAction.REVEAL).delete()  # the warm-up list's
    before = (_written(), list(Integration.all_objects.values_list("version", "deleted_at")))
    _deleted_after_auth(monkeypatch, acme)
    method, path = READS[read]

    if method == "patch":
        response = client.patch(path, '{"account": "AC-x"}', content_type=JSON)
    else:
        response = getattr(client, method)(path)

    assert response.status_code == 422, (response.status_code, response.content[:300])
    assert PASSWORD not in response.content.decode()
    assert (_written(), list(Integration.all_objects.values_list("version", "deleted_at"))) == (
        before
    )
    assert not AuditEvent.objects.filter(action=AuditAction.REVEAL).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_history_of_a_tenant_deleted_after_auth_is_a_422_for_a_tenant_token(monkeypatch, acme):
    post_json(client_for(token_for(None)), url("tw"), BODY)
    client = _client(acme, True)
    _deleted_after_auth(monkeypatch, acme)

    response = client.get(url("tw") + "/history")

    assert response.status_code == 422, (response.status_code, response.content[:300])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_create_by_a_tenant_token_after_its_tenant_was_deleted_is_a_422(monkeypatch, acme):
    client = _client(acme, True)
    _deleted_after_auth(monkeypatch, acme)

    response = post_json(client, url("tw"), BODY)

    assert response.status_code == 422, response.content
    assert _written() == (0, 0, 0)
