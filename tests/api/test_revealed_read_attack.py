"""An outsider's attack on 7b3263d: a GET of one integration with the `secrets` scope (and no
If-None-Match) reads the row, writes its `reveal` event and its last-used-at in one
PostgreSQL statement (integrations.reveal_reads, compiled_write.read_with_writes), where the
two steps (selectors, then services.integration_reveals_record) took two.

Every answer with secrets in clear must have exactly one `reveal` event, field by field as the
two steps write it; no other answer may write one. Tests marked xfail(strict=True,
reason="HOLE: ...") show what did not hold.
"""

import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config import compiled_write
from integrations import reveal_reads
from integrations.models import Integration
from integrations.providers.sendgrid import SendGridIntegration
from tenants.models import AuditAction, AuditEvent, Tenant
from tests.api.support import EVENT_FIELDS, client_for, token_for, url
from tests.concurrency import from_another_session, run_together
from tests.db_faults import (
    allow_inserts,
    allow_writes,
    divide_by_zero_on_writes,
    refuse_writes,
    skip_inserts,
)
from tests.factories import SendGridFactory, TenantFactory, TwilioFactory

PASSWORD = "pw-attack-0123456789"


def reveals() -> list[dict]:
    return list(
        AuditEvent.objects.filter(action=AuditAction.REVEAL).order_by("pk").values(*EVENT_FIELDS)
    )


def _two_steps(monkeypatch) -> None:
    """Route reveal_reads to its two steps (its own check only; the selectors keep theirs)."""
    monkeypatch.setattr(reveal_reads, "could_be_stored", lambda *args, **kwargs: False)


def _record(response) -> dict:
    body = dict(response.json())
    body.pop("last-used-at")
    return body


@pytest.fixture
def acme():
    return TenantFactory(name="acme")


@pytest.fixture
def twilio(acme):
    return TwilioFactory(tenant=acme, ident="twilio", password=PASSWORD)


# --- the one statement against the two steps ------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_one_statement_answers_and_audits_as_the_two_steps(monkeypatch, acme, twilio, scoped):
    client = client_for(
        token_for(acme if scoped else None), REMOTE_ADDR="198.51.100.7", HTTP_X_REQUEST_ID="rq-1"
    )
    one = client.get(url("twilio"))
    Integration.all_objects.filter(pk=twilio.pk).update(last_used_at=None)
    with monkeypatch.context() as patched:
        _two_steps(patched)
        two = client.get(url("twilio"))

    assert one.status_code == two.status_code == 200, (one.content, two.content)
    assert _record(one) == _record(two)
    assert one.json()["password"] == PASSWORD
    assert one["ETag"] == two["ETag"]
    first, second = reveals()
    assert first == second
    assert first["tenant_id"] == acme.pk and first["integration_pk"] == twilio.pk
    assert first["integration_ident"] == "twilio" and first["integration_type"] == "twilio"
    assert first["client_address"] == "198.51.100.7"
    assert first["changes"] == {"revealed": ["password"]}
    assert one.json()["last-used-at"] is not None and two.json()["last-used-at"] is not None


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_a_warm_tokens_get_is_two_statements(acme, twilio, scoped):
    client = client_for(token_for(acme if scoped else None))
    assert client.get(url("twilio")).status_code == 200  # token's last-used-at written
    Integration.all_objects.filter(pk=twilio.pk).update(last_used_at=None)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url("twilio"))

    assert response.status_code == 200
    assert len(queries.captured_queries) == 2, [q["sql"][:80] for q in queries.captured_queries]
    assert len(reveals()) == 2
    assert Integration.all_objects.get(pk=twilio.pk).last_used_at is not None


@pytest.mark.django_db
def test_on_sqlite_or_postgresql_the_get_writes_one_reveal(acme, twilio):
    response = client_for(token_for()).get(url("twilio"))

    assert response.status_code == 200 and response.json()["password"] == PASSWORD
    assert len(reveals()) == 1
    stored = Integration.all_objects.get(pk=twilio.pk).last_used_at
    assert stored is not None
    assert response.json()["last-used-at"] is not None


@pytest.mark.django_db
def test_a_fresh_last_use_is_not_written_again_but_the_reveal_is(acme, twilio):
    recent = timezone.now() - timedelta(seconds=5)
    Integration.all_objects.filter(pk=twilio.pk).update(last_used_at=recent)

    response = client_for(token_for()).get(url("twilio"))

    assert response.status_code == 200
    assert Integration.all_objects.get(pk=twilio.pk).last_used_at == recent
    assert len(reveals()) == 1


