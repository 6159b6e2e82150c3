"""The provider models are the single source of truth for keys, labels, help and secrecy."""

import pytest
from django.contrib.contenttypes.models import ContentType

from integrations.api.serializers import json_key
from integrations.models import Integration
from integrations.providers import TwilioIntegration, all_providers, provider_for, provider_of
from tenants.models import Tenant
from tests.factories import TwilioFactory


def test_the_registry_is_the_four_providers_of_the_issue():
    assert [p.provider_key for p in all_providers()] == [
        "datasift",
        "salesforce",
        "sendgrid",
        "twilio",
    ]


@pytest.mark.parametrize(
    "key,json_keys",
    [
        (
            "salesforce",
            [
                "consumer-key",
                "consumer-secret",
                "username",
                "password",
                "secret-token",
                "login-host",
            ],
        ),
        ("twilio", ["account", "password"]),
        ("sendgrid", ["account", "password"]),
        ("datasift", ["username", "api-key"]),
    ],
)
def test_the_json_keys_are_derived_from_the_fields(key, json_keys):
    provider = provider_for(key)

    assert [json_key(f.name) for f in provider.credential_fields()] == json_keys


@pytest.mark.parametrize(
    "key,field,link_text",
    [
        ("salesforce", "secret_token", "Get Salesforce secret token"),
        ("salesforce", "consumer_key", "Get Salesforce Consumer key/secret"),
        ("salesforce", "consumer_secret", "Get Salesforce Consumer key/secret"),
        ("twilio", "password", "Twilio Token"),
        ("datasift", "api_key", "DataSift api key"),
    ],
)
def test_help_texts_carry_the_links_of_the_api_document(key, field, link_text):
    help_text = provider_for(key)._meta.get_field(field).help_text

    assert link_text in help_text
    assert 'href="http' in help_text


def test_an_unknown_key_names_no_provider():
    assert provider_for("fax") is None
    assert provider_for("") is None


@pytest.mark.django_db
def test_provider_of_names_the_provider_of_a_row_read_as_the_base_class():
    twilio = TwilioFactory()
    base_row = Integration.objects.non_polymorphic().get(pk=twilio.pk)

    assert type(base_row) is Integration
    assert provider_of(base_row) is TwilioIntegration


@pytest.mark.django_db
def test_provider_of_refuses_a_row_whose_content_type_is_no_provider():
    stray = Integration(pk=7, polymorphic_ctype=ContentType.objects.get_for_model(Tenant))

    with pytest.raises(LookupError, match="Integration pk 7 is of no installed provider"):
        provider_of(stray)
