"""The write services: upsert, soft delete, and the id rules, whichever door calls them."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from integrations import services
from integrations.exceptions import IntegrationBusy, IntegrationNotFound
from integrations.models import Integration
from integrations.providers import SalesforceIntegration, TwilioIntegration
from integrations.services import integration_check_ident, integration_delete, integration_upsert
from tests.factories import TwilioFactory, actor_named

pytestmark = pytest.mark.django_db

TWILIO_DATA = {"account": "AC1", "password": "token-1"}


def upsert(tenant, ident="twilio", provider=TwilioIntegration, data=TWILIO_DATA):
    return integration_upsert(
        tenant=tenant, ident=ident, provider=provider, data=data, actor=actor_named("tester")
    )


def test_upsert_creates_then_replaces(tenant):
    created, was_created = upsert(tenant)
    replaced, was_created_again = upsert(tenant, data={"account": "AC2", "password": "token-2"})

    assert (was_created, was_created_again) == (True, False)
    assert replaced.pk == created.pk
    row = Integration.objects.get(pk=created.pk)
    assert (row.account, row.password, row.updated_by) == ("AC2", "token-2", "tester")
    assert row.provider_key == "twilio"


def test_upsert_refuses_a_key_that_is_not_a_field_of_the_provider(tenant):
    with pytest.raises(ValueError, match="consumer_key"):
        upsert(tenant, data={**TWILIO_DATA, "consumer_key": "x"})

    assert not Integration.all_objects.exists()


def test_upsert_refuses_to_change_the_type_of_an_id(tenant):
    upsert(tenant, ident="crm")

    with pytest.raises(ValidationError) as raised:
        upsert(
            tenant,
            ident="crm",
            provider=SalesforceIntegration,
            data={
                "consumer_key": "k",
                "consumer_secret": "s",
                "username": "a@example.com",
                "password": "p",
                "secret_token": "t",
            },
        )

    assert list(raised.value.message_dict) == ["type"]
    assert Integration.all_objects.count() == 1


@pytest.mark.parametrize("ident", ["Upper", "a b", "a--b", "", "x" * 65])
def test_an_id_must_be_a_slug(ident):
    with pytest.raises(ValidationError) as raised:
        integration_check_ident(ident=ident, provider=TwilioIntegration)

    assert list(raised.value.message_dict) == ["id"]


def test_an_id_that_names_a_provider_belongs_to_that_provider():
    integration_check_ident(ident="twilio", provider=TwilioIntegration)
    integration_check_ident(ident="twilio-2", provider=SalesforceIntegration)

    with pytest.raises(ValidationError) as raised:
        integration_check_ident(ident="twilio", provider=SalesforceIntegration)

    assert list(raised.value.message_dict) == ["type"]


def test_delete_is_soft_and_hides_the_integration(tenant):
    integration = TwilioFactory(tenant=tenant)

    integration_delete(integration=integration, actor=actor_named("remover"))

    assert not Integration.objects.filter(pk=integration.pk).exists()
    kept = Integration.all_objects.get(pk=integration.pk)
    assert kept.is_deleted
    assert kept.updated_by == "remover"
    assert kept.password == integration.password


def test_after_a_delete_the_id_is_created_again_as_a_new_row(tenant):
    old = TwilioFactory(tenant=tenant)
    integration_delete(integration=old, actor=actor_named("remover"))

    new, created = upsert(tenant)

    assert created is True
    assert new.pk != old.pk
    assert Integration.all_objects.filter(tenant=tenant, ident="twilio").count() == 2
    assert Integration.objects.get(tenant=tenant, ident="twilio").pk == new.pk


def test_the_database_allows_one_live_row_per_tenant_and_id(tenant):
    TwilioFactory(tenant=tenant)

    with pytest.raises(IntegrityError), transaction.atomic():
        TwilioFactory(tenant=tenant)


def test_deleting_an_integration_deleted_since_it_was_read_raises_and_keeps_the_first_delete(
    tenant,
):
    integration = TwilioFactory(tenant=tenant)
    read_before = Integration.all_objects.get(pk=integration.pk)
    integration_delete(integration=integration, actor=actor_named("first"))
    first = Integration.all_objects.get(pk=integration.pk)

    with pytest.raises(IntegrationNotFound):
        integration_delete(integration=read_before, actor=actor_named("second"))

    after = Integration.all_objects.get(pk=integration.pk)
    assert (after.deleted_at, after.updated_at, after.updated_by) == (
        first.deleted_at,
        first.updated_at,
        "first",
    )


@pytest.fixture
def lock_misses(monkeypatch):
    """The upsert's reads find nothing for its first `n` calls, as when a racing
    create commits right after it (or a racing delete right before)."""

    def install(n: int) -> list:
        real = services._live_row  # both reads: without a lock first (PostgreSQL), locked
        calls: list = []

        def blind(*args, **kwargs):
            calls.append(args)
            return None if len(calls) <= n else real(*args, **kwargs)

        monkeypatch.setattr(services, "_live_row", blind)
        return calls

    return install


def test_an_upsert_that_loses_insert_races_to_its_own_type_retries_and_replaces(
    tenant, lock_misses
):
    existing = TwilioFactory(tenant=tenant, account="AC-old")
    calls = lock_misses(2)

    integration, created = upsert(tenant)

    assert (created, integration.pk) == (False, existing.pk)
    assert len(calls) == 3
    row = Integration.all_objects.get(tenant=tenant, ident="twilio")
    assert (row.account, row.password, row.updated_by) == ("AC1", "token-1", "tester")


def test_an_upsert_that_keeps_losing_races_to_its_own_type_gives_up_busy_not_a_type_error(
    tenant, lock_misses
):
    existing = TwilioFactory(tenant=tenant, account="AC-old")
    calls = lock_misses(1000)

    with pytest.raises(IntegrationBusy):
        upsert(tenant)

    assert len(calls) == services.UPSERT_ATTEMPTS
    row = Integration.all_objects.get(tenant=tenant, ident="twilio")
    assert (row.pk, row.account) == (existing.pk, "AC-old")


def test_an_upsert_that_loses_a_race_to_another_type_is_the_type_error(tenant, lock_misses):
    upsert(tenant, ident="crm")
    lock_misses(1000)

    with pytest.raises(ValidationError) as raised:
        upsert(
            tenant,
            ident="crm",
            provider=SalesforceIntegration,
            data={
                "consumer_key": "k",
                "consumer_secret": "s",
                "username": "a@example.com",
                "password": "p",
                "secret_token": "t",
            },
        )

    assert raised.value.message_dict == {
        "type": ["Integration 'crm' is a twilio integration; its type cannot change."]
    }
    assert Integration.all_objects.count() == 1
