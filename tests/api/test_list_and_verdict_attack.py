"""An outsider's attack on three recent changes:

1. the API list of an all-tenants token reads its tenant with the page (integration_list by
   name; tenant_errors_first puts the tenant's 422 before the query string's 400s);
2. compiled_write's verdict marker (a CAST of NOT_AS_EXPECTED, 22P02 mapped to
   RowsNotAsExpected);
3. gunicorn's _whole_number for GUNICORN_WORKERS / _THREADS / _TIMEOUT / _MAX_REQUESTS.

Tests marked xfail(strict=True, reason="HOLE: ...") show what did not hold.
"""

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config import compiled_write
from integrations import selectors
from integrations.models import Integration
from integrations.providers.twilio import TwilioIntegration
from tenants.models import AuditAction, AuditEvent, Tenant
from tenants.services import api_token_create
from tests.api.support import client_for, post_json, token_for, url
from tests.concurrency import (
    ANOTHER_TWILIO_WRITE,
    between_read_and_write,
    from_another_session,
    run_together,
)
from tests.factories import SendGridFactory, TenantFactory, TwilioFactory, actor_named

LIST = "/1.0/tenants/{}/integrations"
NOT_LIVE = "Tenant '{}' does not exist or has been deleted."
MARKER = compiled_write.NOT_AS_EXPECTED
CONF = Path(__file__).resolve().parents[2] / "config" / "gunicorn.conf.py"


def _ids(response) -> list[str]:
    return [record["id"] for record in response.json()]


def _reveals() -> int:
    return AuditEvent.objects.filter(action=AuditAction.REVEAL).count()


@pytest.fixture
def two_tenants(db):
    """acme with three integrations, a legacy 'Acme' and 'acme_x' with one each."""
    acme = TenantFactory(name="acme")
    TwilioFactory(tenant=acme, ident="a-twilio")
    SendGridFactory(tenant=acme, ident="b-sendgrid")
    TwilioFactory(tenant=acme, ident="c-twilio")
    TwilioFactory(tenant=TenantFactory(name="Acme"), ident="a-legacy")
    TwilioFactory(tenant=TenantFactory(name="acme_x"), ident="b-other")
    return acme


# --- 1. the list by tenant name -----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path_name, name",
    [
        ("ACME", "ACME"),
        ("acmE", "acmE"),
        ("nobody", "nobody"),
        ("x" * 65, "x" * 65),
        ("x" * 5000, "x" * 5000),
        ("acme%20", "acme "),
        ("acme%0A", "acme\n"),
        ("acme%09", "acme\t"),
        ("%EF%BD%81cme", "\uff41cme"),  # fullwidth a
        ("acm%C3%A9", "acmé"),
        ("acme.", "acme."),
        ("acme%25", "acme%"),
        ("acm_", "acm_"),  # a LIKE wildcard would find acme
        ("acm%25", "acm%"),
    ],
)
def test_odd_tenant_names_are_a_422_to_an_all_tenants_token(two_tenants, path_name, name):
    before = _reveals()
    response = client_for(token_for()).get(LIST.format(path_name) + "?limit=5")

    assert response.status_code == 422, response.content
    assert response.json() == {"error": NOT_LIVE.format(name)}
    assert _reveals() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path_name", ["acme%00", "%ED%A0%80", "acme%ED%A0%80", "%C0%AF", "%FF", "acme%00?after=%00"]
)
def test_nul_and_broken_utf8_tenant_names_never_reach_the_database(two_tenants, path_name):
    """NUL and lone surrogates percent-encoded: answered (no 500), nothing revealed."""
    before = _reveals()
    response = client_for(token_for()).get(LIST.format(path_name))

    assert response.status_code in (400, 404, 422), response.content
    assert "error" in response.json()
    assert _reveals() == before


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["Acme", "acme_x"])
def test_a_legacy_or_look_alike_tenant_lists_only_its_own(two_tenants, name):
    expected = {"Acme": ["a-legacy"], "acme_x": ["b-other"]}[name]
    response = client_for(token_for()).get(LIST.format(name))

    assert response.status_code == 200, response.content
    assert _ids(response) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "",
        "?limit=1",
        "?limit=1000",
        "?after=a-twilio",
        "?after=zzz",
        "?type=twilio",
        "?type=sendgrid&limit=1",
        "?status=never",
        "?status=ok",
        "?type=twilio&after=a-twilio&limit=1&status=never",
        "?after=",
        "?after=%EF%BF%BD",
        "?after=" + "z" * 3000,
    ],
)
def test_by_name_answers_as_the_tenants_own_token(two_tenants, query):
    """The all-tenants token (new path: by name) and acme's own token (old path) answer the
    same body and the same paging headers for the same data."""
    by_name = client_for(token_for()).get(LIST.format("acme") + query)
    by_token = client_for(token_for(two_tenants)).get(LIST.format("acme") + query)

    assert by_name.status_code == by_token.status_code == 200, by_name.content
    assert by_name.json() == by_token.json()
    assert by_name.get("Next-Cursor") == by_token.get("Next-Cursor")
    assert by_name.get("Link") == by_token.get("Link")
    assert set(_ids(by_name)) <= {"a-twilio", "b-sendgrid", "c-twilio"}


