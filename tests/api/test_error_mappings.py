"""Every mapping of integrations/api/errors.py, one by one: the exception an API view raises
becomes one documented status, the one error shape, and the headers that go with it."""

import json
import logging

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.renderers import StaticHTMLRenderer
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from integrations.api import errors
from integrations.exceptions import (
    IntegrationBusy,
    IntegrationNotFound,
    PreconditionFailed,
    UnknownProvider,
)
from tenants.exceptions import TenantNotFound


class Crashing(APIView):
    """A stand-in view: the handler names the view in its log line."""


def handle(exc):
    request = APIRequestFactory().get("/1.0/tenants/acme/integrations")
    response = errors.api_exception_handler(exc, {"view": Crashing(), "request": request})
    assert response is not None
    # A DRF Response, or a JsonResponse (the 503, shared with the non-DRF handlers).
    body = response.data if hasattr(response, "data") else json.loads(response.content)
    return response.status_code, dict(body), response


def with_auth_header(exc, header="Bearer"):
    exc.auth_header = header
    return exc


MAPPINGS = [
    pytest.param(
        OperationalError("connection refused\nDETAIL: the rest"),
        503,
        {"error": errors.DATABASE_UNAVAILABLE_SENTENCE},
        {"Retry-After": "5"},
        id="operational-error",
    ),
    pytest.param(
        InterfaceError("connection already closed"),
        503,
        {"error": errors.DATABASE_UNAVAILABLE_SENTENCE},
        {"Retry-After": "5"},
        id="interface-error",
    ),
    pytest.param(
        IntegrationBusy("twilio"),
        409,
        {"error": str(IntegrationBusy("twilio"))},
        {"Retry-After": str(IntegrationBusy.retry_after_seconds)},
        id="busy",
    ),
    pytest.param(
        TenantNotFound("nobody"),
        422,
        {"error": "Tenant 'nobody' does not exist or has been deleted."},
        {},
        id="tenant-not-found",
    ),
    pytest.param(
        IntegrationNotFound("crm"),
        422,
        {"error": "Integration 'crm' does not exist or has been deleted."},
        {},
        id="integration-not-found",
    ),
    pytest.param(
        UnknownProvider("fax"), 422, {"error": str(UnknownProvider("fax"))}, {}, id="unknown-type"
    ),
    pytest.param(
        DjangoValidationError({"consumer_secret": ["Too short."], "api_key": ["Required."]}),
        400,
        {
            "error": "The request body is invalid.",
            "fields": {"consumer-secret": ["Too short."], "api-key": ["Required."]},
        },
        {},
        id="service-error-keyed-by-model-field",
    ),
    pytest.param(
        DjangoValidationError({NON_FIELD_ERRORS: ["The pair is wrong."]}),
        400,
        {"error": "The pair is wrong."},
        {},
        id="service-error-not-keyed",
    ),
    pytest.param(
        DjangoValidationError("One sentence."), 400, {"error": "One sentence."}, {}, id="plain"
    ),
    pytest.param(
        exceptions.ValidationError({"id": ["Must match."]}),
        400,
        {"error": "The request body is invalid.", "fields": {"id": ["Must match."]}},
        {},
        id="serializer-error",
    ),
    pytest.param(
        exceptions.ValidationError([]), 400, {"error": "Invalid request."}, {}, id="empty-list"
    ),
    pytest.param(
        RequestDataTooBig("too big"),
        413,
        {"error": "The request body is larger than the limit of 1 MiB."},
        {},
        id="body-too-big",
    ),
    pytest.param(Http404("secret detail"), 404, {"error": "Not found."}, {}, id="http404"),
    pytest.param(
        DjangoPermissionDenied("secret detail"),
        403,
        {"error": exceptions.PermissionDenied.default_detail},
        {},
        id="django-permission-denied",
    ),
    pytest.param(
        with_auth_header(exceptions.NotAuthenticated()),
        401,
        {"error": "Authentication required: send 'Authorization: Bearer <token>'."},
        {"WWW-Authenticate": "Bearer"},
        id="not-authenticated",
    ),
    pytest.param(
        with_auth_header(exceptions.AuthenticationFailed("The token is invalid.")),
        401,
        {"error": "The token is invalid."},
        {"WWW-Authenticate": "Bearer"},
        id="authentication-failed",
    ),
    pytest.param(
        exceptions.UnsupportedMediaType("text/plain"),
        415,
        {"error": "The request body must be JSON: send 'Content-Type: application/json'."},
        {},
        id="unsupported-media-type",
    ),
    pytest.param(
        exceptions.MethodNotAllowed("PUT"),
        405,
        {"error": 'Method "PUT" not allowed.'},
        {},
        id="method-not-allowed",
    ),
    pytest.param(
        exceptions.APIException({"detail": "a dict"}),
        500,
        {"error": exceptions.APIException.default_detail},
        {},
        id="api-exception-with-a-dict-detail",
    ),
]


@pytest.mark.parametrize(("exc", "status", "body", "headers"), MAPPINGS)
def test_each_exception_maps_to_its_status_body_and_headers(exc, status, body, headers):
    got_status, got_body, response = handle(exc)

    assert (got_status, got_body) == (status, body)
    for name, value in headers.items():
        assert response[name] == value
    for name in {"Retry-After", "WWW-Authenticate"} - set(headers):
        assert name not in response


def test_a_throttled_request_says_when_to_retry():
    status, body, response = handle(exceptions.Throttled(wait=7.6))

    assert status == 429
    assert set(body) == {"error"}
    assert response["Retry-After"] == "8"  # DRF rounds the wait up


