"""One error shape for everything under /1.0/: {"error": "<sentence>"} (+ "fields").

The same in DEBUG and production: the DRF exception handler turns every exception raised in
an API view into JSON (500 without a traceback), and the catch-all routes answer unknown
paths with JSON 404 before Django's debug 404 page could. "Under the API" means any
version-like prefix (`/1.0/...`, `/1.0`, `/2.0/...`): a client of another version, or one
that dropped the slash, gets JSON too, never an HTML page or redirect.
"""

import logging
import re
import sys

from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import bad_request, page_not_found, server_error
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.parsers import PayloadTooLarge
from integrations.api.serializers import json_key
from integrations.exceptions import IntegrationBusy, PreconditionFailed, RegistryError

logger = logging.getLogger("integrations.api")

# A version-like first segment: /1.0, /1.0/..., /2.0/..., /1.0.1/...
API_PATH = re.compile(r"/\d+(?:\.\d+)+(?:/|\Z)")


# The database cannot be reached, timed out or dropped the connection: a 503 to retry, not
# a 500 (psycopg's statement timeouts, deadlocks and failed connects are OperationalErrors).
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE_SENTENCE = "The database is unavailable; try again shortly."
DATABASE_RETRY_AFTER_SECONDS = 5


def is_api_path(path: str) -> bool:
    return API_PATH.match(path) is not None


# DRF's default sentences are fine for these; the rest get ours.
_SENTENCES = {
    exceptions.NotAuthenticated: "Authentication required: send 'Authorization: Bearer <token>'.",
    exceptions.NotFound: "Not found.",
    # DRF's sentence quotes the media type, which reads `""` when the header is missing.
    exceptions.UnsupportedMediaType: "The request body must be JSON: "
    "send 'Content-Type: application/json'.",
    # A token over its request rate (tenants.throttling); Retry-After says when to retry.
    exceptions.Throttled: "Too many requests with this token; retry after Retry-After seconds.",
}


def api_exception_handler(exc, context):
    if isinstance(exc, DATABASE_UNAVAILABLE):
        log_database_unavailable(exc, context.get("request"))
        return database_unavailable_response(api=True)
    if isinstance(exc, IntegrationBusy):
        # A race lost several times over: retryable, and nothing was written.
        response = error_response(str(exc), status.HTTP_409_CONFLICT)
        response["Retry-After"] = str(exc.retry_after_seconds)
        return response
    if isinstance(exc, PreconditionFailed):
        return error_response(str(exc), status.HTTP_412_PRECONDITION_FAILED)
    if isinstance(exc, RegistryError):
        return error_response(str(exc), status.HTTP_422_UNPROCESSABLE_ENTITY)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_json_keyed(exc))
    if isinstance(exc, RequestDataTooBig):
        # DRF reads JSON bodies through request.body, where Django enforces
        # DATA_UPLOAD_MAX_MEMORY_SIZE (the same 1 MiB): it is our 413, not a crash.
        exc = PayloadTooLarge()
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        return validation_error_response(exc.detail)
    if isinstance(exc, exceptions.APIException):
        response = error_response(_sentence_for(exc), exc.status_code)
        auth_header = getattr(exc, "auth_header", None)  # NotAuthenticated and the like
        if auth_header:
            response["WWW-Authenticate"] = auth_header
        wait = getattr(exc, "wait", None)  # Throttled
        if wait:
            response["Retry-After"] = str(int(wait))
        return response
    # Anything else is our bug: log it for us (traceback in the log, secrets are never in
    # exception messages we raise), answer the caller without one.
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
    return error_response("Internal server error.", status.HTTP_500_INTERNAL_SERVER_ERROR)


def _sentence_for(exc: exceptions.APIException) -> str:
    sentence = _SENTENCES.get(type(exc))
    if sentence:
        return sentence
    detail = exc.detail
    return str(detail if not isinstance(detail, list | dict) else exc.default_detail)


def _json_keyed(error: DjangoValidationError):
    """Services raise Django errors keyed by model field (consumer_key); the API names JSON
    keys (consumer-key). Only these are renamed: serializer errors already use JSON keys, and
    an unknown key must be named as the client sent it."""
    if not hasattr(error, "error_dict"):
        return error.messages
    return {
        "non_field_errors" if name == NON_FIELD_ERRORS else json_key(name): messages
        for name, messages in error.message_dict.items()
    }


def error_response(sentence: str, status_code: int) -> Response:
    return Response({"error": sentence}, status=status_code)


def validation_error_response(detail) -> Response:
    if isinstance(detail, dict):
        fields = {key: _as_list(messages) for key, messages in detail.items()}
        general = fields.pop("non_field_errors", None)
        body = {
            "error": general[0] if general else "The request body is invalid.",
            "fields": fields,
        }
        if not fields:
            body.pop("fields")
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    messages = _as_list(detail)
    return Response({"error": messages[0] if messages else "Invalid request."}, status=400)


def _as_list(messages) -> list[str]:
    if isinstance(messages, list | tuple):
        return [str(m) for m in messages]
    return [str(messages)]


# csrf_exempt: a POST or DELETE to an unknown API path is a 404 like a GET, not Django's
# HTML CSRF page (the API's views are exempt too: a Bearer token is no ambient credential).
@csrf_exempt
def json_not_found(request, *args, **kwargs):
    return JsonResponse({"error": f"No API route matches {request.path}."}, status=404)


def not_found_handler(request, exception=None):
    if is_api_path(request.path):
        return json_not_found(request)
    return page_not_found(request, exception)


def bad_request_handler(request, exception=None):
    # Reached for requests Django refuses before any view runs (e.g. a Host header that is
    # not in ALLOWED_HOSTS); under /1.0/ the answer still has the one error shape.
    if is_api_path(request.path):
        return JsonResponse({"error": "Bad request."}, status=400)
    return bad_request(request, exception)


def server_error_handler(request):
    # Called while Django handles the exception (raised by a middleware, say): a database
    # that is down is a 503 here too.
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return database_unavailable_response(api=is_api_path(request.path))
    if is_api_path(request.path):
        return JsonResponse({"error": "Internal server error."}, status=500)
    return server_error(request)


def database_unavailable_response(*, api: bool) -> HttpResponse:
    """JSON under the API, the plain 503 page elsewhere. The page is rendered without the
    request: its context processors would ask the database for the user."""
    response: HttpResponse
    if api:
        response = JsonResponse({"error": DATABASE_UNAVAILABLE_SENTENCE}, status=503)
    else:
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


def log_database_unavailable(exc: Exception, request) -> None:
    # No traceback, and only the first line of the driver's message (the one that says
    # "connection refused" or "statement timeout"); no statement or value follows it.
    first_line = (str(exc).strip().splitlines() or [""])[0]
    path = getattr(request, "path", "?")
    logger.error("Database unavailable (%s: %s) for %s", type(exc).__name__, first_line, path)


def csrf_failure_handler(request, reason=""):
    """settings.CSRF_FAILURE_VIEW: JSON under the API (should a view there ever not be
    exempt), Django's page elsewhere."""
    if is_api_path(request.path):
        return JsonResponse(
            {"error": "Forbidden: this request needs a valid CSRF token."}, status=403
        )
    return django_csrf_failure(request, reason)


class JSONErrorsMixin(APIView):
    """For the DRF views that render something else (the Swagger UI page, the OpenAPI
    document): their errors (405...) are JSON like every other answer under the API."""

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)
