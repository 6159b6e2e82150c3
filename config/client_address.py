"""The address a request came from, as every rate limit, lock-out and audit event names it.

Directly exposed (TRUSTED_PROXY_COUNT=0, the default): the peer's address, REMOTE_ADDR; an
X-Forwarded-For header is ignored, since anyone can send one (DRF's own default reads it, which
would let a bot pick a new address per request). Behind N proxies of our own, each appends the
address it received from to X-Forwarded-For, so the client is the N-th entry from the right:
entries further left were written by the client and are not trusted.

Only a well-formed IP address is ever returned (the database stores them as such): anything
else falls back to the peer's address, or None when there is none (a request built in code).
"""

import functools
import ipaddress

from django.conf import settings

from config.request_headers import request_header


# Every API request asks (rate limits, audit): the parse of a peer's address is remembered.
@functools.lru_cache(maxsize=4096)
def _valid(address: str) -> str | None:
    address = address.strip()
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def client_address(request) -> str | None:
    meta = request.META
    remote = _valid(meta.get("REMOTE_ADDR") or "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    given = request_header(request, "HTTP_X_FORWARDED_FOR") or ""
    forwarded = [part for part in given.split(",") if part.strip()]
    if not forwarded:
        # Reached without passing the proxies (e.g. a health probe): the peer it is.
        return remote
    return _valid(forwarded[-min(proxies, len(forwarded))]) or remote
