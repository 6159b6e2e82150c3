"""Attack on the POST that reads an all-tenants token's URL tenant by name, with the locked row
(a replace) or with the tenant's hold (a create), and reads it first only when the request
fails (IntegrationView.tenant_errors_first); and on GUNICORN_MAX_REQUESTS.

Passing tests document what held. Each hole found is an xfail(strict=True) test: it fails
loudly once the hole is fixed.
"""

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from integrations.models import Integration
from integrations.providers.twilio import TwilioIntegration
from tenants.models import AuditAction, AuditEvent, Tenant
from tests.concurrency import from_another_session, run_together
from tests.db_faults import allow_writes, refuse_writes
from tests.factories import TenantFactory, TwilioFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "config" / "gunicorn.conf.py"
VALID = {"account": "AC1", "password": "pw-secret-1234"}
GONE_END = "does not exist or has been deleted."
JSON = "application/json"

# Errors of the request itself, each its own answer with a live tenant:
# (path's id, body, content type, extra headers).
BAD = {
    "text/plain": ("twilio", json.dumps(VALID), "text/plain", {}),
    "a latin-1 charset": ("twilio", json.dumps(VALID), f"{JSON}; charset=latin-1", {}),
    "a form": ("twilio", "a=b", "application/x-www-form-urlencoded", {}),
    "multipart": ("twilio", "--x\r\n", "multipart/form-data; boundary=x", {}),
    "an empty body": ("twilio", "", JSON, {}),
    "nested too deep": ("twilio", "[" * 40 + "]" * 40, JSON, {}),
    "a lone surrogate": ("twilio", '{"account": "\\ud800", "password": "p"}', JSON, {}),
    "the mask on create": ("twilio", json.dumps({**VALID, "password": "********"}), JSON, {}),
    "a bad If-None-Match": ("twilio", json.dumps(VALID), JSON, {"HTTP_IF_NONE_MATCH": '"1-1"'}),
    "If-Match and If-None-Match": (
        "twilio",
        json.dumps(VALID),
        JSON,
        {"HTTP_IF_MATCH": '"1-1"', "HTTP_IF_NONE_MATCH": "*"},
    ),
    "a null type": ("twilio", json.dumps({**VALID, "type": None}), JSON, {}),
    "a numeric id": ("twilio", json.dumps({**VALID, "id": 5}), JSON, {}),
    "an id too long": ("x" * 300, json.dumps({**VALID, "type": "twilio"}), JSON, {}),
    "an unknown type": ("twilio", json.dumps({**VALID, "type": "zendesk"}), JSON, {}),
}
# Names of no live tenant: deleted, missing, upper-case, too long, unicode, percent-encoded
# invalid UTF-8 (a lone surrogate's bytes), a space.
NOT_LIVE = ["deleted", "ghost", "GHOST", "g" * 65, "%C3%A9", "%ED%A0%80", "a%20b", "acme_"]
TOO_BIG = '{"account": "' + "x" * (1024 * 1024 + 10) + '"}'


def path_of(tenant: str, ident: str, *, short: bool = False) -> str:
    if short:
        return f"/1.0/tenants/{tenant}/{ident}"
    return f"/1.0/tenants/{tenant}/integrations/{ident}"


def post(client, path: str, body: str, content_type: str = JSON, **headers):
    return client.generic("POST", path, body, content_type=content_type, **headers)


@pytest.fixture
def deleted_tenant(db):
    return TenantFactory(name="deleted", deleted_at=timezone.now())


def nothing_written() -> bool:
    return (
        not Integration.all_objects.exists()
        and not AuditEvent.objects.filter(
            action__in=[AuditAction.CREATE, AuditAction.REPLACE]
        ).exists()
    )


# --- error order: a tenant that is not live is a 422 before any error of the request -------


