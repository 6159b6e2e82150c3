"""Scopes are whole names, and the Authorization header is exactly `Bearer <token>`.

The services refuse unknown scopes, so the odd lists below are stored directly, as an old row,
a hand edit in the database or a careless migration would leave them: none of them may pass.
"""

import pytest
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.test import APIClient

from integrations.models import Integration
from tenants.authentication import BearerTokenAuthentication
from tenants.models import ApiToken, Scope
from tenants.services import api_token_create
from tests.api.support import TWILIO, post_json, url
from tests.factories import TwilioFactory, actor_named

pytestmark = pytest.mark.django_db


def token_with_stored_scopes(tenant, scopes: str) -> str:
    api_token, plaintext = api_token_create(actor=actor_named(), label="odd", tenant=tenant)
    ApiToken.objects.filter(pk=api_token.pk).update(scopes=scopes)
    return plaintext


def client_with(header: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


@pytest.mark.parametrize(
    ("stored", "held"),
    [
        ("readwrite", set()),
        ("secrets-x", set()),
        ("read-only,writes", set()),
        ("read,secretsx", {"read"}),
        ("write,", {"write"}),
        ("read,write,secrets", {"read", "write", "secrets"}),
    ],
)
def test_a_token_holds_exactly_the_scopes_named_whole(tenant, stored, held):
    api_token = ApiToken(tenant=tenant, scopes=stored)

    assert {s for s in Scope.values if api_token.has_scope(s)} == held
    assert api_token.scope_set == {name for name in stored.split(",") if name}


@pytest.mark.parametrize("stored", ["readwrite", "read-write", "rea", "writeread"])
def test_a_stored_scope_that_only_contains_write_does_not_allow_a_post(tenant, stored):
    client = client_with(f"Bearer {token_with_stored_scopes(tenant, stored)}")

    response = post_json(client, url("twilio"), TWILIO)

    assert response.status_code == 403, response.content
    assert response.json() == {"error": "This token lacks the 'write' scope."}
    assert not Integration.all_objects.exists()


@pytest.mark.parametrize("stored", ["readwrite", "reader", "write"])
def test_a_stored_scope_that_only_contains_read_does_not_allow_a_get(tenant, stored):
    TwilioFactory(tenant=tenant)
    client = client_with(f"Bearer {token_with_stored_scopes(tenant, stored)}")

    response = client.get(url("twilio"))

    assert response.status_code == 403
    assert response.json() == {"error": "This token lacks the 'read' scope."}


def test_a_stored_secrets_x_scope_does_not_reveal_secrets(tenant):
    TwilioFactory(tenant=tenant, password="twilio-stored-secret")
    client = client_with(f"Bearer {token_with_stored_scopes(tenant, 'read,secrets-x')}")

    response = client.get(url("twilio"))

    assert response.status_code == 200
    assert response.json()["password"] == "********"
    assert "twilio-stored-secret" not in response.content.decode()


@pytest.mark.parametrize(
    "header",
    ["Bearer {token} junk", "Bearer {token} {token}", "Bearer  {token}  extra"],
    ids=["junk-after", "twice", "extra-spaces-and-word"],
)
def test_a_valid_token_followed_by_more_words_is_refused(tenant, rf, header):
    api_token, token = api_token_create(actor=actor_named(), label="ops", tenant=tenant)
    value = header.format(token=token)

    with pytest.raises(AuthenticationFailed) as refused:
        BearerTokenAuthentication().authenticate(Request(rf.get("/", HTTP_AUTHORIZATION=value)))
    response = post_json(client_with(value), url("twilio"), TWILIO)

    assert str(refused.value.detail) == "The Authorization header must be 'Bearer <token>'."
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"error": "The Authorization header must be 'Bearer <token>'."}
    assert not Integration.all_objects.exists()
    assert ApiToken.objects.get(pk=api_token.pk).last_used_at is None


def test_the_same_token_alone_is_accepted(tenant):
    _, token = api_token_create(actor=actor_named(), label="ops", tenant=tenant)

    response = post_json(client_with(f"Bearer {token}"), url("twilio"), TWILIO)

    assert response.status_code == 201
    assert Integration.objects.get(tenant=tenant, ident="twilio").account == TWILIO["account"]
