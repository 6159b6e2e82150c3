"""Attacks on PostgreSQL's server-side binding with prepared statements (config/settings.py,
DATABASE_PREPARED_STATEMENTS, on by default): odd parameter values through the API, the staff
pages and the admin; a database fault in the middle of a transaction; schema changes while
statements are prepared; racing writers; a tenant deleted between prepared runs.

psycopg prepares a statement on its sixth run on a connection, so every attack first runs the
same requests WARM_RUNS times (and checks that statements were indeed prepared).

Every answer below was also compared, request by request, with the same run under
DATABASE_PREPARED_STATEMENTS=false (client-side binding): the answers were the same except
where a test is marked xfail and says otherwise. The admin 500s marked xfail here are not
caused by prepared statements (the same requests answer 500 with them off); they are in the
admin's own code or Django's, found by the same attack.
"""

import json
import time
from functools import partial

import psycopg
import pytest
from django.db import OperationalError, close_old_connections, connection
from rest_framework.test import APIClient

from integrations import services
from integrations.bundle_export import count_integrations
from integrations.models import Integration, IntegrationVersion
from integrations.providers import TwilioIntegration
from tenants.models import AuditAction, AuditEvent, Tenant
from tenants.services import api_token_create, tenant_delete, tenant_restore
from tests.concurrency import run_together
from tests.config.test_prepared_statements import prepared_statements
from tests.factories import SalesforceFactory, TenantFactory, TwilioFactory, actor_named
from tests.web.conftest import logged_in

pytestmark = pytest.mark.postgres

WARM_RUNS = 7  # psycopg's prepare_threshold is 5: the sixth run is prepared
LIST = "/1.0/tenants/acme/integrations"
ONE = "/1.0/tenants/acme/integrations/twilio"
SF = "/1.0/tenants/acme/integrations/salesforce"
TWILIO_BODY = {"account": "AC-STORED", "password": "stored-token-1"}

# Values that mean something to a parameter parser, SQL, a shell or an encoder.
ODD_VALUES = [
    "nul\u0000byte",
    "lone\ud800surrogate",
    "trailing newline\n",
    "x" * 100_000,
    "emoji \U0001f600",
    "%s",
    "%(name)s",
    "$1",
    "'; DROP TABLE tenants_tenant; --",
    "back\\slash",
    "%",
    "_",
    "99999999999999999999",
    "",
]
# Path segments (already percent-encoded) that reach a lookup by tenant name or id.
ODD_SEGMENTS = [
    "%25s",
    "%241",
    "'%3B%20DROP%20TABLE%20x",
    "%5C",
    "%F0%9F%98%80",
    "x" * 5000,
    "%ED%A0%80",
    "%00",
    "-1",
    "a%0A",
    "%20",
]
HUGE_INTEGERS = [
    "99999999999999999999",
    "9223372036854775808",
    "9223372036854775807",
    "2147483648",
    "-1",
    "-9223372036854775809",
    "0",
]


def _json_body(client, method: str, path: str, body, **headers) -> object:
    """Send `body` as JSON text with every non-ASCII character escaped (a lone surrogate
    travels as the six characters of its escape, as a client would send it); `headers` as
    the test client takes them (HTTP_X_REQUEST_ID=...)."""
    if body is None:
        return getattr(client, method)(path, **headers)
    return getattr(client, method)(
        path, json.dumps(body), content_type="application/json", **headers
    )


def _prepares() -> bool:
    """Whether statements are prepared (the settings' default). The file also runs with
    DATABASE_PREPARED_STATEMENTS=false, to compare: then only the regressions' xfail tests
    pass (strict xfail: reported as XPASS failures)."""
    return connection.features.uses_server_side_binding


def _warm(*requests) -> None:
    """Run each request (a function of nothing answering a response) WARM_RUNS times, each
    answering 2xx, so that their statements are prepared on this connection."""
    for _ in range(WARM_RUNS):
        for request in requests:
            response = request()
            assert response.status_code < 300, response.content
    assert prepared_statements() or not _prepares()


def _plain(value) -> str:
    """A credential field's value in clear (a secret is a SealedSecret until revealed)."""
    return value.reveal() if hasattr(value, "reveal") else value


def _twilio_state(tenant) -> tuple:
    row = TwilioIntegration.all_objects.get(tenant=tenant, ident="twilio")
    return row.account, _plain(row.password), row.version, row.deleted_at


