"""400 for every malformed body: one error shape, the field named, the value never echoed."""

import pytest

from integrations.models import Integration
from integrations.providers import TwilioIntegration
from tests.api.support import BODIES, SALESFORCE, SECRET_KEYS, TWILIO, post_json, url

pytestmark = pytest.mark.django_db

# Each must be rejected however the value is spelt; they are valid JSON, wrong for the field.
WRONG_TYPES = [42, 4.2, None, True, False, ["a"], {"a": "b"}]


def assert_validation_error(response, *fields):
    """400, the one error shape, and `fields` keyed by exactly the given JSON keys."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert set(body["fields"]) == set(fields)
    for messages in body["fields"].values():
        assert messages and all(isinstance(m, str) and m for m in messages)
    return body


def assert_nothing_stored():
    assert not Integration.all_objects.exists()


def test_malformed_json_is_400_with_a_sentence(tenant_client, tenant):
    response = post_json(tenant_client, url("twilio"), '{"account": "AC1", "password": }')

    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert "JSON" in response.json()["error"]
    assert_nothing_stored()


@pytest.mark.parametrize(
    "raw",
    ['[{"account": "AC1", "password": "x"}]', '"twilio"', "42", "null", "true"],
    ids=["list", "string", "number", "null", "bool"],
)
def test_a_body_that_is_not_a_json_object_is_400(tenant_client, tenant, raw):
    response = post_json(tenant_client, url("twilio"), raw)

    assert response.status_code == 400
    assert response.json() == {"error": "The request body must be a JSON object."}
    assert_nothing_stored()


@pytest.mark.parametrize("value", WRONG_TYPES)
@pytest.mark.parametrize("key", ["account", "password"])
def test_a_value_of_the_wrong_type_is_400_naming_the_field(tenant_client, tenant, key, value):
    response = post_json(tenant_client, url("twilio"), {**TWILIO, key: value})

    assert_validation_error(response, key)
    assert_nothing_stored()


@pytest.mark.parametrize("value", [None, 42, True, ["twilio"], ""])
def test_a_type_that_is_not_a_non_empty_string_is_400(tenant_client, tenant, value):
    response = post_json(tenant_client, url("twilio"), {**TWILIO, "type": value})

    assert_validation_error(response, "type")
    assert_nothing_stored()


@pytest.mark.parametrize("value", [None, 42, ""])
def test_a_body_id_that_is_not_the_path_id_is_400(tenant_client, tenant, value):
    response = post_json(tenant_client, url("twilio"), {**TWILIO, "id": value})

    assert_validation_error(response, "id")
    assert_nothing_stored()


@pytest.mark.parametrize("provider", sorted(BODIES))
def test_every_field_is_required(tenant_client, tenant, provider):
    response = post_json(tenant_client, url(provider), {})

    assert_validation_error(response, *BODIES[provider])
    assert_nothing_stored()


@pytest.mark.parametrize("value", ["", "   ", "\t\n"], ids=["empty", "spaces", "blank"])
@pytest.mark.parametrize("key", sorted(SALESFORCE))
def test_an_empty_value_is_400(tenant_client, tenant, key, value):
    response = post_json(tenant_client, url("salesforce"), {**SALESFORCE, key: value})

    assert_validation_error(response, key)
    assert_nothing_stored()


@pytest.mark.parametrize(
    "provider,key,limit",
    [
        ("salesforce", "consumer-key", 255),
        ("salesforce", "consumer-secret", 255),
        ("salesforce", "password", 255),
        ("salesforce", "secret-token", 255),
        ("twilio", "account", 64),
        ("twilio", "password", 255),
        ("sendgrid", "account", 255),
        ("sendgrid", "password", 255),
        ("datasift", "username", 255),
        ("datasift", "api-key", 255),
    ],
)
def test_a_value_over_its_length_limit_is_400_and_one_at_the_limit_is_stored(
    tenant_client, tenant, provider, key, limit
):
    too_long = post_json(tenant_client, url(provider), {**BODIES[provider], key: "x" * (limit + 1)})
    at_limit = post_json(tenant_client, url(provider), {**BODIES[provider], key: "x" * limit})

    body = assert_validation_error(too_long, key)
    assert str(limit) in body["fields"][key][0]
    assert at_limit.status_code == 201, at_limit.content


def test_an_over_long_salesforce_username_is_400(tenant_client, tenant):
    username = "a" * 64 + "@" + ("b" * 60 + ".") * 4 + "com"
    assert len(username) > 254

    response = post_json(tenant_client, url("salesforce"), {**SALESFORCE, "username": username})

    assert_validation_error(response, "username")


@pytest.mark.parametrize(
    "key",
    ["consumer_key", "secret_token", "nickname", "tenant", "deleted-at", "provider", "ident"],
)
def test_an_unknown_key_is_400_and_named_as_sent(tenant_client, tenant, key):
    response = post_json(tenant_client, url("salesforce"), {**SALESFORCE, key: "x"})

    body = assert_validation_error(response, key)
    assert body["fields"][key] == ["Unknown field."]
    assert_nothing_stored()


@pytest.mark.parametrize("username", ["not-an-email", "dev@", "@userevents.com", "dev userevents"])
def test_a_salesforce_username_must_be_an_email_address(tenant_client, tenant, username):
    response = post_json(tenant_client, url("salesforce"), {**SALESFORCE, "username": username})

    assert_validation_error(response, "username")
    assert_nothing_stored()


@pytest.mark.parametrize(
    "ident",
    ["Twilio-EU", "twilio--eu", "-twilio", "twilio-", "twi.lio", "twi%20lio", "x" * 65],
)
def test_an_id_that_is_not_a_slug_is_400(tenant_client, tenant, ident):
    response = post_json(tenant_client, url(ident), {"type": "twilio", **TWILIO})

    assert_validation_error(response, "id")
    assert_nothing_stored()


@pytest.mark.parametrize("ident", ["twilio-eu", "twilio_eu", "t1", "x" * 64])
def test_an_id_that_is_a_slug_is_accepted(tenant_client, tenant, ident):
    response = post_json(tenant_client, url(ident), {"type": "twilio", **TWILIO})

    assert response.status_code == 201, response.content


def test_errors_are_keyed_by_the_hyphenated_json_key(tenant_client, tenant):
    response = post_json(
        tenant_client,
        url("salesforce"),
        {**SALESFORCE, "consumer-key": "", "secret-token": 1, "consumer-secret": None},
    )

    assert_validation_error(response, "consumer-key", "secret-token", "consumer-secret")


@pytest.mark.parametrize("provider", sorted(SECRET_KEYS))
def test_validation_errors_never_echo_a_submitted_secret(tenant_client, tenant, provider):
    secret = "p4ss-" + "s3cr3t" * 50  # over every limit, so each secret field is in error
    body = {**BODIES[provider], **dict.fromkeys(SECRET_KEYS[provider], secret)}

    response = post_json(tenant_client, url(provider), body)

    assert_validation_error(response, *SECRET_KEYS[provider])
    assert "s3cr3t" not in response.content.decode()
    assert_nothing_stored()


@pytest.mark.parametrize("value", ["s3cr3t-value", 123456789, None])
def test_an_unknown_key_error_never_echoes_its_value(tenant_client, tenant, value):
    response = post_json(tenant_client, url("twilio"), {**TWILIO, "auth-token": value})

    assert_validation_error(response, "auth-token")
    assert "s3cr3t" not in response.content.decode()
    assert "123456789" not in response.content.decode()


@pytest.mark.parametrize("provider", sorted(SECRET_KEYS))
def test_a_wrong_typed_secret_is_not_echoed(tenant_client, tenant, provider):
    body = {**BODIES[provider], **{key: {"v": "s3cr3t"} for key in SECRET_KEYS[provider]}}

    response = post_json(tenant_client, url(provider), body)

    assert_validation_error(response, *SECRET_KEYS[provider])
    assert "s3cr3t" not in response.content.decode()


def test_a_400_stores_nothing_and_leaves_an_existing_record_unchanged(tenant_client, tenant):
    post_json(tenant_client, url("twilio"), TWILIO)

    response = post_json(tenant_client, url("twilio"), {**TWILIO, "account": ""})

    assert response.status_code == 400
    assert Integration.objects.get(tenant=tenant, ident="twilio").account == TWILIO["account"]


@pytest.mark.django_db
def test_a_secret_is_stored_exactly_as_sent_spaces_included(tenant_client, tenant):
    response = tenant_client.post(
        "/1.0/tenants/acme/integrations/twilio",
        {"account": " AC1 ", "password": " pass word "},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["password"] == " pass word "
    stored = TwilioIntegration.objects.get(tenant=tenant)
    assert (stored.account, stored.password) == ("AC1", " pass word ")


@pytest.mark.django_db
def test_a_secret_of_only_spaces_is_refused_without_echoing_it(tenant_client, tenant):
    response = tenant_client.post(
        "/1.0/tenants/acme/integrations/twilio",
        {"account": "AC1", "password": "    "},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["fields"] == {"password": ["May not be only whitespace."]}
    assert not TwilioIntegration.all_objects.exists()
