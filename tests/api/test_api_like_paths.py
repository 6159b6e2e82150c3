"""Every answer under a version-like prefix (/1.0/..., /1.0, /2.0/...) has the JSON error
shape with the right status, in DEBUG and production alike: never Django's CSRF page, an HTML
redirect to /1.0/, nor its (debug) 404 page."""

import json

import pytest
from django.middleware.csrf import _get_failure_view
from django.test import Client

from tests.api.test_http_errors import assert_json_error

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


UNSAFE = ["post", "put", "patch", "delete"]


@pytest.fixture
def browser_like():
    """A client that enforces CSRF like a browser session would be checked."""
    return Client(enforce_csrf_checks=True)


def send(client, method: str, path: str):
    if method in {"get", "head", "delete"}:
        return getattr(client, method)(path)
    return getattr(client, method)(path, "{}", content_type="application/json")


@pytest.mark.parametrize("method", UNSAFE)
@pytest.mark.parametrize("path", ["/1.0/nothing-here", "/1.0/tenants", "/1.0/x/y/z/"])
def test_an_unsafe_method_on_an_unknown_api_path_is_a_json_404_not_the_csrf_page(
    debug, browser_like, method, path
):
    response = send(browser_like, method, path)

    body = assert_json_error(response, 404)
    assert body == {"error": f"No API route matches {path}."}


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_the_api_root_without_its_slash_is_a_json_404_not_a_redirect(debug, browser_like, method):
    response = send(browser_like, method, "/1.0")

    assert_json_error(response, 404)
    assert "Location" not in response


@pytest.mark.parametrize("method", ["get", *UNSAFE])
@pytest.mark.parametrize(
    "path", ["/2.0/anything", "/2.0/", "/2.0", "/1.1/tenants/acme/integrations", "/10.0.1/x"]
)
def test_another_version_like_prefix_is_a_json_404(debug, browser_like, method, path):
    response = send(browser_like, method, path)

    body = assert_json_error(response, 404)
    assert body == {"error": f"No API route matches {path}."}


def test_a_newline_in_an_api_like_path_does_not_escape_the_json_404(debug, client):
    response = client.get("/2.0/a%0Ab")

    assert json.loads(response.content) == {"error": "No API route matches /2.0/a\nb."}
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/no-such-page/", "/2/anything", "/v2.0/x", "/2.0x/"])
def test_paths_that_are_not_version_like_keep_the_html_404(debug, client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "method,path,allowed",
    [("post", "/1.0/docs", "GET"), ("delete", "/1.0/openapi.json", "GET")],
)
def test_the_document_and_its_docs_page_answer_a_wrong_method_with_a_json_405(
    debug, client, method, path, allowed
):
    response = send(client, method, path)

    body = assert_json_error(response, 405)
    assert method.upper() in body["error"]
    assert allowed in response["Allow"]


def test_the_docs_page_itself_is_still_html(client):
    response = client.get("/1.0/docs")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_the_csrf_failure_view_answers_json_under_the_api_and_the_page_elsewhere(rf):
    failure_view = _get_failure_view()

    api = failure_view(rf.post("/1.0/tenants/acme/integrations/twilio"), reason="no cookie")
    other_version = failure_view(rf.post("/2.0/x"), reason="no cookie")
    page = failure_view(rf.post("/accounts/login/"), reason="no cookie")

    assert (api.status_code, json.loads(api.content)) == (
        403,
        {"error": "Forbidden: this request needs a valid CSRF token."},
    )
    assert other_version.status_code == 403
    assert json.loads(other_version.content)["error"]
    assert page.status_code == 403
    assert page["Content-Type"].startswith("text/html")


def test_a_staff_form_posted_without_its_csrf_token_still_gets_the_html_403(debug, browser_like):
    response = browser_like.post("/accounts/login/", {"username": "x", "password": "y"})

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")


def test_in_debug_a_bad_host_under_the_api_still_gets_the_json_shape(settings, client):
    settings.DEBUG = True

    response = client.post("/1.0/tenants/acme/twilio", HTTP_HOST="evil.example")

    body = assert_json_error(response, 400)
    assert body == {"error": "Bad Request."}
