"""Attack on d609ba2: on PostgreSQL a POST replace and an API PATCH read their row without a
lock and write it in one guarded statement (compiled_write.one_statement's `guard`), kept
only if the row is still at the version read, live, in a live tenant; a lost race falls back
to the locked write (services._change_unless_raced).

Racing writers of every kind on one id (PATCH, POST replace, the admin's locked update,
DELETE, restore, the tenant's soft delete), If-Match racing a bump, a replace racing a create
of another type, database faults in the guarded statement, prepared statements on and off.
Invariants checked: no 500 and no deadlock; every acknowledged change is one version and one
audit event, version numbers contiguous; the stored row is the last acknowledged write; no
write acknowledged into a tenant deleted before it; nothing of a failed write kept; no secret
in an error body or the logs. All held (several runs, prepared statements on and off).

The hole found, now fixed: a write that changed nothing never reached the guard, so a soft
delete committed between its unlocked read and its write went unnoticed: 200, the secret
revealed and audited for a deleted row. A guarded write with nothing to write now sends the
guard alone (with the reveal event, if any), and falls back to the locked write when the row
is no longer as read.
"""

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from integrations import services
from integrations.exceptions import IntegrationNotFound
from integrations.models import Integration, IntegrationVersion
from integrations.providers.twilio import TwilioIntegration
from tenants.exceptions import TenantNotFound
from tenants.models import AuditAction, AuditEvent, Tenant
from tenants.services import api_token_create, tenant_delete
from tests.api.support import post_json, url
from tests.concurrency import ANOTHER_TWILIO_WRITE, between_read_and_write, run_together
from tests.db_faults import (
    allow_inserts,
    allow_writes,
    divide_by_zero_on_writes,
    refuse_writes,
    skip_inserts,
)
from tests.factories import SendGridFactory, TenantFactory, TwilioFactory, actor_named

PASSWORD = "guarded-attack-stored-pw"
CHANGES = (AuditAction.UPDATE, AuditAction.REPLACE, AuditAction.CREATE, AuditAction.ROLLBACK)


@pytest.fixture
def acme():
    tenant = TenantFactory(name="acme")
    _, token = api_token_create(actor=actor_named("tests"), label="race", tenant=tenant)
    return tenant, token


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _answer(response) -> tuple:
    body = response.json() if response.content else None
    if isinstance(body, dict) and response.has_header("ETag"):
        body["etag"] = response["ETag"]
    return response.status_code, body


def patch(token: str, account: str, **headers):
    def run():
        response = _client(token).patch(
            url("twilio"), {"account": account}, format="json", **headers
        )
        return ("patch", account, *_answer(response))

    return run


def replace(token: str, account: str, password: str = PASSWORD):
    def run():
        response = post_json(
            _client(token), url("twilio"), {"account": account, "password": password}
        )
        return ("replace", account, *_answer(response))

    return run


def admin_update(pk: int, account: str):
    """The admin's and staff pages' write: integration_update without as_read (locked)."""

    def run():
        integration = TwilioIntegration.all_objects.get(pk=pk)
        try:
            written = services.integration_update(
                integration=integration, data={"account": account}, actor=actor_named("admin")
            )
        except (IntegrationNotFound, TenantNotFound) as error:
            return ("admin", account, 422, {"error": str(error)})
        version = written.version
        return ("admin", account, 200, {"version": version, "etag": f'"{pk}-{version}"'})

    return run


def delete(token: str):
    def run():
        response = _client(token).delete(url("twilio"))
        return ("delete", None, *_answer(response))

    return run


def restore(pk: int):
    def run():
        integration = Integration.all_objects.non_polymorphic().get(pk=pk)
        try:
            services.integration_restore(integration=integration, actor=actor_named("admin"))
        except Exception as error:  # a ValidationError (created again) is an answer
            return ("restore", None, 400, {"error": repr(error)})
        return ("restore", None, 200, None)

    return run


def soft_delete_tenant(tenant_pk: int):
    def run():
        tenant = Tenant.all_objects.get(pk=tenant_pk)
        return (
            "tenant-delete",
            None,
            200,
            {"deleted": tenant_delete(tenant=tenant, actor=actor_named())},
        )

    return run


def created(client, path: str) -> TwilioIntegration:
    """The integration, created through the API: version 1 and its history."""
    response = post_json(client, path, {"account": "AC-0", "password": PASSWORD})
    assert response.status_code == 201, response.content
    return TwilioIntegration.objects.get(
        pk=Integration.objects.get(ident=path.rsplit("/", 1)[1]).pk
    )


