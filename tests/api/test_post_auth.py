"""401 without a usable token, 403 for a token that may not write to that tenant."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.models import Integration
from tenants.models import ApiToken
from tenants.services import api_token_create, api_token_revoke
from tests.api.support import TWILIO, post_json, url
from tests.factories import TenantFactory, actor_named, token_actor_name

INVALID = {"error": "The token is invalid, expired or revoked."}
MALFORMED = {"error": "The Authorization header must be 'Bearer <token>'."}
NO_TOKEN = {"error": "Authentication required: send 'Authorization: Bearer <token>'."}

pytestmark = pytest.mark.django_db


def client_with_header(value: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=value)
    return client


def assert_unauthorized(response):
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Bearer"
    assert set(response.json()) == {"error"}
    assert not Integration.all_objects.exists()


def assert_forbidden(response):
    assert response.status_code == 403, response.content
    assert set(response.json()) == {"error"}
    assert "WWW-Authenticate" not in response
    assert not Integration.all_objects.exists()


def assert_created_by(response, label: str, tenant):
    """A 201 whose row is stored in `tenant`, written by the token labelled `label`."""
    assert response.status_code == 201, response.content
    stored = Integration.objects.get(tenant=tenant, ident="twilio")
    assert (stored.account, stored.password) == (TWILIO["account"], TWILIO["password"])
    assert stored.updated_by == token_actor_name(label)
    assert ApiToken.objects.get(label=label).last_used_at is not None


# --- 401 -------------------------------------------------------------------------------------


def test_a_request_without_a_token_is_401(anonymous_client, tenant):
    response = post_json(anonymous_client, url("twilio"), TWILIO)

    assert_unauthorized(response)
    assert "Bearer" in response.json()["error"]


@pytest.mark.parametrize(
    ("header", "answer"),
    [
        ("Bearer ir_not-a-real-token-at-all-0123456789abcdefghijk", INVALID),
        ("Bearer short", INVALID),
        ("Bearer", MALFORMED),
        ("Bearer two words", MALFORMED),
    ],
    ids=["unknown-token", "short-token", "no-token", "two-words"],
)
def test_a_bad_bearer_header_is_401(tenant, header, answer):
    response = post_json(client_with_header(header), url("twilio"), TWILIO)

    assert_unauthorized(response)
    assert response.json() == answer


@pytest.mark.parametrize("header", ["Basic YWNtZTpzZWNyZXQ=", "Token abc", ""])
def test_another_auth_scheme_is_401(tenant, header):
    response = post_json(client_with_header(header), url("twilio"), TWILIO)

    assert_unauthorized(response)
    assert response.json() == NO_TOKEN


def test_the_bearer_keyword_is_case_insensitive(tenant):
    _, token = api_token_create(actor=actor_named("tests"), label="t", tenant=tenant)

    response = post_json(client_with_header(f"bearer {token}"), url("twilio"), TWILIO)

    assert_created_by(response, "t", tenant)


def test_a_token_with_the_right_prefix_but_wrong_rest_is_401(tenant):
    _, token = api_token_create(actor=actor_named("tests"), label="t", tenant=tenant)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    response = post_json(client_with_header(f"Bearer {forged}"), url("twilio"), TWILIO)

    assert_unauthorized(response)
    assert response.json() == INVALID
    assert ApiToken.objects.get(label="t").last_used_at is None


def test_a_revoked_token_is_401(tenant):
    api_token, token = api_token_create(actor=actor_named("tests"), label="t", tenant=tenant)
    api_token_revoke(api_token=api_token, actor=actor_named("tests"))

    response = post_json(client_with_header(f"Bearer {token}"), url("twilio"), TWILIO)

    assert_unauthorized(response)


def test_an_expired_token_is_401(tenant):
    _, token = api_token_create(
        actor=actor_named("tests"),
        label="t",
        tenant=tenant,
        expires_at=timezone.now() - timedelta(seconds=1),
    )

    assert_unauthorized(post_json(client_with_header(f"Bearer {token}"), url("twilio"), TWILIO))


def test_a_token_that_has_not_expired_yet_works(tenant):
    _, token = api_token_create(
        actor=actor_named("tests"),
        label="t",
        tenant=tenant,
        expires_at=timezone.now() + timedelta(minutes=5),
    )

    response = post_json(client_with_header(f"Bearer {token}"), url("twilio"), TWILIO)

    assert_created_by(response, "t", tenant)


def test_unknown_revoked_and_expired_tokens_get_the_same_answer(tenant):
    revoked, revoked_token = api_token_create(actor=actor_named("tests"), label="r", tenant=tenant)
    api_token_revoke(api_token=revoked, actor=actor_named("tests"))
    _, expired_token = api_token_create(
        actor=actor_named("tests"),
        label="e",
        tenant=tenant,
        expires_at=timezone.now() - timedelta(days=1),
    )
    tokens = [revoked_token, expired_token, "ir_unknown-token-0123456789abcdefghijklmnop"]

    responses = [
        post_json(client_with_header(f"Bearer {t}"), url("twilio"), TWILIO) for t in tokens
    ]

    for response in responses:
        assert_unauthorized(response)
        assert response.json() == INVALID
    assert len({response.content for response in responses}) == 1


def test_authentication_comes_before_the_tenant_lookup(anonymous_client):
    assert_unauthorized(post_json(anonymous_client, url("twilio", tenant="nobody"), TWILIO))


# --- 403 -------------------------------------------------------------------------------------


def test_it_rejects_a_token_of_another_tenant(token_client, tenant, other_tenant):
    client = token_client(other_tenant)

    response = post_json(client, url("twilio", tenant="acme"), TWILIO)

    assert_forbidden(response)
    assert "acme" in response.json()["error"]


def test_a_token_of_another_tenant_gets_403_even_when_the_tenant_does_not_exist(
    tenant_client, tenant
):
    TenantFactory(name="globex")
    missing = post_json(tenant_client, url("twilio", tenant="nobody"), TWILIO)
    existing_other = post_json(tenant_client, url("twilio", tenant="globex"), TWILIO)

    assert_forbidden(missing)
    assert_forbidden(existing_other)
    # The same answer but for the name the caller sent: nothing tells which tenants exist.
    assert missing.json() == {"error": "This token may not act on tenant 'nobody'."}
    assert existing_other.json() == {"error": "This token may not act on tenant 'globex'."}


def test_a_403_for_another_tenant_comes_before_the_body_is_read(token_client, other_tenant):
    response = post_json(token_client(other_tenant), url("twilio", tenant="acme"), "{not json")

    assert_forbidden(response)
    assert response.json() == {"error": "This token may not act on tenant 'acme'."}


@pytest.mark.parametrize("scopes", ["read", "secrets", "read,secrets"])
def test_it_rejects_a_token_without_the_write_scope(token_client, tenant, scopes):
    response = post_json(token_client(tenant, scopes), url("twilio"), TWILIO)

    assert_forbidden(response)
    assert response.json() == {"error": "This token lacks the 'write' scope."}


def test_a_write_only_token_may_post(token_client, tenant):
    response = post_json(token_client(tenant, "write"), url("twilio"), TWILIO)

    assert_created_by(response, "custom", tenant)
    # Writing does not grant reading: the id and type only, no value, no secret.
    assert response.json() == {"id": "twilio", "type": "twilio"}


def test_a_token_for_all_tenants_may_write_to_any_tenant(global_client, tenant, other_tenant):
    first = post_json(global_client, url("twilio", tenant="acme"), TWILIO)
    second = post_json(global_client, url("twilio", tenant="globex"), {**TWILIO, "account": "G"})

    assert (first.status_code, second.status_code) == (201, 201)
    stored = Integration.objects.filter(ident="twilio").order_by("tenant__name")
    assert [(i.tenant.name, i.account) for i in stored] == [
        ("acme", TWILIO["account"]),
        ("globex", "G"),
    ]
    assert {i.updated_by for i in stored} == {token_actor_name("platform")}
