"""Middleware that applies one rule to every request or response, wherever it is handled.

- RefuseUndecodableCharsetMiddleware: a request whose Content-Type names a charset that cannot
  decode text (unknown, a binary codec such as base64, or one that fails as idna does), or
  whose query string or form fails to decode, is a 400 before anything else reads them. Read
  later, they were a 500 (see config/handlers.py). Under the API a JSON body's charset is its
  parser's to refuse (415, integrations/api/parsers.py).
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

from config.handlers import declared_charset, decodes_text
from integrations.api.errors import is_api_path

CHARSET_REFUSED = "The request's Content-Type names a charset that cannot decode text; send UTF-8."
NOT_DECODABLE = "The request's query string or form could not be decoded; send UTF-8."
NUL = "\x00"
NUL_REFUSED = "The request contains a NUL character, which no field, id or search accepts."
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class CharsetRefused(Exception):
    """Given to the 400 page as its exception (Django's page shows no detail from it)."""


def _refused(request, sentence: str):
    if is_api_path(request.path_info):
        return JsonResponse({"error": sentence}, status=400)
    return bad_request(request, CharsetRefused(sentence))


def _charset_refused(request) -> bool:
    charset = declared_charset(request)
    if charset is None:
        return False
    if is_api_path(request.path_info) and request.content_type == "application/json":
        return False  # the API's parser answers any charset but UTF-8 with its 415
    return not decodes_text(charset)


def _data_decodes(request) -> bool:
    """Reads the query string and, outside the API, a form (as the NUL guard below and
    CsrfViewMiddleware would) once, here, where a failure to decode them is the caller's."""
    try:
        request.GET  # noqa: B018 (evaluated and cached for every later reader)
        if request.content_type in FORM_CONTENT_TYPES and not is_api_path(request.path_info):
            request.POST  # noqa: B018
            request.FILES  # noqa: B018
    except (UnicodeError, LookupError):
        return False
    return True


class RefuseUndecodableCharsetMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _charset_refused(request):
            return _refused(request, CHARSET_REFUSED)
        if not _data_decodes(request):
            return _refused(request, NOT_DECODABLE)
        return self.get_response(request)


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
