"""Attack on commits 1cfc743 (a create's parent and provider rows as one statement,
compiled_write.insert_child, and no SAVEPOINT around the insert: a lost race fails the attempt,
read after its rollback) and 667eabe (admin lists: live integrations counted by a correlated
subquery, 50 a page, no unfiltered COUNT; provider classes not called by templates).

What an outsider tries: racing creates (same provider, other providers, a tenant soft delete),
a database that refuses or silently drops a row of the create, odd values in every column,
the polymorphic type of what was created, and the admin lists sorted, filtered and paged.
Tests marked `postgres` need real concurrency or the one-statement INSERT."""

import json

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from config import compiled_write
from integrations.models import Integration, IntegrationVersion
from integrations.providers import (
    SalesforceIntegration,
    TwilioIntegration,
    all_providers,
    ctype_of,
)
from integrations.services import integration_delete
from tenants.models import AuditAction, AuditEvent, Tenant
from tenants.services import api_token_create, tenant_delete
from tests.api.support import BODIES, JSON, SECRET_KEYS, url
from tests.bulk import bulk_tenants
from tests.concurrency import run_together
from tests.db_faults import allow_inserts, allow_writes, refuse_writes, skip_inserts
from tests.factories import (
    SalesforceFactory,
    SendGridFactory,
    TenantFactory,
    TwilioFactory,
    actor_named,
)
from tests.web.conftest import every_permission, logged_in, make_user

FAULT = "the database refused this write"
SQLITE = connection.vendor == "sqlite"
PROVIDER_TABLES = [provider._meta.db_table for provider in all_providers()]
TABLES = [
    "integrations_integration",
    *PROVIDER_TABLES,
    "integrations_integrationversion",
    "tenants_auditevent",
]


# --- helpers ----------------------------------------------------------------------------------


