"""The staff pages' "Test connection" racing an edit of the same integration (issue 11): the
outcome of the replaced credentials is not recorded; the staff user is told so on the card."""

import pytest

from integrations.models import Integration
from tenants.models import AuditAction, AuditEvent
from tests import fake_providers as fakes
from tests.factories import TwilioFactory

pytestmark = pytest.mark.django_db

VERIFY_URL = "/tenants/acme/integrations/twilio/test-connection/"


def test_a_test_overtaken_by_an_edit_records_nothing_and_says_so(
    support, tenant, fake_providers, fixed_during_verification
):
    before = TwilioFactory(tenant=tenant, **fakes.REFUSED["twilio"]).version

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
