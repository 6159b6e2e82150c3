"""Retention: `purge_deleted` removes long-deleted integrations and their versions, keeps
their audit events, and is a dry run unless told --yes."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from integrations.models import Integration, IntegrationVersion
from integrations.providers import TwilioIntegration
from integrations.services import integration_delete, integration_update, integration_upsert
from tenants.models import AuditEvent
from tests.factories import actor_named

pytestmark = pytest.mark.django_db


def twilio(tenant, ident: str, *, deleted_days_ago: int | None):
    integration, _ = integration_upsert(
        tenant=tenant,
        ident=ident,
        provider=TwilioIntegration,
        data={"account": "AC1", "password": "pw-1234"},
        actor=actor_named(),
    )
    integration_update(integration=integration, data={"account": "AC2"}, actor=actor_named())
    if deleted_days_ago is not None:
        integration_delete(integration=integration, actor=actor_named())
        Integration.all_objects.filter(pk=integration.pk).update(
            deleted_at=timezone.now() - timedelta(days=deleted_days_ago)
        )
    return integration


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_deleted", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def three(tenant):
    return (
        twilio(tenant, "old", deleted_days_ago=120),
        twilio(tenant, "recent", deleted_days_ago=10),
        twilio(tenant, "live", deleted_days_ago=None),
    )


def test_a_dry_run_counts_and_deletes_nothing(three):
    output = purge("--older-than", "90d")

    assert "Would purge 1 integration(s)" in output and "their 2 version(s)" in output
    assert Integration.all_objects.count() == 3
    assert IntegrationVersion.objects.count() == 6


def test_yes_purges_only_what_was_deleted_long_enough_ago_and_keeps_its_history(three):
    old, _recent, _live = three
    events_of_old = AuditEvent.objects.filter(integration_pk=old.pk).count()

    output = purge("--older-than", "90d", "--yes")

    assert "Purged 1 integration(s)" in output
    assert set(Integration.all_objects.values_list("ident", flat=True)) == {"recent", "live"}
    assert not TwilioIntegration.all_objects.filter(pk=old.pk).exists()
    assert not IntegrationVersion.objects.filter(integration_id=old.pk).exists()
    assert IntegrationVersion.objects.count() == 4
    assert AuditEvent.objects.filter(integration_pk=old.pk).count() == events_of_old == 3


@pytest.mark.parametrize("age", ["90", "90 days", "-1d", "0d", "1w", "d"])
def test_an_unclear_age_is_refused(db, age):
    with pytest.raises(CommandError, match="--older-than takes a number of days or hours"):
        purge(f"--older-than={age}")
