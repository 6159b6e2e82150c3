"""Each combination of the read, write and secrets scopes on GET, POST and PATCH: who may call,
and what the answer holds. Writing does not grant reading: a token without `read` gets only the
id and type back from a write (with or without `secrets`)."""

import pytest

from integrations.models import Integration
from tests.api.support import fields_of, post_json, url
from tests.factories import TwilioFactory

pytestmark = pytest.mark.django_db

MASK = "********"
STORED = {"account": "AC-stored", "password": "stored-auth-token"}
SENT = {"account": "AC-sent", "password": "sent-auth-token"}

ID_ONLY = {"id": "twilio", "type": "twilio"}
FORBIDDEN = "forbidden"


def record(values: dict, *, secrets: bool) -> dict:
    return {
        "id": "twilio",
        "type": "twilio",
        "account": values["account"],
        "password": values["password"] if secrets else MASK,
    }


def lacks(scope: str) -> dict:
    return {"error": f"This token lacks the '{scope}' scope."}


# scopes -> (what GET answers, what a write answers): a body, or FORBIDDEN.
EXPECTED = {
    "read": ("masked", FORBIDDEN),
    "write": (FORBIDDEN, "id-only"),
    "secrets": (FORBIDDEN, FORBIDDEN),
    "read,write": ("masked", "masked"),
    "read,secrets": ("clear", FORBIDDEN),
    "write,secrets": (FORBIDDEN, "id-only"),
    "read,write,secrets": ("clear", "clear"),
}


def expected_body(kind: str, values: dict) -> dict:
    if kind == "id-only":
        return ID_ONLY
    return record(values, secrets=kind == "clear")


@pytest.mark.parametrize("scopes", list(EXPECTED))
def test_it_answers_a_get_by_the_tokens_scopes(token_client, tenant, scopes):
    TwilioFactory(tenant=tenant, **STORED)
    kind = EXPECTED[scopes][0]

    one = token_client(tenant, scopes).get(url("twilio"))
    listed = token_client(tenant, scopes).get("/1.0/tenants/acme/integrations")

    if kind == FORBIDDEN:
        assert (one.status_code, one.json()) == (403, lacks("read"))
        assert (listed.status_code, listed.json()) == (403, lacks("read"))
        return
    assert (one.status_code, without_meta(one.json())) == (200, expected_body(kind, STORED))
    assert listed.status_code == 200
    assert [without_meta(record) for record in listed.json()] == [expected_body(kind, STORED)]


@pytest.mark.parametrize("existing", [False, True], ids=["create", "replace"])
@pytest.mark.parametrize("scopes", list(EXPECTED))
def test_it_answers_a_post_by_the_tokens_scopes(token_client, tenant, scopes, existing):
    if existing:
        TwilioFactory(tenant=tenant, **STORED)
    kind = EXPECTED[scopes][1]

    response = post_json(token_client(tenant, scopes), url("twilio"), SENT)

    rows = Integration.all_objects.filter(tenant=tenant)
    if kind == FORBIDDEN:
        assert (response.status_code, response.json()) == (403, lacks("write"))
        assert [row.account for row in rows] == (["AC-stored"] if existing else [])
        return
    assert response.status_code == (200 if existing else 201)
    assert without_meta(response.json()) == expected_body(kind, SENT)
    assert [(row.account, row.password) for row in rows] == [("AC-sent", "sent-auth-token")]


@pytest.mark.parametrize("scopes", list(EXPECTED))
def test_it_answers_a_patch_by_the_tokens_scopes(token_client, tenant, scopes):
    TwilioFactory(tenant=tenant, **STORED)
    kind = EXPECTED[scopes][1]

    response = token_client(tenant, scopes).patch(
        url("twilio"), {"password": "sent-auth-token"}, format="json"
    )

    row = Integration.all_objects.get(tenant=tenant)
    if kind == FORBIDDEN:
        assert (response.status_code, response.json()) == (403, lacks("write"))
        assert row.password == "stored-auth-token"
        return
    assert response.status_code == 200
    assert without_meta(response.json()) == expected_body(
        kind, {**STORED, "password": "sent-auth-token"}
    )
    assert row.password == "sent-auth-token"


@pytest.mark.parametrize("scopes", ["write", "write,secrets"])
def test_a_token_without_read_learns_nothing_from_an_empty_patch(token_client, tenant, scopes):
    TwilioFactory(tenant=tenant, **STORED)

    response = token_client(tenant, scopes).patch(url("twilio"), {}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert "AC-stored" not in response.content.decode()
    assert "stored-auth-token" not in response.content.decode()


def without_meta(record: dict) -> dict:
    """A written answer to a token without `read` holds only id and type; a record also
    says when it was made and its version: those are checked, then left out."""
    return fields_of(record) if "version" in record else record
