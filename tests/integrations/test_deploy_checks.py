"""`manage.py check --deploy` samples stored secrets: none decrypting (started with the wrong
key) is an Error that stops the deploy, some not decrypting a Warning naming them; and it
warns when the rate limits' cache is not shared between processes."""

import pytest
from cryptography.fernet import Fernet
from django.core.checks import Error, Warning
from django.core.checks.registry import registry
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import OperationalError

from integrations import checks
from integrations.checks import check_stored_secrets_decrypt
from tenants.checks import check_rate_limit_store_is_shared
from tests.factories import DataSiftFactory, SalesforceFactory, TwilioFactory
from tests.integrations.test_unreadable_secrets import break_secret

WRONG_KEY = Fernet.generate_key().decode()


def ids(messages) -> list[str]:
    return [message.id for message in messages]


@pytest.fixture
def stored(tenant):
    """Secrets of three providers, written under the configured key."""
    return [
        TwilioFactory(tenant=tenant, password="twilio-secret-value"),
        SalesforceFactory(tenant=tenant),
        DataSiftFactory(tenant=tenant, api_key="datasift-secret-value"),
    ]


def test_the_checks_run_with_deploy_only():
    assert check_stored_secrets_decrypt in registry.get_checks(include_deployment_checks=True)
    assert check_stored_secrets_decrypt not in registry.get_checks()
    assert check_rate_limit_store_is_shared in registry.get_checks(include_deployment_checks=True)


@pytest.mark.django_db
def test_nothing_stored_is_nothing_to_report():
    assert check_stored_secrets_decrypt() == []


@pytest.mark.django_db
def test_secrets_that_decrypt_are_no_issue(stored, settings):
    assert check_stored_secrets_decrypt() == []
    # An older key kept after the newest one still opens them: no issue either.
    settings.FIELD_ENCRYPTION_KEYS = [WRONG_KEY, *settings.FIELD_ENCRYPTION_KEYS]
    assert check_stored_secrets_decrypt() == []


@pytest.mark.django_db
def test_started_with_the_wrong_key_is_an_error(stored, settings):
    settings.FIELD_ENCRYPTION_KEYS = [WRONG_KEY]

    [error] = check_stored_secrets_decrypt()

    assert isinstance(error, Error) and error.id == "integrations.E001"
    assert "None of the 5 stored secrets sampled" in error.msg  # 1 + 3 + 1 secret fields
    assert "started with the wrong keys" in error.msg
    assert "rotate_encryption_keys --check" in error.hint
    assert "twilio-secret-value" not in error.msg + error.hint


@pytest.mark.django_db
def test_check_deploy_fails_loudly_with_the_wrong_key(stored, settings):
    settings.FIELD_ENCRYPTION_KEYS = [WRONG_KEY]

    with pytest.raises(SystemCheckError, match=r"integrations\.E001"):
        call_command("check", "--deploy")


@pytest.mark.django_db
def test_some_secrets_not_decrypting_is_a_warning_that_names_them(stored):
    twilio = stored[0]
    break_secret(twilio, "password")

    [warning] = check_stored_secrets_decrypt()

    assert isinstance(warning, Warning) and warning.id == "integrations.W001"
    assert "1 of the 5 stored secrets sampled do not decrypt" in warning.msg
    assert "twilio acme/twilio password" in warning.msg
    assert "lost-forever" not in warning.msg


@pytest.mark.django_db
def test_only_the_newest_rows_of_each_provider_are_sampled(tenant, settings):
    for n in range(checks.SAMPLE_PER_PROVIDER + 3):
        TwilioFactory(tenant=tenant, ident=f"twilio-{n}")

    settings.FIELD_ENCRYPTION_KEYS = [WRONG_KEY]
    [error] = check_stored_secrets_decrypt()

    assert f"None of the {checks.SAMPLE_PER_PROVIDER} stored secrets" in error.msg


@pytest.mark.django_db
def test_an_unreachable_database_is_a_warning_not_a_crash(stored, monkeypatch):
    def unreachable():
        raise OperationalError("connection refused")

    monkeypatch.setattr(checks, "_sample", unreachable)

    assert ids(check_stored_secrets_decrypt()) == ["integrations.W002"]


# --- the rate limits' cache ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        ("django.core.cache.backends.locmem.LocMemCache", ["tenants.W001"]),
        ("django.core.cache.backends.dummy.DummyCache", ["tenants.W001"]),
        ("django.core.cache.backends.redis.RedisCache", []),
        ("config.redis_cache.RedisCache", []),
    ],
)
def test_a_cache_that_processes_do_not_share_is_a_warning(settings, backend, expected):
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": "redis://127.0.0.1:6379/0"}}

    assert ids(check_rate_limit_store_is_shared()) == expected
