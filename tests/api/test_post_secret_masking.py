"""The POST echo shows secrets only to tokens with the `secrets` scope; others see a mask.
(The echo needs `read` too: tests/api/test_scopes.py.)"""

import pytest

from integrations.api.serializers import MASK
from integrations.models import Integration
from tests.api.support import BODIES, SECRET_KEYS, echoed, field_name, fields_of, post_json, url

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("provider", sorted(BODIES))
def test_a_token_without_the_secrets_scope_gets_masked_secrets(token_client, tenant, provider):
    body = BODIES[provider]

    response = post_json(token_client(tenant, "read,write"), url(provider), body)

    assert response.status_code == 201
    echoed = response.json()
    for key in SECRET_KEYS[provider]:
        assert echoed[key] == MASK == "********"
        assert body[key] not in response.content.decode()
    for key in set(body) - set(SECRET_KEYS[provider]):
        assert echoed[key] == body[key]
    # Masked in the answer only: the real values are what was stored.
    stored = Integration.objects.get(tenant=tenant, ident=provider)
    for key in SECRET_KEYS[provider]:
        assert getattr(stored, field_name(key)) == body[key]


def test_a_replace_is_masked_too(token_client, tenant):
    client = token_client(tenant, "read,write")
    post_json(client, url("twilio"), BODIES["twilio"])

    response = post_json(client, url("twilio"), {**BODIES["twilio"], "password": "rotated"})

    assert response.status_code == 200
    assert response.json()["password"] == MASK
    assert Integration.objects.get(tenant=tenant).password == "rotated"


@pytest.mark.parametrize("provider", sorted(BODIES))
def test_a_token_with_the_secrets_scope_gets_the_secrets(token_client, tenant, provider):
    response = post_json(
        token_client(tenant, "read,write,secrets"), url(provider), BODIES[provider]
    )

    assert response.status_code == 201
    assert fields_of(response.json()) == echoed(provider, provider, BODIES[provider])