@pytest.mark.django_db
def test_a_stale_last_use_is_written(acme, twilio):
    old = timezone.now() - timedelta(minutes=1, seconds=1)
    Integration.all_objects.filter(pk=twilio.pk).update(last_used_at=old)

    response = client_for(token_for()).get(url("twilio"))

    assert response.status_code == 200
    stored = Integration.all_objects.get(pk=twilio.pk).last_used_at
    assert stored > old
    assert response.json()["last-used-at"].startswith(stored.strftime("%Y-%m-%dT%H:%M:%S"))


# --- answers without secrets write nothing --------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("scopes", ["read", "read,write"])
def test_a_token_without_secrets_writes_no_reveal_nor_last_use(acme, twilio, scopes):
    response = client_for(token_for(scopes=scopes)).get(url("twilio"))

    assert response.status_code == 200
    assert response.json()["password"] != PASSWORD
    assert reveals() == []
    assert Integration.all_objects.get(pk=twilio.pk).last_used_at is None


@pytest.mark.django_db
def test_a_token_without_read_gets_403_and_writes_nothing(acme, twilio):
    response = client_for(token_for(scopes="write,secrets")).get(url("twilio"))

    assert response.status_code == 403
    assert reveals() == []
    assert Integration.all_objects.get(pk=twilio.pk).last_used_at is None


@pytest.mark.django_db
def test_another_tenants_token_gets_403_and_writes_nothing(acme, twilio):
    globex = TenantFactory(name="globex")

    response = client_for(token_for(globex)).get(url("twilio"))

    assert response.status_code == 403
    assert PASSWORD not in response.content.decode()
    assert reveals() == []
    assert Integration.all_objects.get(pk=twilio.pk).last_used_at is None


@pytest.mark.django_db
def test_if_none_match_that_matches_is_304_without_a_reveal(acme, twilio):
    client = client_for(token_for())
    tag = client.get(url("twilio"), HTTP_ACCEPT="application/json")["ETag"]
    AuditEvent.objects.all().delete()
    Integration.all_objects.filter(pk=twilio.pk).update(last_used_at=None)

    for header in (tag, "*", f'"nope", {tag}', f"W/{tag}"):
        response = client.get(url("twilio"), HTTP_IF_NONE_MATCH=header)
        assert response.status_code == 304, (header, response.status_code)
        assert PASSWORD not in response.content.decode()

    assert reveals() == []
    assert Integration.all_objects.get(pk=twilio.pk).last_used_at is None


@pytest.mark.django_db
def test_if_none_match_that_does_not_match_answers_with_one_reveal(acme, twilio):
    response = client_for(token_for()).get(url("twilio"), HTTP_IF_NONE_MATCH='"0-0"')

    assert response.status_code == 200 and response.json()["password"] == PASSWORD
    assert len(reveals()) == 1
    assert Integration.all_objects.get(pk=twilio.pk).last_used_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["one", "list"])
def test_head_reveals_nothing_and_records_no_reveal(acme, twilio, path):
    """A HEAD's answer has no body: no secret goes out, so none is decrypted and no reveal is
    recorded (it was, as a read, before); its headers are a GET's."""
    client = client_for(token_for())
    where = url("twilio") if path == "one" else "/1.0/tenants/acme/integrations"
    got = client.get(where)
    AuditEvent.objects.all().delete()
    Integration.all_objects.filter(pk=twilio.pk).update(last_used_at=None)

    response = client.head(where)

    assert response.status_code == 200
    assert response.content == b""
    assert response.get("ETag") == got.get("ETag")
    assert reveals() == []
    assert Integration.all_objects.get(pk=twilio.pk).last_used_at is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "tenant, ident",
    [
        ("ACME", "twilio"),
        ("acme%0A", "twilio"),
        ("acme%00", "twilio"),
        ("ac%00me", "twilio"),
        ("%ED%A0%80", "twilio"),
        ("a" * 65, "twilio"),
        ("a" * 300, "twilio"),
        ("nobody", "twilio"),
        ("acme", "TWILIO"),
        ("acme", "twilio%0A"),
        ("acme", "twilio%00"),
        ("acme", "%ED%A0%80"),
        ("acme", "twilio%ED%A0%80"),
        ("acme", "t" * 65),
        ("acme", "sendgrid"),
        ("acme", "salesforce"),
    ],
)
def test_odd_names_find_nothing_and_write_nothing(acme, twilio, tenant, ident):
    response = client_for(token_for()).get(f"/1.0/tenants/{tenant}/integrations/{ident}")

    assert response.status_code in (400, 404, 422), (response.status_code, response.content)
    assert PASSWORD not in response.content.decode()
    assert reveals() == []
    assert Integration.all_objects.get(pk=twilio.pk).last_used_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_a_deleted_row_answers_422_and_writes_nothing(acme, twilio, scoped):
    Integration.all_objects.filter(pk=twilio.pk).update(deleted_at=timezone.now())

    response = client_for(token_for(acme if scoped else None)).get(url("twilio"))

    assert response.status_code == 422, response.content
    assert reveals() == []
    assert Integration.all_objects.get(pk=twilio.pk).last_used_at is None


