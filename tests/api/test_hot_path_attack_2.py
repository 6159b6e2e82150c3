"""Attack (2) on the hot-path commits: the one-query list, reveals written by the write, the
FOR UPDATE + FOR SHARE locking statement. Failing tests are holes."""

import threading
import time

import pytest
from django.db import connection

from integrations import services
from integrations.models import Integration
from integrations.providers.twilio import TwilioIntegration
from tenants.models import AuditEvent, Tenant
from tests.api.support import TWILIO
from tests.db_faults import refuse_writes
from tests.factories import SendGridFactory, TwilioFactory, actor_named

LIST = "/1.0/tenants/acme/integrations"
ONE = "/1.0/tenants/acme/integrations/{}"


def ids(response) -> list[str]:
    return [record["id"] for record in response.json()]


def orphan(tenant, ident: str) -> int:
    """A live base row whose provider row is missing (what the old per-provider queries never
    saw)."""
    twilio = TwilioFactory(tenant=tenant, ident=ident)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {TwilioIntegration._meta.db_table} WHERE integration_ptr_id = %s",  # noqa: S608
            [twilio.pk],
        )
    assert Integration.objects.non_polymorphic().filter(pk=twilio.pk).exists()
    return twilio.pk


def events(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def walk(client, limit: int) -> list[str]:
    """Every id, following Next-Cursor to the end."""
    seen: list[str] = []
    params = {"limit": limit}
    for _ in range(50):
        response = client.get(LIST, params)
        assert response.status_code == 200, response.content
        seen += ids(response)
        if "Next-Cursor" not in response:
            return seen
        params = {"limit": limit, "after": response["Next-Cursor"]}
    raise AssertionError("no end")


# --- the list ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_base_row_without_its_provider_row_does_not_end_the_pages_early(tenant_client, tenant):
    for ident in ["a", "b", "c", "d"]:
        TwilioFactory(tenant=tenant, ident=ident)
    orphan(tenant, "a-orphan")  # sorts between "a" and "b"

    first = tenant_client.get(LIST, {"limit": 2})

    assert first.status_code == 200
    assert ids(first) == ["a", "b"]
    # The per-provider queries counted only rows they could serve: c and d follow.
    assert first.get("Next-Cursor") == "b", dict(first.headers)
    assert walk(tenant_client, 2) == ["a", "b", "c", "d"]
    assert Integration.objects.non_polymorphic().count() == 5


@pytest.mark.django_db
def test_a_page_of_base_rows_without_provider_rows_hides_the_rest_of_the_list(
    tenant_client, tenant
):
    SendGridFactory(tenant=tenant, ident="x-1")
    for n in range(3):
        orphan(tenant, f"m-{n}")
    TwilioFactory(tenant=tenant, ident="z-1")

    assert walk(tenant_client, 1) == ["x-1", "z-1"]
    assert ids(tenant_client.get(LIST)) == ["x-1", "z-1"]


@pytest.mark.django_db
def test_the_list_orders_by_code_point_across_providers_and_pages(tenant_client, tenant):
    every = ["a-1", "a_1", "a1", "A", "a.b", "0", "_", "-", "a--", "a__", "b", "Z9", "z"]
    for n, ident in enumerate(every):
        (TwilioFactory if n % 2 else SendGridFactory)(tenant=tenant, ident=ident)
    deleted = TwilioFactory(tenant=tenant, ident="a-0")
    services.integration_delete(integration=deleted, actor=actor_named())

    assert ids(tenant_client.get(LIST)) == sorted(every)
    for limit in (1, 2, 3, 5):
        assert walk(tenant_client, limit) == sorted(every)
    only_twilio = tenant_client.get(LIST, {"type": "twilio"})
    assert ids(only_twilio) == sorted(every[1::2])


# --- the audit trail ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_create_and_a_replace_with_read_and_secrets_record_one_reveal_each(tenant_client, tenant):
    created = tenant_client.post(ONE.format("tw"), {"type": "twilio", **TWILIO}, format="json")
    assert created.status_code == 201 and created.json()["password"] == TWILIO["password"]
    assert (events("create"), events("reveal")) == (1, 1)

    same = tenant_client.post(ONE.format("tw"), {"type": "twilio", **TWILIO}, format="json")
    assert same.status_code == 200 and same.json()["password"] == TWILIO["password"]
    assert (events("replace"), events("reveal")) == (0, 2)  # nothing changed, still revealed

    patched = tenant_client.patch(ONE.format("tw"), {"account": "AC999"}, format="json")
    assert patched.status_code == 200 and patched.json()["password"] == TWILIO["password"]
    assert (events("update"), events("reveal")) == (1, 3)
    assert TwilioIntegration.objects.get().version == 2


@pytest.mark.django_db
@pytest.mark.parametrize("scopes", ["write,secrets", "read,write"])
def test_a_write_answer_without_secrets_records_no_reveal(token_client, tenant, scopes):
    client = token_client(tenant, scopes)

    created = client.post(ONE.format("tw"), {"type": "twilio", **TWILIO}, format="json")
    patched = client.patch(ONE.format("tw"), {"account": "AC999"}, format="json")

    assert (created.status_code, patched.status_code) == (201, 200)
    assert TWILIO["password"] not in created.content.decode() + patched.content.decode()
    assert (events("create"), events("update"), events("reveal")) == (1, 1, 0)


@pytest.mark.django_db
def test_a_failing_write_records_neither_its_change_nor_its_reveal(tenant_client, tenant):
    TwilioFactory(tenant=tenant, ident="tw", account="AC-old")
    refuse_writes(TwilioIntegration._meta.db_table, "the database refused this write")
    tenant_client.raise_request_exception = False

    response = tenant_client.patch(ONE.format("tw"), {"account": "AC-new"}, format="json")

    assert response.status_code >= 500 and "error" in response.json()
    assert TWILIO["password"] not in response.content.decode()
    assert (events("update"), events("reveal")) == (0, 0)
    assert TwilioIntegration.objects.get().account == "AC-old"


@pytest.mark.django_db
def test_a_read_with_secrets_records_reveal_and_last_used_together(tenant_client, tenant):
    TwilioFactory(tenant=tenant, ident="tw")

    response = tenant_client.get(ONE.format("tw"))

    assert response.status_code == 200
    assert events("reveal") == 1
    assert TwilioIntegration.objects.get().last_used_at is not None


# --- PostgreSQL: the tenant's soft delete committing while a write waits for its locks ---------


def _delete_tenant_in_another_session_committing_after(tenant_id: int, delay: float):
    """BEGIN; soft-delete the tenant now; COMMIT `delay` seconds later (in a thread)."""
    import psycopg

    other = psycopg.connect(**connection.get_connection_params())
    other.execute("UPDATE tenants_tenant SET deleted_at = now() WHERE id = %s", [tenant_id])

    def commit_later():
        time.sleep(delay)
        other.commit()
        other.close()

    thread = threading.Thread(target=commit_later)
    thread.start()
    return thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["guarded", "locked"])