@pytest.mark.parametrize("short", [False, True], ids=["long-route", "short-route"])
@pytest.mark.parametrize("name", NOT_LIVE)
@pytest.mark.parametrize("case", BAD)
def test_every_error_of_the_request_yields_to_the_tenants_422(
    global_client, tenant, deleted_tenant, case, name, short
):
    ident, body, content_type, headers = BAD[case]

    response = post(global_client, path_of(name, ident, short=short), body, content_type, **headers)

    assert response.status_code == 422, response.content
    assert set(response.json()) == {"error"}
    assert response.json()["error"].startswith("Tenant '")
    assert response.json()["error"].endswith(GONE_END)
    assert nothing_written()


@pytest.mark.parametrize("short", [False, True], ids=["long-route", "short-route"])
@pytest.mark.parametrize("name", ["deleted", "ghost", "GHOST", "g" * 65])
def test_an_oversized_body_into_a_tenant_that_is_not_live_answers_422(
    global_client, deleted_tenant, name, short
):
    response = post(global_client, path_of(name, "twilio", short=short), TOO_BIG)

    assert response.status_code == 422, response.content
    assert response.json()["error"].endswith(GONE_END)


def test_an_oversized_body_into_a_live_tenant_is_413(global_client, tenant):
    response = post(global_client, path_of("acme", "twilio"), TOO_BIG)

    assert response.status_code == 413
    assert nothing_written()


def test_a_tenant_token_of_a_deleted_tenant_gets_422_before_an_oversized_body(token_client, tenant):
    client = token_client(tenant)
    Tenant.all_objects.filter(pk=tenant.pk).update(deleted_at=timezone.now())

    response = post(client, path_of("acme", "twilio"), TOO_BIG)

    assert response.status_code in (401, 422), response.content


@pytest.mark.parametrize("headers", [{}, {"HTTP_IF_NONE_MATCH": "*"}, {"HTTP_IF_MATCH": '"1-1"'}])
@pytest.mark.parametrize("name", NOT_LIVE)
def test_a_valid_conditional_write_into_a_tenant_that_is_not_live_is_422(
    global_client, tenant, deleted_tenant, name, headers
):
    TwilioFactory(tenant=tenant)  # a row of that id elsewhere

    response = post(global_client, path_of(name, "twilio"), json.dumps(VALID), **headers)

    assert response.status_code == 422, response.content
    assert Integration.all_objects.count() == 1


# --- 403 stays 403: nothing leaks to a token that may not act on the tenant -----------------


@pytest.mark.parametrize("case", ["valid", *BAD])
@pytest.mark.parametrize("name", ["acme", "deleted", "ghost", "ACME", "Acme"])
def test_a_token_of_another_tenant_gets_the_same_403_whether_the_tenant_exists(
    token_client, tenant, other_tenant, deleted_tenant, name, case
):
    ident, body, content_type, headers = (
        ("twilio", json.dumps(VALID), JSON, {}) if case == "valid" else BAD[case]
    )
    client = token_client(other_tenant)

    response = post(client, path_of(name, ident), body, content_type, **headers)

    assert (response.status_code, response.json()) == (
        403,
        {"error": f"This token may not act on tenant '{name}'."},
    )
    assert nothing_written()


@pytest.mark.parametrize("name", ["ACME", "Acme", "acme_", "ac%6De"])
def test_a_tenant_token_on_a_case_or_spelling_variant_of_its_tenant(token_client, tenant, name):
    response = post(token_client(tenant), path_of(name, "twilio"), json.dumps(VALID))

    if name == "ac%6De":  # percent-decoded to its own name: allowed
        assert response.status_code == 201
        assert response["Location"].endswith("/1.0/tenants/acme/integrations/twilio")
    else:
        assert response.status_code == 403
        assert nothing_written()


# --- scopes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["acme", "deleted", "ghost"])
@pytest.mark.parametrize("scopes", ["read", "secrets", "read,secrets"])
def test_an_all_tenants_token_without_write_gets_403_whether_the_tenant_is_live(
    token_client, tenant, deleted_tenant, scopes, name
):
    response = post(token_client(None, scopes), path_of(name, "twilio"), "{")

    assert (response.status_code, response.json()) == (
        403,
        {"error": "This token lacks the 'write' scope."},
    )