def raw(table: str, where: str = "1 = 1", params: list | None = None) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY 1", params or [])  # noqa: S608
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def scalar(sql: str, params: list | None = None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


def everything() -> dict[str, list[dict]]:
    """Every row of every table a create writes."""
    return {table: raw(table) for table in TABLES}


def assert_parents_and_children_agree() -> None:
    """Every parent row has exactly its provider's child row, and no child row is without a
    parent row of its provider: no half-written integration."""
    total = scalar("SELECT count(*) FROM integrations_integration")
    typed = 0
    for provider in all_providers():
        table, ptr = provider._meta.db_table, provider._meta.pk.column
        ctype = ctype_of(provider).pk
        parents = scalar(
            "SELECT count(*) FROM integrations_integration WHERE polymorphic_ctype_id = %s",
            [ctype],
        )
        joined = scalar(
            f"SELECT count(*) FROM integrations_integration p JOIN {table} c "  # noqa: S608
            f"ON c.{ptr} = p.id WHERE p.polymorphic_ctype_id = %s",
            [ctype],
        )
        children = scalar(f"SELECT count(*) FROM {table}")  # noqa: S608
        assert parents == joined == children, (provider.__name__, parents, joined, children)
        typed += parents
    assert typed == total, "a parent row of no provider"


def client_of(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def post(client, path: str, body, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data, content_type=JSON, **extra)


def answered(client, path: str, body) -> tuple:
    response = post(client, path, body)
    return response.status_code, (response.json() if response.content else None)


def secrets_of(body: dict, provider: str) -> list[str]:
    return [body[key] for key in SECRET_KEYS[provider]]


# --- racing creates (PostgreSQL) -------------------------------------------------------------


@pytest.fixture
def acme_token(settings):
    settings.INTEGRATION_VERSIONS_KEPT = 50
    tenant = TenantFactory(name="acme")
    _, token = api_token_create(actor=actor_named("tests"), label="race", tenant=tenant)
    return tenant, token


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_creates_of_one_provider_make_one_row_with_records_matching_the_answers(
    acme_token,
):
    tenant, token = acme_token
    bodies = [
        {"type": "twilio", "account": f"AC{n:02d}", "password": f"race-pw-{n:02d}"}
        for n in range(12)
    ]
    results = run_together(
        [lambda b=body: answered(client_of(token), url("tw-race"), b) for body in bodies]
    )

    statuses = [status for status, _ in results]
    assert statuses.count(201) == 1, results
    assert set(statuses) <= {200, 201, 409}, results
    assert all("error" in body for status, body in results if status == 409)
    rows = Integration.all_objects.filter(tenant=tenant, ident="tw-race")
    assert rows.count() == 1
    row = rows.get()
    assert type(row) is TwilioIntegration
    assert_parents_and_children_agree()
    written = [body for status, body in results if status in (200, 201)]
    # Every write changed the account: each 2xx is one version, numbered without gaps.
    assert sorted(body["version"] for body in written) == list(range(1, len(written) + 1))
    assert row.version == len(written)
    newest = max(written, key=lambda body: body["version"])
    assert (row.account, row.password.reveal()) == (newest["account"], newest["password"])
    versions = IntegrationVersion.objects.filter(integration_id=row.pk)
    assert sorted(versions.values_list("number", flat=True)) == list(range(1, len(written) + 1))
    trail = AuditEvent.objects.filter(integration_pk=row.pk)
    actions = list(trail.values_list("action", flat=True))
    assert actions.count(AuditAction.CREATE) == 1
    assert actions.count(AuditAction.REPLACE) == statuses.count(200)
    assert actions.count(AuditAction.REVEAL) == len(written)
    # Nothing of a lost attempt was kept: no event of another integration's pk.
    assert (
        not AuditEvent.objects.exclude(integration_pk__in=[row.pk])
        .filter(integration_ident="tw-race")
        .exists()
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_creates_of_two_providers_for_one_id_give_the_loser_a_type_error(acme_token):
    tenant, token = acme_token
    twilio = {"type": "twilio", "account": "AC1", "password": "twilio-race-pw"}
    sendgrid = {"type": "sendgrid", "account": "sg", "password": "sendgrid-race-pw"}
    bodies = [twilio if n % 2 else sendgrid for n in range(10)]
    results = run_together(
        [lambda b=body: answered(client_of(token), url("shared"), b) for body in bodies]
    )

    assert [status for status, _ in results].count(201) == 1, results
    row = Integration.all_objects.get(tenant=tenant, ident="shared")
    winner = row.provider_key
    for body, (status, answer) in zip(bodies, results, strict=True):
        if body["type"] == winner:
            assert status in (200, 201, 409), (body, status, answer)
        else:
            assert status == 400, (body, status, answer)
            assert "type" in answer["fields"], answer
            assert "cannot change" in answer["fields"]["type"][0]
            assert body["password"] not in json.dumps(answer)
    assert_parents_and_children_agree()
    assert Integration.all_objects.filter(ident="shared").count() == 1
    assert IntegrationVersion.objects.filter(integration_id=row.pk).count() == 1
    assert set(
        AuditEvent.objects.filter(integration_ident="shared").values_list(
            "integration_pk", flat=True
        )
    ) == {row.pk}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_create_only_posts_give_one_201_and_never_replace(acme_token):
    """If-None-Match: * (create only): a loser's retry finds the winner's row under its lock
    and must answer 412, never replace it."""
    tenant, token = acme_token

    def create_only(n: int) -> tuple:
        body = {"type": "twilio", "account": f"AC{n}", "password": f"only-pw-{n}"}
        response = post(client_of(token), url("tw-only"), body, HTTP_IF_NONE_MATCH="*")
        return response.status_code, response.json()

    results = run_together([lambda n=n: create_only(n) for n in range(10)])

    statuses = [status for status, _ in results]
    assert statuses.count(201) == 1 and set(statuses) <= {201, 409, 412}, results
    row = TwilioIntegration.objects.get(tenant=tenant, ident="tw-only")
    [(_, winner)] = [r for r in results if r[0] == 201]
    assert (row.version, row.account) == (1, winner["account"])
    assert list(AuditEvent.objects.filter(integration_pk=row.pk).values_list("action", flat=True))
    assert not AuditEvent.objects.filter(action=AuditAction.REPLACE).exists()
    assert_parents_and_children_agree()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_create_racing_its_tenants_soft_delete_is_never_acknowledged_after_the_delete(
    settings,
):
    """Each round: creates of several ids and the tenant's soft delete, all at once. A 201 is
    a row committed before the delete (its CREATE event is older than the delete's event);
    the others are refused (422) and leave no row."""
    _, token = api_token_create(actor=actor_named("tests"), label="all", tenant=None)
    for round_ in range(4):
        tenant = TenantFactory(name=f"doomed-{round_}")

        def delete(tenant=tenant):
            tenant_delete(tenant=Tenant.all_objects.get(pk=tenant.pk), actor=actor_named("ops"))
            return ("deleted", None)

        jobs = [
            lambda n=n, name=tenant.name: answered(
                client_of(token),
                url(f"tw-{n}", name),
                {"type": "twilio", "account": f"AC{n}", "password": f"doomed-pw-{n}"},
            )
            for n in range(6)
        ]
        jobs.insert(3, delete)
        results = run_together(jobs)

        assert ("deleted", None) in results
        creates = [r for r in results if r != ("deleted", None)]
        assert {status for status, _ in creates} <= {201, 422}, creates
        deleted_event = AuditEvent.objects.get(
            tenant_id=tenant.pk, action=AuditAction.DELETE, integration_pk=None
        )
        rows = Integration.all_objects.filter(tenant=tenant)
        assert rows.count() == [status for status, _ in creates].count(201)
        for row in rows:
            created = AuditEvent.objects.get(integration_pk=row.pk, action=AuditAction.CREATE)
            assert created.pk < deleted_event.pk, "a create acknowledged after the delete"
        for status, body in creates:
            if status == 422:
                assert "deleted" in body["error"]
        assert_parents_and_children_agree()


# --- a database that fails half-way ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # autocommit, as production runs
@pytest.mark.parametrize(
    "table",
    [
        "integrations_integration",
        "integrations_salesforceintegration",
        "integrations_integrationversion",
        "tenants_auditevent",
    ],
)
def test_a_create_the_database_refuses_half_way_keeps_nothing_in_any_table(
    table, tenant, global_client, caplog
):
    SalesforceFactory(tenant=tenant, ident="kept")
    before = everything()
    body = {"type": "salesforce", **BODIES["salesforce"]}
    refuse_writes(table, FAULT)
    try:
        response = post(global_client, url("sf-new"), body)
    finally:
        allow_writes(table)

    # A trigger's refusal (RAISE EXCEPTION; SQLite's RAISE(ABORT), an IntegrityError) is no
    # lost race for the id: an error, not a 409 after retries.
    assert response.status_code == 500, (table, response.content)
    assert set(response.json()) == {"error"}
    assert everything() == before
    assert_parents_and_children_agree()
    text = response.content.decode() + caplog.text
    for secret in secrets_of(BODIES["salesforce"], "salesforce"):
        assert secret not in text
    # And the same create, with the database accepting again, is whole.
    again = post(global_client, url("sf-new"), body)
    assert again.status_code == 201, again.content
    assert_parents_and_children_agree()


def last_insert_is(pk: int) -> None:
    """Make `pk` the connection's last inserted rowid (SQLite's last_insert_rowid(), which a
    dropped row leaves as it was): as after the INSERT of another integration's row."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS scratch (id INTEGER PRIMARY KEY)")
            cursor.execute("INSERT INTO scratch (id) VALUES (%s)", [pk])
            cursor.execute("DROP TABLE scratch")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "table",
    [
        "integrations_integration",
        "integrations_twiliointegration",
    ],
)
def test_a_create_row_a_trigger_drops_is_not_acknowledged_and_keeps_nothing(
    table, tenant, global_client
):
    # Rows of other providers first: a key taken from an earlier INSERT must not attach the
    # new provider row to one of them.
    other = SalesforceFactory(tenant=tenant, ident="sf")
    SendGridFactory(tenant=tenant, ident="sg")
    before = everything()
    skip_inserts(table)
    global_client.raise_request_exception = False
    last_insert_is(other.pk)
    try:
        response = post(
            global_client, url("tw"), {"type": "twilio", "account": "AC1", "password": "pw-x"}
        )
    finally:
        allow_inserts(table)

    assert response.status_code >= 400, (response.status_code, response.content)
    assert "error" in response.json()
    assert everything() == before
    assert_parents_and_children_agree()
    assert type(Integration.objects.get(pk=other.pk)) is SalesforceIntegration


@pytest.mark.django_db
def test_insert_child_notices_a_parent_row_a_trigger_drops():
    """insert_child's contract: DatabaseError (not a constraint's IntegrityError, which the
    upsert reads as a lost race) when a row was not written, and no row kept."""
    tenant = TenantFactory()
    other = SalesforceFactory(tenant=tenant, ident="sf")  # the connection's last INSERT
    skip_inserts("integrations_integration")
    twilio = TwilioIntegration(tenant=tenant, ident="dropped", account="AC1", password="pw")
    twilio.updated_by, twilio.version = "tests", 1
    twilio.pre_save_polymorphic()
    last_insert_is(other.pk)

    with pytest.raises(DatabaseError) as raised, transaction.atomic():
        compiled_write.insert_child(twilio)

    assert not isinstance(raised.value, IntegrityError), raised.value
    assert not TwilioIntegration.objects.filter(pk=other.pk).exists()


# --- odd values, column by column ------------------------------------------------------------

ODD = [
    "%s",
    "%%s",
    "%(id)s",
    "$1",
    "$$",
    "?",
    "parent_row",
    "(SELECT id FROM parent_row)",
    "child_row",
    "1 / 0",
    "'); DROP TABLE integrations_integration; --",
    '"); DROP TABLE integrations_integration; --',
    "back\\slash",
    "tab\tinside",
    "trailing newline\n",
    "  spaces at both ends  ",
    "\u2028\u2029\ufeff😀",
    "x" * 200,
]
REFUSED = ["nul\x00inside", "\x00", "lone\ud800surrogate", "\udfff"]


def odd_salesforce(odd: str) -> dict:
    """A different odd value per column: a value written to another column shows."""
    return {
        "type": "salesforce",
        "consumer-key": f"ck-{odd}",
        "consumer-secret": f"cs-{odd}",
        "username": "odd@example.com",
        "password": f"pw-{odd}",
        "secret-token": f"st-{odd}",
        "login-host": "test.salesforce.com",
    }


def revealed_value(stored: str) -> str:
    from integrations.fields import SEALED_PREFIX
    from integrations.sealed import SealedSecret

    return SealedSecret.from_ciphertext(stored.removeprefix(SEALED_PREFIX)).reveal()


@pytest.mark.django_db
@pytest.mark.parametrize("odd", ODD, ids=repr)
def test_odd_values_of_a_create_land_verbatim_in_their_own_columns(odd, tenant, global_client):
    body = odd_salesforce(odd)
    response = post(global_client, url("parent_row"), body)

    assert response.status_code == 201, response.content
    answer = response.json()
    pk = SalesforceIntegration.objects.get(tenant=tenant, ident="parent_row").pk
    [parent] = raw("integrations_integration", "id = %s", [pk])
    assert (parent["ident"], parent["tenant_id"], parent["version"], parent["deleted_at"]) == (
        "parent_row",
        tenant.pk,
        1,
        None,
    )
    assert parent["polymorphic_ctype_id"] == ctype_of(SalesforceIntegration).pk
    [child] = raw("integrations_salesforceintegration", "integration_ptr_id = %s", [pk])
    # Non-secret values may lose whitespace at their ends (the serializer's trim), as echoed;
    # secrets are kept exactly as sent.
    assert child["consumer_key"] == answer["consumer-key"] in (f"ck-{odd}", f"ck-{odd}".strip())
    assert (child["username"], child["login_host"]) == ("odd@example.com", "test.salesforce.com")
    for key in ("consumer-secret", "password", "secret-token"):
        column = key.replace("-", "_")
        assert body[key] not in child[column]
        assert revealed_value(child[column]) == body[key] == answer[key], key
    [version] = raw("integrations_integrationversion", "integration_id = %s", [pk])
    values = version["values"]
    values = values if isinstance(values, dict) else json.loads(values)
    assert values["consumer_key"] == child["consumer_key"]
    assert revealed_value(values["password"]) == body["password"]
    assert_parents_and_children_agree()
    stored = Integration.objects.get(pk=pk)
    assert type(stored) is SalesforceIntegration
    assert stored.password.reveal() == body["password"]


@pytest.mark.django_db
@pytest.mark.parametrize("odd", REFUSED, ids=repr)
@pytest.mark.parametrize("key", ["consumer-key", "password"])
def test_nul_and_lone_surrogates_in_a_create_are_a_400_and_write_nothing(
    odd, key, tenant, global_client
):
    before = everything()
    body = {**odd_salesforce("x"), key: odd}
    response = post(global_client, url("sf"), body)

    assert response.status_code == 400, response.content
    assert set(response.json()) <= {"error", "fields"}
    assert everything() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "length", "status"),
    [
        ("consumer-key", 255, 201),
        ("consumer-key", 256, 400),
        ("password", 255, 201),
        ("password", 256, 400),
        ("password", 100_000, 400),
        ("username", 300, 400),
    ],
)
def test_long_values_are_kept_whole_or_refused(key, length, status, tenant, global_client):
    value = ("%s$1" * length)[:length]
    if key == "username":
        value = "u" * (length - 12) + "@example.com"
    body = {**odd_salesforce("x"), key: value}
    before = everything()
    response = post(global_client, url("sf"), body)

    assert response.status_code == status, response.content[:300]
    if status == 400:
        assert list(response.json()["fields"]) == [key]
        assert value not in response.content.decode()
        assert everything() == before
        return
    stored = SalesforceIntegration.objects.get(tenant=tenant, ident="sf")
    assert getattr(stored, key.replace("-", "_")) == value or (
        getattr(stored, key.replace("-", "_")).reveal() == value
    )
    assert_parents_and_children_agree()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("ident", "status"),
    [("p" * 64, 201), ("p" * 65, 400), ("child_row", 201), ("x%0A", 400), ("%25s", 400)],
)
def test_odd_ids_are_kept_verbatim_or_refused(ident, status, tenant, global_client):
    body = {"type": "twilio", "account": "AC1", "password": "pw"}
    before = everything()
    response = post(global_client, url(ident), body)

    assert response.status_code == status, response.content
    if status == 400:
        assert "error" in response.json()
        assert everything() == before
    else:
        [row] = raw("integrations_integration")
        assert row["ident"] == ident == response.json()["id"]
        assert_parents_and_children_agree()


# --- the created record's polymorphic type ---------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("provider", all_providers(), ids=lambda p: p.provider_key)
@pytest.mark.parametrize("named", [False, True], ids=["typed-body", "id-names-provider"])
def test_a_created_record_is_of_its_provider_however_it_is_read(
    provider, named, tenant, global_client
):
    key = provider.provider_key
    ident = key if named else f"new-{key}"
    body = BODIES[key] if named else {"type": key, **BODIES[key]}
    # Rows of every other provider around it: the new one must not be read as one of them.
    for other in all_providers():
        if other is not provider:
            post(
                global_client,
                url(f"other-{other.provider_key}"),
                {"type": other.provider_key, **BODIES[other.provider_key]},
            )

    response = post(global_client, url(ident), body)

    assert response.status_code == 201, response.content
    assert response.json()["type"] == key
    stored = Integration.objects.get(tenant=tenant, ident=ident)
    assert type(stored) is provider
    assert stored.polymorphic_ctype_id == ctype_of(provider).pk
    assert Integration.objects.non_polymorphic().get(pk=stored.pk).get_real_instance_class() is (
        provider
    )
    for table in PROVIDER_TABLES:
        ptr = "integration_ptr_id"
        rows = raw(table, f"{ptr} = %s", [stored.pk])
        assert len(rows) == (1 if table == provider._meta.db_table else 0), table
    read = global_client.get(url(ident))
    assert read.status_code == 200 and read.json()["type"] == key
    assert {k: read.json()[k] for k in BODIES[key]} == BODIES[key]
    listed = global_client.get("/1.0/tenants/acme/integrations")
    assert {r["id"]: r["type"] for r in listed.json()}[ident] == key
    event = AuditEvent.objects.get(integration_pk=stored.pk, action=AuditAction.CREATE)
    assert (event.integration_type, event.integration_ident) == (key, ident)
    assert_parents_and_children_agree()


@pytest.mark.django_db
def test_a_create_over_a_live_id_of_another_provider_is_a_400_and_writes_nothing(
    tenant, global_client
):
    """The type conflict is found by a failed INSERT now (no savepoint): the attempt is
    rolled back, then the live row read."""
    TwilioFactory(tenant=tenant, ident="taken", password="stored-twilio-pw")
    before = everything()
    body = {"type": "sendgrid", "account": "sg", "password": "typed-sendgrid-pw"}

    response = post(global_client, url("taken"), body)

    assert response.status_code == 400, response.content
    assert response.json()["fields"]["type"] == [
        "Integration 'taken' is a twilio integration; its type cannot change."
    ]
    assert "typed-sendgrid-pw" not in response.content.decode()
    assert everything() == before


# --- the admin lists (667eabe) -----------------------------------------------------------------

TENANTS = "/admin/tenants/tenant/"
INTEGRATIONS = "/admin/integrations/integration/"


@pytest.fixture
def superuser(db):
    User.objects.create_superuser("root", password="correct-horse-battery-staple")
    client = logged_in(User.objects.get(username="root"))
    return client


@pytest.fixture
def view_only(db):
    return logged_in(make_user("view-only", every_permission("view"), is_staff=True))


@pytest.fixture(params=["superuser", "view_only"])
def staff(request):
    return request.getfixturevalue(request.param)


def gone(integration) -> None:
    integration_delete(integration=integration, actor=actor_named("ops"))


@pytest.fixture
def landscape(db):
    """Tenants with live and deleted integrations, one deleted tenant; the live counts."""
    busy, quiet, _empty, former, hollow = (
        TenantFactory(name=name) for name in ["busy", "quiet", "empty", "former", "hollow"]
    )
    for ident in ["a", "b", "c"]:
        TwilioFactory(tenant=busy, ident=ident)
    gone(SendGridFactory(tenant=busy, ident="old"))
    gone(SalesforceFactory(tenant=busy, ident="a-old"))
    SendGridFactory(tenant=quiet, ident="kept")
    gone(SendGridFactory(tenant=quiet, ident="kept-old"))
    # The same id deleted twice and created again: one live row, two deleted ones.
    for _ in range(2):
        gone(TwilioFactory(tenant=quiet, ident="again"))
    TwilioFactory(tenant=quiet, ident="again")
    TwilioFactory(tenant=former, ident="x")
    TwilioFactory(tenant=former, ident="y")
    tenant_delete(tenant=former, actor=actor_named("ops"))
    gone(TwilioFactory(tenant=hollow, ident="only"))
    return {"busy": 3, "quiet": 2, "empty": 0, "former": 2, "hollow": 0}


def column_of(response, name: str) -> int:
    """The index `?o=` takes for list_display's `name` on this page (it counts the
    checkbox column, which only users with actions get)."""
    return list(response.context["cl"].list_display).index(name)


def listed(response) -> list[tuple[str, int]]:
    return [(t.name, t.live_count) for t in response.context["cl"].result_list]


def assert_no_secret(response) -> None:
    html = response.content.decode()
    for value in ["twilio-auth-token-", "sendgrid-password-", "sf-password-", "sf-secret-token-"]:
        assert value not in html, value
    assert "bulk-secret-" not in html and "gAAAA" not in html


SEARCHES = ["", "o", "busy", "%", "_", "'", "\\", "Former"]


def test_the_admin_tenant_list_counts_and_sorts_by_live_integrations(staff, landscape):
    for status in (None, "deleted", "all"):
        for q in SEARCHES:
            assert_tenant_list(staff, landscape, status, q)


def assert_tenant_list(staff, landscape: dict, status: str | None, q: str) -> None:
    params = {k: v for k, v in {"status": status, "q": q}.items() if v}
    plain = staff.get(TENANTS, params)
    assert plain.status_code == 200
    index = column_of(plain, "live_integrations")
    shown = {}
    for order in (str(index), f"-{index}", "-3", f"{index}.-1"):
        response = staff.get(TENANTS, {**params, "o": order})
        assert response.status_code == 200, (order, response.status_code)
        rows = listed(response)
        assert all(landscape[name] == count for name, count in rows), (order, rows)
        assert len({name for name, _ in rows}) == len(rows)
        if order == str(index):
            assert [c for _, c in rows] == sorted(c for _, c in rows), rows
        if order == f"-{index}":
            assert [c for _, c in rows] == sorted((c for _, c in rows), reverse=True), rows
        shown.setdefault(order, {name for name, _ in rows})
        assert_no_secret(response)
    assert len({frozenset(names) for names in shown.values()}) == 1, shown
    names = shown[str(index)]
    deleted = {"former"}
    expected = {
        None: set(landscape) - deleted,
        "deleted": deleted,
        "all": set(landscape),
    }[status]
    term = q.lower()  # a lone quote is a word as typed (tenants.admin_helpers.bounded_search)
    expected = {n for n in expected if not term or term in n}
    assert names == expected, (status, q, names)


def test_the_integrations_column_header_link_sorts_by_it(staff, landscape):
    page = staff.get(TENANTS, {"status": "all"})
    index = column_of(page, "live_integrations")
    html = page.content.decode()
    assert f"?o={index}" in html and "status=all" in html
    response = staff.get(TENANTS, {"status": "all", "o": f"-{index}"})
    assert listed(response) == [
        ("busy", 3),
        ("former", 2),  # ties in the count: the newest tenant first (-pk), stable across pages
        ("quiet", 2),
        ("hollow", 0),
        ("empty", 0),
    ]


def test_the_admin_tenant_list_pages_past_fifty_by_count_without_gaps_or_repeats(staff):
    names = [f"bulk-{n:03d}" for n in range(130)]
    bulk_tenants(names[:50], integrations_each=0)
    bulk_tenants(names[50:100], integrations_each=1)
    bulk_tenants(names[100:], integrations_each=3)
    # Half of the one-integration tenants lose theirs: counted 0, not 1.
    Integration.objects.filter(tenant__name__in=names[50:75]).update(deleted_at=timezone.now())
    expected = {n: 0 for n in names[:75]} | {n: 1 for n in names[75:100]}
    expected |= {n: 3 for n in names[100:]}
    first = staff.get(TENANTS)
    index = column_of(first, "live_integrations")
    for order in (f"-{index}", str(index), None):
        seen = []
        for page in (1, 2, 3):
            params = {"p": page} | ({"o": order} if order else {})
            response = staff.get(TENANTS, params)
            assert response.status_code == 200, (order, page)
            cl = response.context["cl"]
            assert cl.result_count == 130 and cl.full_result_count is None
            rows = listed(response)
            assert len(rows) == (50 if page < 3 else 30)
            seen += rows
            assert_no_secret(response)
        assert sorted(seen) == sorted(expected.items()), order
        counts = [c for _, c in seen]
        if order == str(index):
            assert counts == sorted(counts)
        elif order:
            assert counts == sorted(counts, reverse=True)
    assert staff.get(TENANTS, {"p": 4}).status_code in (200, 302, 404)


@pytest.mark.parametrize("status", [None, "deleted", "all"])
def test_the_admin_integration_list_sorts_by_every_column_without_a_500(staff, landscape, status):
    params = {"status": status} if status else {}
    first = staff.get(INTEGRATIONS, params)
    assert first.status_code == 200
    width = len(first.context["cl"].list_display)
    totals = set()
    for index in range(width + 2):
        for order in (str(index), f"-{index}", f"{index}.-{(index + 1) % width}"):
            response = staff.get(INTEGRATIONS, {**params, "o": order})
            assert response.status_code == 200, (order, response.status_code)
            cl = response.context["cl"]
            assert cl.full_result_count is None
            pks = [row.pk for row in cl.result_list]
            assert len(pks) == len(set(pks)) == cl.result_count
            totals.add(frozenset(pks))
            assert_no_secret(response)
    assert len(totals) == 1
    expected = Integration.all_objects.all()
    if status is None:
        expected = expected.filter(deleted_at=None)
    elif status == "deleted":
        expected = expected.exclude(deleted_at=None)
    assert totals == {frozenset(expected.values_list("pk", flat=True))}


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(
    "table", ["integrations_integration", "integrations_twiliointegration", "tenants_auditevent"]
)
def test_the_error_mail_of_a_failed_create_shows_no_typed_secret(
    table, settings, tenant, global_client
):
    """The frames of insert_child hold the instance and its prepared parameters; the report
    mailed with every frame's locals must still not show the typed secret."""
    import logging

    from django.core import mail
    from django.utils.log import AdminEmailHandler

    typed = "-".join(["typed", "create", "secret"])  # not in this file's source lines as such
    settings.ADMINS = [("Ops", "ops@example.com")]
    handler = AdminEmailHandler(include_html=True)
    logger = logging.getLogger("integrations.api")
    logger.addHandler(handler)
    refuse_writes(table, FAULT)
    try:
        response = post(
            global_client, url("tw"), {"type": "twilio", "account": "A", "password": typed}
        )
    finally:
        logger.removeHandler(handler)

    assert response.status_code == 500 and response.json() == {"error": "Internal server error."}
    texts = [m.body for m in mail.outbox] + [c for m in mail.outbox for c, _ in m.alternatives]
    # The write's frames, whose locals hold the typed secret: the create in one statement
    # (_insert_unless_raced) fails as it is sent, the locked attempts in insert_child.
    frames = ("_insert_unless_raced", "insert_child", "record_change")
    assert any(frame in text for frame in frames for text in texts)
    assert any("Local Vars" in text for text in texts)
    assert all(typed not in text for text in texts)


def test_the_tenant_pages_and_autocomplete_over_the_annotated_list_answer(staff, landscape):
    """The change page and the integration form's tenant search read the same annotated
    queryset as the list."""
    for tenant in Tenant.all_objects.all():
        page = staff.get(f"{TENANTS}{tenant.pk}/change/")
        assert page.status_code == 200, (tenant.name, page.status_code)
        assert_no_secret(page)
    found = staff.get(
        "/admin/autocomplete/",
        {"app_label": "integrations", "model_name": "integration", "field_name": "tenant"},
    )
    assert found.status_code in (200, 403)
    if found.status_code == 200:
        names = [item["text"].split(" ")[0] for item in found.json()["results"]]
        assert names == sorted(set(landscape) - {"former"}), names