@pytest.mark.django_db
def test_paging_by_name_walks_every_record_once_and_only_the_tenants(two_tenants):
    client = client_for(token_for())
    seen, path = [], LIST.format("acme") + "?limit=1"
    for _ in range(10):
        response = client.get(path)
        assert response.status_code == 200, response.content
        seen += _ids(response)
        if "Next-Cursor" not in response:
            break
        link = response["Link"]
        assert link.endswith('>; rel="next"')
        assert f"after={response['Next-Cursor']}" in link
        path = link[1 : link.index(">")].replace("http://testserver", "")

    assert seen == ["a-twilio", "b-sendgrid", "c-twilio"]


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["missing", "deleted"])
@pytest.mark.parametrize(
    "query",
    [
        "?after=a-twilio",
        "?after=zzz&limit=1",
        "?limit=0",
        "?limit=%EF%BC%95",  # fullwidth 5
        "?limit=-1",
        "?limit=1001",
        "?type=nope",
        "?type=twilio&status=fine",
        "?status=never",
        "?after=%00",
        "?type=%00",
        "?status=%00",
        "?limit=%00",
        "?unknown=1",
        "?limit=1&limit=2",
    ],
)
def test_a_tenant_not_live_is_a_422_whatever_the_query(db, state, query):
    if state == "deleted":
        gone = TenantFactory(name="gone")
        TwilioFactory(tenant=gone, ident="a-twilio")
        Tenant.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    response = client_for(token_for()).get(LIST.format("gone") + query)

    if query in ("?unknown=1", "?limit=1&limit=2") or "%00" in query:
        # Refused before any view code (initial(), the NUL guard): a 400 for any tenant.
        assert response.status_code == 400, response.content
        return
    assert response.status_code == 422, response.content
    assert response.json() == {"error": NOT_LIVE.format("gone")}
    assert _reveals() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["?after=%00", "?after=a%00b&limit=1", "?after=%00&type=twilio"])
def test_a_nul_cursor_of_a_live_tenant_is_an_answer_not_a_500(two_tenants, query):
    """A NUL in `after` (not an id anyone could have): never a 500 (PostgreSQL refuses NUL in
    a parameter). Either token."""
    for token in (token_for(), token_for(two_tenants)):
        response = client_for(token).get(LIST.format("acme") + query)
        assert response.status_code in (200, 400), response.content
        if response.status_code == 200:
            assert response.json() == []


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["acme", "Acme", "nobody", "ACME", "acme%0A"])
def test_a_tenant_token_on_another_tenant_stays_403(two_tenants, target):
    other = TenantFactory(name="globex")
    response = client_for(token_for(other)).get(LIST.format(target) + "?type=nope&limit=0")

    assert response.status_code == 403, response.content
    assert response.json()["error"].startswith("This token may not act on tenant")
    assert _reveals() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("tenant_name", ["acme", "nobody"])
