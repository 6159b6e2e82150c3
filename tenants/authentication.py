from datetime import timedelta
from typing import NoReturn

from django.utils import timezone
from rest_framework import authentication, exceptions

from config.compiled_query import CompiledQuery
from config.request_headers import request_header
from tenants import throttling, tokens
from tenants.models import ApiToken
from tenants.throttling import AuthFailureThrottle

# last_used_at is for people ("is this token still in use?"), so a minute of precision is
# plenty and saves a write on most requests.
LAST_USED_PRECISION = timedelta(minutes=1)

# The token of a prefix (unique), its tenant JOINed: one statement, compiled once (the ORM
# building it anew cost ~1.4 ms of CPU per request, far more than the database's answer).
_TOKEN_BY_PREFIX = CompiledQuery(
    ApiToken, lambda prefix: ApiToken.objects.select_related("tenant").filter(prefix=prefix), str
)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`; request.auth becomes the ApiToken."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = (request_header(request, "HTTP_AUTHORIZATION") or "").split()
        if not header or header[0].lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            self._refuse(request, "The Authorization header must be 'Bearer <token>'.")
        api_token = self._usable_token(header[1])
        if api_token is None:
            # One message for unknown, wrong, revoked and expired: nothing to probe.
            self._refuse(request, "The token is invalid, expired or revoked.")
        # A right token from an address over its limit of failures is refused (429) as a wrong
        # one is: guessing learns nothing. The same round trip counts the token's rate.
        throttling.admit(request, api_token)
        now = timezone.now()
        if api_token.last_used_at is None or now - api_token.last_used_at > LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
            api_token.last_used_at = now
        return (TokenUser(api_token), api_token)

    def _usable_token(self, presented: str) -> ApiToken | None:
        """The token `presented` is, if it is right and usable now; None otherwise."""
        api_token = (
            _TOKEN_BY_PREFIX.first(tokens.prefix_of(presented))
            if tokens.well_formed(presented)
            else None
        )
        if (
            api_token is None
            or not tokens.matches(presented, api_token.digest)
            or not api_token.is_usable(timezone.now())
        ):
            return None
        return api_token

    @staticmethod
    def _refuse(request, message: str) -> NoReturn:
        """A failed authentication: counted against the client's address, and a 401 with
        `message`; a 429 instead, not counted, when the address is over its limit already."""
        failures = AuthFailureThrottle()
        if not failures.allow_request(request):
            raise failures.refusal()
        failures.record_failure(request)
        raise exceptions.AuthenticationFailed(message)

    def authenticate_header(self, request):
        return self.keyword


class TokenUser:
    """The caller of an API request: not a Django user, but names the token in audit fields."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, api_token: ApiToken):
        self.api_token = api_token

    def __str__(self) -> str:
        return f"token:{self.api_token.label}"
