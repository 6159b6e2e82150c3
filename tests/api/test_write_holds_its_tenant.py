"""On PostgreSQL a write holds its tenant row FOR SHARE until it commits, in the same statement
that locks the integration's rows: the tenant's soft delete (an UPDATE of that row) waits for
the write, while other writes of the same tenant (FOR SHARE too) do not."""

import psycopg
import pytest
from django.db import connection

from integrations import services
from integrations.providers.twilio import TwilioIntegration
from tests.factories import TwilioFactory, actor_named

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def from_another_session(sql: str, params: list) -> str:
    """Run `sql` in a separate session that waits at most 300 ms for a lock: "done" or
    "waits"."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SET lock_timeout = '300ms'")
        try:
            other.execute(sql, params)
        except psycopg.errors.LockNotAvailable:
            return "waits"
    return "done"


@pytest.fixture
def while_the_write_holds_its_locks(monkeypatch):
    """Runs the probes when the write has read (and locked) its rows, before it writes."""
    seen = {}
    change = services._change

    def probing(integration, data, **kwargs):
        tenant_id = integration.tenant_id
        seen["soft delete"] = from_another_session(
            "UPDATE tenants_tenant SET deleted_at = now() WHERE id = %s", [tenant_id]
        )
        seen["another write"] = from_another_session(
            "SELECT 1 FROM tenants_tenant WHERE id = %s FOR SHARE", [tenant_id]
        )
        return change(integration, data, **kwargs)

    monkeypatch.setattr(services, "_change", probing)
    return seen


def test_a_replace_holds_its_tenant_for_its_whole_transaction(
    tenant, while_the_write_holds_its_locks
):
    TwilioFactory(tenant=tenant, ident="twilio", account="AC-old")

    services.integration_upsert(
        tenant=tenant,
        ident="twilio",
        provider=TwilioIntegration,
        data={"account": "AC-new", "password": "pw"},
        actor=actor_named(),
    )

    assert while_the_write_holds_its_locks == {"soft delete": "waits", "another write": "done"}
    tenant.refresh_from_db()
    assert tenant.deleted_at is None
    assert TwilioIntegration.objects.get().account == "AC-new"


def test_an_update_holds_its_tenant_for_its_whole_transaction(
    tenant, while_the_write_holds_its_locks
):
    twilio = TwilioFactory(tenant=tenant, ident="twilio", account="AC-old")

    services.integration_update(integration=twilio, data={"account": "AC-new"}, actor=actor_named())

    assert while_the_write_holds_its_locks == {"soft delete": "waits", "another write": "done"}
    assert TwilioIntegration.objects.get().account == "AC-new"