@pytest.mark.parametrize("owner", ["all", "acme"])
def test_a_token_without_read_is_403_before_the_tenant(two_tenants, tenant_name, owner):
    token = token_for(None if owner == "all" else two_tenants, scopes="write,secrets")
    response = client_for(token).get(LIST.format(tenant_name) + "?limit=0")

    if owner == "acme" and tenant_name == "nobody":
        assert response.status_code == 403
        assert "may not act on tenant" in response.json()["error"]
    else:
        assert response.status_code == 403, response.content
        assert response.json() == {"error": "This token lacks the 'read' scope."}
    assert _reveals() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "scopes, query, revealed",
    [
        ("read,secrets", "", ["a-twilio", "b-sendgrid", "c-twilio"]),
        ("read,secrets", "?limit=1", ["a-twilio"]),  # not the extra row read for the cursor
        ("read,secrets", "?limit=2&after=a-twilio", ["b-sendgrid", "c-twilio"]),
        ("read,secrets", "?after=zzz", []),
        ("read,secrets", "?type=sendgrid", ["b-sendgrid"]),
        ("read", "", []),
        ("read", "?limit=1", []),
    ],
)
def test_reveals_are_written_for_returned_records_only(two_tenants, scopes, query, revealed):
    response = client_for(token_for(scopes=scopes)).get(LIST.format("acme") + query)

    assert response.status_code == 200, response.content
    events = AuditEvent.objects.filter(action=AuditAction.REVEAL)
    pks = set(events.values_list("integration_pk", flat=True))
    assert pks == set(Integration.objects.filter(ident__in=revealed).values_list("pk", flat=True))
    assert events.count() == len(revealed)
    if "secrets" not in scopes:
        for record in response.json():
            assert record["password"] == "********"


@pytest.mark.django_db
def test_a_database_error_on_the_page_is_a_503_for_a_live_tenant_and_reveals_nothing(
    two_tenants, monkeypatch
):
    def broken(*args, **kwargs):
        raise OperationalError("connection lost mid-list")

    monkeypatch.setattr(selectors, "page_read", broken)
    response = client_for(token_for()).get(LIST.format("acme"))

    assert response.status_code == 503, response.content
    assert response.json() == {"error": "The database is unavailable; try again shortly."}
    assert _reveals() == 0


@pytest.mark.django_db
def test_a_database_error_on_the_page_of_a_missing_tenant_is_its_422(db, monkeypatch):
    def broken(*args, **kwargs):
        raise OperationalError("connection lost mid-list")

    monkeypatch.setattr(selectors, "page_read", broken)
    response = client_for(token_for()).get(LIST.format("nobody") + "?limit=0")

    assert response.status_code == 422, response.content
    assert response.json() == {"error": NOT_LIVE.format("nobody")}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_tenant_deleted_while_lists_run_is_all_or_422(two_tenants):
    """Threads listing while the tenant is deleted: each answer is the whole list (the page
    read it live) or the 422, never a partial page or another tenant's records."""
    token = token_for()

    def lister():
        response = client_for(token).get(LIST.format("acme"))
        return response.status_code, response.json()

    def deleter():
        Tenant.objects.filter(pk=two_tenants.pk).update(deleted_at=timezone.now())
        return "deleted"

    results = run_together([lister, lister, deleter, lister, lister])
    for result in results:
        if result == "deleted":
            continue
        status, body = result
        if status == 200:
            assert [r["id"] for r in body] == ["a-twilio", "b-sendgrid", "c-twilio"]
        else:
            assert (status, body) == (422, {"error": NOT_LIVE.format("acme")})
    # Once deleted, nothing more.
    response = client_for(token).get(LIST.format("acme"))
    assert response.status_code == 422


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_tenant_restored_between_the_page_and_its_read_is_not_an_empty_list(
    two_tenants, monkeypatch
):
    Tenant.objects.filter(pk=two_tenants.pk).update(deleted_at=timezone.now())
    real = selectors.tenant_get_live

    def restored_meanwhile(*, name):
        sql = "UPDATE tenants_tenant SET deleted_at = NULL WHERE id = %s"
        assert from_another_session(sql, [two_tenants.pk]) == "done"
        return real(name=name)

    monkeypatch.setattr(selectors, "tenant_get_live", restored_meanwhile)
    response = client_for(token_for()).get(LIST.format("acme"))

    # Either moment's answer: 422 (deleted when the page was read) or the whole list.
    if response.status_code == 422:
        assert response.json() == {"error": NOT_LIVE.format("acme")}
    else:
        assert response.status_code == 200, response.content
        assert _ids(response) == ["a-twilio", "b-sendgrid", "c-twilio"]


