"""On PostgreSQL a write holds its tenant row FOR SHARE until it commits, in the same statement
that locks the integration's rows: the tenant's soft delete (an UPDATE of that row) waits for
the write, while other writes of the same tenant (FOR SHARE too) do not.

A replace (and the API's PATCH) first tries a write decided on a read without a lock, in one
statement that locks the same rows and writes only if they are still as read: a soft delete,
or another write, between its read and its write makes it fall back to the locked write,
which then answers the deleted tenant's 422, or writes over the other write's values (nothing
lost)."""

import pytest

from integrations import services
from integrations.exceptions import IntegrationNotFound
from integrations.models import IntegrationVersion
from integrations.providers.twilio import TwilioIntegration
from tenants.exceptions import TenantNotFound
from tenants.models import AuditEvent
from tests.concurrency import ANOTHER_TWILIO_WRITE, between_read_and_write, from_another_session
from tests.factories import TwilioFactory, actor_named

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


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
    tenant, while_the_write_holds_its_locks, monkeypatch
):
    # The locked write: the fallback of a replace whose write without a lock lost a race.
    monkeypatch.setattr(services, "_change_unless_raced", lambda *args, **kwargs: False)
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


@pytest.mark.parametrize("service", ["upsert", "update as read"])
def test_a_write_without_a_lock_is_not_acknowledged_into_a_tenant_deleted_since_its_read(
    tenant, monkeypatch, service
):
    twilio = TwilioFactory(tenant=tenant, ident="twilio", account="AC-old")
    between_read_and_write(
        monkeypatch, "UPDATE tenants_tenant SET deleted_at = now() WHERE id = %s", [tenant.pk]
    )
    events_before = AuditEvent.objects.count()

    with pytest.raises((TenantNotFound, IntegrationNotFound)):
        write(service, tenant, twilio, account="AC-new")

    stored = TwilioIntegration.objects.values_list("account", "version").get()
    assert stored == ("AC-old", twilio.version)
    assert AuditEvent.objects.count() == events_before
    assert not IntegrationVersion.objects.filter(number__gt=twilio.version).exists()


@pytest.mark.parametrize("service", ["upsert", "update as read"])
def test_a_write_without_a_lock_that_another_write_overtook_writes_over_it_nothing_lost(
    tenant, monkeypatch, service
):
    twilio = TwilioFactory(tenant=tenant, ident="twilio", account="AC-old", password="pw-old")
    # Another writer's change (of another field) and its version, committed meanwhile.
    between_read_and_write(
        monkeypatch,
        ANOTHER_TWILIO_WRITE,
        [twilio.pk, twilio.pk],
    )

    events_before = AuditEvent.objects.count()

    written = write(service, tenant, twilio, account="AC-new")

    stored = TwilioIntegration.objects.get()
    assert (stored.account, stored.version) == ("AC-new", twilio.version + 2)
    assert stored.password.reveal() == "pw-old"
    assert written.version == stored.version
    assert AuditEvent.objects.count() == events_before + 1  # the lost attempt's is not kept
    newest = IntegrationVersion.objects.filter(integration=stored).order_by("-number").first()
    assert newest.number == stored.version


def write(service: str, tenant, twilio, *, account: str):
    if service == "upsert":
        written, created = services.integration_upsert(
            tenant=tenant,
            ident="twilio",
            provider=TwilioIntegration,
            data={"account": account, "password": "pw-old"},
            actor=actor_named(),
        )
        assert not created
        return written
    as_read = TwilioIntegration.objects.get(pk=twilio.pk)
    return services.integration_update(
        integration=as_read, data={"account": account}, actor=actor_named(), as_read=True
    )
