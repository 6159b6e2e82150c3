"""`manage.py rotate_encryption_keys` re-encrypts every secret under the newest key."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import override_settings

from integrations.encryption import SecretDecryptionError
from integrations.models import Integration
from integrations.services import integration_delete
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

    assert "5 integration(s)" in output
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
    assert "0 integration(s)" in rotate()