@pytest.mark.django_db
def test_the_tenant_scoped_token_of_a_deleted_tenant_is_a_422(two_tenants):
    token = token_for(two_tenants)
    Tenant.objects.filter(pk=two_tenants.pk).update(deleted_at=timezone.now())
    response = client_for(token).get(LIST.format("acme") + "?type=nope")

    assert response.status_code in (401, 422), response.content
    assert _reveals() == 0


# --- 2. the compiled_write verdict marker -------------------------------------------------


@pytest.fixture
def acme_token(db):
    return token_for(TenantFactory(name="acme"))


def _create(token: str, ident: str = "twilio", account: str = "AC-0"):
    body = {"type": "twilio", "account": account, "password": "pw-0"}
    return post_json(client_for(token), url(ident), body)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("value", [MARKER, f"'{MARKER}'", f"x' END AS int) --{MARKER}"[:63]])
def test_a_value_spelling_the_marker_is_only_a_value_on_every_api_write(acme_token, value):
    client = client_for(acme_token)
    created = post_json(client, url("twilio"), {"account": value, "password": value})
    assert created.status_code == 201, created.content
    assert created.json()["account"] == value

    patched = client.patch(url("twilio"), {"account": value + "!"}, format="json")
    assert patched.status_code == 200, patched.content
    replaced = post_json(client, url("twilio"), {"account": value, "password": "********"})
    assert replaced.status_code == 200, replaced.content
    stored = TwilioIntegration.objects.get(ident="twilio")
    assert (stored.account, stored.version) == (value, 3)

    deleted = client.delete(url("twilio"))
    assert deleted.status_code in (200, 204), deleted.content
    assert not TwilioIntegration.objects.filter(ident="twilio").exists()
    again = post_json(client, url("twilio"), {"account": value, "password": value})
    assert again.status_code == 201, again.content


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_marker_token_label_and_admin_edit_are_only_values(acme_token):
    """The actor's name (a token label, an admin's edit) is written too: only a value."""
    from integrations import services

    tenant = Tenant.objects.get(name="acme")
    _, token = api_token_create(actor=actor_named(MARKER), label=MARKER, tenant=tenant)
    assert _create(token).status_code == 201
    integration = TwilioIntegration.objects.get(ident="twilio")
    written = services.integration_update(
        integration=integration, data={"account": MARKER}, actor=actor_named(MARKER)
    )
    assert written.version == 2
    assert TwilioIntegration.objects.get(ident="twilio").account == MARKER


def _cast_trigger(kind: str) -> None:
    """A schema's own check of the Twilio table (a deployment's, say): `cast` reads the
    account as a number (an SID check); `raise` raises 22P02 with the account as message."""
    body = {
        "cast": "PERFORM CAST(NEW.account AS integer);",
        "raise": "RAISE EXCEPTION USING ERRCODE = '22P02', MESSAGE = NEW.account;",
    }[kind]
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION atk_check_account() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN IF NEW.account <> 'AC-0' THEN {body} END IF; RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER atk_check_account BEFORE UPDATE ON integrations_twiliointegration "
            "FOR EACH ROW EXECUTE FUNCTION atk_check_account()"
        )


def _drop_cast_trigger() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS atk_check_account ON integrations_twiliointegration")
        cursor.execute("DROP FUNCTION IF EXISTS atk_check_account()")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["cast", "raise"])
def test_a_schema_error_quoting_another_value_is_its_own_error(acme_token, kind, caplog):
    """Control: the schema's 22P02 about any other value is a 500 with no fallback."""
    assert _create(acme_token).status_code == 201
    _cast_trigger(kind)
    try:
        with CaptureQueriesContext(connection) as queries:
            response = client_for(acme_token).patch(
                url("twilio"), {"account": "AC-x"}, format="json"
            )
    finally:
        _drop_cast_trigger()

    assert response.status_code == 500, response.content
    assert "other rows written than expected" not in caplog.text
    assert not any("FOR UPDATE" in q["sql"] and "WITH" not in q["sql"] for q in queries)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["cast", "raise"])
