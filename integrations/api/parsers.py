from io import BytesIO

from django.conf import settings
from rest_framework import exceptions, parsers


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
        return super().parse(BytesIO(body), media_type, parser_context)