def _error_of(response) -> str:
    """The JSON error sentence of an API error answer (and that it is one)."""
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert set(body) >= {"error"} and isinstance(body["error"], str), body
    return body["error"]


@pytest.fixture
def acme_twilio(tenant):
    return TwilioFactory(tenant=tenant, **TWILIO_BODY)


@pytest.fixture
def warmed(acme_twilio, tenant_client):
    """acme's Twilio integration, with the API's hot statements prepared on the connection."""
    tenant_client.raise_request_exception = False
    _warm(
        lambda: tenant_client.get(LIST),
        lambda: tenant_client.get(ONE),
        lambda: _json_body(tenant_client, "post", ONE, TWILIO_BODY),
        lambda: _json_body(tenant_client, "patch", ONE, {"password": "stored-token-1"}),
    )
    return acme_twilio


# --- odd parameter values, through the API -------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "patch"])
@pytest.mark.parametrize("field", ["account", "password"])
def test_odd_json_values_are_stored_exactly_or_refused_with_a_json_400(
    warmed, tenant, tenant_client, field, method
):
    for value in ODD_VALUES:
        before = _twilio_state(tenant)
        body = {**TWILIO_BODY, field: value} if method == "post" else {field: value}

        response = _json_body(tenant_client, method, ONE, body)

        label = (method, field, value[:40])
        assert response.status_code in (200, 400), (label, response.content[:300])
        if response.status_code == 400:
            assert _error_of(response)
            assert _twilio_state(tenant) == before, label
            continue
        stored = TwilioIntegration.objects.get(pk=warmed.pk)
        # DRF trims an account's surrounding whitespace (a secret is kept whole); nothing
        # else is changed on the way to the row and back.
        expected = value if field == "password" else value.strip()
        assert _plain(getattr(stored, field)) == expected, label
        assert response.json()[field] == expected, label
        assert stored.version == before[2] + 1, label
        assert tenant_client.get(ONE).json()[field] == expected, label


@pytest.mark.django_db
def test_odd_values_in_every_salesforce_field_and_in_id_and_type_never_answer_500(
    warmed, tenant, tenant_client
):
    SalesforceFactory(tenant=tenant)
    for value in ODD_VALUES:
        for key in ("consumer-key", "username", "login-host", "secret-token"):
            response = _json_body(tenant_client, "patch", SF, {key: value})
            assert response.status_code in (200, 400), (key, value[:40], response.content[:300])
            if response.status_code == 400:
                assert _error_of(response)
        rows = Integration.all_objects.count()
        for body in (
            {"type": "twilio", **TWILIO_BODY, "id": value},
            {"type": value, **TWILIO_BODY},
        ):
            response = _json_body(tenant_client, "post", f"{LIST}/new-one", body)
            assert response.status_code in (400, 422), (body, response.content[:300])
            assert _error_of(response)
            assert Integration.all_objects.count() == rows


@pytest.mark.django_db
def test_odd_tenant_names_and_ids_in_the_path_answer_json_4xx_and_write_nothing(
    warmed, tenant_client, global_client
):
    global_client.raise_request_exception = False
    rows = (Integration.all_objects.count(), AuditEvent.objects.count())
    for client in (tenant_client, global_client):
        for segment in ODD_SEGMENTS:
            for path in (
                f"{LIST}/{segment}",
                f"/1.0/tenants/{segment}/integrations",
                f"/1.0/tenants/{segment}/integrations/twilio",
                f"{LIST}/{segment}/history",
                f"{LIST}/{segment}/versions",
                f"{ONE}/versions/{segment}/restore",
                f"{LIST}/{segment}/verify",
                f"/1.0/tenants/acme/{segment}",
            ):
                for method in ("get", "post", "patch", "delete"):
                    body = TWILIO_BODY if method in ("post", "patch") else None
                    response = _json_body(client, method, path, body)
                    assert 400 <= response.status_code < 500, (method, path[:80], response.content)
                    assert _error_of(response)
    assert (Integration.all_objects.count(), AuditEvent.objects.count()) == rows


