"""Project-wide middleware: the API's error shape as a last resort; a database that is down
is a 503 on every page."""

from http import HTTPStatus

from django.http import JsonResponse

from integrations.api.errors import (
    DATABASE_UNAVAILABLE,
    database_unavailable_response,
    is_api_path,
    log_database_unavailable,
)

# Headers of an error answer that still mean something once its body is JSON.
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class ApiErrorShapeMiddleware:
    """Near the top: an error answer under the API that is not JSON becomes `{"error": ...}`
    with the same status. The handlers and views answer JSON themselves; this catches what
    Django renders before or around them, which DEBUG turns into HTML pages (a Host header
    outside ALLOWED_HOSTS shows the technical 400 page in DEBUG, whatever handler400 says)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and is_api_path(request.path_info)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return _json_error_like(response)
        return response


def _json_error_like(response):
    try:
        phrase = HTTPStatus(response.status_code).phrase
    except ValueError:
        phrase = "Error"
    shaped = JsonResponse({"error": f"{phrase}."}, status=response.status_code)
    for header in KEPT_HEADERS:
        if header in response:
            shaped[header] = response[header]
    return shaped


class DatabaseUnavailableMiddleware:
    """A database error in a view (or its template) answers 503 with Retry-After: JSON under
    the API, the plain 503 page elsewhere; in DEBUG too. The API's own views get theirs from
    the DRF exception handler; this covers the staff pages and any other view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None
        log_database_unavailable(exception, request)
        return database_unavailable_response(api=is_api_path(request.path_info))
