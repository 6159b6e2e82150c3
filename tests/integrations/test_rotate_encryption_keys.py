"""`manage.py rotate_encryption_keys` re-encrypts every secret under the newest key."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.test import override_settings

from integrations.encryption import SecretDecryptionError, is_under_newest_key
from integrations.models import Integration
from integrations.providers import TwilioIntegration
from integrations.services import (
    integration_delete,
    integration_rollback,
    integration_update,
    integration_upsert,
)
from tests.factories import PROVIDER_FACTORIES, TwilioFactory, actor_named
from tests.integrations.support import raw_column

pytestmark = pytest.mark.django_db

NEW_KEY = Fernet.generate_key().decode()


def rotate() -> str:
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    return out.getvalue()


def test_after_rotation_the_old_key_can_be_dropped(settings, tenant):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    created = [factory(tenant=tenant) for factory in PROVIDER_FACTORIES]
    deleted = TwilioFactory(tenant=tenant, ident="gone", password="deleted-but-kept")
    integration_delete(integration=deleted, actor=actor_named("test"))
    expected = {
        i.pk: {name: getattr(i, name) for name in type(i).secret_field_names()}
        for i in [*created, deleted]
    }

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, old_key]):
        output = rotate()

    # salesforce 3 + twilio, sendgrid, datasift 1 each + the deleted twilio 1
    assert "Re-encrypted 7 secret value(s) in 5 row(s)" in output
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        for integration in Integration.all_objects.all():
            for name, value in expected[integration.pk].items():
                assert getattr(integration, name) == value
                raw = raw_column(integration, name)
                assert Fernet(NEW_KEY.encode()).decrypt(raw.encode()).decode() == value


def test_without_rotation_dropping_the_old_key_fails_closed(settings, tenant):
    integration = TwilioFactory(tenant=tenant)

    with (
        override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]),
        pytest.raises(SecretDecryptionError),
    ):
        Integration.objects.get(pk=integration.pk).password.reveal()


def test_rotation_changes_neither_timestamps_nor_other_columns(settings, tenant):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    before = TwilioFactory(tenant=tenant)

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, old_key]):
        rotate()
        after = Integration.objects.get(pk=before.pk)

    assert after.updated_at == before.updated_at
    assert (after.account, after.updated_by) == (before.account, before.updated_by)


def test_rotation_with_nothing_stored_says_so(db):
    assert "Re-encrypted 0 secret value(s) in 0 row(s)" in rotate()


# --- at scale: batches, resumable, one bad value named, --check -----------------------------


def rotate_with(*args: str) -> tuple[str, str, Exception | None]:
    out, err = StringIO(), StringIO()
    try:
        call_command("rotate_encryption_keys", *args, stdout=out, stderr=err)
    except CommandError as error:
        return out.getvalue(), err.getvalue(), error
    return out.getvalue(), err.getvalue(), None


def test_versions_are_rotated_too_and_a_rollback_after_dropping_the_old_key_works(settings, tenant):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    twilio, _ = integration_upsert(
        tenant=tenant,
        ident="twilio",
        provider=TwilioIntegration,
        data={"account": "AC1", "password": "first-password"},
        actor=actor_named(),
    )
    integration_update(integration=twilio, data={"password": "bad-rotation"}, actor=actor_named())

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, old_key]):
        output, _, failed = rotate_with()
    assert failed is None
    assert "Re-encrypted 3 secret value(s)" in output  # the live value and both versions

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        restored = integration_rollback(integration=twilio, number=1, actor=actor_named())
        assert Integration.objects.get(pk=restored.pk).password == "first-password"
        assert restored.version == 3


def test_a_second_run_finds_nothing_left_to_do(settings, tenant):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    for factory in PROVIDER_FACTORIES:
        factory(tenant=tenant)

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, old_key]):
        rotate_with()
        output, _, failed = rotate_with()

    assert failed is None
    assert "Re-encrypted 0 secret value(s) in 4 row(s)" in output
    assert "6 already under the newest key" in output


def test_an_interrupted_run_keeps_its_whole_batches_and_a_rerun_finishes(
    settings, tenant, monkeypatch
):
    from integrations.management.commands import rotate_encryption_keys as command

    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    rows = [TwilioFactory(tenant=tenant, ident=f"twilio-{n}") for n in range(5)]
    original = command._IntegrationSecrets.handle
    seen = []

    def interrupted_at_the_fourth_row(self, row, outcome, *, write):
        seen.append(row.pk)
        if len(seen) == 4:
            raise KeyboardInterrupt
        return original(self, row, outcome, write=write)

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, old_key]):
        monkeypatch.setattr(command._IntegrationSecrets, "handle", interrupted_at_the_fourth_row)
        with pytest.raises(KeyboardInterrupt):
            rotate_with("--batch-size", "2")
        monkeypatch.undo()
        under_new = [is_under_newest_key(raw_column(row, "password")) for row in rows]
        assert under_new == [True, True, False, False, False]  # batch 1 kept, batch 2 undone

        output, _, failed = rotate_with("--batch-size", "2")

    assert failed is None
    assert "Re-encrypted 3 secret value(s)" in output
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        assert all(is_under_newest_key(raw_column(row, "password")) for row in rows)


def test_an_undecryptable_value_is_named_the_others_rotate_and_the_run_fails(settings, tenant):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    good = TwilioFactory(tenant=tenant, ident="good")
    bad = TwilioFactory(tenant=tenant, ident="bad")
    stranger = Fernet(Fernet.generate_key()).encrypt(b"lost").decode()
    TwilioIntegration.all_objects.filter(pk=bad.pk).update(password=_sealed(stranger))

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, old_key]):
        output, errors, failed = rotate_with()

    assert isinstance(failed, CommandError)
    assert f"twilio integration acme/bad (pk {bad.pk}), field password" in errors
    assert "good" not in errors
    assert "Re-encrypted 1 secret value(s)" in output
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY]):
        assert is_under_newest_key(raw_column(good, "password"))


def test_check_counts_without_writing(settings, tenant):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    TwilioFactory(tenant=tenant, ident="old-one")
    bad = TwilioFactory(tenant=tenant, ident="bad")
    stranger = Fernet(Fernet.generate_key()).encrypt(b"lost").decode()
    TwilioIntegration.all_objects.filter(pk=bad.pk).update(password=_sealed(stranger))
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW_KEY, old_key]):
        TwilioFactory(tenant=tenant, ident="new-one")
        before = {i.pk: raw_column(i, "password") for i in Integration.all_objects.all()}

        output, _, failed = rotate_with("--check")

        after = {i.pk: raw_column(i, "password") for i in Integration.all_objects.all()}
    assert "1 value(s) under the newest key, 1 under an older key, 1 undecryptable" in output
    assert isinstance(failed, CommandError)
    assert before == after


def test_without_a_terminal_progress_is_plain_lines(settings, tenant):
    for n in range(20):
        TwilioFactory(tenant=tenant, ident=f"t-{n}")

    output, _, _ = rotate_with("--batch-size", "5")

    assert "5/20 rows" in output and "20/20 rows" in output
    assert "\r" not in output


def _sealed(ciphertext: str):
    from integrations.sealed import SealedSecret

    return SealedSecret.from_ciphertext(ciphertext)