@pytest.mark.django_db
def test_list_parameters_beyond_int8_and_odd_cursors_answer_400_or_200(warmed, tenant_client):
    for value in [*HUGE_INTEGERS, "abc", "1.5", "%", "_", "\\", "x" * 10_000, "'; DROP"]:
        for name in ("limit", "after", "type", "status"):
            response = tenant_client.get(LIST, {name: value})
            assert response.status_code in (200, 400, 422), (name, value[:40], response.content)
            if response.status_code == 200:
                assert isinstance(response.json(), list)
            else:
                assert _error_of(response)
    # A cursor past every id lists nothing; one before them lists everything.
    assert tenant_client.get(LIST, {"after": "\U0010ffff"}).json() == []
    assert [r["id"] for r in tenant_client.get(LIST, {"after": "%"}).json()] == ["twilio"]


@pytest.mark.django_db
def test_version_numbers_beyond_int8_in_the_restore_path_answer_a_json_404(
    warmed, tenant, tenant_client
):
    before = _twilio_state(tenant)
    for number in HUGE_INTEGERS[:4]:
        response = tenant_client.post(f"{ONE}/versions/{number}/restore")
        assert response.status_code == 404, (number, response.content)
        assert _error_of(response)
    # Within the route's nine digits: a version that does not exist.
    response = tenant_client.post(f"{ONE}/versions/999999999/restore")
    assert response.status_code in (404, 422), response.content
    assert _error_of(response)
    assert _twilio_state(tenant) == before


# --- odd parameter values, through the staff pages and the admin ---------------------------------


@pytest.fixture
def boss(db):
    from django.contrib.auth.models import User

    client = logged_in(User.objects.create_superuser("boss", "boss@example.com", "pw-pw-pw-pw"))
    client.raise_request_exception = False
    return client


@pytest.mark.django_db
def test_staff_search_with_odd_queries_answers_200_and_finds_what_matches(warmed, boss):
    _warm(lambda: boss.get("/", {"q": "acme"}), lambda: boss.get("/", {"q": "AC-STORED"}))
    for query in ["%", "_", "\\", "%s", "$1", "'; DROP", "x" * 100_000, "emoji \U0001f600"]:
        response = boss.get("/", {"q": query})
        assert response.status_code == 200, (query[:40], response.status_code)
        assert "acme" not in [t.name for t in response.context["page_obj"]], query[:40]
    found = boss.get("/", {"q": "c-sto"})
    assert [t.name for t in found.context["page_obj"]] == ["acme"]
    refused = boss.get("/", {"q": "a\u0000b"})
    assert refused.status_code == 400


@pytest.mark.django_db
def test_staff_restore_paths_with_integers_beyond_int8_answer_404(warmed, tenant, boss):
    before = _twilio_state(tenant)
    for number in HUGE_INTEGERS[:4]:
        for path in (
            f"/tenants/acme/integrations/twilio/versions/{number}/restore/",
            f"/tenants/acme/deleted-integrations/{number}/restore/",
        ):
            assert boss.post(path).status_code == 404, path
    assert _twilio_state(tenant) == before


ADMIN_LISTS = [
    "/admin/integrations/integration/",
    "/admin/tenants/tenant/",
    "/admin/tenants/auditevent/",
    "/admin/tenants/apitoken/",
    "/admin/auth/user/",
    "/admin/axes/accessattempt/",
]


@pytest.mark.django_db
def test_admin_searches_with_odd_words_answer_200(warmed, boss):
    _warm(*(partial(boss.get, path, {"q": "acme"}) for path in ADMIN_LISTS))
    for path in ADMIN_LISTS:
        for query in ["%", "_", "\\", "%s", "$1", "x" * 10_000, '"', "''", "emoji \U0001f600"]:
            response = boss.get(path, {"q": query})
            assert response.status_code == 200, (path, query[:40], response.status_code)


@pytest.mark.django_db
def test_admin_integration_search_with_an_unbalanced_quote_answers_200(warmed, boss):
    for query in ["'; DROP TABLE tenants_tenant; --", '"abc', "it's"]:
        response = boss.get("/admin/integrations/integration/", {"q": query})
        assert response.status_code == 200, (query, response.status_code)


