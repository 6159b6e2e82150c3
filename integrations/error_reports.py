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

A secret is replaced wherever its text appears (substring) when it has at least
MIN_SCRUBBED_LENGTH characters; a shorter one would scrub ordinary words out of the report.
Every secret, however short, is also replaced where it is a whole value: a str or bytes equal
to it inside a frame variable (the variable itself, dict values, list, tuple and set items,
QueryDict values, a few levels deep), and wherever the report shows it quoted (`'§¶¤'`,
`b'abc'`, `"abc"`, as repr and JSON print a value), which covers objects' attributes as their
reprs print them and the request's POST data.
"""

from __future__ import annotations

import contextvars
import json
import re
from collections.abc import Iterable
from pprint import pformat
from urllib.parse import quote, quote_plus

from django.conf import settings
from django.utils.datastructures import MultiValueDict
from django.utils.html import escape
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

SCRUBBED = "********************"  # Django's own cleansed_substitute
# Shorter values are not replaced inside longer text (they would scrub ordinary words out of
# the report), only where they are a whole value (see the module's docstring).
MIN_SCRUBBED_LENGTH = 4
# How deep into a frame variable's containers whole values are looked for.
MAX_SCRUBBED_DEPTH = 4

_seen_in_request: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "secrets_seen_in_request", default=None
)


def remember_secret(value: object) -> None:
    """Note a plaintext secret (str) that this request handled, however short; no-op outside a
    request."""
    seen = _seen_in_request.get()
    if seen is not None and isinstance(value, str) and value:
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
    return {v for v in values if isinstance(v, str) and v}


def _current_secrets() -> set[str]:
    return _configured_secrets() | (_seen_in_request.get() or set())


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
    return {form for form in forms if len(form) >= MIN_SCRUBBED_LENGTH} | _quoted(secret)


def _quoted(secret: str) -> set[str]:
    """The value whole, as a report prints it: Python's repr (str and bytes) and JSON, each
    also HTML-escaped. Never shorter than the quotes plus the value."""
    forms = {repr(secret), repr(secret.encode("utf-8", "backslashreplace")), json.dumps(secret)}
    forms.add(json.dumps(secret, ensure_ascii=False))
    return forms | {escape(form) for form in forms}


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
    return _scrub_pattern(_current_secrets())


def _whole_values_scrubbed(value, secrets: frozenset, depth: int = 0):
    """`value` with every str or bytes equal to a secret replaced by SCRUBBED, in the value
    itself and in its containers MAX_SCRUBBED_DEPTH deep; the value itself (the same object)
    when it holds none."""
    if isinstance(value, str | bytes):
        return SCRUBBED if value in secrets else value
    if depth >= MAX_SCRUBBED_DEPTH:
        return value
    deeper = depth + 1
    if isinstance(value, MultiValueDict):  # QueryDict included
        lists = {
            key: [_whole_values_scrubbed(v, secrets, deeper) for v in values]
            for key, values in value.lists()
        }
        if all(
            a is b for key, values in value.lists() for a, b in zip(values, lists[key], strict=True)
        ):
            return value
        copy = value.copy()  # mutable, of the same class
        for key, values in lists.items():
            copy.setlist(key, values)
        return copy
    if isinstance(value, dict):
        items = {key: _whole_values_scrubbed(v, secrets, deeper) for key, v in value.items()}
        if all(items[key] is v for key, v in value.items()):
            return value
        return _same_kind(value, items, dict)
    if isinstance(value, list | tuple | set | frozenset):
        members = [_whole_values_scrubbed(v, secrets, deeper) for v in value]
        if all(a is b for a, b in zip(members, value, strict=True)):
            return value
        return _same_kind(value, members, list if isinstance(value, list) else tuple)
    return value  # other objects: their reprs show attributes quoted, which the pattern covers


def _same_kind(original, items, fallback):
    """A container of the original's class holding `items`, or of `fallback`'s when that
    class cannot be built from them (a named tuple, a dict subclass with other arguments)."""
    kind = type(original)
    try:
        if isinstance(original, tuple) and hasattr(original, "_fields"):
            return kind(*items)
        return kind(items)
    except Exception:
        return fallback(items)


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
        secrets = _current_secrets()
        whole = frozenset(secrets) | {secret.encode("utf-8", "surrogatepass") for secret in secrets}
        pattern = _scrub_pattern(secrets)
        return [
            (name, _ScrubbedValue(scrub(_printed(_whole_values_scrubbed(value, whole)), pattern)))
            for name, value in variables
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
