"""Each provider's verify() against a real local HTTP server playing the provider
(tests/fake_providers.py): ok, rejected, unreachable (5xx, redirect, refused connection) and
slow (timeout); then the service that records the outcome, and what it never leaks."""

import logging
import socket
import time

import pytest

from integrations import verification
from integrations.exceptions import IntegrationNotFound
from integrations.models import Integration
from integrations.providers.salesforce import LoginHost
from integrations.services import integration_delete
from integrations.verification import VerificationStatus
from integrations.verification_services import integration_verify
from tenants.models import AuditAction, AuditEvent
from tests import fake_providers as fakes
from tests.factories import (
    FACTORY_FOR_PROVIDER,
    TwilioFactory,
    actor_named,
)

pytestmark = pytest.mark.django_db

FACTORIES = FACTORY_FOR_PROVIDER
PROVIDERS = list(FACTORIES)
OK, REJECTED, UNREACHABLE = (
    VerificationStatus.OK,
    VerificationStatus.REJECTED,
    VerificationStatus.UNREACHABLE,
)
ALL_SECRETS = [
    value
    for credentials in (*fakes.ACCEPTED.values(), *fakes.REFUSED.values())
    for name, value in credentials.items()
    if name in {"consumer_secret", "password", "secret_token", "api_key"}
]


def integration_of(provider: str, credentials: dict[str, str], **extra) -> Integration:
    return FACTORIES[provider](ident=f"{provider}-main", **credentials, **extra)


def assert_nothing_leaked(text: str) -> None:
    assert fakes.BODY_MARK not in text
    for secret in ALL_SECRETS:
        assert secret not in text, secret


# --- every provider through every outcome ----------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_accepts_the_credentials_the_provider_accepts(fake_providers, provider):
    result = verification.verify(integration_of(provider, fakes.ACCEPTED[provider]))

    assert result.status == OK, result.detail
    assert "accepted" in result.detail
    assert_nothing_leaked(result.detail)
    assert len(fake_providers.seen) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_it_reports_credentials_the_provider_refuses_as_rejected(fake_providers, provider):
    result = verification.verify(integration_of(provider, fakes.REFUSED[provider]))

    assert result.status == REJECTED, result.detail
    assert "refused" in result.detail
    assert_nothing_leaked(result.detail)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_server_error_is_unreachable_and_says_so(fake_providers, provider):
    fake_providers.mode = fakes.ERROR

    result = verification.verify(integration_of(provider, fakes.ACCEPTED[provider]))

    assert result.status == UNREACHABLE
    assert "HTTP 503" in result.detail
    assert_nothing_leaked(result.detail)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_redirect_is_not_followed(fake_providers, provider):
    fake_providers.mode = fakes.REDIRECT

    result = verification.verify(integration_of(provider, fakes.ACCEPTED[provider]))

    assert result.status == UNREACHABLE
    assert "redirect (HTTP 302)" in result.detail
    assert "/elsewhere" not in fake_providers.paths()
    assert len(fake_providers.seen) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_that_stalls_times_out_as_unreachable(fake_providers, provider):
    fake_providers.mode = fakes.STALL
    started = time.monotonic()

    result = verification.verify(integration_of(provider, fakes.ACCEPTED[provider]))

    assert result.status == UNREACHABLE
    assert result.detail.endswith("did not answer within 0.5 s.")
    assert time.monotonic() - started < 3  # the read timeout, not the 10 s stall


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_refused_connection_is_unreachable(fake_providers, settings, provider):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    for name in fake_providers.settings():
        setattr(settings, name, f"http://127.0.0.1:{port}/v1.6")

    result = verification.verify(integration_of(provider, fakes.ACCEPTED[provider]))

    assert result.status == UNREACHABLE
    assert result.detail.startswith(f"Could not connect to 127.0.0.1:{port}")


# --- what each provider's call is ------------------------------------------------------------


def test_salesforce_posts_the_password_flow_with_the_token_after_the_password(fake_providers):
    verification.verify(integration_of("salesforce", fakes.ACCEPTED["salesforce"]))

    (request,) = fake_providers.seen
    assert (request.method, request.path) == ("POST", "/services/oauth2/token")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert b"grant_type=password" in request.body
    assert b"password=sf-password-GOODsf-token-GOOD" in request.body


def test_a_sandbox_salesforce_logs_in_at_the_configured_test_login_url(fake_providers):
    integration = integration_of(
        "salesforce", fakes.ACCEPTED["salesforce"], login_host=LoginHost.SANDBOX
    )

    result = verification.verify(integration)

    assert result.status == OK
    assert fake_providers.paths() == ["/sandbox/services/oauth2/token"]


def test_a_login_host_outside_the_choices_is_never_called(fake_providers):
    integration = integration_of("salesforce", fakes.ACCEPTED["salesforce"])
    integration.login_host = "evil.example.com"

    result = verification.verify(integration)

    assert result.status == REJECTED
    assert fake_providers.seen == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"consumer_key": "other-key"}, "does not know the consumer key (invalid_client_id)"),
        ({"consumer_secret": "other-secret"}, "consumer secret (invalid_client)"),
        ({"secret_token": "other-token"}, "security token (invalid_grant)"),
    ],
)
def test_salesforce_says_which_credential_its_error_code_blames(fake_providers, change, words):
    credentials = {**fakes.ACCEPTED["salesforce"], **change}

    result = verification.verify(integration_of("salesforce", credentials))

    assert result.status == REJECTED
    assert words in result.detail