@pytest.mark.django_db
def test_admin_filters_and_pages_with_ids_beyond_int8_answer_200_302_or_404(warmed, tenant, boss):
    for value in HUGE_INTEGERS:
        for path, params in (
            ("/admin/integrations/integration/", {"tenant__id__exact": value}),
            ("/admin/integrations/integration/", {"provider": value}),
            ("/admin/integrations/integration/", {"p": value}),
            ("/admin/tenants/auditevent/", {"tenant__id__exact": value}),
            ("/admin/tenants/auditevent/", {"integration_pk": value}),
            ("/admin/tenants/tenant/", {"id__exact": value}),
            ("/admin/auth/user/", {"groups__id__exact": value}),
        ):
            response = boss.get(path, params)
            assert response.status_code in (200, 302), (path, params, response.status_code)
        for model in (
            "integrations/integration",
            "integrations/twiliointegration",
            "tenants/tenant",
            "tenants/auditevent",
            "tenants/apitoken",
        ):
            for page in ("change", "history"):
                response = boss.get(f"/admin/{model}/{value}/{page}/")
                assert response.status_code in (302, 404), (model, value, page)
    assert boss.get(f"/admin/integrations/integration/{warmed.pk}/change/").status_code == 200
    assert boss.get(f"/admin/tenants/tenant/{tenant.pk}/change/").status_code == 200


@pytest.mark.django_db
def test_admin_integration_list_filtered_by_a_non_numeric_tenant_id_answers_no_500(warmed, boss):
    for value in ("abc", "1.5", "\u00b2", "-"):  # "²" is str.isdigit() but no integer
        response = boss.get("/admin/integrations/integration/", {"tenant__id__exact": value})
        assert response.status_code in (200, 302), (value, response.status_code)


@pytest.mark.django_db
def test_admin_date_hierarchy_with_an_overflowing_year_answers_no_500(warmed, boss):
    for params in (
        {"occurred_at__year": "2147483648"},
        {"occurred_at__year": "99999999999999999999"},
        {"occurred_at__year": "9999", "occurred_at__month": "12", "occurred_at__day": "31"},
    ):
        response = boss.get("/admin/tenants/auditevent/", params)
        assert response.status_code in (200, 302), (params, response.status_code)


# --- a database fault in the middle of a transaction ---------------------------------------------

FAULT_ID = "prepared-fault-1"


def _refuse_audit_rows_of_request(request_id: str) -> None:
    """A trigger that fails the INSERT of an audit event of `request_id` only: the fault comes
    without any DDL between the prepared runs (DDL would make psycopg drop its statements)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION refuse_request() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused audit row'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_request BEFORE INSERT ON tenants_auditevent FOR EACH ROW "
            f"WHEN (NEW.request_id = '{request_id}') EXECUTE FUNCTION refuse_request()"
        )


def _allow_audit_rows() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS refuse_request ON tenants_auditevent")
        cursor.execute("DROP FUNCTION IF EXISTS refuse_request()")


def _fault_then_again(tenant, tenant_client, *, reads: bool) -> None:
    """A write (and, `reads`, a read with secrets and a list) whose audit row the database
    refuses half-way; then the same requests again, many times, on the same connection."""
    tenant_client.raise_request_exception = False
    before = _twilio_state(tenant)
    events = AuditEvent.objects.count()
    prepared = len(prepared_statements())

    write = _json_body(
        tenant_client,
        "post",
        ONE,
        {**TWILIO_BODY, "account": "AC-LOST"},
        HTTP_X_REQUEST_ID=FAULT_ID,
    )
    answers = [write]
    if reads:
        answers.append(tenant_client.get(ONE, HTTP_X_REQUEST_ID=FAULT_ID))
        answers.append(tenant_client.get(LIST, HTTP_X_REQUEST_ID=FAULT_ID))

    for response in answers:
        assert response.status_code == 500, response.content
        assert response.json() == {"error": "Internal server error."}
        assert "stored-token-1" not in response.content.decode()
    assert _twilio_state(tenant) == before
    assert AuditEvent.objects.count() == events
    assert prepared > 0 or not _prepares()
    # The same statements again, on the same connection: no "prepared statement does not
    # exist", no "current transaction is aborted".
    for round_ in range(WARM_RUNS):
        account = f"AC-AFTER-{round_}"
        response = _json_body(tenant_client, "post", ONE, {**TWILIO_BODY, "account": account})
        assert response.status_code == 200, response.content
        assert tenant_client.get(ONE).json()["account"] == account
        assert [r["account"] for r in tenant_client.get(LIST).json()] == [account]
    assert _twilio_state(tenant) == ("AC-AFTER-6", "stored-token-1", before[2] + WARM_RUNS, None)
    assert prepared_statements() or not _prepares()


@pytest.mark.django_db
def test_a_fault_mid_transaction_inside_the_tests_transaction_leaves_prepared_statements_working(
    warmed, tenant, tenant_client
):
    """The write's transaction is a savepoint of the test's. (A read's failing statement is
    not in a savepoint: inside the test's transaction it would abort the test's own; the
    autocommit test below covers reads.)"""
    _refuse_audit_rows_of_request(FAULT_ID)

    _fault_then_again(tenant, tenant_client, reads=False)


@pytest.mark.django_db(transaction=True)
def test_a_fault_mid_transaction_in_autocommit_leaves_prepared_statements_working(
    tenant, tenant_client
):
    """Autocommit, as production runs: the write's transaction is rolled back for real, and
    the read's WITH statement fails outside any transaction."""
    TwilioFactory(tenant=tenant, **TWILIO_BODY)
    tenant_client.raise_request_exception = False
    _warm(
        lambda: tenant_client.get(LIST),
        lambda: tenant_client.get(ONE),
        lambda: _json_body(tenant_client, "post", ONE, TWILIO_BODY),
    )
    _refuse_audit_rows_of_request(FAULT_ID)
    try:
        _fault_then_again(tenant, tenant_client, reads=True)
    finally:
        _allow_audit_rows()


