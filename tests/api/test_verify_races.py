"""`POST .../verify` racing a change of the record (issue 11): the outcome of credentials that
were replaced during the call is not stored over the new ones; the answer is a 409 in the API's
error shape, and the record's version, ETag and new values stay as the change left them."""

import pytest

from tenants.models import AuditAction, AuditEvent
from tests import fake_providers as fakes
from tests.factories import TwilioFactory

pytestmark = pytest.mark.django_db

PATH = "/1.0/tenants/acme/integrations/twilio"


def test_a_verification_overtaken_by_a_change_answers_409_and_stores_nothing(
    fake_providers, tenant_client, tenant, fixed_during_verification
):
    before = TwilioFactory(tenant=tenant, **fakes.REFUSED["twilio"]).version

    response = tenant_client.post(f"{PATH}/verify")

    assert response.status_code == 409, response.content
    assert response.json() == {
        "error": "Integration 'twilio' is being changed by other requests; nothing was "
        "written, try again."
    }
    assert response["Retry-After"] == "1"
    record = tenant_client.get(PATH).json()
    assert record["last-verification"] == "never"
    assert record["last-verified-at"] is None
    assert record["version"] == before + 1
    assert record["password"] == fakes.ACCEPTED["twilio"]["password"]
    assert not AuditEvent.objects.filter(action=AuditAction.VERIFY).exists()


def test_the_document_lists_409_for_verify(client):
    document = client.get("/1.0/openapi.json").json()

    verify = document["paths"]["/1.0/tenants/{tenant}/integrations/{id}/verify"]["post"]
    assert "409" in verify["responses"]
