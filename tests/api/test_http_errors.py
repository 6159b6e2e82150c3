"""404, 405, 413, 415 and 500 under /1.0/: JSON `{"error": ...}` in DEBUG and production alike."""

import json
import logging

import pytest
from django.test.client import FakePayload

from integrations import services
from integrations.api.errors import server_error_handler
from integrations.models import Integration
from tests.api.support import JSON, TWILIO, post_json, url

pytestmark = pytest.mark.django_db

ONE_MIB = 1024 * 1024


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def assert_json_error(response, status: int):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"], str) and body["error"]
    return body


# --- 404 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/1.0/nothing-here",
        "/1.0/tenants",
        "/1.0/tenants/acme/integrations/twilio/extra",
        "/1.0/tenants/acme/integrations/twilio/extra/",
    ],
)
def test_an_unknown_route_under_the_api_is_a_json_404(debug, tenant_client, tenant, path):
    for response in (tenant_client.get(path), post_json(tenant_client, path, TWILIO)):
        body = assert_json_error(response, 404)
        assert "Traceback" not in body["error"]


def test_an_unknown_route_needs_no_token_to_get_its_json_404(debug, anonymous_client):
    assert_json_error(anonymous_client.get("/1.0/nope"), 404)


def test_outside_the_api_a_404_is_still_html(anonymous_client):
    response = anonymous_client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# --- 405 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("short", [False, True])
def test_a_method_the_route_does_not_have_is_405(tenant_client, tenant, short):
    # PUT: the upsert is POST, and nobody plans a PUT on this route.
    response = tenant_client.put(url("twilio", short=short), json.dumps(TWILIO), content_type=JSON)

    body = assert_json_error(response, 405)
    assert "PUT" in body["error"]
    assert "POST" in response["Allow"]
    assert not Integration.all_objects.exists()


# --- 413 -------------------------------------------------------------------------------------


def body_of_size(size: int) -> str:
    """A JSON object of exactly `size` bytes, valid apart from its over-long value."""
    skeleton = json.dumps({**TWILIO, "account": ""})
    padding = size - len(skeleton)
    return json.dumps({**TWILIO, "account": "a" * padding})


def test_a_body_over_one_mebibyte_is_413(debug, tenant_client, tenant):
    raw = body_of_size(ONE_MIB + 1)
    assert len(raw) == ONE_MIB + 1

    response = post_json(tenant_client, url("twilio"), raw)

    body = assert_json_error(response, 413)
    assert "1 MiB" in body["error"]
    assert not Integration.all_objects.exists()


def test_a_body_over_one_mebibyte_is_413_even_if_it_is_not_json(tenant_client, tenant):
    response = post_json(tenant_client, url("twilio"), "x" * (ONE_MIB + 1))

    assert_json_error(response, 413)


def test_a_body_of_exactly_one_mebibyte_is_read(tenant_client, tenant):
    raw = body_of_size(ONE_MIB)
    assert len(raw) == ONE_MIB

    response = post_json(tenant_client, url("twilio"), raw)

    # Read and validated: its account is over the 64-character limit, so 400, not 413.
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["account"]


# --- 415 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type,data",
    [
        ("application/x-www-form-urlencoded", "account=AC1&password=secret"),
        ("text/plain", json.dumps(TWILIO)),
        ("multipart/form-data; boundary=BoUnDaRy", "--BoUnDaRy--"),
        ("application/xml", "<twilio/>"),
    ],
    ids=["form", "text", "multipart", "xml"],
)
def test_a_body_that_is_not_json_is_415(debug, tenant_client, tenant, content_type, data):
    response = tenant_client.post(url("twilio"), data, content_type=content_type)

    body = assert_json_error(response, 415)
    assert "application/json" in body["error"]
    assert not Integration.all_objects.exists()


def test_a_body_without_a_content_type_is_415(tenant_client, tenant):
    data = json.dumps(TWILIO).encode()
    # The raw WSGI request, with no CONTENT_TYPE at all (the test client would add one).
    response = tenant_client.request(
        PATH_INFO=url("twilio"),
        REQUEST_METHOD="POST",
        CONTENT_LENGTH=str(len(data)),
        **{"wsgi.input": FakePayload(data)},
    )

    body = assert_json_error(response, 415)
    assert "application/json" in body["error"]
    assert not Integration.all_objects.exists()


def test_json_with_a_charset_is_accepted(tenant_client, tenant):
    response = tenant_client.post(
        url("twilio"), json.dumps(TWILIO), content_type="application/json; charset=utf-8"
    )

    assert response.status_code == 201


# --- 500 -------------------------------------------------------------------------------------


@pytest.fixture
def broken_upsert(monkeypatch):
    def explode(**kwargs):
        raise RuntimeError("the database caught fire")

    monkeypatch.setattr(services, "integration_upsert", explode)


def test_an_unexpected_error_is_a_json_500_without_a_traceback(
    debug, tenant_client, tenant, broken_upsert, caplog
):
    with caplog.at_level(logging.ERROR, logger="integrations.api"):
        response = post_json(tenant_client, url("twilio"), TWILIO)

    body = assert_json_error(response, 500)
    assert body == {"error": "Internal server error."}
    text = response.content.decode()
    assert "Traceback" not in text
    assert "caught fire" not in text
    assert "RuntimeError" not in text
    # ...while the traceback is logged for us, without the secret that was posted.
    assert "caught fire" in caplog.text
    assert TWILIO["password"] not in caplog.text


def test_the_500_handler_answers_json_under_the_api_and_html_elsewhere(rf):
    api = server_error_handler(rf.get("/1.0/tenants/acme/integrations/twilio"))
    page = server_error_handler(rf.get("/tenants/"))

    assert api.status_code == page.status_code == 500
    assert json.loads(api.content) == {"error": "Internal server error."}
    assert page["Content-Type"].startswith("text/html")
