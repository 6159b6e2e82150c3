"""A POST that keeps losing races of its id (racing creates and deletes) answers a retryable
409, never a 500 or a false 400; a DELETE that loses to another DELETE answers 422."""

import pytest

from integrations import services
from integrations.models import Integration
from tests.api.support import TWILIO, post_json, url
from tests.factories import TwilioFactory, actor_named

pytestmark = pytest.mark.django_db


@pytest.fixture
def always_outrun(monkeypatch):
    """The upsert's locking read never finds the live row, as when every attempt is overtaken
    by a racing create (the deterministic form of tests/api/test_post_concurrency.py)."""
    monkeypatch.setattr(services, "_live_row", lambda *args, **kwargs: None)


def test_a_post_that_keeps_losing_races_answers_a_retryable_409_and_writes_nothing(
    tenant_client, tenant, always_outrun
):
    existing = TwilioFactory(tenant=tenant, account="AC-old")

    response = post_json(tenant_client, url("twilio"), {**TWILIO, "account": "AC-new"})

    assert response.status_code == 409, response.content
    assert response.json() == {
        "error": "Integration 'twilio' is being changed by other requests; nothing was "
        "written, try again."
    }
    assert response["Retry-After"] == "1"
    rows = Integration.all_objects.filter(tenant=tenant, ident="twilio")
    assert [(row.pk, row.account) for row in rows] == [(existing.pk, "AC-old")]


def test_a_delete_of_a_row_deleted_since_it_was_read_answers_422_and_keeps_the_first_delete(
    tenant_client, tenant, monkeypatch
):
    twilio = TwilioFactory(tenant=tenant)
    delete = services.integration_delete

    def deleted_first_by_another(*, integration, actor, **kwargs):
        delete(
            integration=Integration.all_objects.get(pk=integration.pk), actor=actor_named("other")
        )
        delete(integration=integration, actor=actor, **kwargs)

    monkeypatch.setattr(services, "integration_delete", deleted_first_by_another)

    response = tenant_client.delete(url("twilio"))

    assert response.status_code == 422
    assert response.json() == {"error": "Integration 'twilio' does not exist or has been deleted."}
    assert Integration.all_objects.get(pk=twilio.pk).updated_by == "other"
