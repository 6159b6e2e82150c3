"""Request bodies sent in pieces (`Transfer-Encoding: chunked`, no Content-Length).

Django reads a body as long as its Content-Length says: without one it reads nothing, so a
chunked PATCH looked empty (200, nothing changed) and a chunked POST was told its fields were
missing. A body the server cannot read must never look like an empty one:

- where the WSGI server de-chunks the body and says so (`wsgi.input_terminated`, as gunicorn
  does: `wsgi.input` then ends where the body ends), the body is read here, at most the same
  limit as any other (API_MAX_BODY_BYTES under the API, DATA_UPLOAD_MAX_MEMORY_SIZE elsewhere;
  more is a 413), and handed on as if it had come with its Content-Length;
- anywhere else (runserver, which leaves the chunk framing on the socket; an ASGI server,
  whose de-chunked body Django's request does not keep) the answer is 411 Length Required.
"""

from io import BytesIO

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpResponse, JsonResponse

from integrations.api.errors import is_api_path
from integrations.api.parsers import PayloadTooLarge

LENGTH_REQUIRED = (
    "This server cannot read a body sent with Transfer-Encoding (chunked); "
    "send it with a Content-Length header."
)
READ_SIZE = 64 * 1024


def _limit(request) -> int:
    if is_api_path(request.path_info):
        return settings.API_MAX_BODY_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _read_at_most(stream, limit: int) -> bytes:
    """Up to `limit` bytes of a stream that ends where the body ends (a WSGI server may
    return fewer bytes than asked for before the end)."""
    pieces, size = [], 0
    while size < limit:
        piece = stream.read(min(READ_SIZE, limit - size))
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
    return b"".join(pieces)


def _error(request, sentence: str, status: int) -> HttpResponse:
    if is_api_path(request.path_info):
        return JsonResponse({"error": sentence}, status=status)
    return HttpResponse(sentence, status=status, content_type="text/plain; charset=utf-8")


class TransferEncodedBodyMiddleware:
    """Before anything reads the body (the charset and NUL guards read forms)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "HTTP_TRANSFER_ENCODING" not in request.META:
            return self.get_response(request)
        if not request.META.get("wsgi.input_terminated") or "wsgi.input" not in request.META:
            return _error(request, LENGTH_REQUIRED, 411)
        limit = _limit(request)
        body = _read_at_most(request.META["wsgi.input"], limit + 1)
        if len(body) > limit:
            sentence = str(PayloadTooLarge.default_detail)
            if not is_api_path(request.path_info):
                sentence = f"The request body is larger than the limit of {limit} bytes."
            return _error(request, sentence, 413)
        # From here on the request reads as one that came with its Content-Length.
        request.META["CONTENT_LENGTH"] = str(len(body))
        request._stream = LimitedStream(BytesIO(body), len(body))
        request._read_started = False
        return self.get_response(request)
