"""Verifying credentials against the provider: the result type and the HTTP plumbing that every
provider's `verify()` (in its own module, integrations/providers/) shares.

Rules every verification follows (README: Verifying credentials):
- One shared httpx client per process (`http_client()`), built lazily; connect and read
  timeouts from settings (VERIFY_CONNECT_TIMEOUT, VERIFY_READ_TIMEOUT) on every call; redirects
  are never followed (a 3xx is an answer: `unreachable`); no retries.
- The whole exchange (connect, send, headers, body) ends within VERIFY_CONNECT_TIMEOUT +
  VERIFY_READ_TIMEOUT: every socket operation waits at most what is left of that deadline
  (`_DeadlineBackend`), so a server dripping its answer a byte per read timeout cannot hold
  a verification (a request, an admin action, a bulk worker) for longer.
- URLs come from settings only (`base_url()`), never from a record or a request: no SSRF.
- A result never carries a secret nor any part of the provider's answer: its `detail` is a
  sentence written here or in the provider's module, naming at most the host and the HTTP
  status. Exception messages (which may quote a header holding a secret) are never used.
- At most MAX_BODY_BYTES of an answer are read, and only a provider module that must look at
  the body (Salesforce's error code) does.
"""

from __future__ import annotations

import contextvars
import logging
import ssl
import threading
import time
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

if TYPE_CHECKING:
    from integrations.models import Integration

logger = logging.getLogger("integrations.verification")

# How much of an answer is read at most (Salesforce's error answers are ~100 bytes).
MAX_BODY_BYTES = 64 * 1024
USER_AGENT = "integration-registry-verify/1"


class VerificationStatus(models.TextChoices):
    """The outcome of one verification. `never` is no outcome: the status of an integration
    that has not been verified yet (stored as "")."""

    OK = "ok", "OK"
    REJECTED = "rejected", "Rejected"
    UNREACHABLE = "unreachable", "Unreachable"


NEVER = "never"
# What `?status=` and the command's --status accept: the outcomes, and `never`.
STATUS_FILTERS = (*VerificationStatus.values, NEVER)


@dataclass(frozen=True)
class VerificationResult:
    """One verification's outcome.

    `status`: ok (the provider accepted the credentials), rejected (it refused them: HTTP 401
    or 403, or the provider's own authentication-failure answer; also a stored secret that no
    configured key decrypts, or that cannot be sent at all), unreachable (DNS, connection,
    timeout, 5xx, a redirect, an answer the provider does not document for this call).
    `detail`: one human sentence, never a secret nor a piece of the provider's answer.
    `checked_at`: when the verification ended (aware datetime, UTC).
    """

    status: VerificationStatus
    detail: str
    checked_at: datetime = field(default_factory=timezone.now)

    @property
    def failed(self) -> bool:
        return self.status != VerificationStatus.OK


def ok(detail: str) -> VerificationResult:
    return VerificationResult(VerificationStatus.OK, detail)


def rejected(detail: str) -> VerificationResult:
    return VerificationResult(VerificationStatus.REJECTED, detail)


def unreachable(detail: str) -> VerificationResult:
    return VerificationResult(VerificationStatus.UNREACHABLE, detail)


# --- the shared client ----------------------------------------------------------------------

_client: httpx.Client | None = None
_client_lock = threading.Lock()
# When the exchange under way in this thread (context) must end (time.monotonic()), or None.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "verification_deadline", default=None
)


