"""Template filters of the staff pages."""

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Where a long value may wrap: after a separator, and every few characters of a long run of
# letters and digits (an Account SID is 34 of them). <wbr> only allows a break: copying or
# selecting the value still gives it whole.
_SEPARATOR = re.compile(r"([@./:_+=,;-])")
_LONG_RUN = re.compile(r"[^\W_]{16,}")
_CHUNK = 8


def _chunked(run: str) -> str:
    return "<wbr>".join(escape(run[i : i + _CHUNK]) for i in range(0, len(run), _CHUNK))


@register.filter
def breakable(value) -> SafeString:
    """The value, HTML-escaped, with <wbr> break opportunities at sensible points."""
    pieces = []
    for part in _SEPARATOR.split("" if value is None else str(value)):
        if _SEPARATOR.fullmatch(part):
            pieces.append(f"{escape(part)}<wbr>")
            continue
        at = 0
        for run in _LONG_RUN.finditer(part):
            pieces.append(escape(part[at : run.start()]))
            pieces.append(_chunked(run.group()))
            at = run.end()
        pieces.append(escape(part[at:]))
    return mark_safe("".join(pieces))  # noqa: S308 (every piece is escaped above)
