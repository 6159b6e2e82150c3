"""An id that names no provider, with no `type`, is an unknown type (422) like
`"type": "zendesk"` is, on both routes; the answer lists the known types and says how to
give one. An id that is not a valid id stays the body's fault (400)."""

import pytest

from integrations.models import Integration
from tests.api.support import post_json, url

pytestmark = pytest.mark.django_db

KNOWN = "datasift, salesforce, sendgrid, twilio"


@pytest.mark.parametrize("short", [False, True], ids=["integrations route", "short route"])
def test_an_id_naming_no_provider_without_a_type_is_an_unknown_type(tenant_client, short):
    response = post_json(tenant_client, url("zendesk", short=short), {"id": "zendesk"})

    assert response.status_code == 422
    assert response.json() == {
        "error": "Unknown integration type 'zendesk' (taken from the id, as the body gives no "
        f'"type"); known types: {KNOWN}. Give one as "type" in the body.'
    }
    assert not Integration.all_objects.exists()


def test_the_same_type_given_in_the_body_is_the_same_422(tenant_client):
    response = post_json(tenant_client, url("zendesk"), {"type": "zendesk"})

    assert response.status_code == 422
    assert response.json() == {
        "error": f"Unknown integration type 'zendesk'; known types: {KNOWN}."
    }


def test_an_invalid_id_without_a_type_is_a_400_on_the_id(tenant_client):
    response = post_json(tenant_client, url("Zen_Desk"), {"account": "x"})

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["id"]
