"""A database that is down, hung or timed out answers 503 with Retry-After under the API, in
the JSON error shape, in DEBUG too: never a 500, never a traceback or the driver's text."""

import logging

import pytest
from django.db import InterfaceError, OperationalError

from integrations import selectors
from tests.api.support import TWILIO, post_json, url

pytestmark = pytest.mark.django_db

UNAVAILABLE = {"error": "The database is unavailable; try again shortly."}
DRIVER_TEXT = 'connection to server at "db.internal", port 5432 failed: timeout expired'


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def debug(request, settings):
    settings.DEBUG = request.param


@pytest.fixture(params=[OperationalError, InterfaceError])
def database_down(request, monkeypatch):
    """The selectors every API route calls raise what Django raises when the database is
    gone (a refused or timed-out connect, a statement timeout, a dropped connection)."""

    def fail(*args, **kwargs):
        raise request.param(DRIVER_TEXT)

    monkeypatch.setattr(selectors, "integration_get_live", fail)
    monkeypatch.setattr(selectors, "integration_list", fail)
    # A page's read, by itself or with its reveal (integrations.reveal_reads).
    monkeypatch.setattr(selectors, "page_read", fail)
    return request.param


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", url("twilio")),
        ("get", "/1.0/tenants/acme/integrations"),
        ("patch", url("twilio")),
        ("delete", url("twilio")),
    ],
)
def test_a_database_error_in_an_api_view_is_a_json_503_with_retry_after(
    debug, tenant_client, tenant, database_down, method, path, caplog
):
    with caplog.at_level(logging.WARNING):
        if method == "patch":
            response = tenant_client.patch(path, {"account": "AC2"}, format="json")
        else:
            response = getattr(tenant_client, method)(path)

    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json() == UNAVAILABLE
    assert response["Retry-After"] == "5"
    assert "db.internal" not in response.content.decode()
    assert f"Database unavailable ({database_down.__name__}:" in caplog.text
    assert "Traceback" not in caplog.text


def test_a_database_error_in_a_write_is_a_503_too(tenant_client, tenant, monkeypatch):
    from integrations import services

    def fail(**kwargs):
        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setattr(services, "integration_upsert", fail)

    response = post_json(tenant_client, url("twilio"), TWILIO)

    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    assert response["Retry-After"] == "5"
    assert TWILIO["password"] not in response.content.decode()


def test_every_operation_documents_the_503(client):
    document = client.get("/1.0/openapi.json").json()

    for path, item in document["paths"].items():
        for method, operation in item.items():
            response = operation["responses"]["503"]
            assert "Retry-After" in response["description"], (path, method)
            assert response["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