@pytest.mark.django_db
def test_a_deleted_tenant_answers_422_and_writes_nothing(acme, twilio):
    client = client_for(token_for())
    Tenant.all_objects.filter(pk=acme.pk).update(deleted_at=timezone.now())

    response = client.get(url("twilio"))

    assert response.status_code == 422, response.content
    assert reveals() == []
    assert Integration.all_objects.get(pk=twilio.pk).last_used_at is None


@pytest.mark.django_db
def test_a_deleted_twin_of_the_id_does_not_answer_for_the_live_one(acme, twilio):
    Integration.all_objects.filter(pk=twilio.pk).update(deleted_at=timezone.now())
    live = TwilioFactory(tenant=acme, ident="twilio", password="the-live-one")

    response = client_for(token_for()).get(url("twilio"))

    assert response.status_code == 200 and response.json()["password"] == "the-live-one"
    [event] = reveals()
    assert event["integration_pk"] == live.pk
    assert Integration.all_objects.get(pk=twilio.pk).last_used_at is None


@pytest.mark.django_db
def test_the_same_id_in_another_tenant_is_never_revealed_or_audited(acme, twilio):
    globex = TenantFactory(name="globex")
    theirs = TwilioFactory(tenant=globex, ident="twilio", password="globex-secret")

    response = client_for(token_for(acme)).get(url("twilio"))

    assert response.status_code == 200 and response.json()["password"] == PASSWORD
    [event] = reveals()
    assert (event["tenant_id"], event["integration_pk"]) == (acme.pk, twilio.pk)
    assert Integration.all_objects.get(pk=theirs.pk).last_used_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_a_provider_named_id_stored_as_another_type_is_read_and_audited_as_it_is(acme, scoped):
    legacy = SendGridFactory(tenant=acme, ident="legacy", password="sg-legacy-secret")
    Integration.all_objects.filter(pk=legacy.pk).update(ident="twilio")

    response = client_for(token_for(acme if scoped else None)).get(url("twilio"))

    assert response.status_code == 200, response.content
    assert response.json()["type"] == "sendgrid"
    assert response.json()["password"] == "sg-legacy-secret"
    [event] = reveals()
    assert event["integration_type"] == "sendgrid"
    assert event["integration_pk"] == legacy.pk and event["tenant_id"] == acme.pk
    assert SendGridIntegration.all_objects.get(pk=legacy.pk).last_used_at is not None


@pytest.mark.django_db
def test_an_unreadable_secret_answers_null_and_audits_as_the_two_steps(monkeypatch, acme):
    from tests.integrations.test_unreadable_secrets import break_secret

    broken = TwilioFactory(tenant=acme, ident="twilio", password="readable-before")
    break_secret(broken, "password")
    client = client_for(token_for())

    one = client.get(url("twilio"))
    with monkeypatch.context() as patched:
        _two_steps(patched)
        two = client.get(url("twilio"))

    assert one.status_code == two.status_code == 200
    assert one.json()["password"] is None and one.json()["unreadable-secrets"] == ["password"]
    assert _record(one) == _record(two)
    first, second = reveals()
    assert first.pop("request_id") != second.pop("request_id")
    assert first == second
    assert "gAAAA" not in one.content.decode()


# --- faults: nothing kept, no secret out ----------------------------------------------------


def _warm(client) -> None:
    """The token's own last-used write done; no event nor last-used-at left by it."""
    assert client.get("/1.0/tenants/acme/integrations").status_code == 200
    AuditEvent.objects.all().delete()
    Integration.all_objects.update(last_used_at=None)


