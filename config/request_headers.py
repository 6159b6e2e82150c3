"""Reading a request header on the API's hot path."""


def request_header(request, meta_key: str) -> str | None:
    """The header `meta_key` of `request` (its WSGI name: "HTTP_IF_MATCH") as a str, None when
    absent. Read from META: request.headers builds a map of every header on first use, about
    60 Python calls per request that the hot path otherwise never needs (bench/calls.py).
    PEP 3333 gives a header as a str of its bytes read as latin-1; a test client, or a server
    outside the PEP, may give bytes (or a bytearray, a memoryview): read as latin-1 too; any
    other value as its str()."""
    value: object = request.META.get(meta_key)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1")
    return value if isinstance(value, str) or value is None else str(value)
