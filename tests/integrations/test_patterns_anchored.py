"""Every pattern that validates a name matches the whole string: `$` also matches before a
trailing newline, so each must end with `\\Z` (or be used with fullmatch)."""

import re

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from integrations.providers import TwilioIntegration
from integrations.services import integration_check_ident
from tenants.models import Tenant
from tenants.services import tenant_create
from tests.factories import TenantFactory, actor_named

OUR_APPS = ["tenants", "integrations"]


def regex_validators():
    for app_label in OUR_APPS:
        for model in apps.get_app_config(app_label).get_models():
            for field in model._meta.get_fields():
                for validator in getattr(field, "validators", []):
                    if isinstance(validator, RegexValidator):
                        yield f"{model.__name__}.{field.name}", validator


def test_the_project_models_have_regex_validators_to_check():
    assert {name for name, _ in regex_validators()} >= {"Integration.ident", "Tenant.name"}


@pytest.mark.parametrize(
    "name,validator", list(regex_validators()), ids=lambda x: x if isinstance(x, str) else ""
)
def test_every_regex_validator_on_a_model_field_ends_at_the_end_of_the_string(name, validator):
    pattern = validator.regex.pattern
    assert not re.search(r"(?<!\\)\$$", pattern), f"{name}: {pattern} ends with $, use \\Z"
    assert pattern.endswith(r"\Z") or validator.inverse_match, name


@pytest.mark.parametrize("ident", ["twilio\n", "twilio\r\n", "twilio\n\n", "\ntwilio"])
def test_the_model_validator_refuses_an_id_with_a_newline(tenant, ident):
    integration = TwilioIntegration(tenant=tenant, ident=ident, account="AC1", password="p")

    with pytest.raises(ValidationError) as raised:
        integration.full_clean()

    assert list(raised.value.message_dict) == ["ident"]


def test_the_service_refuses_an_id_with_a_trailing_newline():
    with pytest.raises(ValidationError) as raised:
        integration_check_ident(ident="twilio\n", provider=TwilioIntegration)

    assert list(raised.value.message_dict) == ["id"]


@pytest.mark.django_db
def test_a_tenant_name_with_a_trailing_newline_is_refused_by_the_model_and_the_service():
    with pytest.raises(ValidationError) as raised:
        Tenant(name="acme\n").full_clean()
    assert list(raised.value.message_dict) == ["name"]

    with pytest.raises(ValidationError):
        tenant_create(name="acme\n", actor=actor_named())
    assert not Tenant.all_objects.exists()


@pytest.mark.django_db
def test_a_valid_id_and_tenant_name_still_pass(tenant):
    TenantFactory.build(name="acme-2").full_clean()
    integration_check_ident(ident="twilio", provider=TwilioIntegration)