# --- schema changes while statements are prepared ------------------------------------------------


def _other_connection() -> psycopg.Connection:
    """A session of its own on the test database, as a migration run elsewhere would have."""
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        dbname=settings["NAME"],
        autocommit=True,
    )


def _ddl_elsewhere(*statements: str) -> None:
    with _other_connection() as other:
        for statement in statements:
            other.execute(statement)


def _hot_requests_answer_200(tenant_client, account: str, *, autocommit: bool = True) -> None:
    for _ in range(3):
        if autocommit:
            # Between requests as between production requests: a connection that had an
            # error is kept if it is still usable (CONN_MAX_AGE). (Inside a test's
            # transaction this would close the connection.)
            close_old_connections()
        listed = tenant_client.get(LIST)
        one = tenant_client.get(ONE)
        assert (listed.status_code, one.status_code) == (200, 200), (listed.content, one.content)
        assert [r["account"] for r in listed.json()] == [account]
        assert one.json()["account"] == account
        written = _json_body(tenant_client, "post", ONE, {**TWILIO_BODY, "account": account})
        assert written.status_code == 200, written.content


@pytest.mark.django_db
def test_a_column_added_in_the_same_transaction_changes_no_answer(warmed, tenant, tenant_client):
    with connection.cursor() as cursor:
        # The test's own rows have deferred foreign key checks pending: ALTER refuses those.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE integrations_integration ADD COLUMN probe_a integer")
        cursor.execute("ALTER TABLE tenants_tenant ADD COLUMN probe_b text DEFAULT 'x' NOT NULL")
        cursor.execute("ALTER TABLE integrations_twiliointegration ADD COLUMN probe_c jsonb")

    _hot_requests_answer_200(tenant_client, "AC-STORED", autocommit=False)  # undone with the test


@pytest.mark.django_db(transaction=True)
def test_columns_added_and_dropped_by_another_session_change_no_answer(tenant, tenant_client):
    TwilioFactory(tenant=tenant, **TWILIO_BODY)
    tenant_client.raise_request_exception = False
    _warm(lambda: tenant_client.get(LIST), lambda: tenant_client.get(ONE))
    tables = ["integrations_integration", "integrations_twiliointegration", "tenants_tenant"]
    try:
        _ddl_elsewhere(*(f"ALTER TABLE {t} ADD COLUMN probe_added integer" for t in tables))
        _hot_requests_answer_200(tenant_client, "AC-STORED")
        _ddl_elsewhere(*(f"ALTER TABLE {t} DROP COLUMN probe_added" for t in tables))
        _hot_requests_answer_200(tenant_client, "AC-STORED")
    finally:
        _ddl_elsewhere(*(f"ALTER TABLE {t} DROP COLUMN IF EXISTS probe_added" for t in tables))
        connection.close()  # no statement prepared on the changed tables outlives the test


