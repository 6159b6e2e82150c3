"""`sensitive_variables` on the functions that hold plaintext secrets: a crash there shows the
secret in no error report, even outside a request, where nothing else scrubs it.

The services are called directly (as a management command would), so the request-scoped
scrubbing of integrations/error_reports.py has nothing remembered: only the decorators hide the
values. The faults are real (a database trigger refusing the write, a value that cannot be
encoded), and each report is checked as Django builds it, frame by frame, through the configured
filter (a SafeExceptionReporterFilter).
"""

import sys

import pytest
from cryptography.fernet import Fernet
from django.views.debug import get_exception_reporter_class, get_exception_reporter_filter

from integrations import encryption, services
from integrations.error_reports import SCRUBBED
from integrations.providers import TwilioIntegration
from integrations.sealed import SealedSecret
from tests.db_faults import refuse_writes
from tests.factories import TwilioFactory, actor_named
from tests.web.test_error_reports import FAULT

# Built at run time, so that the test's own source lines in a traceback do not contain them.
TYPED = "-".join(["typed", "secret", "value"])

pytestmark = pytest.mark.django_db


def _report(exc_info) -> tuple[dict[str, dict[str, str]], str]:
    """The locals of the frames of the traceback as the report shows them (by function name),
    and the whole text report."""
    reporter_filter = get_exception_reporter_filter(None)
    frames: dict[str, dict[str, str]] = {}
    tb = exc_info[2]
    while tb is not None:
        variables = reporter_filter.get_traceback_frame_variables(None, tb.tb_frame)
        # The outermost frame of each name: ours come before Django's (QuerySet._insert...).
        frames.setdefault(
            tb.tb_frame.f_code.co_name, {name: repr(value) for name, value in variables}
        )
        tb = tb.tb_next
    reporter = get_exception_reporter_class(None)(None, *exc_info)
    return frames, reporter.get_traceback_text() + reporter.get_traceback_html()


def _crash(call) -> tuple[dict[str, dict[str, str]], str]:
    try:
        call()
    except Exception:
        return _report(sys.exc_info())
    pytest.fail("the call did not fail")


def _cleansed(value: str) -> bool:
    return SCRUBBED in value and TYPED not in value


def test_a_failed_update_hides_the_data_in_the_services_frames(tenant):
    twilio = TwilioFactory(tenant=tenant, ident="twilio")
    refuse_writes("integrations_twiliointegration", FAULT)

    frames, report = _crash(
        lambda: services.integration_update(
            integration=twilio, data={"password": TYPED}, actor=actor_named()
        )
    )

    assert FAULT in report
    assert "integration_update" in frames and "_change" in frames
    assert _cleansed(frames["integration_update"]["data"])
    assert _cleansed(frames["_change"]["data"])
    assert TYPED not in report


def test_a_failed_replace_hides_the_data_in_the_services_frames(tenant):
    TwilioFactory(tenant=tenant, ident="twilio")
    refuse_writes("integrations_twiliointegration", FAULT)

    frames, report = _crash(
        lambda: services.integration_upsert(
            tenant=tenant,
            ident="twilio",
            provider=TwilioIntegration,
            data={"account": "AC-NEW", "password": TYPED},
            actor=actor_named(),
        )
    )

    assert FAULT in report
    assert _cleansed(frames["integration_upsert"]["data"])
    assert TYPED not in report


def test_a_crash_while_a_secret_is_assigned_hides_it_in_the_assigning_frame(tenant, monkeypatch):
    twilio = TwilioFactory(tenant=tenant)

    def refuse(cls, plaintext):
        raise RuntimeError("sealing failed")

    monkeypatch.setattr(SealedSecret, "from_plaintext", classmethod(refuse))
    frames, report = _crash(
        lambda: services.integration_update(
            integration=twilio, data={"password": TYPED}, actor=actor_named()
        )
    )

    assert "sealing failed" in report
    assert _cleansed(frames["_assign"]["data"])
    assert _cleansed(frames["_assign"]["value"])


def test_a_secret_that_cannot_be_encrypted_is_hidden_in_the_encrypting_frame(tenant):
    # A lone surrogate cannot be encoded as UTF-8: encrypt() fails with the plaintext in hand,
    # while the create saves the new row. (Built inside the call: a local of this test would
    # be in the report as a variable of the lambda's frame.)
    frames, report = _crash(
        lambda: services.integration_upsert(
            tenant=tenant,
            ident="twilio",
            provider=TwilioIntegration,
            data={"account": "AC-NEW", "password": TYPED + "\ud800"},
            actor=actor_named(),
        )
    )

    assert "UnicodeEncodeError" in report
    assert "encrypt" in frames, list(frames)
    assert _cleansed(frames["encrypt"]["plaintext"])
    assert _cleansed(frames["_insert"]["data"])
    assert TYPED not in report


def test_encrypt_hides_the_plaintext_in_its_own_frame_when_the_key_is_broken(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]  # fails when the key is built

    frames, report = _crash(lambda: encryption.encrypt(TYPED))

    assert "encrypt" in frames
    assert _cleansed(frames["encrypt"]["plaintext"])
    assert TYPED not in report


@pytest.mark.parametrize("function", ["decrypt", "can_decrypt"])
def test_a_crash_inside_decryption_hides_the_plaintext_in_every_frame_below(function, monkeypatch):
    ciphertext = encryption.encrypt(TYPED)
    real = Fernet._decrypt_data

    def decrypt_then_crash(self, *args, **kwargs):
        plaintext = real(self, *args, **kwargs)  # in hand, as in cryptography's own frames
        raise RuntimeError(f"crashed holding {len(plaintext)} bytes")

    monkeypatch.setattr(Fernet, "_decrypt_data", decrypt_then_crash)

    frames, report = _crash(lambda: getattr(encryption, function)(ciphertext))

    assert "crashed holding" in report
    assert _cleansed(frames["decrypt_then_crash"]["plaintext"])
    assert TYPED not in report
