"""Content negotiation: DRF's, with its answer for the Accept headers clients send.

Nearly every API request says `Accept: */*` (curl, requests, httpx), the JSON media type
itself, or nothing. For those DRF's DefaultContentNegotiation builds the request's header map,
tokenizes and parses the header, and sorts its media types by precedence: about 110 of a GET
one's 2,250 Python function calls (bench/calls.py), for an answer that never changes.
"""

from rest_framework.negotiation import DefaultContentNegotiation

from config.request_headers import request_header


class JsonFirstContentNegotiation(DefaultContentNegotiation):
    """DefaultContentNegotiation, answering at once when the request gives no `format` and
    its Accept header is absent, `*/*` or exactly the first renderer's media type: the first
    renderer, with the media type DRF would have returned (RFC 9110 section 12.5.1: no Accept
    is `*/*`). Any other header (lists, parameters, q-values, other types) gets DRF's own
    negotiation, 406 included."""

    def select_renderer(self, request, renderers, format_suffix=None):
        """`renderers`: the view's renderer instances, in order. Returns (renderer, accepted
        media type as a str); raises NotAcceptable (406) or Http404 as DRF does."""
        if renderers and not format_suffix:
            accept = request_header(request, "HTTP_ACCEPT")
            first = renderers[0]
            answered = accept is None or accept == "*/*" or accept == first.media_type
            if answered and self.settings.URL_FORMAT_OVERRIDE not in request.query_params:
                # DRF returns the renderer's own type for */* (more specific than the
                # header's), and the header's for an exact match: the same string here.
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