def _statuses(results) -> list:
    return [r if isinstance(r, tuple) and r[0] == "exception" else r[2] for r in results]


def _assert_history_contiguous(pk: int) -> None:
    """Every stored version of `pk` numbered 1..version, none missing or repeated; one change
    event per version after the first (a create's event is its first)."""
    stored = Integration.all_objects.non_polymorphic().get(pk=pk)
    numbers = list(
        IntegrationVersion.objects.filter(integration_id=pk)
        .order_by("number")
        .values_list("number", flat=True)
    )
    assert numbers == list(range(1, stored.version + 1)), numbers
    changes = AuditEvent.objects.filter(integration_pk=pk, action__in=CHANGES).count()
    assert changes == stored.version, (changes, stored.version)


# --- writers of one id, racing ---------------------------------------------------------------


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "client-side"])
@pytest.mark.parametrize("rounds", [3])
@override_settings(INTEGRATION_VERSIONS_KEPT=1000)
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_patches_replaces_and_admin_updates_lose_no_change(
    acme, prepared, rounds, monkeypatch
):
    _, token = acme
    twilio = created(_client(token), url("twilio"))
    _binding(monkeypatch, prepared=prepared)
    acknowledged = []
    for round_ in range(rounds):
        jobs = [
            *(patch(token, f"P{round_}-{i}") for i in range(6)),
            *(replace(token, f"R{round_}-{i}") for i in range(6)),
            *(admin_update(twilio.pk, f"A{round_}-{i}") for i in range(3)),
        ]
        results = run_together(jobs)
        assert _statuses(results) == [200] * len(jobs), results
        acknowledged += results

    stored = TwilioIntegration.objects.get(pk=twilio.pk)
    versions = sorted(body["version"] for *_, body in acknowledged)
    # Each write changed the account: one version each, none repeated, none skipped.
    assert versions == list(range(2, 2 + len(acknowledged))), versions
    assert stored.version == 1 + len(acknowledged)
    last = next(
        account for _, account, _, body in acknowledged if body["version"] == stored.version
    )
    assert stored.account == last
    assert stored.password.reveal() == PASSWORD
    _assert_history_contiguous(twilio.pk)
    # Each version holds the account its write answered.
    held = dict(
        IntegrationVersion.objects.filter(integration_id=twilio.pk).values_list(
            "number", "values__account"
        )
    )
    assert all(held[body["version"]] == account for _, account, _, body in acknowledged)


def _binding(monkeypatch, *, prepared: bool) -> None:
    """DATABASE_PREPARED_STATEMENTS on (server-side binding, prepared after 1 run: every
    racing statement is prepared) or off, for the threads' new connections."""
    options = dict(connection.settings_dict.get("OPTIONS", {}))
    if prepared:
        options.update(server_side_binding=True, prepare_threshold=1)
    else:
        options.pop("server_side_binding", None)
        options.pop("prepare_threshold", None)
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)


@pytest.mark.parametrize("attempt", range(3))
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_if_match_of_one_version_lets_exactly_one_racing_patch_through(acme, attempt):
    _, token = acme
    twilio = created(_client(token), url("twilio"))
    tag = f'"{twilio.pk}-{twilio.version}"'

    results = run_together([patch(token, f"M{i}", HTTP_IF_MATCH=tag) for i in range(10)])

    statuses = sorted(_statuses(results))
    assert statuses == [200] + [412] * 9, results
    winner = next(account for _, account, status, _ in results if status == 200)
    stored = TwilioIntegration.objects.get(pk=twilio.pk)
    assert (stored.account, stored.version) == (winner, 2)
    _assert_history_contiguous(twilio.pk)
    for *_, status, body in results:
        if status == 412:
            assert set(body) == {"error"} and PASSWORD not in str(body)