def _no_secret_anywhere(response, caplog) -> None:
    assert PASSWORD not in response.content.decode()
    assert PASSWORD not in caplog.text
    for record in caplog.records:
        assert PASSWORD not in repr(getattr(record, "request", ""))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_a_dropped_reveal_event_answers_500_and_keeps_nothing(acme, twilio, caplog, scoped):
    client = client_for(token_for(acme if scoped else None))
    skip_inserts("tenants_auditevent")
    try:
        with caplog.at_level(logging.DEBUG):
            response = client.get(url("twilio"))
    finally:
        allow_inserts("tenants_auditevent")

    assert response.status_code == 500, response.content
    _no_secret_anywhere(response, caplog)
    assert reveals() == []
    assert Integration.all_objects.get(pk=twilio.pk).last_used_at is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("table", ["tenants_auditevent", "integrations_integration"])
@pytest.mark.parametrize("fault", ["refuse", "divide"])
def test_a_refused_write_answers_500_and_keeps_nothing(acme, twilio, caplog, table, fault):
    client = client_for(token_for())
    _warm(client)
    if fault == "refuse":
        refuse_writes(table, "refused by the attack")
    else:
        divide_by_zero_on_writes(table)
    try:
        with caplog.at_level(logging.DEBUG):
            response = client.get(url("twilio"))
    finally:
        allow_writes(table)

    assert response.status_code == 500, response.content
    _no_secret_anywhere(response, caplog)
    assert reveals() == []
    assert Integration.all_objects.get(pk=twilio.pk).last_used_at is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_trigger_quoting_the_marker_is_not_a_lost_race(acme, twilio, caplog):
    """A trigger raising 22P02 with the verdict's exact text is the schema's error (context)."""
    marker = compiled_write.NOT_AS_EXPECTED.replace("'", "''")
    client = client_for(token_for())
    _warm(client)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM CAST('{marker}' AS integer); RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_write BEFORE INSERT ON tenants_auditevent "
            "FOR EACH ROW EXECUTE FUNCTION refuse_write()"
        )
    try:
        response = client.get(url("twilio"))
    finally:
        allow_writes("tenants_auditevent")

    assert response.status_code == 500
    assert "other rows written than expected" not in caplog.text
    assert reveals() == []


# --- prepared statements, generic plans -----------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_generic_plans_of_prepared_reads_still_audit_every_one(monkeypatch, acme, twilio):
    options = dict(connection.settings_dict.get("OPTIONS", {}))
    options.update(server_side_binding=True, prepare_threshold=1)
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    connection.close()
    client = client_for(token_for())
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
    try:
        for n in range(8):
            Integration.all_objects.filter(pk=twilio.pk).update(
                last_used_at=None if n % 2 else timezone.now()
            )
            response = client.get(url("twilio"))
            assert response.status_code == 200, response.content
            assert response.json()["password"] == PASSWORD
        skip_inserts("tenants_auditevent")
        try:
            dropped = client.get(url("twilio"))
        finally:
            allow_inserts("tenants_auditevent")
        missing = client.get(url("nothing-here"))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET plan_cache_mode")
        connection.close()

    assert dropped.status_code == 500
    assert missing.status_code == 422
    assert len(reveals()) == 8
    assert all(event["integration_pk"] == twilio.pk for event in reveals())


# --- races on PostgreSQL --------------------------------------------------------------------


def _count_used_writes() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS atk_used_writes (at timestamptz)")
        cursor.execute("DELETE FROM atk_used_writes")
        cursor.execute(
            "CREATE OR REPLACE FUNCTION atk_used_write() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO atk_used_writes VALUES (NEW.last_used_at); RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER atk_used_write AFTER UPDATE OF last_used_at "
            "ON integrations_integration FOR EACH ROW EXECUTE FUNCTION atk_used_write()"
        )


def _used_writes() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM atk_used_writes")
        count = cursor.fetchone()[0]
        cursor.execute("DROP TRIGGER IF EXISTS atk_used_write ON integrations_integration")
        cursor.execute("DROP TABLE IF EXISTS atk_used_writes")
    return count


