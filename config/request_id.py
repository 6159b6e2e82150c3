"""Every request has an id: the caller's `X-Request-ID` when it is well-formed (so a proxy's
or client's id carries through), a new one otherwise. It is echoed in the `X-Request-ID`
response header, put on every log line written while the request runs, and recorded in each
audit event (tenants.actors.Actor)."""

import contextvars
import logging
import re
import uuid

from config.request_headers import request_header

HEADER = "X-Request-ID"
# Letters, digits and a few separators, up to 64 characters: enough for UUIDs and the ids of
# common proxies; anything else (spaces, quotes, newlines: log injection) is replaced.
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request_header(request, "HTTP_X_REQUEST_ID") or ""
        request.request_id = given if _WELL_FORMED.fullmatch(given) else uuid.uuid4().hex
        token = _current.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request.request_id
        return response


class RequestIdLogFilter(logging.Filter):
    """Gives every log record a `request_id` ("-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs a request's 4xx/5xx once the middleware has returned, with the request
        # attached to the record.
        request = getattr(record, "request", None)
        record.request_id = getattr(request, "request_id", None) or _current.get()
        return True


class KeyValueFormatter(logging.Formatter):
    """`key=value` on one line per event: the message and any traceback are quoted (repr), so
    that neither a newline in a value nor a traceback can split or forge a line."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        line = (
            f"time={self.formatTime(record)} level={record.levelname} logger={record.name} "
            f"request_id={getattr(record, 'request_id', '-')} message={record.message!r}"
        )
        if record.exc_info:
            line += f" exc={self.formatException(record.exc_info)!r}"
        return line
