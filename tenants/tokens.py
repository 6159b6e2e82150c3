"""Opaque API tokens: generation and verification helpers.

A token is `PREFIX_MARK` + 43 url-safe characters (256 random bits). The database keeps the
first PREFIX_LENGTH characters (to find the row) and the SHA-256 digest of the whole token (to
check it in constant time). SHA-256 is right here, not a password hasher: the input is a
high-entropy random string, so verifying must cost microseconds, not a deliberate 100 ms.
"""

import hashlib
import hmac
import re
import secrets

PREFIX_MARK = "ir_"
PREFIX_LENGTH = 12
_TOKEN_CHARACTERS = re.compile(r"[A-Za-z0-9_-]{1,128}")


def generate() -> str:
    return PREFIX_MARK + secrets.token_urlsafe(32)


def well_formed(token: str) -> bool:
    """Whether `token` could be one of ours: the mark, then url-safe characters only.

    Checked before any lookup, so that no odd string (a NUL character makes PostgreSQL fail)
    reaches the database from an Authorization header.
    """
    return token.startswith(PREFIX_MARK) and _TOKEN_CHARACTERS.fullmatch(token) is not None


def prefix_of(token: str) -> str:
    return token[:PREFIX_LENGTH]


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def matches(token: str, digest: str) -> bool:
    return hmac.compare_digest(digest_of(token), digest)