@pytest.mark.parametrize("scopes", ["write", "write,secrets"])
def test_a_write_only_all_tenants_token(token_client, tenant, deleted_tenant, scopes):
    client = token_client(None, scopes)

    assert post(client, path_of("deleted", "twilio"), "{").status_code == 422
    assert post(client, path_of("ghost", "twilio"), "[1]").status_code == 422
    assert post(client, path_of("acme", "twilio"), "{").status_code == 400
    created = post(client, path_of("acme", "twilio"), json.dumps(VALID))
    replaced = post(client, path_of("acme", "twilio"), json.dumps({**VALID, "account": "AC2"}))

    assert (created.status_code, created.json()) == (201, {"id": "twilio", "type": "twilio"})
    assert (replaced.status_code, replaced.json()) == (200, {"id": "twilio", "type": "twilio"})
    assert VALID["password"] not in created.content.decode() + replaced.content.decode()
    assert not AuditEvent.objects.filter(action=AuditAction.REVEAL).exists()


# --- names that differ only in case; the record's tenant, Location, audit events -----------


@pytest.mark.parametrize("existing", [False, True], ids=["create", "replace"])
def test_tenants_whose_names_differ_only_in_case_are_not_confused(global_client, tenant, existing):
    legacy = Tenant.all_objects.create(name="Acme")  # an older rule's name: upper case
    if existing:
        TwilioFactory(tenant=tenant, account="AC-lower")
        TwilioFactory(tenant=legacy, account="AC-upper")

    before = AuditEvent.objects.count()

    response = post(global_client, path_of("Acme", "twilio"), json.dumps(VALID))
    upper = post(global_client, path_of("ACME", "twilio"), json.dumps(VALID))

    assert response.status_code == (200 if existing else 201), response.content
    assert upper.status_code == 422
    stored = {i.tenant.name: i.account for i in Integration.objects.select_related("tenant")}
    assert stored == ({"acme": "AC-lower", "Acme": "AC1"} if existing else {"Acme": "AC1"})
    if not existing:
        assert response["Location"] == "http://testserver/1.0/tenants/Acme/integrations/twilio"
    assert {event.tenant_id for event in AuditEvent.objects.order_by("id")[before:]} == {legacy.pk}


@pytest.mark.parametrize("existing", [False, True], ids=["create", "replace"])
def test_the_audit_events_name_the_urls_tenant(global_client, tenant, other_tenant, existing):
    TwilioFactory(tenant=other_tenant)  # the same id in another tenant
    if existing:
        TwilioFactory(tenant=tenant, account="AC-old")
    before = AuditEvent.objects.count()

    response = post(global_client, path_of("acme", "twilio"), json.dumps(VALID))

    assert response.status_code == (200 if existing else 201)
    new = AuditEvent.objects.order_by("id")[before:]
    assert {event.action for event in new} == {
        AuditAction.REPLACE if existing else AuditAction.CREATE,
        AuditAction.REVEAL,
    }
    assert {event.tenant_id for event in new} == {tenant.pk}
    assert {event.integration_ident for event in new} == {"twilio"}
    assert Integration.objects.get(tenant=tenant).account == "AC1"
    assert Integration.objects.get(tenant=other_tenant).account != "AC1"


def test_a_percent_encoded_tenant_name_writes_into_the_tenant_and_location_is_canonical(
    global_client, tenant
):
    response = post(global_client, "/1.0/tenants/%61cme/integrations/twilio", json.dumps(VALID))

    assert response.status_code == 201
    assert response["Location"] == "http://testserver/1.0/tenants/acme/integrations/twilio"
    assert Integration.objects.get().tenant_id == tenant.pk


# --- query counts -------------------------------------------------------------------------


