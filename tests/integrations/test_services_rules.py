"""The smaller rules of the write services, each pinned down: who is named as the last writer
(cut to the column's 150 characters), restore, create of a taken id, how an invalid id is
reported, and version numbers."""

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError

from integrations import services
from integrations.exceptions import PreconditionFailed
from integrations.models import IDENT_TAKEN, Integration
from integrations.preconditions import Precondition
from integrations.providers import TwilioIntegration
from tenants.actors import Actor
from tenants.models import AuditAction, AuditEvent, Channel
from tests.db_faults import allow_writes, refuse_writes
from tests.factories import SalesforceFactory, TwilioFactory, actor_named

pytestmark = pytest.mark.django_db

LONG = Actor(name="x" * 149 + "yz" + "w" * 60, channel=Channel.COMMAND)  # 211 characters
CUT = LONG.name[:150]


def stored(integration) -> Integration:
    return Integration.all_objects.get(pk=integration.pk)


def test_every_write_names_its_actor_cut_to_150_characters(tenant):
    created, _ = services.integration_upsert(
        tenant=tenant,
        ident="twilio",
        provider=TwilioIntegration,
        data={"account": "AC1", "password": "p1"},
        actor=LONG,
    )
    assert stored(created).updated_by == CUT

    TwilioFactory(tenant=tenant, ident="other", updated_by="someone")
    other = Integration.objects.get(ident="other")
    services.integration_upsert(
        tenant=tenant,
        ident="other",
        provider=TwilioIntegration,
        data={"account": "AC2", "password": "p2"},
        actor=LONG,
    )
    assert stored(other).updated_by == CUT

    other = Integration.objects.get(ident="other")
    services.integration_update(
        integration=other, data={"account": "AC3"}, actor=actor_named("between")
    )
    services.integration_update(integration=other, data={"account": "AC4"}, actor=LONG)
    assert stored(other).updated_by == CUT

    services.integration_delete(integration=other, actor=actor_named("between"))
    services.integration_restore(integration=other, actor=LONG)
    assert stored(other).updated_by == CUT

    services.integration_delete(integration=other, actor=LONG)
    assert stored(other).updated_by == CUT


def test_a_restore_makes_the_deleted_row_live_again_with_one_event(tenant):
    twilio = TwilioFactory(tenant=tenant, account="AC-KEPT")
    services.integration_delete(integration=twilio, actor=actor_named("deleter"))

    services.integration_restore(integration=twilio, actor=actor_named("restorer"))
    with pytest.raises(ValidationError):  # live now: nothing to restore
        services.integration_restore(integration=twilio, actor=actor_named("again"))

    row = stored(twilio)
    assert (row.deleted_at, row.account, row.updated_by) == (None, "AC-KEPT", "restorer")
    assert Integration.objects.filter(tenant=tenant, ident="twilio").count() == 1
    restores = AuditEvent.objects.filter(integration_pk=twilio.pk, action=AuditAction.RESTORE)
    assert [e.actor for e in restores] == ["restorer"]


def test_restoring_an_id_created_again_since_is_refused(tenant):
    old = TwilioFactory(tenant=tenant)
    services.integration_delete(integration=old, actor=actor_named())
    TwilioFactory(tenant=tenant)

    with pytest.raises(ValidationError, match="has been created again since"):
        services.integration_restore(integration=old, actor=actor_named())

    assert stored(old).deleted_at is not None


def test_creating_an_id_that_is_live_already_is_a_form_error_on_the_id(tenant):
    TwilioFactory(tenant=tenant, account="AC-FIRST")
    second = TwilioIntegration(tenant=tenant, ident="twilio", account="AC-2", password="p")

    with pytest.raises(ValidationError) as refused:
        services.integration_create(integration=second, actor=actor_named())

    assert refused.value.message_dict == {"ident": [IDENT_TAKEN]}
    assert Integration.objects.get(tenant=tenant, ident="twilio").account == "AC-FIRST"


@pytest.mark.parametrize("table", ["integrations_integration", "integrations_twiliointegration"])
def test_a_create_the_database_refuses_otherwise_is_its_error_not_a_taken_id(tenant, table):
    """A trigger's refusal is an IntegrityError on SQLite (RAISE(ABORT)): only the live id
    constraint's means "taken"; any other stays the database's error (a 500, not a form
    error that would send staff looking for an id nobody holds)."""
    new = TwilioIntegration(tenant=tenant, ident="twilio", account="AC-1", password="p")
    refuse_writes(table, "refused by a trigger")

    with pytest.raises(DatabaseError, match="refused by a trigger") as refused:
        services.integration_create(integration=new, actor=actor_named())

    assert not isinstance(refused.value, ValidationError)
    allow_writes(table)
    assert not Integration.all_objects.filter(tenant=tenant).exists()


@pytest.mark.parametrize("ident", ["Not A Slug", "crm/eu", ""])
def test_an_invalid_id_is_reported_on_the_id(ident):
    with pytest.raises(ValidationError) as refused:
        services.integration_check_ident(ident=ident, provider=TwilioIntegration)

    assert list(refused.value.message_dict) == ["id"]


def test_the_first_version_of_a_created_integration_is_1_and_each_change_adds_1(tenant):
    created, _ = services.integration_upsert(
        tenant=tenant,
        ident="twilio",
        provider=TwilioIntegration,
        data={"account": "AC1", "password": "p1"},
        actor=actor_named(),
    )
    assert stored(created).version == 1

    services.integration_update(integration=created, data={"account": "AC2"}, actor=actor_named())
    services.integration_update(integration=created, data={"account": "AC2"}, actor=actor_named())

    assert stored(created).version == 2  # the second update changed nothing
    assert list(created.versions.order_by("number").values_list("number", flat=True)) == [1, 2]


def test_a_deleted_integration_in_memory_names_its_deleter_cut_to_150_characters(tenant):
    twilio = TwilioFactory(tenant=tenant)

    services.integration_delete(integration=twilio, actor=LONG)

    assert twilio.updated_by == CUT
    assert twilio.deleted_at is not None


def test_if_none_match_any_fails_when_the_id_is_live_as_another_type(tenant):
    SalesforceFactory(tenant=tenant, ident="crm")

    with pytest.raises(PreconditionFailed, match=r"exists already \(If-None-Match: \*\)"):
        services.integration_upsert(
            tenant=tenant,
            ident="crm",
            provider=TwilioIntegration,
            data={"account": "AC1", "password": "p1"},
            actor=actor_named(),
            precondition=Precondition(none_match_any=True),
        )

    assert Integration.objects.get(tenant=tenant, ident="crm").provider_key == "salesforce"
