"""PATCH /1.0/tenants/{tenant}/integrations/{id}: change some fields, keep the rest."""

import json

import pytest
from django.utils import timezone

from integrations.models import Integration
from tests.api.support import fields_of
from tests.factories import SalesforceFactory, TwilioFactory, actor_named, token_actor_name

pytestmark = pytest.mark.django_db

MASK = "********"
JSON = "application/json"


def url(ident: str, tenant: str = "acme") -> str:
    return f"/1.0/tenants/{tenant}/integrations/{ident}"


def patch(client, path: str, body):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.patch(path, data, content_type=JSON)


def reloaded(integration):
    return Integration.all_objects.get(pk=integration.pk)


@pytest.fixture
def salesforce(tenant):
    return SalesforceFactory(
        tenant=tenant,
        consumer_key="ck",
        consumer_secret="old-consumer-secret",
        username="dev@userevents.com",
        password="old-password",
        secret_token="old-token",
    )


def test_patching_one_secret_rotates_it_and_keeps_every_other_field(tenant_client, salesforce):
    before = reloaded(salesforce)

    response = patch(tenant_client, url("salesforce"), {"password": "new-password"})

    assert response.status_code == 200, response.content
    assert fields_of(response.json()) == {
        "id": "salesforce",
        "type": "salesforce",
        "consumer-key": "ck",
        "consumer-secret": "old-consumer-secret",
        "username": "dev@userevents.com",
        "password": "new-password",
        "secret-token": "old-token",
        "login-host": "login.salesforce.com",
    }
    after = reloaded(salesforce)
    assert after.password == "new-password"
    assert (after.consumer_key, after.consumer_secret, after.secret_token) == (
        "ck",
        "old-consumer-secret",
        "old-token",
    )
    assert after.updated_by == token_actor_name("acme ops")
    assert after.updated_at > before.updated_at
    assert after.created_at == before.created_at


def test_patching_several_fields_with_hyphenated_keys_changes_them_all(tenant_client, salesforce):
    response = patch(
        tenant_client,
        url("salesforce"),
        {"consumer-key": "ck2", "secret-token": "tok2", "username": "ops@acme.test"},
    )

    assert response.status_code == 200, response.content
    after = reloaded(salesforce)
    assert (after.consumer_key, after.secret_token, after.username) == (
        "ck2",
        "tok2",
        "ops@acme.test",
    )
    assert after.password == "old-password"


def test_a_body_that_repeats_the_same_id_and_type_is_accepted(tenant_client, tenant):
    TwilioFactory(tenant=tenant, ident="sms", account="AC1")

    response = patch(tenant_client, url("sms"), {"id": "sms", "type": "twilio", "account": "AC2"})

    assert response.status_code == 200, response.content
    assert response.json()["account"] == "AC2"


@pytest.mark.parametrize(
    "body",
    [{}, {"id": "salesforce"}, {"type": "salesforce"}, {"id": "salesforce", "type": "salesforce"}],
    ids=["empty", "id", "type", "id-and-type"],
)
def test_a_body_with_nothing_to_change_is_400_and_writes_nothing(tenant_client, salesforce, body):
    before = reloaded(salesforce)

    response = patch(tenant_client, url("salesforce"), body)

    assert response.status_code == 400, response.content
    assert response.json() == {
        "error": "Nothing to change: the body holds no field of the integration besides id and "
        "type; send at least one field to change."
    }
    after = reloaded(salesforce)
    assert (after.updated_at, after.updated_by) == (before.updated_at, before.updated_by)
    assert after.password == "old-password"


def test_the_echo_masks_secrets_for_a_token_without_the_secrets_scope(
    token_client, tenant, salesforce
):
    client = token_client(tenant, "read,write")

    response = patch(client, url("salesforce"), {"password": "new-password"})

    assert response.status_code == 200
    record = response.json()
    assert record["password"] == MASK
    assert record["consumer-secret"] == MASK
    assert record["consumer-key"] == "ck"
    assert "new-password" not in response.content.decode()
    assert reloaded(salesforce).password == "new-password"


# --- the type and the id cannot change -------------------------------------------------------


def test_a_different_type_answers_400_type_cannot_change(tenant_client, salesforce):
    response = patch(
        tenant_client, url("salesforce"), {"type": "twilio", "account": "AC1", "password": "p"}
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "The request body is invalid.",
        "fields": {"type": ["The type cannot change: 'salesforce' is a salesforce integration."]},
    }
    assert reloaded(salesforce).password == "old-password"


def test_a_different_id_answers_400(tenant_client, salesforce):
    response = patch(tenant_client, url("salesforce"), {"id": "crm", "password": "p"})

    assert response.status_code == 400
    assert response.json()["fields"] == {"id": ["The id cannot change; it must be 'salesforce'."]}
    assert reloaded(salesforce).password == "old-password"


