"""The mask a token without `secrets` reads in place of a secret ("********") is never stored as
the secret: sent back in a write it means "keep the stored value"; in a create, where there is
nothing to keep, it is a 400.

Found by an outside tester: sending a record back as it was read (any client's natural
read-modify-write) replaced the real credential with eight asterisks.
"""

import json

import pytest

from integrations.api.serializers import MASK
from integrations.models import Integration
from integrations.services import MASK_ON_CREATE
from tests.api.support import BODIES, SECRET_KEYS, field_name, post_json, url

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(token_client, tenant):
    """Every provider's integration, stored with its real secrets."""
    writer = token_client(tenant, "read,write,secrets")
    for provider, body in BODIES.items():
        assert post_json(writer, url(provider), body).status_code == 201


@pytest.fixture
def masked_client(token_client, tenant):
    """A token that reads the mask: read and write, no `secrets`."""
    return token_client(tenant, "read,write")


def stored_secrets(tenant, provider: str) -> dict[str, str]:
    integration = Integration.objects.get(tenant=tenant, ident=provider)
    return {key: getattr(integration, field_name(key)) for key in SECRET_KEYS[provider]}


def real_secrets(provider: str) -> dict[str, str]:
    return {key: BODIES[provider][key] for key in SECRET_KEYS[provider]}


@pytest.mark.parametrize("provider", sorted(BODIES))
def test_posting_back_a_record_as_read_keeps_every_real_secret(
    masked_client, tenant, stored, provider
):
    record = masked_client.get(url(provider)).json()
    assert all(record[key] == MASK for key in SECRET_KEYS[provider])
    changed_key = sorted(set(BODIES[provider]) - set(SECRET_KEYS[provider]))[0]
    record[changed_key] = "changed@example.com"

    response = post_json(masked_client, url(provider), record)

    assert response.status_code == 200, response.content
    echoed = response.json()
    assert echoed[changed_key] == "changed@example.com"
    assert all(echoed[key] == MASK for key in SECRET_KEYS[provider])
    assert echoed["version"] == 2
    integration = Integration.objects.get(tenant=tenant, ident=provider)
    assert getattr(integration, field_name(changed_key)) == "changed@example.com"
    assert stored_secrets(tenant, provider) == real_secrets(provider)


def test_patching_the_mask_back_keeps_the_real_secret_and_changes_nothing(
    masked_client, tenant, stored
):
    response = masked_client.patch(
        url("twilio"), json.dumps({"password": MASK}), content_type="application/json"
    )

    assert response.status_code == 200
    assert response.json()["password"] == MASK
    assert response.json()["version"] == 1  # nothing changed, nothing recorded
    assert stored_secrets(tenant, "twilio") == real_secrets("twilio")


def test_the_mask_beside_a_new_secret_rotates_only_the_new_one(masked_client, tenant, stored):
    response = masked_client.patch(
        url("salesforce"),
        json.dumps({"password": "rotated-password", "consumer-secret": MASK}),
        content_type="application/json",
    )

    assert response.status_code == 200
    assert stored_secrets(tenant, "salesforce") == {
        **real_secrets("salesforce"),
        "password": "rotated-password",
    }


def test_creating_with_the_mask_as_a_secret_is_a_400_that_stores_nothing(masked_client, tenant):
    response = post_json(masked_client, url("twilio"), {"account": "AC1", "password": MASK})

    assert response.status_code == 400
    assert response.json() == {
        "error": "The request body is invalid.",
        "fields": {"password": [MASK_ON_CREATE]},
    }
    assert not Integration.all_objects.exists()