def test_twilio_puts_the_sid_in_the_path_percent_encoded(fake_providers):
    integration = integration_of("twilio", {**fakes.ACCEPTED["twilio"], "account": "../x?y"})

    result = verification.verify(integration)

    assert result.status == REJECTED
    assert fake_providers.paths() == ["/2010-04-01/Accounts/..%2Fx%3Fy.json"]


def test_twilio_is_asked_with_basic_auth(fake_providers):
    verification.verify(integration_of("twilio", fakes.ACCEPTED["twilio"]))

    (request,) = fake_providers.seen
    assert request.method == "GET"
    assert request.headers["Authorization"].startswith("Basic ")


def test_sendgrid_and_datasift_send_their_key_in_the_authorization_header(fake_providers):
    verification.verify(integration_of("sendgrid", fakes.ACCEPTED["sendgrid"]))
    verification.verify(integration_of("datasift", fakes.ACCEPTED["datasift"]))

    sendgrid, datasift = fake_providers.seen
    assert (sendgrid.path, sendgrid.headers["Authorization"]) == (
        "/v3/scopes",
        "Bearer SG.sendgrid-key-GOOD",
    )
    assert (datasift.path, datasift.headers["Authorization"]) == (
        "/v1.6/usage",
        "datasift-user:datasift-key-GOOD",
    )


@pytest.mark.parametrize(
    ("provider", "secret"), [("sendgrid", "password"), ("datasift", "api_key")]
)
def test_a_key_that_cannot_go_into_a_header_is_rejected_without_a_call(
    fake_providers, provider, secret
):
    credentials = {**fakes.ACCEPTED[provider], secret: "key\r\nX-Injected: 1"}

    result = verification.verify(integration_of(provider, credentials))

    assert result.status == REJECTED
    assert fake_providers.seen == []
    assert "X-Injected" not in result.detail


def test_a_200_without_an_access_token_is_an_unexpected_answer(fake_providers):
    fake_providers.mode = fakes.EMPTY
    integration = integration_of("salesforce", fakes.ACCEPTED["salesforce"])

    result = verification.verify(integration)

    assert result.status == UNREACHABLE


def test_an_unreadable_secret_is_rejected_without_a_call(fake_providers):
    integration = integration_of("twilio", fakes.ACCEPTED["twilio"])
    stored = type(integration).objects.get(pk=integration.pk)
    stored.password._ciphertext = "gAAAAAnot-a-token"
    stored.password._plaintext = None

    result = verification.verify(stored)

    assert result.status == REJECTED
    assert "cannot be decrypted" in result.detail
    assert fake_providers.seen == []


def test_a_crash_inside_a_provider_is_unreachable_and_logged_without_its_message(
    fake_providers, monkeypatch, caplog
):
    integration = integration_of("twilio", fakes.ACCEPTED["twilio"])

    def crash(self):
        raise RuntimeError(f"boom {self.password.reveal()}")

    monkeypatch.setattr(type(integration), "verify", crash)
    with caplog.at_level(logging.INFO):
        result = verification.verify(integration)

    assert result.status == UNREACHABLE
    assert "RuntimeError" in caplog.text
    assert_nothing_leaked(caplog.text)


# --- recording the outcome -------------------------------------------------------------------


def test_verifying_stores_the_outcome_without_a_new_version(fake_providers):
    integration = integration_of("twilio", fakes.REFUSED["twilio"])
    before = Integration.objects.get(pk=integration.pk)

    result = integration_verify(integration=integration, actor=actor_named("support"))

    stored = Integration.objects.get(pk=integration.pk)
    assert stored.last_verification == REJECTED == result.status
    assert stored.last_verified_at == result.checked_at
    assert stored.last_verification_detail == result.detail
    assert (stored.version, stored.updated_at, stored.updated_by) == (
        before.version,
        before.updated_at,
        before.updated_by,
    )
    assert stored.versions.count() == 0


def test_verifying_writes_one_audit_event_naming_who_and_the_outcome(fake_providers):
    integration = integration_of("datasift", fakes.ACCEPTED["datasift"])

    integration_verify(integration=integration, actor=actor_named("support"))

    (event,) = AuditEvent.objects.filter(action=AuditAction.VERIFY)
    assert (event.actor, event.integration_ident, event.integration_type) == (
        "support",
        "datasift-main",
        "datasift",
    )
    assert event.changes["last_verification"] == {"old": "never", "new": "ok"}
    assert_nothing_leaked(str(event.changes))


def test_no_secret_nor_answer_body_reaches_the_log(fake_providers, caplog):
    with caplog.at_level(logging.DEBUG):
        for provider in PROVIDERS:
            for credentials in (fakes.ACCEPTED[provider], fakes.REFUSED[provider]):
                integration = FACTORIES[provider](**credentials)
                integration_verify(integration=integration, actor=actor_named("support"))
                integration.delete()

    assert "integration verified" in caplog.text
    assert_nothing_leaked(caplog.text)


def test_an_integration_deleted_during_the_call_keeps_no_outcome(fake_providers):
    integration = integration_of("twilio", fakes.ACCEPTED["twilio"])
    integration_delete(integration=Integration.objects.get(pk=integration.pk), actor=actor_named())

    with pytest.raises(IntegrationNotFound):
        integration_verify(integration=integration, actor=actor_named("support"))

    assert Integration.all_objects.get(pk=integration.pk).last_verification == ""
    assert not AuditEvent.objects.filter(action=AuditAction.VERIFY).exists()


def test_no_test_calls_a_real_provider_unless_it_asks_for_the_fakes(tenant):
    integration = TwilioFactory(tenant=tenant, **fakes.ACCEPTED["twilio"])

    result = verification.verify(integration)

    assert result.status == UNREACHABLE
    assert result.detail.startswith("Could not connect to 127.0.0.1:9 ")