@pytest.mark.parametrize("attempt", range(3))
@override_settings(INTEGRATION_VERSIONS_KEPT=1000)
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_writes_racing_deletes_and_restores_answer_no_500_and_keep_history_whole(acme, attempt):
    tenant, token = acme
    twilio = created(_client(token), url("twilio"))
    jobs = [
        *(patch(token, f"P{i}") for i in range(5)),
        *(replace(token, f"R{i}") for i in range(5)),
        admin_update(twilio.pk, "A0"),
        delete(token),
        delete(token),
        restore(twilio.pk),
        restore(twilio.pk),
    ]

    results = run_together(jobs)

    raised = [r for r in results if r[0] == "exception"]
    assert not raised, raised
    for result in results:
        kind, _, status, body = result
        assert status in {200, 201, 204, 400, 422}, results
        assert status != 400 or kind == "restore", results
        if body is not None and status >= 400:
            assert PASSWORD not in str(body)
    for row in Integration.all_objects.non_polymorphic().filter(tenant=tenant):
        _assert_history_contiguous(row.pk)
    assert Integration.objects.filter(tenant=tenant, ident="twilio").count() <= 1
    # Every acknowledged write is one version of its row (the ETag's), with its account.
    held = {
        f'"{pk}-{number}"': account
        for pk, number, account in IntegrationVersion.objects.values_list(
            "integration_id", "number", "values__account"
        )
    }
    acknowledged = [
        (body["etag"], account)
        for kind, account, status, body in results
        if kind in {"patch", "admin", "replace"} and status in {200, 201}
    ]
    assert all(held.get(tag) == account for tag, account in acknowledged), (acknowledged, held)
    assert len({tag for tag, _ in acknowledged}) == len(acknowledged), acknowledged


@pytest.mark.parametrize("attempt", range(3))
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_write_is_acknowledged_into_a_tenant_deleted_before_it(acme, attempt):
    tenant, token = acme
    twilio = created(_client(token), url("twilio"))
    jobs = [
        *(patch(token, f"P{i}") for i in range(6)),
        *(replace(token, f"R{i}") for i in range(6)),
        soft_delete_tenant(tenant.pk),
    ]

    results = run_together(jobs)

    assert all(r[0] != "exception" for r in results), results
    assert sorted(set(_statuses(results))) in ([200], [200, 422], [422, 200], [422]), results
    deleted = AuditEvent.objects.get(tenant=tenant, action=AuditAction.DELETE, integration_pk=None)
    acknowledged = {
        body["version"]
        for kind, _, status, body in results
        if kind != "tenant-delete" and status == 200
    }
    # The tenant's delete waits for the writes holding it: their events come first.
    written_after = AuditEvent.objects.filter(
        integration_pk=twilio.pk, action__in=CHANGES, pk__gt=deleted.pk
    )
    assert not written_after.exists(), list(written_after.values("action", "changes"))
    stored = TwilioIntegration.objects.get(pk=twilio.pk)
    assert stored.version == 1 + len(acknowledged)
    assert acknowledged == set(range(2, stored.version + 1))
    _assert_history_contiguous(twilio.pk)


@pytest.mark.parametrize("attempt", range(3))
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_replace_racing_a_delete_and_a_create_of_another_type_answers_no_500(acme, attempt):
    tenant, token = acme
    created(_client(token), url("twilio"))

    def create_sendgrid():
        body = {"type": "sendgrid", "account": "sg-user", "password": "sg-pw"}
        response = post_json(_client(token), url("twilio"), body)
        return ("sendgrid", None, *_answer(response))

    jobs = [
        delete(token),
        create_sendgrid,
        *(replace(token, f"R{i}") for i in range(4)),
        *(patch(token, f"P{i}") for i in range(4)),
    ]
    results = run_together(jobs)

    assert all(r[0] != "exception" for r in results), results
    assert all(status in {200, 201, 204, 400, 422} for status in _statuses(results)), results
    live = Integration.objects.filter(tenant=tenant, ident="twilio")
    assert live.count() <= 1
    for row in Integration.all_objects.non_polymorphic().filter(tenant=tenant):
        _assert_history_contiguous(row.pk)


# --- one writer, the database in the way -----------------------------------------------------


@pytest.mark.parametrize(
    "table", ["tenants_auditevent", "integrations_integrationversion"], ids=["event", "version"]
)
@pytest.mark.parametrize("method", ["patch", "replace"])
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_dropped_by_a_trigger_in_the_guarded_write_keeps_nothing_and_answers_500(
    acme, table, method, caplog
):
    _, token = acme
    twilio = created(_client(token), url("twilio"))
    events = AuditEvent.objects.count()
    skip_inserts(table)
    try:
        response = _write(token, method, "AC-new", password="typed-new-pw")
    finally:
        allow_inserts(table)

    assert response.status_code == 500, response.content
    assert response.json() == {"error": "Internal server error."}
    assert "typed-new-pw" not in caplog.text + response.content.decode()
    assert PASSWORD not in caplog.text
    stored = TwilioIntegration.objects.get(pk=twilio.pk)
    assert (stored.account, stored.version) == ("AC-0", 1)
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("method", ["patch", "replace"])
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_refused_write_in_the_guarded_statement_keeps_nothing(acme, method, caplog):
    _, token = acme
    twilio = created(_client(token), url("twilio"))
    refuse_writes("integrations_twiliointegration", "refused by the attack")
    try:
        response = _write(token, method, "AC-new", password="typed-new-pw")
    finally:
        allow_writes("integrations_twiliointegration")

    assert response.status_code == 500, response.content
    assert response.json() == {"error": "Internal server error."}
    assert "typed-new-pw" not in caplog.text
    stored = TwilioIntegration.objects.get(pk=twilio.pk)
    assert (stored.account, stored.version) == ("AC-0", 1)
    assert AuditEvent.objects.filter(integration_pk=twilio.pk, action__in=CHANGES).count() == 1


