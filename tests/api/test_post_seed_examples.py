"""The four examples of the API document, sent as written, give back the stored record."""

import json

import pytest

from integrations.models import Integration
from tests.api.support import EXAMPLES, JSON, SALESFORCE_CURL_BODY, echoed, fields_of


@pytest.mark.django_db
@pytest.mark.parametrize("ident,body", EXAMPLES)
@pytest.mark.parametrize("route", ["/1.0/tenants/acme/integrations/{id}", "/1.0/tenants/acme/{id}"])
def test_each_seed_example_creates_the_integration_and_echoes_it(
    tenant_client, tenant, ident, body, route
):
    response = tenant_client.post(route.format(id=ident), body, content_type=JSON)

    assert response.status_code == 201, response.content
    expected = {"type": ident, **json.loads(body)}
    assert fields_of(response.json()) == echoed(ident, ident, expected)
    stored = Integration.objects.get(tenant=tenant, ident=ident)
    assert stored.provider_key == ident
    for key, value in expected.items():
        if key not in ("id", "type"):
            assert getattr(stored, key.replace("-", "_")) == value


@pytest.mark.django_db
def test_the_seed_salesforce_curl_body_is_not_json_and_gets_a_clear_400(tenant_client, tenant):
    response = tenant_client.post(
        "/1.0/tenants/acme/integrations/salesforce", SALESFORCE_CURL_BODY, content_type=JSON
    )

    assert response.status_code == 400
    assert "JSON" in response.json()["error"]
    assert not Integration.all_objects.exists()