def _bounded(timeout: float | None) -> float | None:
    """`timeout` cut to what is left of the exchange's deadline; a timeout of the operation's
    kind (raised by the caller's mapping) once it has passed."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    return max(left, 0.0) if timeout is None else max(min(timeout, left), 0.0)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write waits at most until the exchange's deadline."""

    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        bounded = _bounded(timeout)
        if bounded == 0.0:
            raise httpcore.ReadTimeout("The exchange's deadline passed.")
        return self._stream.read(max_bytes, bounded)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        bounded = _bounded(timeout)
        if bounded == 0.0:
            raise httpcore.WriteTimeout("The exchange's deadline passed.")
        self._stream.write(buffer, bounded)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout)
        if bounded == 0.0:
            raise httpcore.ConnectTimeout("The exchange's deadline passed.")
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.SyncBackend):
    """httpcore's socket backend, with connections bounded by the exchange's deadline."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout)
        if bounded == 0.0:
            raise httpcore.ConnectTimeout("The exchange's deadline passed.")
        stream = super().connect_tcp(host, port, bounded, local_address, socket_options)
        return _DeadlineStream(stream)


def _bound_by_deadlines(client: httpx.Client) -> httpx.Client:
    """Put _DeadlineBackend under each of `client`'s transports (its own, and those it mounted
    for the environment's proxies). httpx takes no network backend, so it is set on each
    transport's connection pool (httpcore.ConnectionPool, or a proxy pool, a subclass); should
    a new httpx build its pools otherwise, this fails here rather than losing the bound."""
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        if transport is None:
            continue
        pool = getattr(transport, "_pool", None)
        if not isinstance(pool, httpcore.ConnectionPool) or not hasattr(pool, "_network_backend"):
            raise RuntimeError("An httpx transport no longer holds an httpcore.ConnectionPool.")
        pool._network_backend = _DeadlineBackend()
    return client


def http_client() -> httpx.Client:
    """The process's one httpx.Client (thread-safe, pooled connections), built on first use.

    `follow_redirects=False`; no retries (httpx's transport retries nothing by default). The
    timeouts are passed on every request (`timeouts()`), so settings changed at run time
    (tests) apply without rebuilding the client.
    """
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = _bound_by_deadlines(
                    httpx.Client(
                        follow_redirects=False,
                        headers={"User-Agent": USER_AGENT},
                        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
                        timeout=timeouts(),
                    )
                )
    return _client


def close_http_client() -> None:
    """Close the shared client (its pooled connections); the next call builds a new one."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
            _client = None


def timeouts() -> httpx.Timeout:
    """Connect and read timeouts (seconds) from settings; writing and waiting for a pooled
    connection get the connect timeout."""
    connect = settings.VERIFY_CONNECT_TIMEOUT
    return httpx.Timeout(
        connect=connect, read=settings.VERIFY_READ_TIMEOUT, write=connect, pool=connect
    )


def base_url(setting: str) -> str:
    """The configured base URL named by `setting` (e.g. "TWILIO_API_URL"), without a trailing
    slash. Raises AttributeError for an unknown setting (a programming error)."""
    return str(getattr(settings, setting)).rstrip("/")


def host_of(url: str) -> str:
    """The host (and port, if any) of a configured URL: what details name."""
    return urlsplit(url).netloc


# --- one exchange -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What a provider answered: the status, the content type, and at most MAX_BODY_BYTES of
    the body. Only the provider module reads `body`; it never goes into a result or a log."""

    status_code: int
    content_type: str
    body: bytes = field(repr=False)

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        import json

        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python parses
            return None


class Unreachable(Exception):
    def __init__(self, result: VerificationResult):
        super().__init__(result.detail)
        self.result = result


@sensitive_variables("headers", "data", "auth")
def exchange(
    method: str,
    url: str,
    *,
    label: str,
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> Answer:
    """Send one request with the shared client and read its answer (at most MAX_BODY_BYTES).

    In: `url` built from a configured base URL; `label`, the provider's name for details.
    Out: the Answer. Raises Unreachable (with the result to return) for every transport
    failure: DNS, refused connection, TLS, timeouts, a broken answer. Never retries. Ends
    within VERIFY_CONNECT_TIMEOUT + VERIFY_READ_TIMEOUT, however slowly the server answers.
    """
    host = host_of(url)
    budget = settings.VERIFY_CONNECT_TIMEOUT + settings.VERIFY_READ_TIMEOUT
    deadline = time.monotonic() + budget
    bound = _deadline.set(deadline)
    try:
        request = http_client().build_request(
            method, url, headers=headers, data=data, timeout=timeouts()
        )
        response = http_client().send(request, stream=True, auth=auth, follow_redirects=False)
        try:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= MAX_BODY_BYTES:
                    break
            return Answer(
                response.status_code,
                response.headers.get("content-type", ""),
                bytes(body[:MAX_BODY_BYTES]),
            )
        finally:
            response.close()
    except httpx.ConnectTimeout:
        detail = f"{host} did not accept a connection within {settings.VERIFY_CONNECT_TIMEOUT:g} s."
    except httpx.TimeoutException:
        waited = budget if time.monotonic() >= deadline else settings.VERIFY_READ_TIMEOUT
        detail = f"{host} did not answer within {waited:g} s."
    except httpx.ConnectError:
        detail = f"Could not connect to {host} (name not found, connection refused or TLS failure)."
    except httpx.HTTPError as error:
        # The message may quote what was sent (an illegal header value): only the type is kept.
        detail = f"The exchange with {host} failed ({type(error).__name__})."
    finally:
        _deadline.reset(bound)
    raise Unreachable(unreachable(detail))


def outcome_of_status(
    answer: Answer,
    *,
    label: str,
    host: str,
    accepted: str,
    refused: str,
) -> VerificationResult:
    """The outcome of the answers every provider gives alike: 2xx → ok (`accepted`), 401/403 →
    rejected (`refused`, with the status), 3xx/429/5xx and anything else → unreachable."""
    code = answer.status_code
    if 200 <= code < 300:
        return ok(accepted)
    if code in (401, 403):
        return rejected(f"{refused} (HTTP {code}).")
    if 300 <= code < 400:
        return unreachable(f"{host} answered with a redirect (HTTP {code}), which is not followed.")
    if code == 429:
        return unreachable(f"{label} is limiting requests (HTTP 429); try again later.")
    if code >= 500:
        return unreachable(f"{label} had an error (HTTP {code}); try again later.")
    return unreachable(f"{label} gave an unexpected answer (HTTP {code}).")


def sendable_in_header(value: str) -> bool:
    """Whether `value` can go into an HTTP header as it is: visible ASCII and spaces only."""
    return value.isascii() and value.isprintable()


# --- the generic driver -----------------------------------------------------------------------


def verify(integration: Integration) -> VerificationResult:
    """Call the provider's `verify()` of `integration` and time it; never raises for what the
    provider or the network does. A stored secret that no configured key decrypts is
    `rejected` without any call. A crash inside a provider's code is logged (its type and
    where, never its message or local values) and reported as `unreachable`."""
    from integrations.encryption import SecretDecryptionError

    try:
        return integration.verify()
    except Unreachable as outcome:
        return outcome.result
    except SecretDecryptionError:
        return rejected(
            "A stored secret cannot be decrypted with the configured keys; enter it again."
        )
    except Exception as error:  # a bug: the result says so, the log says where
        where = "".join(traceback.format_tb(error.__traceback__))
        logger.error(
            "verification crashed type=%s id=%s error=%s\n%s",
            integration.provider_key,
            integration.pk,
            type(error).__name__,
            where,
        )
        return unreachable("The verification failed unexpectedly; the server log says where.")
