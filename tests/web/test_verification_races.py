"""The staff pages' "Test connection" racing an edit of the same integration (issue 11): the
outcome of the replaced credentials is not recorded; the staff user is told so on the card."""

import pytest

from integrations import verification, verification_services
from integrations.models import Integration
from integrations.services import integration_update
from tenants.models import AuditAction, AuditEvent
from tests import fake_providers as fakes
from tests.factories import TwilioFactory, actor_named

pytestmark = pytest.mark.django_db

VERIFY_URL = "/tenants/acme/integrations/twilio/test-connection/"


def test_a_test_overtaken_by_an_edit_records_nothing_and_says_so(
    support, tenant, fake_providers, monkeypatch
):
    before = TwilioFactory(tenant=tenant, **fakes.REFUSED["twilio"]).version
    real = verification.verify

    def verify_while_fixed(integration: Integration):
        integration_update(
            integration=Integration.objects.get(pk=integration.pk),
            data={"password": fakes.ACCEPTED["twilio"]["password"]},
            actor=actor_named("a colleague"),
        )
        return real(integration)

    monkeypatch.setattr(verification_services.verification, "verify", verify_while_fixed)

    response = support.post(VERIFY_URL)

    assert response.status_code == 302
    assert response["Location"] == "/tenants/acme/#integration-twilio"
    stored = Integration.objects.get(ident="twilio")
    assert (stored.last_verification, stored.last_verified_at, stored.version) == (
        "",
        None,
        before + 1,
    )
    assert not AuditEvent.objects.filter(action=AuditAction.VERIFY).exists()
    page = support.get(response["Location"]).content.decode()
    assert "was changed while it was tested; nothing was recorded" in page
    assert fakes.ACCEPTED["twilio"]["password"] not in page
    assert fakes.REFUSED["twilio"]["password"] not in page