# --- invalid bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,key,message",
    [
        ({"passwd": "x"}, "passwd", "Unknown field."),
        ({"consumer_key": "x"}, "consumer_key", "Unknown field."),
        ({"account": "AC1"}, "account", "Unknown field."),
        ({"password": ""}, "password", "This field may not be blank."),
        ({"password": None}, "password", "This field may not be null."),
        ({"password": 42}, "password", "Must be a string."),
        ({"password": ["a"]}, "password", "Must be a string."),
        ({"username": "not-an-email"}, "username", "Enter a valid email address."),
        ({"consumer-key": "k" * 256}, "consumer-key", "no more than 255 characters"),
    ],
)
def test_a_wrong_key_or_value_answers_400_naming_the_key_and_changes_nothing(
    tenant_client, salesforce, body, key, message
):
    response = patch(tenant_client, url("salesforce"), body)

    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "The request body is invalid."
    assert list(payload["fields"]) == [key]
    assert message in payload["fields"][key][0]
    after = reloaded(salesforce)
    assert (after.password, after.consumer_key, after.username) == (
        "old-password",
        "ck",
        "dev@userevents.com",
    )


def test_an_invalid_secret_is_never_echoed_in_the_error(tenant_client, salesforce):
    secret = "s" * 300

    response = patch(tenant_client, url("salesforce"), {"password": secret})

    assert response.status_code == 400
    assert secret not in response.content.decode()


@pytest.mark.parametrize("body", ['["password"]', '"text"', "42", "null"])
def test_a_body_that_is_not_an_object_answers_400(tenant_client, salesforce, body):
    response = patch(tenant_client, url("salesforce"), body)

    assert response.status_code == 400
    assert response.json() == {"error": "The request body must be a JSON object."}


def test_malformed_json_answers_400(tenant_client, salesforce):
    response = patch(tenant_client, url("salesforce"), '{"password": "x"')

    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


def test_a_body_that_is_not_json_answers_415(tenant_client, salesforce):
    response = tenant_client.patch(url("salesforce"), "password=x", content_type="text/plain")

    assert response.status_code == 415
    assert "error" in response.json()


# --- what does not exist, and who may patch --------------------------------------------------


@pytest.mark.parametrize("state", ["missing", "deleted"])
def test_patching_an_integration_that_is_not_live_answers_422(tenant_client, tenant, state):
    if state == "deleted":
        gone = TwilioFactory(tenant=tenant, deleted_at=timezone.now(), password="old")

    response = patch(tenant_client, url("twilio"), {"password": "new"})

    assert response.status_code == 422
    assert response.json() == {"error": "Integration 'twilio' does not exist or has been deleted."}
    if state == "deleted":
        assert reloaded(gone).password == "old"
        assert reloaded(gone).deleted_at is not None


def test_patching_in_a_missing_tenant_answers_422(global_client, db):
    response = patch(global_client, url("twilio", tenant="nobody"), {"password": "new"})

    assert response.status_code == 422
    assert response.json() == {"error": "Tenant 'nobody' does not exist or has been deleted."}


def test_patching_needs_the_write_scope(token_client, tenant, salesforce):
    client = token_client(tenant, "read,secrets")

    response = patch(client, url("salesforce"), {"password": "new"})

    assert response.status_code == 403
    assert response.json() == {"error": "This token lacks the 'write' scope."}
    assert reloaded(salesforce).password == "old-password"


def test_a_token_of_another_tenant_may_not_patch(token_client, other_tenant, tenant):
    theirs = TwilioFactory(tenant=other_tenant, password="theirs")

    response = patch(token_client(tenant), url("twilio", tenant="globex"), {"password": "x"})

    assert response.status_code == 403
    assert reloaded(theirs).password == "theirs"


def test_patching_without_a_token_answers_401(anonymous_client, salesforce):
    response = patch(anonymous_client, url("salesforce"), {"password": "new"})

    assert response.status_code == 401
    assert reloaded(salesforce).password == "old-password"


def test_the_short_route_does_not_take_patch(tenant_client, salesforce):
    response = patch(tenant_client, "/1.0/tenants/acme/salesforce", {"password": "new"})

    assert response.status_code == 405
    assert reloaded(salesforce).password == "old-password"


# --- the service under concurrent changes ----------------------------------------------------


def test_a_patch_of_a_copy_read_before_a_delete_does_not_bring_it_back(salesforce):
    from integrations import services
    from integrations.exceptions import IntegrationNotFound

    stale = reloaded(salesforce)
    services.integration_delete(integration=reloaded(salesforce), actor=actor_named("other"))

    with pytest.raises(IntegrationNotFound):
        services.integration_update(
            integration=stale, data={"password": "new"}, actor=actor_named("me")
        )

    after = reloaded(salesforce)
    assert after.deleted_at is not None
    assert after.password == "old-password"


def test_two_patches_of_different_fields_from_stale_copies_both_land(salesforce):
    from integrations import services

    first, second = reloaded(salesforce), reloaded(salesforce)

    services.integration_update(
        integration=first, data={"password": "pw-2"}, actor=actor_named("a")
    )
    services.integration_update(
        integration=second, data={"secret_token": "tok-2"}, actor=actor_named("b")
    )

    after = reloaded(salesforce)
    assert (after.password, after.secret_token) == ("pw-2", "tok-2")
    assert after.updated_by == "b"