def test_a_failing_request_pays_one_tenant_read_and_a_missing_tenant_writes_nothing(
    global_client, tenant, count_sql
):
    post(global_client, path_of("acme", "warm"), json.dumps({**VALID, "type": "twilio"}))

    with count_sql() as body_error:
        bad = post(global_client, path_of("acme", "twilio"), "{")
    with count_sql() as missing:
        gone = post(global_client, path_of("ghost", "twilio"), json.dumps(VALID))
    with count_sql() as unstorable:
        odd = post(global_client, path_of("g" * 65, "twilio"), json.dumps(VALID))

    assert (bad.status_code, gone.status_code, odd.status_code) == (400, 422, 422)
    # The token, then the tenant (read only because the request failed).
    assert len(body_error.statements) <= 2, body_error.statements
    # The token, the read by name, the create in one statement (its tenant's hold finds none:
    # nothing of it kept), the tenant's hold by name (TenantNotFound): nothing written.
    assert len(missing.statements) <= 4, missing.statements
    assert not any(s.lstrip().upper().startswith(("INSERT", "UPDATE")) for s in missing.statements)
    assert not Integration.all_objects.filter(tenant__name="ghost").exists()
    # A name no tenant could have is never looked up.
    assert len(unstorable.statements) <= 1, unstorable.statements


# --- a database that fails half-way --------------------------------------------------------

FAULT = "attack: refused"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "table",
    [
        "integrations_integration",
        "integrations_twiliointegration",
        "integrations_integrationversion",
        "tenants_auditevent",
    ],
)
def test_a_replace_by_name_that_the_database_refuses_keeps_nothing_and_leaks_nothing(
    global_client, tenant, table, caplog
):
    version = TwilioFactory(tenant=tenant, account="AC-old", password="pw-old").version
    events = AuditEvent.objects.count()
    refuse_writes(table, FAULT)
    try:
        response = post(global_client, path_of("acme", "twilio"), json.dumps(VALID))
        ghost = post(global_client, path_of("ghost", "twilio"), json.dumps(VALID))
    finally:
        allow_writes(table)

    assert (response.status_code, response.json()) == (500, {"error": "Internal server error."})
    assert ghost.status_code == 422
    stored = Integration.objects.get()
    assert (stored.account, stored.version) == ("AC-old", version)
    assert AuditEvent.objects.count() == events
    assert VALID["password"] not in response.content.decode() + caplog.text


# --- PostgreSQL: the tenant soft-deleted or restored while the write runs ------------------


