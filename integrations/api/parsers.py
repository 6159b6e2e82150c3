import re
from io import BytesIO

from django.conf import settings
from rest_framework import exceptions, parsers

from integrations.api.serializers import secret_json_keys
from integrations.error_reports import remember_secret

# Bodies are flat objects; this leaves ample room while refusing what only an attack sends
# (1,000 levels of `[` made json.loads raise RecursionError: a 500 with a logged traceback).
MAX_NESTING = 32
TOO_DEEP = f"The JSON body is nested more than {MAX_NESTING} levels deep; send a flat JSON object."
# A JSON string (escapes included), to be skipped when counting brackets: the unrolled form
# is linear on any input.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST_PAIRS = re.compile(r"\[\]|\{\}")
_LEADING_OPENERS = re.compile(r"[\[{]*")
# A surrogate code point: JSON's "\ud800" escape decodes to one, which UTF-8 cannot encode
# (echoing it in an answer was a 500). A well-formed pair decodes to one character instead.
_SURROGATE = re.compile("[\ud800-\udfff]")


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is larger than the limit of 1 MiB."
    default_code = "payload_too_large"


class BoundedJSONParser(parsers.JSONParser):
    """JSON, read from the stream at most API_MAX_BODY_BYTES (+1 to detect overflow).

    DRF parses from the raw stream, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not apply;
    this bound does, with or without a Content-Length header.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise PayloadTooLarge()
        if not body.strip():
            raise exceptions.ParseError("The request body is empty; send a JSON object.")
        encoding = parsers.get_encoding(parser_context or {})
        if _nested_too_deep(body.decode(encoding, errors="replace")):
            raise exceptions.ParseError(TOO_DEEP)
        try:
            data = super().parse(BytesIO(body), media_type, parser_context)
        except RecursionError:  # not reached past the check above; a 400 all the same
            raise exceptions.ParseError(TOO_DEEP) from None
        if _holds_a_surrogate(data):
            # The value is not quoted back: it may be a secret.
            raise exceptions.ParseError(
                "The JSON body holds a string that is not valid Unicode (an unpaired surrogate "
                "escape such as \\ud800); send text that UTF-8 can encode."
            )
        _remember_submitted_secrets(data)
        return data


def _remember_submitted_secrets(data) -> None:
    """From here on, the body's secret values are scrubbed from any error report of this
    request, whichever frame (this one's `body` included) still holds them."""
    if isinstance(data, dict):
        for key in secret_json_keys() & data.keys():
            remember_secret(data[key])


def _nested_too_deep(text: str) -> bool:
    """Whether arrays and objects nest deeper than MAX_NESTING, outside strings. Peels the
    innermost pairs off the brackets, one level per pass: at most MAX_NESTING linear passes
    in C, whatever the body. Brackets left unpeeled are unbalanced; the openers leading them
    are all open when the parser meets the first one left, so they count as depth too."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    for level in range(MAX_NESTING + 1):
        if not brackets:
            return False
        brackets, peeled = _INNERMOST_PAIRS.subn("", brackets)
        if not peeled:
            unclosed = _LEADING_OPENERS.match(brackets).end()
            return unclosed + level > MAX_NESTING
    return True


def _holds_a_surrogate(data) -> bool:
    """Whether any string of the parsed body, key or value at any depth, is not valid Unicode.
    Iterative, so that no body can make it recurse."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
