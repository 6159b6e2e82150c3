"""/healthz and /readyz: exempt from authentication, host checks, HTTPS redirects and rate
limits; never cached; /readyz makes one database round trip and answers 503 without it.
(tests/servers/test_gunicorn.py asks a real server whose database port is closed.)"""

import logging

import pytest
from django.db import OperationalError, connections
from django.test import Client


def test_healthz_answers_ok_without_touching_the_database(client):
    # No `db` fixture: pytest-django fails the test at any database access.
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    assert len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_readyz_makes_one_database_round_trip(client, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_answers_503_json_when_the_database_is_unreachable(client, monkeypatch, caplog):
    def unreachable(*args, **kwargs):
        raise OperationalError('connection to server at "10.0.0.9", port 5432 failed: refused')

    monkeypatch.setattr(connections["default"], "cursor", unreachable)
    with caplog.at_level(logging.ERROR, logger="config.health"):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "error": "The database is unavailable; try again shortly.",
    }
    assert response["Retry-After"] == "5"
    assert "no-store" in response["Cache-Control"]
    assert "Not ready: database unavailable (OperationalError" in caplog.text
    # The liveness check does not care.
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.django_db
def test_a_probe_needs_no_login_no_token_no_allowed_host_and_no_https(settings, path):
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["registry.example.com"]
    probe = Client(HTTP_HOST="10.1.2.3:8000", HTTP_AUTHORIZATION="Bearer ir_not-a-token")

    response = probe.get(path)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_probes_are_not_rate_limited(settings):
    settings.API_AUTH_FAILURE_RATE = "1/min"
    probe = Client(HTTP_AUTHORIZATION="Bearer ir_not-a-token")

    statuses = {probe.get(path).status_code for path in ["/healthz", "/readyz"] * 20}

    assert statuses == {200}


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_a_probe_answers_get_and_head_only(client, path):
    response = client.post(path)

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert set(response.json()) == {"error"}
    assert client.head("/healthz").status_code == 200
