"""On PostgreSQL a create that races nobody is, after the token and a read without a lock, one
statement: the tenant held live (FOR SHARE) first, both rows, the version and the events
(services._insert_unless_raced). What happens between its read and that statement: a tenant
deleted is a 422 with nothing written, an id created by another write is replaced (nothing
lost), a tenant of a name no tenant could have is never looked up."""

import pytest
from django.db import transaction
from django.utils import timezone

from integrations import services
from integrations.models import Integration, IntegrationVersion
from integrations.providers.twilio import TwilioIntegration
from tenants.models import AuditAction, AuditEvent, Tenant
from tests.api.support import post_json, url
from tests.concurrency import from_another_session
from tests.factories import TenantFactory, TwilioFactory, actor_named

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BODY = {"type": "twilio", "account": "AC-new", "password": "pw-new"}
NOT_LIVE = {"error": "Tenant 'acme' does not exist or has been deleted."}


def between_read_and_create(monkeypatch, sql: str, params: list) -> None:
    """Commit `sql` from another session after the create's read without a lock found no row,
    before its one statement."""
    insert = services._insert_unless_raced

    def meanwhile(*args, **kwargs):
        assert from_another_session(sql, params, lock_timeout="2s") == "done"
        return insert(*args, **kwargs)

    monkeypatch.setattr(services, "_insert_unless_raced", meanwhile)


def history_of(integration_pk: int) -> tuple[list[int], list[str]]:
    versions = IntegrationVersion.objects.filter(integration_id=integration_pk)
    events = AuditEvent.objects.filter(integration_pk=integration_pk).order_by("pk")
    return (
        sorted(versions.values_list("number", flat=True)),
        list(events.values_list("action", flat=True)),
    )


@pytest.mark.parametrize("token", ["all-tenants", "tenant"])
def test_a_create_writes_its_rows_version_and_events_at_once(global_client, token_client, token):
    acme = TenantFactory(name="acme")
    client = global_client if token == "all-tenants" else token_client(acme, "read,write,secrets")

    response = post_json(client, url("twilio"), BODY)

    assert response.status_code == 201, response.content
    assert response["Location"].endswith("/1.0/tenants/acme/integrations/twilio")
    stored = TwilioIntegration.objects.get(tenant=acme, ident="twilio")
    assert (stored.account, stored.password.reveal(), stored.version) == ("AC-new", "pw-new", 1)
    assert response.json()["password"] == "pw-new"
    assert history_of(stored.pk) == ([1], [AuditAction.CREATE, AuditAction.REVEAL])
    events = AuditEvent.objects.filter(integration_pk=stored.pk)
    assert set(events.values_list("tenant_id", flat=True)) == {acme.pk}


@pytest.mark.parametrize("token", ["all-tenants", "tenant"])
def test_a_tenant_deleted_between_the_read_and_the_create_is_a_422_with_nothing_written(
    monkeypatch, global_client, token_client, token
):
    acme = TenantFactory(name="acme")
    client = global_client if token == "all-tenants" else token_client(acme, "read,write,secrets")
    client.get("/1.0/tenants/acme/integrations")  # the token's first use, noted
    between_read_and_create(
        monkeypatch, "UPDATE tenants_tenant SET deleted_at = now() WHERE id = %s", [acme.pk]
    )

    response = post_json(client, url("twilio"), BODY)

    assert response.status_code == 422, response.content
    assert response.json() == NOT_LIVE
    assert not Integration.all_objects.exists()
    assert not IntegrationVersion.objects.exists()
    assert not AuditEvent.objects.filter(integration_ident="twilio").exists()


def test_an_id_created_between_the_read_and_the_create_is_replaced_not_lost(
    monkeypatch, global_client
):
    acme = TenantFactory(name="acme")
    other = TwilioFactory(tenant=acme, ident="other", account="AC-other")
    # Another write creates "twilio" meanwhile: a copy of "other"'s rows under the new id.
    created_meanwhile = (
        "WITH parent AS (INSERT INTO integrations_integration (polymorphic_ctype_id, "
        "tenant_id, ident, created_at, updated_at, updated_by, version, last_verification, "
        "last_verification_detail) SELECT polymorphic_ctype_id, tenant_id, 'twilio', now(), "
        "now(), 'meanwhile', 1, '', '' FROM integrations_integration WHERE id = %s "
        "RETURNING id) INSERT INTO integrations_twiliointegration (integration_ptr_id, "
        "account, password) SELECT parent.id, t.account, t.password FROM parent, "
        "integrations_twiliointegration t WHERE t.integration_ptr_id = %s"
    )
    between_read_and_create(monkeypatch, created_meanwhile, [other.pk, other.pk])

    response = post_json(global_client, url("twilio"), BODY)

    assert response.status_code == 200, response.content  # the other's row, replaced
    [stored] = TwilioIntegration.objects.filter(tenant=acme, ident="twilio")
    assert (stored.account, stored.version, stored.updated_by) == ("AC-new", 2, stored.updated_by)
    assert stored.updated_by.startswith("token:")
    assert response.json()["version"] == 2


def test_a_name_no_tenant_could_have_is_never_looked_up(global_client, count_sql):
    with count_sql() as sql:
        response = post_json(
            global_client, "/1.0/tenants/" + "x" * 65 + "/integrations/twilio", BODY
        )

    assert response.status_code == 422, response.content
    assert not any("FOR SHARE" in statement for statement in sql.statements)
    assert not Integration.all_objects.exists()


def test_a_lost_create_inside_a_callers_transaction_keeps_that_transaction(monkeypatch):
    """Inside a caller's transaction (a bundle import, say) the one statement runs in a
    savepoint: its lost race falls back to the locked attempts in the same transaction."""
    acme = TenantFactory(name="acme")
    hold = services.tenant_hold_statement
    guards = []

    def finds_nothing_first(tenant):
        guards.append(tenant)
        if len(guards) == 1:  # as if the tenant were deleted: the statement keeps nothing
            return "SELECT id FROM tenants_tenant WHERE false FOR SHARE", []
        return hold(tenant)

    monkeypatch.setattr(services, "tenant_hold_statement", finds_nothing_first)
    with transaction.atomic():
        TenantFactory(name="kept")
        written, created = services.integration_upsert(
            tenant=acme,
            ident="twilio",
            provider=TwilioIntegration,
            data={"account": "AC-1", "password": "pw-1"},
            actor=actor_named(),
        )

    assert len(guards) == 1  # the one statement lost; the locked attempt wrote
    assert created and Tenant.objects.filter(name="kept").exists()
    stored = TwilioIntegration.objects.get(pk=written.pk)
    assert (stored.account, stored.version) == ("AC-1", 1)
    assert history_of(stored.pk) == ([1], [AuditAction.CREATE])


def test_a_deleted_tenant_given_as_a_tenant_is_a_tenant_not_found():
    from tenants.exceptions import TenantNotFound

    acme = TenantFactory(name="acme")
    Tenant.objects.filter(pk=acme.pk).update(deleted_at=timezone.now())

    with pytest.raises(TenantNotFound):
        services.integration_upsert(
            tenant=acme,
            ident="twilio",
            provider=TwilioIntegration,
            data={"account": "AC-1", "password": "pw-1"},
            actor=actor_named(),
        )

    assert not Integration.all_objects.exists()
