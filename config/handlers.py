"""Django's WSGI and ASGI handlers, with a request that never takes on a charset it cannot
decode text with.

Django's request takes the Content-Type's charset as the encoding of its query string and
form whenever Python knows the name, and setting it evaluates `request.GET` at once (the
encoding setter's `hasattr(self, "GET")`). A binary codec (`charset=base64`) so raised
LookupError while Django was still building the request, outside every handler and
middleware: the WSGI server answered its own 500. A codec that refuses errors="replace"
(`charset=idna`) crashed the first middleware to read the form.

Here such a charset is never taken on (the request decodes as UTF-8, Django's default), and
RefuseUndecodableCharsetMiddleware (config/request_guards.py) answers the request with a 400.
config/wsgi.py and config/asgi.py serve these handlers.
"""

import functools
from collections.abc import Mapping
from typing import Any

import django
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.http import HttpRequest
from django.utils.http import parse_header_parameters


@functools.lru_cache(maxsize=64)
def decodes_text(charset: str) -> bool:
    """Whether Django can decode a query string and form fields with `charset`: a codec Python
    knows, that turns bytes into text (str.encode refuses base64, bz2 and the like), and that
    accepts errors="replace", which Django's form parsing uses (idna and undefined refuse)."""
    try:
        "".encode(charset)
        b"probe=%41".decode(charset, "replace")
    except Exception:  # LookupError, UnicodeError; ValueError for a name holding a NUL
        return False
    return True


def declared_charset(request: HttpRequest) -> str | None:
    """The charset the request's Content-Type names, if any."""
    return (request.content_params or {}).get("charset")


class DecodableCharsetMixin:
    # As HttpRequest declares them (django-stubs), so the mixin agrees with the request.
    content_type: str | None
    content_params: dict[str, str] | None
    _encoding: str | None

    def _set_content_type_params(self, meta: Mapping[str, Any]) -> None:
        """As Django's, but takes on only a charset that decodes text; and sets it before
        anything has read GET or POST, so without evaluating them (and failing) here."""
        self.content_type, self.content_params = parse_header_parameters(
            meta.get("CONTENT_TYPE", "")
        )
        charset = (self.content_params or {}).get("charset")
        if charset is not None and decodes_text(charset):
            self._encoding = charset


class RegistryWSGIRequest(DecodableCharsetMixin, WSGIRequest):
    pass


class RegistryASGIRequest(DecodableCharsetMixin, ASGIRequest):
    pass


class RegistryWSGIHandler(WSGIHandler):
    request_class = RegistryWSGIRequest


class RegistryASGIHandler(ASGIHandler):
    request_class = RegistryASGIRequest


def get_wsgi_application() -> RegistryWSGIHandler:
    """As django.core.wsgi.get_wsgi_application, with this module's handler."""
    django.setup(set_prefix=False)
    return RegistryWSGIHandler()


def get_asgi_application() -> RegistryASGIHandler:
    """As django.core.asgi.get_asgi_application, with this module's handler."""
    django.setup(set_prefix=False)
    return RegistryASGIHandler()
