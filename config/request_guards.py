"""Middleware that applies one rule to every request or response, wherever it is handled.

- RejectNulCharactersMiddleware: a NUL character in the path, a query parameter or a form
  field is a 400 before any view runs. No name, id, search or filter of this application can
  hold one, and PostgreSQL refuses them in text ("A string literal cannot contain NUL"), which
  made every lookup that passed one on a 500 (staff search, admin filters, ...).
- NoStoreMiddleware: `Cache-Control: no-store` on everything but static files. The pages show
  tenants' configuration (and the admin shows a new API token once); neither the browser nor a
  proxy may keep a copy.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.http import JsonResponse
from django.utils.cache import patch_cache_control
from django.views.defaults import bad_request

from integrations.api.errors import is_api_path

NUL = "\x00"
NUL_REFUSED = "The request contains a NUL character, which no field, id or search accepts."
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class NulCharacterRefused(Exception):
    """Given to the 400 page as its exception (Django's page shows no detail from it)."""


def _any_nul(items) -> bool:
    return any(NUL in key or any(NUL in value for value in values) for key, values in items)


def has_nul_character(request) -> bool:
    if NUL in request.path or NUL in request.path_info:
        return True
    if _any_nul(request.GET.lists()):
        return True
    if request.content_type in FORM_CONTENT_TYPES and not is_api_path(request.path_info):
        # The API reads JSON only (a form body is a 415 there, its own parser's business);
        # elsewhere a form is parsed here, as CsrfViewMiddleware would a moment later.
        if _any_nul(request.POST.lists()):
            return True
        files = [(key, [f.name or "" for f in values]) for key, values in request.FILES.lists()]
        return _any_nul(files)
    return False


class RejectNulCharactersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if has_nul_character(request):
            if is_api_path(request.path_info):
                return JsonResponse({"error": NUL_REFUSED}, status=400)
            return bad_request(request, NulCharacterRefused(NUL_REFUSED))
        return self.get_response(request)


def _static_prefix() -> str:
    path = urlsplit(settings.STATIC_URL).path
    return path if path.startswith("/") else f"/{path}"


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.static_prefix = _static_prefix()

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path_info.startswith(self.static_prefix):
            patch_cache_control(response, no_store=True)
        return response