@pytest.mark.parametrize("method", ["patch", "replace"])
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_triggers_own_division_by_zero_is_its_error_not_a_lost_race(acme, method, caplog):
    """The guarded statement fails itself when its rows are not as expected; an error of the
    schema's own (here a trigger's division by zero) is not taken for that: no fallback to a
    locked write, and the log says what failed."""
    _, token = acme
    twilio = created(_client(token), url("twilio"))
    divide_by_zero_on_writes("integrations_twiliointegration")
    try:
        with CaptureQueriesContext(connection) as queries:
            response = _write(token, method, "AC-new", password="typed-new-pw")
    finally:
        allow_writes("integrations_twiliointegration")

    assert response.status_code == 500, response.content
    assert response.json() == {"error": "Internal server error."}
    assert "division by zero" in caplog.text
    assert "other rows written than expected" not in caplog.text
    assert not any("FOR UPDATE" in q["sql"] and "WITH" not in q["sql"] for q in queries)
    assert "typed-new-pw" not in caplog.text
    stored = TwilioIntegration.objects.get(pk=twilio.pk)
    assert (stored.account, stored.version) == ("AC-0", 1)


# --- the same, one thread (SQLite too) -------------------------------------------------------


@pytest.mark.django_db
def test_a_patch_that_changes_nothing_writes_no_version_and_no_change_event(tenant_client, tenant):
    twilio = created(tenant_client, f"/1.0/tenants/{tenant.name}/integrations/twilio")
    events = AuditEvent.objects.filter(integration_pk=twilio.pk)
    before = events.count()
    assert before

    response = tenant_client.patch(
        f"/1.0/tenants/{tenant.name}/integrations/twilio", {"account": "AC-0"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["version"] == 1
    # The answer carries the secret in clear (`secrets` scope): its reveal alone is audited.
    new = list(events.order_by("pk").values_list("action", flat=True))[before:]
    assert new == [AuditAction.REVEAL], new
    assert not IntegrationVersion.objects.filter(integration_id=twilio.pk, number__gt=1).exists()


@pytest.mark.django_db
def test_sequential_patch_replace_admin_keep_versions_contiguous(tenant_client, tenant):
    path = f"/1.0/tenants/{tenant.name}/integrations/twilio"
    twilio = created(tenant_client, path)
    tag = f'"{twilio.pk}-1"'
    assert (
        tenant_client.patch(path, {"account": "P1"}, format="json", HTTP_IF_MATCH=tag).status_code
        == 200
    )
    # The same If-Match again: stale now.
    stale = tenant_client.patch(path, {"account": "P2"}, format="json", HTTP_IF_MATCH=tag)
    assert stale.status_code == 412, stale.content
    assert (
        post_json(tenant_client, path, {"account": "R1", "password": PASSWORD}).status_code == 200
    )
    services.integration_update(
        integration=TwilioIntegration.objects.get(pk=twilio.pk),
        data={"account": "A1"},
        actor=actor_named("admin"),
    )
    stored = TwilioIntegration.objects.get(pk=twilio.pk)
    assert (stored.account, stored.version) == ("A1", 4)
    _assert_history_contiguous(twilio.pk)


@pytest.mark.django_db
def test_a_patch_of_an_integration_of_a_deleted_tenant_answers_422(tenant_client, tenant):
    TwilioFactory(tenant=tenant, ident="twilio", account="AC-0", password=PASSWORD)
    tenant_delete(tenant=tenant, actor=actor_named())
    response = tenant_client.patch(
        f"/1.0/tenants/{tenant.name}/integrations/twilio", {"account": "X"}, format="json"
    )
    assert response.status_code == 422, response.content
    assert set(response.json()) == {"error"}


@pytest.mark.django_db
def test_a_type_conflicting_replace_answers_400(tenant_client, tenant):
    SendGridFactory(tenant=tenant, ident="mail", account="sg", password="sg-pw")
    response = post_json(
        tenant_client,
        f"/1.0/tenants/{tenant.name}/integrations/mail",
        {"type": "twilio", "account": "AC", "password": "x"},
    )
    assert response.status_code == 400, response.content
    assert "sg-pw" not in response.content.decode()


# --- between the read without a lock and the guarded write -----------------------------------


@pytest.mark.parametrize("account", ["AC-new", "AC-0"], ids=["changing", "changing-nothing"])
@pytest.mark.parametrize("method", ["patch", "replace"])
@pytest.mark.parametrize("gone", ["tenant", "integration"])
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_write_after_a_delete_since_its_read_answers_422_and_keeps_nothing(
    acme, monkeypatch, method, gone, account
):
    """ "AC-0" is the stored value: a write with nothing to change still checks its guard."""
    tenant, token = acme
    twilio = created(_client(token), url("twilio"))
    events = AuditEvent.objects.filter(integration_pk=twilio.pk).count()
    if gone == "tenant":
        sql, params = "UPDATE tenants_tenant SET deleted_at = now() WHERE id = %s", [tenant.pk]
    else:
        sql = "UPDATE integrations_integration SET deleted_at = now() WHERE id = %s"
        params = [twilio.pk]
    between_read_and_write(monkeypatch, sql, params)

    response = _write(token, method, account)

    if method == "replace" and gone == "integration":
        assert response.status_code == 201, response.content  # created anew: the id is free
        assert Integration.objects.filter(tenant=tenant, ident="twilio").exists()
    else:
        assert response.status_code == 422, response.content
        assert PASSWORD not in response.content.decode()
    stored = TwilioIntegration.all_objects.get(pk=twilio.pk)
    assert (stored.account, stored.version) == ("AC-0", 1)
    assert AuditEvent.objects.filter(integration_pk=twilio.pk).count() == events


def _write(token: str, method: str, account: str, *, password: str | None = None, **headers):
    """A PATCH of `account` (and `password`, if given), or a POST replace of both."""
    client = _client(token)
    if method == "patch":
        body = {"account": account, **({"password": password} if password else {})}
        return client.patch(url("twilio"), body, format="json", **headers)
    body = {"account": account, "password": password or PASSWORD}
    return post_json(client, url("twilio"), body, **headers)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_patch_with_if_match_overtaken_between_read_and_write_answers_412(acme, monkeypatch):
    _, token = acme
    twilio = created(_client(token), url("twilio"))
    between_read_and_write(
        monkeypatch,
        ANOTHER_TWILIO_WRITE,
        [twilio.pk, twilio.pk],
    )

    response = _write(token, "patch", "AC-mine", HTTP_IF_MATCH=f'"{twilio.pk}-1"')

    assert response.status_code == 412, response.content
    stored = TwilioIntegration.objects.get(pk=twilio.pk)
    assert (stored.account, stored.version) == ("AC-other", 2)
    assert not AuditEvent.objects.filter(integration_pk=twilio.pk, action="update").exists()


@pytest.mark.parametrize("service", ["upsert", "update as read"])
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lost_race_inside_a_callers_transaction_falls_back_in_it(acme, monkeypatch, service):
    tenant, token = acme
    twilio = created(_client(token), url("twilio"))
    between_read_and_write(
        monkeypatch,
        "UPDATE integrations_integration SET version = version + 1 WHERE id = %s",
        [twilio.pk],
    )

    with transaction.atomic():
        if service == "upsert":
            written, _ = services.integration_upsert(
                tenant=tenant,
                ident="twilio",
                provider=TwilioIntegration,
                data={"account": "AC-new", "password": PASSWORD},
                actor=actor_named(),
            )
        else:
            written = services.integration_update(
                integration=TwilioIntegration.objects.get(pk=twilio.pk),
                data={"account": "AC-new"},
                actor=actor_named(),
                as_read=True,
            )
        assert written.version == 3
        AuditEvent.objects.count()  # the caller's transaction is still usable

    stored = TwilioIntegration.objects.get(pk=twilio.pk)
    assert (stored.account, stored.version) == ("AC-new", 3)
    assert AuditEvent.objects.filter(integration_pk=twilio.pk, action__in=CHANGES).count() == 2
