"""One id live in two tenants: every read, patch and delete reaches the URL's tenant only.

Both tenants hold `crm` (of different providers, so a lookup that ignored the tenant would
also pick the wrong provider) and `twilio` (same provider). Each test acts on one tenant and
checks the other's record answer and stored row are untouched.
"""

import json

import pytest

from integrations import selectors
from integrations.exceptions import IntegrationNotFound
from integrations.models import Integration
from integrations.providers import SalesforceIntegration, TwilioIntegration
from tenants.models import AuditEvent
from tests.api.support import JSON, url
from tests.factories import SalesforceFactory, TwilioFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def both(tenant, other_tenant):
    """acme and globex, each with a live `crm` (Twilio in acme, Salesforce in globex) and a
    live `twilio`, with values that say whose they are."""
    return {
        "acme": {
            "crm": TwilioFactory(tenant=tenant, ident="crm", account="AC-ACME", password="acme-pw"),
            "twilio": TwilioFactory(tenant=tenant, account="AC-ACME-2", password="acme-pw-2"),
        },
        "globex": {
            "crm": SalesforceFactory(
                tenant=other_tenant, ident="crm", username="ops@globex.example"
            ),
            "twilio": TwilioFactory(tenant=other_tenant, account="AC-GLOBEX", password="globex-pw"),
        },
    }


@pytest.mark.parametrize("name", ["acme", "globex"])
@pytest.mark.parametrize("ident", ["crm", "twilio"])
def test_the_selector_finds_the_record_of_the_tenant_asked_for(both, name, ident):
    own = both[name][ident]

    found = selectors.integration_get_live(tenant=own.tenant, ident=ident)

    assert (type(found), found.pk, found.tenant_id) == (type(own), own.pk, own.tenant_id)


def test_the_selector_does_not_find_an_id_that_only_another_tenant_holds(tenant, other_tenant):
    TwilioFactory(tenant=other_tenant, ident="globex-only")

    with pytest.raises(IntegrationNotFound):
        selectors.integration_get_live(tenant=tenant, ident="globex-only")


@pytest.mark.parametrize("name", ["acme", "globex"])
def test_each_tenants_token_reads_its_own_crm_of_its_own_type(both, token_client, name):
    own = both[name]["crm"]

    response = token_client(own.tenant).get(url("crm", tenant=name))

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["type"]) == ("crm", own.provider_key)
    if name == "acme":
        assert (body["account"], body["password"]) == ("AC-ACME", "acme-pw")
    else:
        assert body["username"] == "ops@globex.example"


def test_an_all_tenants_token_reads_each_tenants_own_record(both, global_client):
    acme = global_client.get(url("twilio", tenant="acme")).json()
    globex = global_client.get(url("twilio", tenant="globex")).json()

    assert (acme["account"], acme["password"]) == ("AC-ACME-2", "acme-pw-2")
    assert (globex["account"], globex["password"]) == ("AC-GLOBEX", "globex-pw")


def test_the_list_holds_the_tenants_own_records_only(both, tenant_client):
    response = tenant_client.get("/1.0/tenants/acme/integrations")

    assert response.status_code == 200
    assert [(r["id"], r["type"], r["account"]) for r in response.json()] == [
        ("crm", "twilio", "AC-ACME"),
        ("twilio", "twilio", "AC-ACME-2"),
    ]
    assert "globex" not in response.content.decode()


@pytest.mark.parametrize("ident", ["crm", "twilio"])
def test_a_patch_changes_the_own_tenants_record_and_leaves_the_other_alone(
    both, tenant_client, ident
):
    key = "account" if ident == "twilio" else "password"
    theirs = both["globex"][ident]
    theirs_before = {f.name: getattr(theirs, f.name) for f in type(theirs).credential_fields()}

    response = tenant_client.patch(url(ident), json.dumps({key: "CHANGED"}), content_type=JSON)

    assert response.status_code == 200, response.content
    assert response.json()[key] == "CHANGED"
    mine = Integration.objects.get(tenant=both["acme"][ident].tenant, ident=ident)
    assert getattr(mine, key) == "CHANGED"
    theirs = type(theirs).all_objects.get(pk=theirs.pk)
    assert {f: getattr(theirs, f) for f in theirs_before} == theirs_before
    assert theirs.version == both["globex"][ident].version
    assert not AuditEvent.objects.filter(tenant=theirs.tenant, integration_ident=ident).exists()


def test_a_patch_with_a_field_of_the_other_tenants_type_is_refused_by_the_own_type(
    both, tenant_client
):
    # acme's crm is Twilio: a Salesforce key is unknown to it, whatever globex's crm is.
    response = tenant_client.patch(url("crm"), json.dumps({"username": "x@y.z"}), content_type=JSON)

    assert response.status_code == 400
    assert "username" in response.json()["fields"]
    assert SalesforceIntegration.all_objects.get(ident="crm").username == "ops@globex.example"


@pytest.mark.parametrize("ident", ["crm", "twilio"])
def test_a_delete_deletes_the_own_tenants_record_only(both, tenant_client, ident):
    response = tenant_client.delete(url(ident))

    assert response.status_code == 204
    mine = Integration.all_objects.get(pk=both["acme"][ident].pk)
    theirs = Integration.all_objects.get(pk=both["globex"][ident].pk)
    assert mine.deleted_at is not None
    assert theirs.deleted_at is None
    # And the other tenant still reads its record.
    assert selectors.integration_get_live(tenant=theirs.tenant, ident=ident).pk == theirs.pk


def test_after_deleting_its_own_a_tenant_does_not_reach_the_other_tenants_record(
    both, tenant_client
):
    assert tenant_client.delete(url("crm")).status_code == 204

    read = tenant_client.get(url("crm"))
    patch = tenant_client.patch(url("crm"), json.dumps({"account": "X"}), content_type=JSON)
    delete = tenant_client.delete(url("crm"))

    for response in (read, patch, delete):
        assert response.status_code == 422, response.content
        assert set(response.json()) == {"error"}
    assert Integration.objects.get(ident="crm").tenant.name == "globex"
    assert TwilioIntegration.all_objects.get(ident="crm").account == "AC-ACME"


def test_versions_and_history_are_the_own_tenants(both, tenant_client, global_client):
    changed = global_client.patch(
        url("twilio", tenant="globex"), json.dumps({"account": "AC-G2"}), content_type=JSON
    )
    assert changed.status_code == 200

    history = tenant_client.get(url("twilio") + "/history")
    versions = tenant_client.get(url("twilio") + "/versions")

    assert history.status_code == versions.status_code == 200
    assert "AC-G2" not in history.content.decode()
    assert "globex" not in history.content.decode()
    # acme's twilio was never changed through the services: no event, no version of it.
    assert history.json() == {"events": [], "next": None}
    assert versions.json() == {"current": 0, "versions": []}