@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_write_waiting_on_a_committing_tenant_delete_writes_nothing(
    tenant_client, tenant, monkeypatch, method, path
):
    """`guarded`: the write without a lock's statement, whose guard waits for the delete's
    commit (then falls back to the locked write, which answers 422); `locked`: the locked
    read itself waits."""
    stored = TwilioFactory(tenant=tenant, ident="tw", account="AC-old")
    threads = []
    if path == "locked":
        monkeypatch.setattr(services, "_change_unless_raced", lambda *args, **kwargs: False)
        target = "_FOR_UPDATE_BY_IDENT" if method == "post" else "_FOR_UPDATE_BY_PK"
    else:
        target = "_STILL_AS_READ"
    real = getattr(services, target)

    class Racing:
        def of(self, provider):
            query = real.of(provider)

            class First:
                def first(self, *values):
                    threads.append(
                        _delete_tenant_in_another_session_committing_after(tenant.pk, 0.3)
                    )
                    return query.first(*values)

                def statement(self, *values):
                    if not threads:  # the guarded write's own attempt, not the fallback's
                        threads.append(
                            _delete_tenant_in_another_session_committing_after(tenant.pk, 0.3)
                        )
                    return query.statement(*values)

            return First()

    monkeypatch.setattr(services, target, Racing())
    before = AuditEvent.objects.count()

    if method == "post":
        body = {"type": "twilio", **TWILIO, "account": "AC-new"}
        response = tenant_client.post(ONE.format("tw"), body, format="json")
    else:
        response = tenant_client.patch(ONE.format("tw"), {"account": "AC-new"}, format="json")
    for thread in threads:
        thread.join()

    assert response.status_code == 422, response.content
    assert "error" in response.json()
    assert TwilioIntegration.objects.get().account == "AC-old"
    assert TwilioIntegration.objects.get().version == stored.version
    assert AuditEvent.objects.count() == before
    assert Tenant.all_objects.get(pk=tenant.pk).deleted_at is not None
