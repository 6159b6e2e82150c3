from datetime import timedelta
from typing import NoReturn

from django.utils import timezone
from rest_framework import authentication, exceptions

from config.request_headers import request_header
from tenants import throttling, token_cache, tokens
from tenants.models import ApiToken
from tenants.throttling import AuthFailureThrottle

# last_used_at is for people ("is this token still in use?"), so a minute of precision is
# plenty and saves a write on most requests.
LAST_USED_PRECISION = timedelta(minutes=1)

# One message for unknown, wrong, revoked and expired: nothing to probe.
INVALID = "The token is invalid, expired or revoked."


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`; request.auth becomes the ApiToken.

    The token is the process's remembered one when it is current (tenants/token_cache.py),
    else read from the database. Right or wrong, the request then makes one round trip to the
    rate limits' store, which also reads whether what was remembered is current: a right token
    is counted against its rate (`throttling.admit`); a wrong one is refused with 429 when its
    address is over its limit of failed authentications, else its failure is counted (a
    second round trip) and it is refused with 401."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = (request_header(request, "HTTP_AUTHORIZATION") or "").split()
        if not header or header[0].lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            self._refuse(request, "The Authorization header must be 'Bearer <token>'.")
        presented = header[1]
        if not tokens.well_formed(presented):
            self._refuse(request, INVALID)
        found = token_cache.tokens.find(tokens.prefix_of(presented))
        right = presented_is_usable(found.token, presented)
        generation = self._limits(request, found.token if right else None)
        current = token_cache.tokens.confirmed(found, generation)
        if current is not found and presented_is_usable(current.token, presented) != right:
            # Changed since this process remembered it (rare): the limits of what it is now.
            right = not right
            self._limits(request, current.token if right else None)
        api_token = current.token if right else None
        if api_token is None:
            self._failed(request, INVALID)
        now = timezone.now()
        if api_token.last_used_at is None or now - api_token.last_used_at > LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
            api_token.last_used_at = now
            token_cache.tokens.used(api_token.prefix, now)
        return (TokenUser(api_token), api_token)

    @staticmethod
    def _limits(request, right_token: ApiToken | None) -> int | None:
        """The rate limits of a request whose token is `right_token` (None: a wrong one), in
        one round trip that also reads the tokens' generation; returns it (None: unknown).
        Raises RateLimited (429) when the address is over its limit of failures, whichever
        the token (so guessing learns nothing)."""
        keys = token_cache.generation_key()
        if right_token is not None:
            values = throttling.admit(request, right_token, and_read=keys)
        else:
            values = _failures_checked(request, and_read=keys)
        return token_cache.generation_of(values)

    @classmethod
    def _refuse(cls, request, message: str) -> NoReturn:
        """A failed authentication before any token was looked up (a malformed header)."""
        _failures_checked(request)
        cls._failed(request, message)

    @staticmethod
    def _failed(request, message: str) -> NoReturn:
        """A failed authentication, its address allowed to try: counted against the address,
        and a 401 with `message`."""
        AuthFailureThrottle().record_failure(request)
        raise exceptions.AuthenticationFailed(message)

    def authenticate_header(self, request):
        return self.keyword


def _failures_checked(request, *, and_read: list[str] | None = None) -> list[int] | None:
    """Raises RateLimited (429) when the address of `request` is over its limit of failed
    authentications; else returns the counts of `and_read`, read in the same round trip."""
    failures = AuthFailureThrottle()
    allowed, values = failures.allows(request, and_read=and_read)
    if not allowed:
        raise failures.refusal()
    return values


def presented_is_usable(api_token: ApiToken | None, presented: str) -> bool:
    """Whether `api_token` (an ApiToken or None: the token of the prefix of `presented`, the
    plaintext a request presented) is `presented` (its SHA-256 digest compared in constant
    time) and is usable now (neither revoked nor expired)."""
    return (
        api_token is not None
        and tokens.matches(presented, api_token.digest)
        and api_token.is_usable(timezone.now())
    )


class TokenUser:
    """The caller of an API request: not a Django user, but names the token in audit fields."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, api_token: ApiToken):
        self.api_token = api_token

    def __str__(self) -> str:
        return f"token:{self.api_token.label}"
