"""An all-tenants token's POST reads the URL's tenant with the locked row (or, for a create,
with the tenant's hold), not by a statement of its own before the body is looked at. The
order of the answers stays the API's: a tenant that does not exist or was deleted is a 422
before any error of the body, the type, the id or the headers; nothing is written.
"""

import json

import pytest
from django.utils import timezone

from integrations.models import Integration
from tenants.models import Tenant
from tests.factories import TenantFactory, TwilioFactory

pytestmark = pytest.mark.django_db

VALID = {"account": "AC1", "password": "pw-1234"}

# (path's id, body, extra headers): each is an error of its own with a live tenant.
BAD_REQUESTS = {
    "malformed JSON": ("twilio", "{", {}),
    "a body that is no object": ("twilio", "[1]", {}),
    "an unknown type": ("twilio", json.dumps({**VALID, "type": "zendesk"}), {}),
    "an id naming no provider, no type": ("widget", json.dumps(VALID), {}),
    "an id that is no slug": ("bad%20id", json.dumps({**VALID, "type": "twilio"}), {}),
    "a body id other than the URL's": ("twilio", json.dumps({**VALID, "id": "other"}), {}),
    "a missing field": ("twilio", json.dumps({"account": "AC1"}), {}),
    "an unknown field": ("twilio", json.dumps({**VALID, "colour": "red"}), {}),
    "a type the id reserves for another": (
        "twilio",
        json.dumps({"type": "sendgrid", "api-key": "SG.x"}),
        {},
    ),
    "a malformed If-Match": ("twilio", json.dumps(VALID), {"HTTP_IF_MATCH": "no-quotes"}),
    "a failing If-Match": ("twilio", json.dumps(VALID), {"HTTP_IF_MATCH": '"1-1"'}),
}


def post(client, tenant_name, ident, body, headers):
    return client.generic(
        "POST",
        f"/1.0/tenants/{tenant_name}/integrations/{ident}",
        body,
        content_type="application/json",
        **headers,
    )


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=list(BAD_REQUESTS))
def test_each_error_is_its_own_with_a_live_tenant(global_client, tenant, case):
    ident, body, headers = BAD_REQUESTS[case]

    response = post(global_client, tenant.name, ident, body, headers)

    assert 400 <= response.status_code < 500
    assert response.status_code != 422 or "Tenant" not in response.json()["error"]
    assert not Integration.all_objects.exists()


@pytest.mark.parametrize("gone", ["missing", "deleted"])
@pytest.mark.parametrize("case", BAD_REQUESTS, ids=list(BAD_REQUESTS))
def test_a_tenant_that_is_not_live_answers_422_before_any_other_error(
    global_client, db, gone, case
):
    if gone == "deleted":
        TenantFactory(name="ghost", deleted_at=timezone.now())
    ident, body, headers = BAD_REQUESTS[case]

    response = post(global_client, "ghost", ident, body, headers)

    assert (response.status_code, response.json()) == (
        422,
        {"error": "Tenant 'ghost' does not exist or has been deleted."},
    )
    assert not Integration.all_objects.exists()


@pytest.mark.parametrize("existing", [False, True], ids=["create", "replace"])
# "ghost" is deleted; the others could name no tenant (never looked up).
@pytest.mark.parametrize("name", ["ghost", "nobody", "g" * 300, "Not_A_Slug"])
def test_a_valid_write_into_a_tenant_that_is_not_live_answers_422(
    global_client, tenant, existing, name
):
    if existing:
        TwilioFactory(tenant=tenant)
    Tenant.all_objects.create(name="ghost", deleted_at=timezone.now())

    response = post(global_client, name, "twilio", json.dumps(VALID), {})

    assert response.status_code == 422
    assert response.json()["error"].endswith("does not exist or has been deleted.")
    assert Integration.all_objects.count() == (1 if existing else 0)


@pytest.mark.parametrize("existing", [False, True], ids=["create", "replace"])
def test_the_record_and_location_name_the_tenant_read_with_the_row(global_client, tenant, existing):
    if existing:
        TwilioFactory(tenant=tenant, account="AC-old")
    TenantFactory(name="other")  # a tenant the write must not touch

    response = post(global_client, tenant.name, "twilio", json.dumps(VALID), {})

    assert response.status_code == (200 if existing else 201)
    assert response.json()["account"] == "AC1"
    stored = Integration.objects.get()
    assert (stored.tenant_id, stored.account) == (tenant.pk, "AC1")
    if not existing:
        assert response["Location"] == (
            f"http://testserver/1.0/tenants/{tenant.name}/integrations/twilio"
        )
