"""Secrets are Fernet ciphertext in the database, and a value that does not decrypt fails closed."""

import pytest
from cryptography.fernet import Fernet
from django.core import serializers
from django.db import connection
from django.test import override_settings

from integrations import encryption
from integrations.encryption import SecretDecryptionError
from integrations.models import Integration
from integrations.providers import all_providers
from tests.factories import PROVIDER_FACTORIES, SalesforceFactory, TwilioFactory
from tests.integrations.support import raw_column

pytestmark = pytest.mark.django_db

OTHER_KEY = Fernet.generate_key().decode()


@pytest.mark.parametrize("factory", PROVIDER_FACTORIES, ids=lambda f: f._meta.model.provider_key)
def test_every_secret_field_is_ciphertext_in_the_database(factory):
    integration = factory()

    secret_names = type(integration).secret_field_names()
    assert secret_names
    for name in secret_names:
        plaintext = getattr(integration, name).reveal()
        raw = raw_column(integration, name)
        assert plaintext not in raw
        assert raw.startswith("gAAAAA")  # a Fernet token
        assert encryption.decrypt(raw) == plaintext


def test_the_non_secret_fields_stay_plain(tenant):
    integration = TwilioFactory(tenant=tenant, account="AC-plain")

    assert raw_column(integration, "account") == "AC-plain"


def test_the_secret_fields_are_exactly_the_secret_fields_of_the_issue():
    assert {p.provider_key: p.secret_field_names() for p in all_providers()} == {
        "datasift": ("api_key",),
        "salesforce": ("consumer_secret", "password", "secret_token"),
        "sendgrid": ("password",),
        "twilio": ("password",),
    }


def test_a_secret_reads_back_as_its_plaintext(tenant):
    created = SalesforceFactory(tenant=tenant, password="hunter2")

    assert Integration.objects.get(pk=created.pk).password == "hunter2"


def test_the_same_secret_encrypts_differently_each_time(tenant):
    first = TwilioFactory(tenant=tenant, ident="one", password="same")
    second = TwilioFactory(tenant=tenant, ident="two", password="same")

    assert raw_column(first, "password") != raw_column(second, "password")


def test_a_secret_that_does_not_decrypt_raises_instead_of_returning_ciphertext(tenant):
    integration = TwilioFactory(tenant=tenant)

    with (
        override_settings(FIELD_ENCRYPTION_KEYS=[OTHER_KEY]),
        pytest.raises(SecretDecryptionError) as raised,
    ):
        Integration.objects.get(pk=integration.pk).password.reveal()

    assert "gAAAAA" not in str(raised.value)


def test_a_tampered_ciphertext_fails_closed(tenant):
    integration = TwilioFactory(tenant=tenant)
    raw = raw_column(integration, "password")
    tampered = raw[:-6] + ("AAAAAA" if not raw.endswith("AAAAAA") else "BBBBBB")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE integrations_twiliointegration SET password = %s WHERE integration_ptr_id = %s",
            [tampered, integration.pk],
        )

    with pytest.raises(SecretDecryptionError):
        Integration.objects.get(pk=integration.pk).password.reveal()


def test_a_plaintext_value_in_the_column_fails_closed(tenant):
    integration = TwilioFactory(tenant=tenant)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE integrations_twiliointegration SET password = %s WHERE integration_ptr_id = %s",
            ["written-around-the-model", integration.pk],
        )

    with pytest.raises(SecretDecryptionError):
        Integration.objects.get(pk=integration.pk).password.reveal()


def test_every_key_decrypts_and_the_first_one_encrypts(settings, tenant):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    old = TwilioFactory(tenant=tenant, ident="old", password="under-old-key")

    with override_settings(FIELD_ENCRYPTION_KEYS=[OTHER_KEY, old_key]):
        assert Integration.objects.get(pk=old.pk).password == "under-old-key"
        new = TwilioFactory(tenant=tenant, ident="new", password="under-new-key")
        new_raw = raw_column(new, "password")

    assert Fernet(OTHER_KEY.encode()).decrypt(new_raw.encode()) == b"under-new-key"
    with override_settings(FIELD_ENCRYPTION_KEYS=[OTHER_KEY]):
        assert Integration.objects.get(pk=new.pk).password == "under-new-key"


def test_a_dump_holds_ciphertext_not_the_secret(tenant):
    integration = TwilioFactory(tenant=tenant, password="dump-me-not")

    dumped = serializers.serialize("json", [integration])

    assert "dump-me-not" not in dumped
    assert "gAAAAA" in dumped