def test_a_schema_error_quoting_the_marker_is_not_a_lost_race(acme_token, kind, caplog):
    assert _create(acme_token).status_code == 201
    _cast_trigger(kind)
    try:
        with CaptureQueriesContext(connection) as queries:
            response = client_for(acme_token).patch(
                url("twilio"), {"account": MARKER}, format="json"
            )
    finally:
        _drop_cast_trigger()

    assert response.status_code == 500, response.content
    assert "other rows written than expected" not in caplog.text
    assert not any("FOR UPDATE" in q["sql"] and "WITH" not in q["sql"] for q in queries)
    assert TwilioIntegration.objects.get(ident="twilio").version == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_generic_plans_never_fold_the_verdict(acme_token):
    """Prepared statements (server-side binding, prepare after 5 runs) and a forced generic
    plan: the planner never evaluates the failing branch, every write still succeeds."""
    client = client_for(acme_token)
    assert _create(acme_token).status_code == 201
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
    try:
        for n in range(8):
            response = client.patch(url("twilio"), {"account": f"AC-{n + 1}"}, format="json")
            assert response.status_code == 200, response.content
        for n in range(3):
            assert _create(acme_token, ident=f"twilio-{n}").status_code == 201
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET plan_cache_mode")
    assert TwilioIntegration.objects.get(ident="twilio").version == 9


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_verdict_that_fails_is_rows_not_as_expected_under_generic_plans():
    tenant = TenantFactory(name="acme")
    integration = TwilioFactory(tenant=tenant, account="AC-kept")
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
    try:
        for _ in range(7):
            integration.account = "AC-lost"
            with (
                pytest.raises(compiled_write.RowsNotAsExpected),
                compiled_write.one_statement(
                    "default",
                    guard=("SELECT 1 FROM integrations_integration WHERE id = %s", [-1]),
                ),
            ):
                compiled_write.update(integration, ["account"])
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET plan_cache_mode")
    assert TwilioIntegration.objects.get(pk=integration.pk).account == "AC-kept"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("method", ["patch", "replace"])
def test_a_guarded_write_that_loses_its_race_falls_back_and_answers(
    acme_token, monkeypatch, method
):
    assert _create(acme_token).status_code == 201
    pk = Integration.objects.get(ident="twilio").pk
    between_read_and_write(monkeypatch, ANOTHER_TWILIO_WRITE, [pk, pk])
    client = client_for(acme_token)
    if method == "patch":
        response = client.patch(url("twilio"), {"account": MARKER}, format="json")
    else:
        response = post_json(client, url("twilio"), {"account": MARKER, "password": "pw-1"})

    assert response.status_code == 200, response.content
    assert response.json()["account"] == MARKER
    stored = TwilioIntegration.objects.get(pk=pk)
    assert (stored.account, stored.version) == (MARKER, 3)


# --- 3. gunicorn's numbers ----------------------------------------------------------------


def _conf_with(monkeypatch, tmp_path, *, env=None, dotenv=None):
    for name in (
        "GUNICORN_WORKERS",
        "GUNICORN_THREADS",
        "GUNICORN_TIMEOUT",
        "GUNICORN_MAX_REQUESTS",
    ):
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text(dotenv or "", encoding="utf-8")
    monkeypatch.setenv("ENV_FILE", str(env_file))
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


BAD = [
    ("GUNICORN_WORKERS", "0x10", 1),
    ("GUNICORN_WORKERS", "", 1),
    ("GUNICORN_WORKERS", "   ", 1),
    ("GUNICORN_WORKERS", "1e3", 1),
    ("GUNICORN_WORKERS", "-0", 1),
    ("GUNICORN_THREADS", "0", 1),
    ("GUNICORN_THREADS", "4.0", 1),
    ("GUNICORN_TIMEOUT", "-1", 0),
    ("GUNICORN_TIMEOUT", "inf", 0),
    ("GUNICORN_MAX_REQUESTS", "nan", 0),
    ("GUNICORN_MAX_REQUESTS", "9" * 5000, 0),
]