def test_an_unexpected_exception_is_a_500_without_its_message_and_is_logged(caplog):
    with caplog.at_level(logging.ERROR, logger="integrations.api"):
        status, body, _ = handle(RuntimeError("internal detail"))

    assert (status, body) == (500, {"error": "Internal server error."})
    assert [r.getMessage() for r in caplog.records] == ["Unhandled error in Crashing"]
    assert caplog.records[0].exc_info is not None


def test_a_database_outage_is_logged_on_one_line_without_the_rest_of_the_message(caplog):
    with caplog.at_level(logging.ERROR, logger="integrations.api"):
        handle(OperationalError("connection refused\nDETAIL: host=db password=hunter2"))

    assert [r.getMessage() for r in caplog.records] == [
        "Database unavailable (OperationalError: connection refused) for "
        "/1.0/tenants/acme/integrations"
    ]
    assert caplog.records[0].exc_info is None


@pytest.mark.parametrize(
    ("path", "api"),
    [
        ("/1.0/tenants/acme", True),
        ("/1.0", True),
        ("/2.0/anything", True),
        ("/1.0.1/x", True),
        ("/1/tenants", False),
        ("/tenants/1.0/", False),
        ("/admin/", False),
        ("/10", False),
    ],
)
def test_api_paths_are_those_with_a_version_like_first_segment(path, api):
    assert errors.is_api_path(path) is api


@pytest.mark.django_db
def test_the_not_found_handler_answers_json_under_the_api_and_html_elsewhere(rf):
    api = errors.not_found_handler(rf.get("/1.0/nowhere"), Http404())
    page = errors.not_found_handler(rf.get("/nowhere/"), Http404())

    assert (api.status_code, json.loads(api.content)) == (
        404,
        {"error": "No API route matches /1.0/nowhere."},
    )
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_the_bad_request_handler_answers_json_under_the_api_and_html_elsewhere(rf):
    api = errors.bad_request_handler(rf.get("/1.0/tenants"))
    page = errors.bad_request_handler(rf.get("/tenants/"))

    assert (api.status_code, json.loads(api.content)) == (400, {"error": "Bad request."})
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_the_server_error_handler_answers_503_for_a_database_outage(rf):
    try:
        raise OperationalError("statement timeout")
    except OperationalError:
        api = errors.server_error_handler(rf.get("/1.0/tenants"))
        page = errors.server_error_handler(rf.get("/tenants/"))

    assert (api.status_code, json.loads(api.content)) == (
        503,
        {"error": errors.DATABASE_UNAVAILABLE_SENTENCE},
    )
    assert (page.status_code, page["Retry-After"]) == (503, "5")
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_the_server_error_handler_answers_500_for_anything_else(rf):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        api = errors.server_error_handler(rf.get("/1.0/tenants"))
        page = errors.server_error_handler(rf.get("/tenants/"))

    assert (api.status_code, json.loads(api.content)) == (500, {"error": "Internal server error."})
    assert "Retry-After" not in api
    assert page.status_code == 500
    assert "boom" not in page.content.decode()


@pytest.mark.django_db
def test_the_csrf_failure_handler_answers_json_under_the_api_and_html_elsewhere(rf):
    api = errors.csrf_failure_handler(rf.post("/1.0/tenants"), reason="no token")
    page = errors.csrf_failure_handler(rf.post("/tenants/"), reason="no token")

    assert (api.status_code, json.loads(api.content)) == (
        403,
        {"error": "Forbidden: this request needs a valid CSRF token."},
    )
    assert page.status_code == 403
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_the_api_documents_answer_their_errors_in_json(anonymous_client):
    response = anonymous_client.delete("/1.0/openapi.json")

    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"error"}


class HtmlView(errors.JSONErrorsMixin, APIView):
    """A view that renders HTML, like the API docs page: its errors must still be JSON."""

    renderer_classes = [StaticHTMLRenderer]
    permission_classes = []
    authentication_classes = []

    def get(self, request):
        status = int(request.query_params["status"])
        data = {"error": "Nope."} if status >= 400 else "<p>page</p>"
        return Response(data, status=status)


@pytest.mark.parametrize(
    ("status", "content_type"),
    [(200, "text/html"), (304, "text/html"), (400, "application/json"), (404, "application/json")],
)
def test_a_view_that_renders_html_answers_its_errors_in_json(status, content_type):
    request = APIRequestFactory().get(f"/1.0/docs?status={status}")

    response = HtmlView.as_view()(request)
    response.render()

    assert response.status_code == status
    assert response["Content-Type"].startswith(content_type)
    if status >= 400:
        assert json.loads(response.content) == {"error": "Nope."}


def test_a_precondition_that_fails_is_a_412():
    status, body, _ = handle(PreconditionFailed("The integration has changed since it was read."))

    assert (status, body) == (412, {"error": "The integration has changed since it was read."})


def test_a_body_with_several_general_errors_names_the_first_in_error():
    response = errors.validation_error_response(
        {"non_field_errors": ["First problem.", "Second problem."], "id": ["Bad id."]}
    )

    assert response.status_code == 400
    assert response.data == {"error": "First problem.", "fields": {"id": ["Bad id."]}}


def test_a_list_of_errors_names_the_first_in_error():
    response = errors.validation_error_response(["First problem.", "Second problem."])

    assert response.status_code == 400
    assert response.data == {"error": "First problem."}