@pytest.mark.django_db(transaction=True)
def test_a_column_widened_by_another_session_changes_no_answer(tenant, tenant_client):
    TwilioFactory(tenant=tenant, **TWILIO_BODY)
    tenant_client.raise_request_exception = False
    _warm(lambda: tenant_client.get(LIST), lambda: tenant_client.get(ONE))
    try:
        _ddl_elsewhere(
            "ALTER TABLE integrations_twiliointegration ALTER COLUMN account TYPE varchar(100)"
        )
        _hot_requests_answer_200(tenant_client, "AC-STORED")
    finally:
        _ddl_elsewhere(
            "ALTER TABLE integrations_twiliointegration ALTER COLUMN account TYPE varchar(64)"
        )
        connection.close()  # no statement prepared on the changed table outlives the test


def _replace(tenant_client, account: str):
    body = {"type": "twilio", "account": account, "password": "stored-token-1"}
    return tenant_client.post(ONE, body, format="json")


@pytest.mark.django_db(transaction=True)
def test_a_replace_on_a_stale_prepared_statement_is_run_again_and_written(tenant, tenant_client):
    """A POST replace reads its row and writes it in autocommit (a write without a lock,
    guarded): the stale statement is deallocated and run again, and the write is kept."""
    integration = TwilioFactory(tenant=tenant, **TWILIO_BODY)
    _warm(lambda: _replace(tenant_client, "AC-WARM"))
    integration.refresh_from_db()
    version_before = integration.version
    try:
        _ddl_elsewhere(
            "ALTER TABLE integrations_twiliointegration ALTER COLUMN account TYPE varchar(100)"
        )
        close_old_connections()
        accepted = _replace(tenant_client, "AC-DURING")
        assert accepted.status_code == 200, accepted.content
        integration.refresh_from_db()
        assert (integration.account, integration.version) == ("AC-DURING", version_before + 1)
    finally:
        _ddl_elsewhere(
            "ALTER TABLE integrations_twiliointegration ALTER COLUMN account TYPE varchar(64)"
        )
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_locked_write_on_a_stale_prepared_statement_fails_writes_nothing_and_the_next_works(
    tenant,
):
    """A write that locks its row first (integration_update, as the admin and the staff pages
    call it) meets the stale statement inside its transaction, where it cannot run again: an
    OperationalError (the API and pages answer 503 with Retry-After), nothing written, and
    its ROLLBACK drops the stale statements, so the next write succeeds on the same
    connection."""
    integration = TwilioFactory(tenant=tenant, **TWILIO_BODY)

    def update(account: str) -> None:
        # No read before the service's: its locked read is the first statement to go stale.
        services.integration_update(
            integration=integration, data={"account": account}, actor=actor_named()
        )

    for number in range(WARM_RUNS):
        update(f"AC-WARM-{number}")
    assert prepared_statements() or not _prepares()
    version_before = TwilioIntegration.objects.values_list("version", flat=True).get()
    try:
        _ddl_elsewhere(
            "ALTER TABLE integrations_twiliointegration ALTER COLUMN account TYPE varchar(100)"
        )
        with pytest.raises(OperationalError):
            update("AC-DURING")
        stored = TwilioIntegration.objects.values_list("account", "version").get()
        assert stored == (f"AC-WARM-{WARM_RUNS - 1}", version_before)

        update("AC-AFTER")
        stored = TwilioIntegration.objects.values_list("account", "version").get()
        assert stored == ("AC-AFTER", version_before + 1)
    finally:
        _ddl_elsewhere(
            "ALTER TABLE integrations_twiliointegration ALTER COLUMN account TYPE varchar(64)"
        )
        connection.close()


# --- racing writers ------------------------------------------------------------------------------

THREADS = 10
POSTS_PER_THREAD = WARM_RUNS  # the last ones of each thread run prepared


def _sessions_left() -> int:
    """Sessions on the test database other than this one, after a short grace for closing."""
    for _ in range(40):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            left = cursor.fetchone()[0]
        if left == 0:
            return 0
        time.sleep(0.05)
    return left


