"""Bodies and helpers shared by the API tests."""

import json
import re

JSON = "application/json; charset=utf-8"

# One valid body per provider, in the API's hyphenated keys; every secret value is distinct
# and unmistakable, so a leak shows up in any text it lands in.
SALESFORCE = {
    "consumer-key": "consumerkey",
    "consumer-secret": "sf-consumer-secret-value",
    "username": "dev@userevents.com",
    "password": "sf-password-value",
    "secret-token": "sf-secret-token-value",
}
TWILIO = {"account": "AC0123456789", "password": "twilio-auth-token-value"}
SENDGRID = {"account": "sendgrid-user", "password": "sendgrid-password-value"}
DATASIFT = {"username": "datasift-user", "api-key": "datasift-api-key-value"}

BODIES = {
    "salesforce": SALESFORCE,
    "twilio": TWILIO,
    "sendgrid": SENDGRID,
    "datasift": DATASIFT,
}
# What a record holds beyond the body it was created from: fields the API document's bodies
# leave out, stored with their defaults (the Salesforce login host, issue 11).
DEFAULTS = {"salesforce": {"login-host": "login.salesforce.com"}}


def echoed(provider: str, ident: str, body: dict) -> dict:
    """The record (without its own timestamps, version, verification) that creating `body` of
    `provider` under id `ident` answers: the body, its id and type, and the defaults."""
    return {**DEFAULTS.get(provider, {}), "id": ident, "type": provider, **body}


SECRET_KEYS = {
    "salesforce": ["consumer-secret", "password", "secret-token"],
    "twilio": ["password"],
    "sendgrid": ["password"],
    "datasift": ["api-key"],
}


# The bodies exactly as the API document shows them (Twilio, SendGrid, DataSift omit "type").
SALESFORCE_EXAMPLE = """ {
        "id": "salesforce",
        "type": "salesforce",
        "consumer-key": "consumerkey",
        "consumer-secret": "consumersecret",
        "username": "dev@userevents.com",
        "secret-token": "secret-token",
        "password": "password"
    }"""
TWILIO_EXAMPLE = """{
    "id": "twilio",
    "account": "SID",
    "password": "Token"
}"""
SENDGRID_EXAMPLE = """{
    "id": "sendgrid",
    "account": "username",
    "password": "password"
}"""
DATASIFT_EXAMPLE = """{
    "id": "datasift",
    "api-key": "api-key",
    "username": "username"
}"""
# The document's Salesforce curl line: a comma is missing before "secret-token".
SALESFORCE_CURL_BODY = (
    '{"id": "salesforce", "type": "salesforce", "consumer-key": "consumerkey", '
    '"consumer-secret":"consumersecret","username":"email@userevents.com"\n'
    '"secret-token":"secret-token","password":"password"}'
)

EXAMPLES = [
    ("salesforce", SALESFORCE_EXAMPLE),
    ("twilio", TWILIO_EXAMPLE),
    ("sendgrid", SENDGRID_EXAMPLE),
    ("datasift", DATASIFT_EXAMPLE),
]


def url(ident: str, tenant: str = "acme", *, short: bool = False) -> str:
    if short:
        return f"/1.0/tenants/{tenant}/{ident}"
    return f"/1.0/tenants/{tenant}/integrations/{ident}"


def post_json(client, path: str, body, **extra):
    """POST `body` encoded as JSON (a str is sent as it is, to send broken JSON)."""
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data, content_type=JSON, **extra)


def field_name(json_key: str) -> str:
    return json_key.replace("-", "_")


RFC3339_UTC = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\Z")


def fields_of(record: dict) -> dict:
    """A record without what it says about itself (created-at, updated-at, version, and the
    last-verification and last-used keys), after checking those are there and well-formed:
    RFC 3339 times in UTC (or null where allowed), a version from 1."""
    record = dict(record)
    created, updated, version = (record.pop(k) for k in ("created-at", "updated-at", "version"))
    assert RFC3339_UTC.match(created) and RFC3339_UTC.match(updated), (created, updated)
    assert isinstance(version, int) and version >= 0, version
    # Issue 11: the last verification and the last read of the secrets (null when never).
    for key in ("last-verified-at", "last-used-at"):
        moment = record.pop(key)
        assert moment is None or RFC3339_UTC.match(moment), (key, moment)
    assert record.pop("last-verification") in {"ok", "rejected", "unreachable", "never"}
    assert isinstance(record.pop("last-verification-detail"), str)
    return record


def token_for(tenant=None, scopes: str = "read,write,secrets") -> str:
    """A new API token (plaintext) for `tenant` (None: all tenants) with `scopes`."""
    from tenants.services import api_token_create
    from tests.factories import actor_named

    _, token = api_token_create(
        actor=actor_named("tests"), label="attack", tenant=tenant, scopes=scopes
    )
    return token


def client_for(token: str, **defaults):
    """An APIClient sending `Authorization: Bearer <token>`."""
    from rest_framework.test import APIClient

    client = APIClient(**defaults)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


# An audit event's columns as two reads are compared on (their ids and times differ).
EVENT_FIELDS = [
    "actor",
    "channel",
    "request_id",
    "client_address",
    "tenant_id",
    "integration_pk",
    "integration_ident",
    "integration_type",
    "api_token_prefix",
    "action",
    "changes",
]
