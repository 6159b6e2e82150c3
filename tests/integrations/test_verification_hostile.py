"""Verification against hostile or broken provider servers, and against records that change
while they are being verified (issue 11, attacked as an outsider would).

A raw socket server (not the well-behaved fake provider) plays the provider here: it drips an
answer a byte at a time, answers garbage, closes mid-answer, or nests JSON deeper than Python
parses. Whatever it does, a verification ends within the documented connect + read timeouts
and says `unreachable` without a crash in the log; and an outcome is only stored for the
credentials that were verified."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from integrations import verification
from integrations.exceptions import IntegrationBusy
from integrations.models import Integration
from integrations.providers import TwilioIntegration
from integrations.services import integration_update
from integrations.verification import VerificationStatus
from integrations.verification_services import integration_verify, integration_verify_many
from tenants.models import AuditAction, AuditEvent
from tests import fake_providers as fakes
from tests.factories import (
    FACTORY_FOR_PROVIDER,
    SalesforceFactory,
    TwilioFactory,
    actor_named,
)

pytestmark = pytest.mark.django_db

FACTORIES = FACTORY_FOR_PROVIDER
PROVIDER_URL_SETTINGS = (
    "SALESFORCE_LOGIN_URL",
    "SALESFORCE_TEST_LOGIN_URL",
    "TWILIO_API_URL",
    "SENDGRID_API_URL",
    "DATASIFT_API_URL",
)

Behaviour = Callable[[socket.socket, threading.Event], None]


@pytest.fixture
def raw_provider(settings) -> Iterator[Callable[[Behaviour], None]]:
    """A TCP server on 127.0.0.1 that every provider URL points at; each connection is handed
    to the behaviour the test sets (after the request is read). Timeouts: 0.5 s + 0.5 s."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    port = listener.getsockname()[1]
    stop = threading.Event()
    behaviour: list[Behaviour] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)  # the request (small: one segment)
                behaviour[0](conn, stop)
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    for name in PROVIDER_URL_SETTINGS:
        setattr(settings, name, f"http://127.0.0.1:{port}")
    settings.VERIFY_CONNECT_TIMEOUT = 0.5
    settings.VERIFY_READ_TIMEOUT = 0.5
    yield behaviour.append
    stop.set()
    listener.close()
    verification.close_http_client()


def drip(data: bytes, *, every: float = 0.3, for_at_most: float = 8.0) -> Behaviour:
    """Send `data` a byte at a time, each just inside the read timeout, for at most
    `for_at_most` seconds (then close)."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        ends = time.monotonic() + for_at_most
        for byte in data:
            if stop.is_set() or time.monotonic() > ends:
                return
            conn.sendall(bytes([byte]))
            time.sleep(every)

    return behave


def send(data: bytes) -> Behaviour:
    def behave(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(data)

    return behave


HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"


# --- the documented bound on the whole exchange ----------------------------------------------


@pytest.mark.parametrize("provider", list(FACTORIES))
@pytest.mark.parametrize(
    "answer",
    [HEADERS + b"{" + b" " * 4990, b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 200],
    ids=["body dripped", "headers dripped"],
)
def test_a_provider_dripping_its_answer_ends_within_connect_plus_read_timeouts(
    raw_provider, provider, answer, caplog
):
    raw_provider(drip(answer))
    integration = FACTORIES[provider](**fakes.ACCEPTED[provider])
    started = time.monotonic()

    with caplog.at_level(logging.ERROR, logger="integrations"):
        result = verification.verify(integration)

    took = time.monotonic() - started
    # The bound is 0.5 + 0.5 s; the server drips for 8 s. The margin is for a loaded machine:
    # what is checked is that the deadline exists, not how fast the machine is.
    assert took < 5, f"took {took:.1f} s; the documented bound is 0.5 + 0.5 s"
    assert result.status == VerificationStatus.UNREACHABLE
    assert result.detail.endswith(" did not answer within 1 s.")
    assert "crashed" not in caplog.text


@pytest.mark.parametrize(
    "answer",
    [
        b"garbage, not HTTP at all\r\n\r\n",
        HEADERS + b'{"access_to',  # closes mid-answer
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n" + b"x" * 200_000,
    ],
    ids=["garbage", "closed mid-answer", "huge body"],
)
def test_broken_answers_are_unreachable_without_a_crash(raw_provider, answer, caplog):
    raw_provider(send(answer))
    integration = SalesforceFactory(**fakes.ACCEPTED["salesforce"])

    with caplog.at_level(logging.ERROR, logger="integrations"):
        result = verification.verify(integration)

    assert result.status == VerificationStatus.UNREACHABLE
    assert "crashed" not in caplog.text
    assert "access_to" not in result.detail and "xxxx" not in result.detail


def test_json_nested_deeper_than_python_parses_is_an_unexpected_answer_not_a_crash(
    raw_provider, caplog
):
    body = b"[" * 60_000
    raw_provider(
        send(
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    )
    integration = SalesforceFactory(**fakes.ACCEPTED["salesforce"])

    with caplog.at_level(logging.ERROR, logger="integrations"):
        result = verification.verify(integration)

    assert result.status == VerificationStatus.UNREACHABLE
    assert result.detail == "Salesforce gave an unexpected answer (HTTP 400)."
    assert "crashed" not in caplog.text


# --- credentials changed while they were verified ----------------------------------------------


def test_an_outcome_is_not_stored_over_credentials_changed_during_the_call(fake_providers):
    # Read with the wrong token (as the verify route does), then fixed by someone else before
    # the provider answered: "rejected" is about the old token, not the stored one.
    read = TwilioFactory(**fakes.REFUSED["twilio"])
    integration_update(
        integration=Integration.objects.get(pk=read.pk),
        data={"password": fakes.ACCEPTED["twilio"]["password"]},
        actor=actor_named("support"),
    )

    with pytest.raises(IntegrationBusy):
        integration_verify(integration=read, actor=actor_named("verifier"))

    stored = twilio_row(read.pk)
    assert stored.last_verification == ""
    assert stored.last_verified_at is None
    assert stored.version == read.version + 1
    assert stored.password.reveal() == fakes.ACCEPTED["twilio"]["password"]
    assert not AuditEvent.objects.filter(action=AuditAction.VERIFY).exists()


def test_a_bulk_run_skips_one_changed_during_its_call_and_goes_on(fake_providers):
    changed = TwilioFactory(ident="changed", **fakes.REFUSED["twilio"])
    steady = TwilioFactory(ident="steady", **fakes.ACCEPTED["twilio"])
    integration_update(
        integration=Integration.objects.get(pk=changed.pk),
        data={"password": fakes.ACCEPTED["twilio"]["password"]},
        actor=actor_named("support"),
    )

    summary = integration_verify_many(
        integrations=[changed, steady], actor=actor_named("nightly"), concurrency=1
    )

    assert summary.by_status() == {"skipped": 1, "ok": 1}
    assert twilio_row(changed.pk).last_verification == ""
    assert twilio_row(steady.pk).last_verification == "ok"


def twilio_row(pk: int) -> TwilioIntegration:
    return TwilioIntegration.objects.get(pk=pk)
