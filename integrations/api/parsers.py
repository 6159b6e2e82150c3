import codecs
import re
from io import BytesIO

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils.http import parse_header_parameters
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
# A surrogate code point: JSON's "\ud800" escape decodes to one, which UTF-8 cannot encode
# (echoing it in an answer was a 500). A well-formed pair decodes to one character instead.
_SURROGATE = re.compile("[\ud800-\udfff]")


# JSON exchanged between systems is UTF-8 (RFC 8259, section 8.1). These are the codecs'
# canonical names: their aliases ("utf8", "UTF-8", "us-ascii", ...) name the same codec.
JSON_CHARSETS = frozenset({"utf-8", "ascii"})
NOT_UTF8 = (
    "The request body must be JSON in UTF-8: send 'Content-Type: application/json' "
    "(with charset=utf-8 or no charset)."
)
UNREADABLE = "The request body could not be read as JSON; send a JSON object in UTF-8."


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is larger than the limit of 1 MiB."
    default_code = "payload_too_large"


class CharsetNotUtf8(exceptions.UnsupportedMediaType):
    """A 415 whose sentence names the charset rule (not the media type's)."""

    def __init__(self):
        super().__init__(media_type="", detail=NOT_UTF8)  # unused: the detail is given


class BoundedJSONParser(parsers.JSONParser):
    """JSON, read from the stream at most API_MAX_BODY_BYTES (+1 to detect overflow).

    DRF parses from the raw stream, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not apply;
    this bound does, with or without a Content-Length header.

    The body is UTF-8 (or ASCII), whatever else the Content-Type may declare: any other
    charset is a 415 before the body is decoded. Nothing raised while reading or parsing escapes
    as a 500 (a 500 is an error report, holding the body in its frames): the bound and the
    charset answer 413 and 415, any other failure is a 400 in the one error shape.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        charset = _declared_charset(media_type)
        try:
            return self._parse(stream, media_type, parser_context, charset)
        except (exceptions.APIException, RequestDataTooBig):
            raise
        except Exception:
            # The exception's message may quote the body; the sentence never does.
            raise exceptions.ParseError(UNREADABLE) from None

    def _parse(self, stream, media_type, parser_context, charset: str):
        limit = settings.API_MAX_BODY_BYTES
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise PayloadTooLarge()
        if not body.strip():
            raise exceptions.ParseError("The request body is empty; send a JSON object.")
        try:
            text = body.decode(charset)
        except UnicodeDecodeError:
            raise exceptions.ParseError(
                "The request body is not valid UTF-8 text; send JSON encoded in UTF-8."
            ) from None
        if _nested_too_deep(text):
            raise exceptions.ParseError(TOO_DEEP)
        try:
            context = {**(parser_context or {}), "encoding": charset}
            data = super().parse(BytesIO(body), media_type, context)
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


def _declared_charset(media_type: str | None) -> str:
    """The codec to decode the body with: UTF-8 unless the Content-Type names ASCII. Any other
    charset, known to Python or not, is refused (415)."""
    _, params = parse_header_parameters(media_type or "")
    declared = params.get("charset")
    if declared is None:
        return "utf-8"
    try:
        canonical = codecs.lookup(declared).name
    except Exception:  # LookupError, or a name no codec could have (a NUL, say)
        raise CharsetNotUtf8() from None
    if canonical not in JSON_CHARSETS:
        raise CharsetNotUtf8()
    return canonical


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
            unclosed = len(brackets) - len(brackets.lstrip("[{"))  # the leading openers
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
