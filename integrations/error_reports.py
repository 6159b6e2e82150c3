"""Error reports (Django's 500 report for error mail, trackers and the DEBUG page) never show a
secret in clear.

`sensitive_variables` and `sensitive_post_parameters` reach only the frames and forms we
decorate; a crash inside Django, psycopg or DRF leaves their locals (`values`, `row`, `body`,
connection parameters) in the report. So reports are scrubbed centrally instead:

- every secret typed in, sent, or revealed during a request is remembered for that request
  (`remember_secret`, called by integrations.sealed, the API's body parser and secret form
  fields), and so are the settings that are secrets themselves (SECRET_KEY,
  FIELD_ENCRYPTION_KEYS, database passwords);
- `ScrubbingExceptionReporterFilter` (DEFAULT_EXCEPTION_REPORTER_FILTER) replaces any of them
  in every frame variable, before Django trims long values, and is active in DEBUG too;
- `ScrubbingExceptionReporter` (DEFAULT_EXCEPTION_REPORTER) scrubs the finished report once
  more, text and HTML, so the exception message, request data and headers are covered.
"""

from __future__ import annotations

import contextvars
import json
import re
from collections.abc import Iterable
from pprint import pformat
from urllib.parse import quote, quote_plus

from django.conf import settings
from django.utils.html import escape
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

SCRUBBED = "********************"  # Django's own cleansed_substitute
# Shorter values would scrub ordinary words out of the report; such a value protects nothing.
MIN_SCRUBBED_LENGTH = 4

_seen_in_request: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "secrets_seen_in_request", default=None
)


def remember_secret(value: object) -> None:
    """Note a plaintext secret (str) that this request handled; no-op outside a request."""
    seen = _seen_in_request.get()
    if seen is not None and isinstance(value, str) and len(value) >= MIN_SCRUBBED_LENGTH:
        seen.add(value)


class SecretsSeenInRequestMiddleware:
    """First in MIDDLEWARE: gives each request its own set of secrets to scrub from reports."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _seen_in_request.set(set())
        try:
            return self.get_response(request)
        finally:
            _seen_in_request.reset(token)


def _configured_secrets() -> set[str]:
    values = {settings.SECRET_KEY, *settings.FIELD_ENCRYPTION_KEYS}
    values.update(db.get("PASSWORD") or "" for db in settings.DATABASES.values())
    return {v for v in values if isinstance(v, str) and len(v) >= MIN_SCRUBBED_LENGTH}


def _spellings(secret: str) -> set[str]:
    """The ways a value can appear in a report: as is, escaped for JSON, Python repr (str or
    bytes), URL-encoded, and each of those HTML-escaped."""
    json_ascii = json.dumps(secret)[1:-1]
    json_utf8 = json.dumps(secret, ensure_ascii=False)[1:-1]
    forms = {secret, json_ascii, json_utf8, quote(secret, safe=""), quote_plus(secret, safe="")}
    for form in list(forms):
        forms.add(repr(form)[1:-1])
        forms.add(repr(form.encode("utf-8", "backslashreplace"))[2:-1])
    forms.update([escape(form) for form in forms])
    return {form for form in forms if len(form) >= MIN_SCRUBBED_LENGTH}


def _scrub_pattern(secrets: Iterable[str]) -> re.Pattern | None:
    spellings = {spelling for secret in secrets for spelling in _spellings(secret)}
    if not spellings:
        return None
    # Longest first, so a value never leaves a recognisable remainder of a longer spelling.
    ordered = sorted(spellings, key=len, reverse=True)
    return re.compile("|".join(re.escape(s) for s in ordered))


def scrub(text: str, pattern: re.Pattern | None = None) -> str:
    """`text` with every remembered or configured secret replaced by SCRUBBED."""
    pattern = pattern or _current_pattern()
    return pattern.sub(SCRUBBED, text) if pattern else text


def _current_pattern() -> re.Pattern | None:
    return _scrub_pattern(_configured_secrets() | (_seen_in_request.get() or set()))


class _ScrubbedValue:
    """A frame variable as the report will print it, secrets already replaced."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


class ScrubbingExceptionReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request):
        # Django's filter rests in DEBUG; secrets must stay out of the DEBUG page as well.
        return True

    def get_traceback_frame_variables(self, request, tb_frame):
        variables = super().get_traceback_frame_variables(request, tb_frame)
        pattern = _current_pattern()
        return [
            (name, _ScrubbedValue(scrub(_printed(value), pattern))) for name, value in variables
        ]


def _printed(value) -> str:
    try:
        return pformat(value)
    except Exception as error:  # as Django's own pprint filter does
        return f"Error in formatting: {error.__class__.__name__}"


class ScrubbingExceptionReporter(ExceptionReporter):
    def get_traceback_html(self):
        return scrub(super().get_traceback_html())

    def get_traceback_text(self):
        return scrub(super().get_traceback_text())