def _get(token: str, path: str, **extra):
    def job():
        response = client_for(token).get(path, **extra)
        body = response.json() if response.content else None
        return response.status_code, body

    return job


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scoped", [False, True], ids=["all-tenants", "tenant"])
def test_racing_gets_write_one_last_use_and_one_reveal_each(acme, twilio, scoped):
    token = token_for(acme if scoped else None)
    client_for(token).get("/1.0/tenants/acme/integrations")  # the token's own write
    AuditEvent.objects.all().delete()
    Integration.all_objects.filter(pk=twilio.pk).update(last_used_at=None)
    _count_used_writes()
    try:
        results = run_together([_get(token, url("twilio")) for _ in range(6)])
    finally:
        writes = _used_writes()

    assert [status for status, _ in results] == [200] * 6, results
    assert all(body["password"] == PASSWORD for _, body in results)
    assert writes == 1
    assert len(reveals()) == 6
    stored = Integration.all_objects.get(pk=twilio.pk).last_used_at
    shown = {body["last-used-at"] for _, body in results}
    assert shown <= {None, stored.isoformat().replace("+00:00", "Z")}, (shown, stored)


def _write_job(token: str, kind: str):
    def job():
        client = client_for(token)
        if kind == "patch":
            response = client.patch(url("twilio"), {"account": "AC-raced"}, format="json")
        elif kind == "replace":
            response = client.post(
                url("twilio"), {"account": "AC-new", "password": "pw-new"}, format="json"
            )
        elif kind == "delete":
            response = client.delete(url("twilio"))
        else:
            done = from_another_session(
                "UPDATE tenants_tenant SET deleted_at = now() WHERE name = %s",
                ["acme"],
                lock_timeout="10s",
            )
            return (204 if done == "done" else 0), None
        return response.status_code, None

    return job


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["patch", "replace", "delete"])
def test_gets_racing_a_write_never_fail_and_audit_every_answer(acme, twilio, kind):
    token = token_for()
    client_for(token).get("/1.0/tenants/acme/integrations")
    AuditEvent.objects.filter(action=AuditAction.REVEAL).delete()
    Integration.all_objects.filter(pk=twilio.pk).update(last_used_at=None)

    jobs = [_get(token, url("twilio")) for _ in range(4)]
    jobs.insert(2, _write_job(token, kind))
    results = run_together(jobs)

    gets = results[:2] + results[3:]
    assert all(not isinstance(r[0], str) for r in results), results
    assert all(status in (200, 422) for status, _ in gets), results
    assert results[2][0] in (200, 201, 204), results
    answered = [body for status, body in gets if status == 200]
    read_reveals = [
        event
        for event in reveals()
        if event["changes"] == {"revealed": ["password"]} and event["integration_ident"] == "twilio"
    ]
    # The write's own answer may carry secrets too (its own reveal); the GETs' are counted.
    write_reveals = 1 if kind in ("patch", "replace") else 0
    assert len(read_reveals) == len(answered) + write_reveals, (results, read_reveals)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_gets_racing_a_tenant_delete_audit_exactly_their_answers(acme, twilio):
    token = token_for()
    client_for(token).get("/1.0/tenants/acme/integrations")
    AuditEvent.objects.all().delete()

    jobs = [_get(token, url("twilio")) for _ in range(4)]
    jobs.insert(2, _write_job(token, "tenant"))
    results = run_together(jobs)

    gets = results[:2] + results[3:]
    assert results[2][0] == 204, results
    assert all(status in (200, 422) for status, _ in gets), results
    answered = [body for status, body in gets if status == 200]
    assert len(reveals()) == len(answered), results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["one-statement", "two-steps"])
@pytest.mark.parametrize(
    "scoped",
    [
        pytest.param(False, id="all-tenants"),
        pytest.param(True, id="tenant"),
    ],
)
def test_a_tenant_deleted_before_the_read_is_not_revealed(monkeypatch, acme, twilio, scoped, path):
    """The tenant is soft-deleted (committed) after the token was read and before the
    integration's read begins: the read must see it deleted, answer 422 and write nothing."""
    token = token_for(acme if scoped else None)
    _warm(client_for(token))
    original = reveal_reads.integration_get_revealed

    def deleted_first(**kwargs):
        done = from_another_session(
            "UPDATE tenants_tenant SET deleted_at = now() WHERE id = %s", [acme.pk]
        )
        assert done == "done"
        return original(**kwargs)

    monkeypatch.setattr(reveal_reads, "integration_get_revealed", deleted_first)
    if path == "two-steps":
        _two_steps(monkeypatch)

    response = client_for(token).get(url("twilio"))

    assert response.status_code == 422, (response.status_code, response.content[:200])
    assert reveals() == []
    assert Integration.all_objects.get(pk=twilio.pk).last_used_at is None