@pytest.mark.parametrize("source", ["env", "dotenv"])
@pytest.mark.parametrize(("name", "given", "least"), BAD)
def test_a_bad_number_stops_with_one_line_naming_it(
    monkeypatch, tmp_path, source, name, given, least
):
    if source == "dotenv" and given.strip() != given:
        given_line = f'{name}="{given}"\n'
    else:
        given_line = f"{name}={given}\n"
    with pytest.raises(SystemExit) as stopped:
        if source == "env":
            _conf_with(monkeypatch, tmp_path, env={name: given})
        else:
            _conf_with(monkeypatch, tmp_path, dotenv=given_line)

    message = str(stopped.value)
    assert message.startswith(f"{name} must be a whole number from {least} to ")
    assert message.endswith(f", not {given!r}.")
    assert "\n" not in message


def test_the_environment_wins_over_the_file(monkeypatch, tmp_path):
    conf = _conf_with(
        monkeypatch, tmp_path, env={"GUNICORN_WORKERS": "3"}, dotenv="GUNICORN_WORKERS=zero\n"
    )
    assert conf["workers"] == 3


def test_a_name_alone_in_the_file_is_the_default(monkeypatch, tmp_path):
    conf = _conf_with(monkeypatch, tmp_path, dotenv="GUNICORN_WORKERS\nGUNICORN_THREADS  # x\n")
    assert (conf["workers"], conf["threads"]) == (2, 4)


@pytest.mark.parametrize("given", ["3", "003", "3  # three"])
def test_plain_numbers_in_the_file_are_read(monkeypatch, tmp_path, given):
    conf = _conf_with(monkeypatch, tmp_path, dotenv=f"GUNICORN_THREADS={given}\n")
    assert conf["threads"] == 3


@pytest.mark.parametrize("given", ["\uff15", "\u0663", "1_000", "+5"])
def test_lenient_spellings_stop_too(monkeypatch, tmp_path, given):
    """Only ASCII digits (blanks around them are tolerated, as a .env file may hold them)."""
    with pytest.raises(SystemExit):
        _conf_with(monkeypatch, tmp_path, env={"GUNICORN_WORKERS": given})


@pytest.mark.parametrize(
    ("name", "absurd"),
    [
        ("GUNICORN_WORKERS", "9" * 22),
        ("GUNICORN_WORKERS", "257"),
        ("GUNICORN_THREADS", "100000"),
        ("GUNICORN_TIMEOUT", "86401"),
        ("GUNICORN_MAX_REQUESTS", "1000000001"),
    ],
)
def test_an_absurd_number_stops_it(monkeypatch, tmp_path, name, absurd):
    with pytest.raises(SystemExit):
        _conf_with(monkeypatch, tmp_path, env={name: absurd})


def _check_config(env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("GUNICORN_")
    }
    environment.update(
        {
            "ENV_FILE": str(tmp_path / ".env"),
            "SECRET_KEY": "test-only-secret-key",
            "FIELD_ENCRYPTION_KEYS": "dGVzdC1vbmx5LWtleS0wMTIzNDU2Nzg5YWJjZGVmISE=",
            "DEBUG": "false",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "--config", str(CONF), "config.wsgi"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=CONF.parents[1],
        timeout=120,
    )


@pytest.mark.parametrize(
    ("dotenv", "name", "given"),
    [
        ("GUNICORN_THREADS=0x10\n", "GUNICORN_THREADS", "0x10"),
        ('GUNICORN_TIMEOUT=""\n', "GUNICORN_TIMEOUT", ""),
        ("GUNICORN_MAX_REQUESTS=-5\n", "GUNICORN_MAX_REQUESTS", "-5"),
    ],
)
def test_check_config_from_the_env_file_says_one_line(tmp_path, dotenv, name, given):
    (tmp_path / ".env").write_text(dotenv, encoding="utf-8")
    finished = _check_config({}, tmp_path)

    assert finished.returncode != 0
    least = 1 if name == "GUNICORN_THREADS" else 0
    last = finished.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{name} must be a whole number from {least} to ")
    assert last.endswith(f", not {given!r}.")
    assert "Traceback" not in finished.stderr


def test_check_config_with_good_numbers_passes(tmp_path):
    (tmp_path / ".env").write_text("GUNICORN_WORKERS=3\nGUNICORN_TIMEOUT=0\n", encoding="utf-8")
    finished = _check_config({"GUNICORN_MAX_REQUESTS": "0"}, tmp_path)

    assert finished.returncode == 0, finished.stderr