def _posts(token: str, path: str, accounts: list[str]) -> list[int]:
    """POST each account in turn on one thread's own connection; the statuses."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.raise_request_exception = False
    statuses = []
    for account in accounts:
        body = {"type": "twilio", **TWILIO_BODY, "account": account}
        response = _json_body(client, "post", path, body)
        statuses.append(response.status_code)
    return statuses


@pytest.fixture
def race_token(db):
    tenant = TenantFactory(name="acme")
    _, token = api_token_create(actor=actor_named("tests"), label="race", tenant=tenant)
    return tenant, token


@pytest.mark.django_db(transaction=True)
def test_racing_upserts_of_one_id_on_prepared_statements_answer_200_or_201_only(race_token):
    tenant, token = race_token
    accounts = [[f"AC-{t}-{n}" for n in range(POSTS_PER_THREAD)] for t in range(THREADS)]

    results = run_together([partial(_posts, token, ONE, mine) for mine in accounts])

    statuses = [status for result in results for status in result]
    assert set(statuses) <= {200, 201, 409, 412}, results
    assert statuses.count(201) == 1, results
    written = sum(status in (200, 201) for status in statuses)
    stored = TwilioIntegration.all_objects.get(tenant=tenant, ident="twilio")
    assert Integration.all_objects.filter(tenant=tenant).count() == 1
    assert stored.version == written
    assert stored.account in {account for mine in accounts for account in mine}
    assert _plain(stored.password) == TWILIO_BODY["password"]
    assert IntegrationVersion.objects.filter(integration=stored).count() >= 1
    actions = AuditEvent.objects.filter(integration_pk=stored.pk)
    assert actions.filter(action=AuditAction.CREATE).count() == 1
    assert actions.filter(action__in=[AuditAction.REPLACE, AuditAction.UPDATE]).count() == (
        written - 1
    )
    assert _sessions_left() == 0


@pytest.mark.django_db(transaction=True)
def test_racing_upserts_of_different_ids_on_prepared_statements_each_answer_201_then_200(
    race_token,
):
    tenant, token = race_token
    jobs = [
        partial(_posts, token, f"{LIST}/race-{t}", [f"AC-{t}-{n}" for n in range(POSTS_PER_THREAD)])
        for t in range(THREADS)
    ]

    results = run_together(jobs)

    assert results == [[201] + [200] * (POSTS_PER_THREAD - 1)] * THREADS, results
    rows = {r.ident: r for r in TwilioIntegration.all_objects.filter(tenant=tenant)}
    assert sorted(rows) == sorted(f"race-{t}" for t in range(THREADS))
    for t in range(THREADS):
        assert rows[f"race-{t}"].account == f"AC-{t}-{POSTS_PER_THREAD - 1}"
        assert rows[f"race-{t}"].version == POSTS_PER_THREAD
    assert AuditEvent.objects.filter(tenant=tenant, action=AuditAction.CREATE).count() == THREADS
    assert _sessions_left() == 0


# --- a tenant deleted between prepared runs ------------------------------------------------------


@pytest.mark.django_db
def test_a_tenant_deleted_between_prepared_runs_answers_422_and_keeps_its_records(
    warmed, tenant, tenant_client, global_client
):
    global_client.raise_request_exception = False
    _warm(lambda: global_client.get(LIST), lambda: global_client.get(ONE))
    tenant_delete(tenant=tenant, actor=actor_named("tests"))
    before = _twilio_state(tenant)
    events = AuditEvent.objects.count()

    for client in (tenant_client, global_client):
        for _ in range(3):
            for method, path, body in (
                ("get", LIST, None),
                ("get", ONE, None),
                ("post", ONE, TWILIO_BODY),
                ("post", f"{LIST}/twilio-2", TWILIO_BODY),
                ("patch", ONE, {"password": "new-token"}),
                ("delete", ONE, None),
            ):
                response = _json_body(client, method, path, body)
                assert response.status_code == 422, (method, path, response.content)
                assert "acme" in _error_of(response)
    assert _twilio_state(tenant) == before
    assert Integration.all_objects.filter(tenant=tenant).count() == 1
    assert AuditEvent.objects.count() == events

    tenant_restore(tenant=Tenant.all_objects.get(pk=tenant.pk), actor=actor_named("tests"))
    assert global_client.get(ONE).json()["account"] == "AC-STORED"
    assert tenant_client.get(ONE).status_code == 200


# --- statements with more parameters than the protocol carries -----------------------------------


@pytest.mark.django_db
def test_counting_the_integrations_of_65536_tenants_works():
    Tenant.objects.bulk_create([Tenant(name=f"t{i:06d}") for i in range(65_536)])
    tenants = list(Tenant.objects.order_by("name"))
    TwilioFactory(tenant=tenants[-1])

    assert count_integrations(tenants) == 1
