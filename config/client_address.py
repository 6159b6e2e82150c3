"""The address a request came from, as every rate limit and lock-out counts it.

Directly exposed (TRUSTED_PROXY_COUNT=0, the default): the peer's address, REMOTE_ADDR; an
X-Forwarded-For header is ignored, since anyone can send one (DRF's own default reads it, which
would let a bot pick a new address per request). Behind N proxies of our own, each appends the
address it received from to X-Forwarded-For, so the client is the N-th entry from the right:
entries further left were written by the client and are not trusted.
"""

from django.conf import settings


def client_address(request) -> str:
    """The client's address (a string; "unknown" when the server gave none)."""
    meta = request.META
    remote = (meta.get("REMOTE_ADDR") or "").strip() or "unknown"
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [
        part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
    ]
    if not forwarded:
        # Reached without passing the proxies (e.g. a health probe): the peer it is.
        return remote
    return forwarded[-min(proxies, len(forwarded))]
