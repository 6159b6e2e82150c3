"""integrations.reveal_reads: a read of one integration's secrets, its reveal event and its
last-used-at in one statement on PostgreSQL, writing what the two steps (the selectors, then
services.integration_reveals_record) write, and nothing when the read finds nothing or a write
fails."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config import compiled_write
from integrations import reveal_reads
from integrations.exceptions import IntegrationNotFound
from integrations.models import Integration
from tenants.actors import Actor
from tenants.exceptions import TenantNotFound
from tenants.models import AuditAction, AuditEvent, Channel, Tenant
from tests.api.support import EVENT_FIELDS
from tests.db_faults import allow_inserts, allow_writes, refuse_writes, skip_inserts
from tests.factories import SendGridFactory, TenantFactory, TwilioFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

READER = Actor(
    name="token:ops (ir_abc…)",
    channel=Channel.API,
    request_id="req-1",
    client_address="192.0.2.9",
)


def reveals() -> list[dict]:
    return list(
        AuditEvent.objects.filter(action=AuditAction.REVEAL).order_by("pk").values(*EVENT_FIELDS)
    )


@pytest.fixture
def acme_twilio():
    return TwilioFactory(tenant=TenantFactory(name="acme"), ident="twilio", password="pw-1")


@pytest.mark.parametrize("by", ["name", "tenant"])
def test_the_row_its_reveal_and_its_last_use_are_one_statement(acme_twilio, by):
    tenant = "acme" if by == "name" else acme_twilio.tenant

    with CaptureQueriesContext(connection) as queries:
        found = reveal_reads.integration_get_revealed(tenant=tenant, ident="twilio", actor=READER)

    assert len(queries.captured_queries) == 1, queries.captured_queries
    assert (type(found), found.pk, found.tenant.name) == (type(acme_twilio), acme_twilio.pk, "acme")
    assert found.password.reveal() == "pw-1"
    stored = Integration.all_objects.get(pk=acme_twilio.pk)
    assert stored.last_used_at is not None and found.last_used_at == stored.last_used_at
    assert reveals() == [
        {
            "actor": READER.name,
            "channel": Channel.API,
            "request_id": "req-1",
            "client_address": "192.0.2.9",
            "tenant_id": acme_twilio.tenant_id,
            "integration_pk": acme_twilio.pk,
            "integration_ident": "twilio",
            "integration_type": "twilio",
            "api_token_prefix": "",
            "action": AuditAction.REVEAL,
            "changes": {"revealed": ["password"]},
        }
    ]


def test_it_writes_what_the_two_steps_write(acme_twilio):
    one = reveal_reads.integration_get_revealed(tenant="acme", ident="twilio", actor=READER)
    Integration.all_objects.filter(pk=acme_twilio.pk).update(last_used_at=None)
    two = reveal_reads._in_two_steps("acme", "twilio", READER)

    first, second = reveals()
    assert first == second
    assert [type(one), one.pk, one.version] == [type(two), two.pk, two.version]
    assert one.password.reveal() == two.password.reveal()


def test_a_recent_last_use_is_not_written_again(acme_twilio):
    recent = timezone.now() - timedelta(seconds=10)
    Integration.all_objects.filter(pk=acme_twilio.pk).update(last_used_at=recent)

    found = reveal_reads.integration_get_revealed(tenant="acme", ident="twilio", actor=READER)

    assert found.last_used_at == recent
    assert Integration.all_objects.get(pk=acme_twilio.pk).last_used_at == recent
    assert len(reveals()) == 1  # the reveal itself is always recorded


@pytest.mark.parametrize(
    "tenant, ident, raised",
    [
        ("nobody", "twilio", TenantNotFound),
        ("gone", "twilio", TenantNotFound),
        ("ACME", "twilio", TenantNotFound),
        ("bad\x00name", "twilio", TenantNotFound),
        ("acme", "sendgrid", IntegrationNotFound),
        ("acme", "deleted-one", IntegrationNotFound),
        ("acme", "bad\x00id", IntegrationNotFound),
    ],
)
def test_nothing_found_is_its_error_and_writes_nothing(acme_twilio, tenant, ident, raised):
    gone = TenantFactory(name="gone")
    TwilioFactory(tenant=gone, ident="twilio")
    Tenant.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    deleted = TwilioFactory(tenant=acme_twilio.tenant, ident="deleted-one")
    Integration.objects.filter(pk=deleted.pk).update(deleted_at=timezone.now())

    with pytest.raises(raised):
        reveal_reads.integration_get_revealed(tenant=tenant, ident=ident, actor=READER)

    assert reveals() == []
    assert not Integration.all_objects.filter(last_used_at__isnull=False).exists()


def test_an_id_that_names_no_provider_is_read_in_the_two_steps(acme_twilio):
    sendgrid = SendGridFactory(tenant=acme_twilio.tenant, ident="mail-eu")

    with CaptureQueriesContext(connection) as queries:
        found = reveal_reads.integration_get_revealed(tenant="acme", ident="mail-eu", actor=READER)

    assert found.pk == sendgrid.pk
    assert len(queries.captured_queries) >= 2
    assert [event["integration_ident"] for event in reveals()] == ["mail-eu"]


@pytest.mark.django_db(transaction=True)
def test_a_reveal_event_a_trigger_drops_fails_the_read_and_keeps_nothing(acme_twilio):
    skip_inserts("tenants_auditevent")
    try:
        with pytest.raises(compiled_write.RowsNotAsExpected):
            reveal_reads.integration_get_revealed(tenant="acme", ident="twilio", actor=READER)
    finally:
        allow_inserts("tenants_auditevent")

    assert reveals() == []
    assert Integration.all_objects.get(pk=acme_twilio.pk).last_used_at is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("table", ["tenants_auditevent", "integrations_integration"])
def test_a_refused_write_fails_the_read_and_keeps_nothing(acme_twilio, table):
    refuse_writes(table, "refused by the test")
    try:
        with pytest.raises(DatabaseError, match="refused by the test"):
            reveal_reads.integration_get_revealed(tenant="acme", ident="twilio", actor=READER)
    finally:
        allow_writes(table)

    assert reveals() == []
    assert Integration.all_objects.get(pk=acme_twilio.pk).last_used_at is None
