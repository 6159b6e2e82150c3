"""No secret reaches a log line, at any level, SQL logging included, nor an error body."""

import logging

import pytest

from integrations import services
from tests.api.support import BODIES, SALESFORCE, TWILIO, post_json, url

pytestmark = pytest.mark.django_db

SECRETS = [SALESFORCE[k] for k in ("consumer-secret", "password", "secret-token")]


@pytest.fixture
def everything_logged(caplog, settings):
    # Django logs SQL (with its parameters) to django.db.backends only when DEBUG is on.
    settings.DEBUG = True
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    return caplog


def logged_text(caplog) -> str:
    # Messages and their raw arguments: a formatter could print either.
    return "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)


def test_secrets_are_not_logged_across_a_create_and_a_replace(everything_logged, tenant_client):
    created = post_json(tenant_client, url("salesforce", tenant="acme"), SALESFORCE)
    rotated = {**SALESFORCE, "password": "sf-password-rotated"}
    replaced = post_json(tenant_client, url("salesforce"), rotated)

    assert (created.status_code, replaced.status_code) == (201, 200)
    text = logged_text(everything_logged)
    sql = [r for r in everything_logged.records if r.name == "django.db.backends"]
    assert sql, "DEBUG should have logged the SQL: the test would prove nothing"
    # The SQL log shows the INSERT and UPDATE parameters: ciphertext, never the plaintext.
    assert any("INSERT" in r.getMessage() and "gAAAAA" in r.getMessage() for r in sql)
    assert any("UPDATE" in r.getMessage() and "gAAAAA" in r.getMessage() for r in sql)
    for secret in [*SECRETS, rotated["password"]]:
        assert secret not in text
    # Nor the API token: only its prefix is ever looked up.
    api_token = tenant_client._credentials["HTTP_AUTHORIZATION"].split()[1]
    assert api_token not in text


def test_secrets_are_not_logged_when_the_body_is_invalid(everything_logged, tenant_client):
    secret = "s3cr3t-" + "x" * 300
    body = {**SALESFORCE, "password": secret, "secret-token": secret, "username": "nope"}

    response = post_json(tenant_client, url("salesforce"), body)

    assert response.status_code == 400
    assert "s3cr3t" not in logged_text(everything_logged)
    assert "s3cr3t" not in response.content.decode()


def test_secrets_are_not_logged_or_answered_on_a_500(everything_logged, tenant_client, monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(services, "integration_upsert", explode)

    response = post_json(tenant_client, url("twilio"), TWILIO)

    assert response.status_code == 500
    text = logged_text(everything_logged)
    assert "RuntimeError" in text  # the traceback is logged...
    assert TWILIO["password"] not in text  # ...without the secret
    assert TWILIO["password"] not in response.content.decode()


def test_a_masked_echo_logs_nothing_either(everything_logged, token_client, tenant):
    response = post_json(token_client(tenant, "write"), url("twilio"), BODIES["twilio"])

    assert response.status_code == 201
    assert TWILIO["password"] not in logged_text(everything_logged)
