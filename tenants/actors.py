"""Who makes a change, and through which door: what every write service takes as `actor`,
and what the audit trail records of it."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

from config.client_address import client_address as address_of_client
from tenants.models import Channel

# The header a proxy or client may send to correlate logs; kept only if it is well-formed.
REQUEST_ID_META = "HTTP_X_REQUEST_ID"


@dataclass(frozen=True)
class Actor:
    """A person or program acting on the registry.

    `name` is a user name, "token:<label> (<prefix>…)" for an API token, or the command line
    for a management command; it is what `updated_by` and audit events show.
    """

    name: str
    channel: str  # a Channel value: api, web, admin, command
    request_id: str = ""
    client_address: str | None = None

    @classmethod
    def for_request(cls, request: HttpRequest, channel: Channel) -> Actor:
        """The signed-in user of a staff page or admin request."""
        return cls(
            name=request.user.get_username(),
            channel=channel,
            request_id=getattr(request, "request_id", ""),
            # As the rate limits count it: behind TRUSTED_PROXY_COUNT proxies, the caller's.
            client_address=address_of_client(request),
        )

    @classmethod
    def for_api_token(cls, request: HttpRequest, api_token) -> Actor:
        """The API token that authenticated `request` (its label and prefix, never the token)."""
        return cls(
            name=f"token:{api_token.label} ({api_token.prefix}…)",
            channel=Channel.API,
            request_id=getattr(request, "request_id", ""),
            # As the rate limits count it: behind TRUSTED_PROXY_COUNT proxies, the caller's.
            client_address=address_of_client(request),
        )

    @classmethod
    def for_command(cls, command: str) -> Actor:
        """A management command, e.g. Actor.for_command("createapitoken")."""
        return cls(name=f"manage.py {command}", channel=Channel.COMMAND)