SOFT_DELETE = "UPDATE tenants_tenant SET deleted_at = now() WHERE id = %s"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("at", range(1, 7))
@pytest.mark.parametrize("existing", [False, True], ids=["create", "replace"])
def test_a_soft_delete_before_any_statement_of_the_write_is_never_acknowledged(
    global_client, tenant, existing, at
):
    """The tenant is soft-deleted (committed, by another session) just before the request's
    statement number `at` (the token's read is 0). Either the delete waits for the write's
    hold on the tenant (then the write is acknowledged), or it commits first: then the
    write must answer 422 and store nothing. Whatever the statements are."""
    if existing:
        TwilioFactory(tenant=tenant, account="AC-old")
    before = AuditEvent.objects.count()
    seen = {"count": 0, "delete": "not reached"}

    def delete_before_statement(execute, sql, params, many, context):
        if seen["count"] == at:
            seen["delete"] = from_another_session(SOFT_DELETE, [tenant.pk])
        seen["count"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(delete_before_statement):
        response = post(global_client, path_of("acme", "twilio"), json.dumps(VALID))

    tenant.refresh_from_db()
    if seen["delete"] == "done":
        assert tenant.deleted_at is not None
        assert response.status_code == 422, (seen, response.content)
        assert AuditEvent.objects.count() == before
        assert not TwilioIntegration.objects.filter(account="AC1").exists()
    else:
        assert tenant.deleted_at is None
        assert response.status_code == (200 if existing else 201), (seen, response.content)
        assert Integration.objects.get().account == "AC1"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("start", ["live", "deleted"])
@pytest.mark.parametrize("existing", [False, True], ids=["create", "replace"])
def test_writes_racing_a_soft_delete_or_restore_lose_nothing_and_never_500(tenant, existing, start):
    from rest_framework.test import APIClient

    from tenants.services import api_token_create, tenant_delete, tenant_restore
    from tests.factories import actor_named

    initial = TwilioFactory(tenant=tenant, account="AC-0").version if existing else 0
    _, token = api_token_create(actor=actor_named("tests"), label="race", tenant=None)
    if start == "deleted":
        Tenant.all_objects.filter(pk=tenant.pk).update(deleted_at=timezone.now())
    before = AuditEvent.objects.filter(action__in=[AuditAction.CREATE, AuditAction.REPLACE])
    before_count = before.count()

    def write(index: int):
        def job():
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            body = json.dumps({"account": f"AC-{index + 1}", "password": "pw-race"})
            response = post(client, path_of("acme", "twilio"), body)
            return response.status_code, response.json()

        return job

    def flip():
        fresh = Tenant.all_objects.get(pk=tenant.pk)
        if start == "live":
            return tenant_delete(tenant=fresh, actor=actor_named("ops"))
        return tenant_restore(tenant=fresh, actor=actor_named("ops"))

    results = run_together([write(i) for i in range(6)] + [flip])

    answers = results[:-1]
    assert results[-1] is True
    assert all(isinstance(a, tuple) and a[0] in (200, 201, 422) for a in answers), answers
    acknowledged = [a for a in answers if a[0] in (200, 201)]
    events = AuditEvent.objects.filter(action__in=[AuditAction.CREATE, AuditAction.REPLACE])
    # Every acknowledged write is stored (an event each), and no refused one is.
    assert events.count() - before_count == len(acknowledged)
    assert sum(1 for a in acknowledged if a[0] == 201) == (0 if existing or not acknowledged else 1)
    if acknowledged:
        stored = Integration.objects.get(tenant=tenant)
        assert stored.account in {a[1]["account"] for a in acknowledged}
        assert stored.version == initial + len(acknowledged)


# --- gunicorn: GUNICORN_MAX_REQUESTS ---------------------------------------------------------


def gunicorn_check(value: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "GUNICORN_MAX_REQUESTS": value,
        "DEBUG": "false",
        "SECRET_KEY": "test-only-secret-key",
        "FIELD_ENCRYPTION_KEYS": "dGVzdC1vbmx5LWtleS0wMTIzNDU2Nzg5YWJjZGVmISE=",
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    return subprocess.run(
        [str(gunicorn), "--config", str(CONF), "--check-config", "config.wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("value", ["abc", "", "1e4", "-1"])  # empty is not the default
def test_a_bad_max_requests_stops_gunicorn_before_it_serves(value):
    checked = gunicorn_check(value)

    assert checked.returncode == 1
    said = checked.stdout + checked.stderr
    says = f"GUNICORN_MAX_REQUESTS must be a whole number from 0 to 1000000000, not {value!r}."
    assert says in said
    assert "Traceback" not in said


@pytest.mark.parametrize(("value", "max_requests", "jitter"), [("0", 0, 0), (" 50 ", 50, 5)])
def test_zero_never_recycles_and_spaces_are_tolerated(monkeypatch, value, max_requests, jitter):
    monkeypatch.setenv("GUNICORN_MAX_REQUESTS", value)

    conf = runpy.run_path(str(CONF))

    assert (conf["max_requests"], conf["max_requests_jitter"]) == (max_requests, jitter)
    assert gunicorn_check(value).returncode == 0


def test_max_requests_from_the_env_file(monkeypatch, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("GUNICORN_MAX_REQUESTS=5000\n")
    monkeypatch.delenv("GUNICORN_MAX_REQUESTS", raising=False)
    monkeypatch.setenv("ENV_FILE", str(env_file))

    conf = runpy.run_path(str(CONF))

    assert conf["max_requests"] == 5000
