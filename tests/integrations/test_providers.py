"""The provider models are the single source of truth for keys, labels, help and secrecy."""

import pytest

from integrations.api.serializers import json_key
from integrations.providers import all_providers, provider_for


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
        ("salesforce", ["consumer-key", "consumer-secret", "username", "password", "secret-token"]),
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
