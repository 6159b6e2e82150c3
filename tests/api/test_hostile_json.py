"""Bodies that are valid JSON to a lax reader but no use to us: nested far too deep (Python's
json raised RecursionError: a 500 with a logged traceback) or holding a lone surrogate escape
(UTF-8 cannot encode it, so echoing it in an error was a 500). Both are a 400 in the one error
shape, at any depth and in keys as in values; nothing is stored, nothing is echoed."""

import json
import logging

import pytest

from integrations.api.parsers import MAX_NESTING
from integrations.models import Integration
from tests.api.support import TWILIO, post_json, url
from tests.factories import TwilioFactory

pytestmark = pytest.mark.django_db

TOO_DEEP = {
    "error": f"The JSON body is nested more than {MAX_NESTING} levels deep; send a flat JSON "
    "object."
}
NOT_UNICODE = {
    "error": "The JSON body holds a string that is not valid Unicode (an unpaired surrogate "
    "escape such as \\ud800); send text that UTF-8 can encode."
}


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def debug(request, settings):
    settings.DEBUG = request.param


def nested(levels: int, inner: str = "1") -> str:
    return "[" * levels + inner + "]" * levels


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 1000,
        nested(1000),
        "{" + '"a":{' * 999 + "}" * 1000,
        json.dumps({**TWILIO, "account": json.loads(nested(MAX_NESTING))}),
        '{"account": "[[[", "password": ' + "[" * 5000,
    ],
    ids=["1000-open", "1000-closed", "1000-objects", "one-past-the-bound", "after-a-string"],
)
def test_it_refuses_a_body_nested_too_deep_with_a_400_and_logs_no_traceback(
    debug, tenant_client, tenant, raw, caplog
):
    with caplog.at_level(logging.WARNING):
        response = post_json(tenant_client, url("twilio"), raw)

    assert response.status_code == 400, response.content
    assert response.json() == TOO_DEEP
    assert not Integration.all_objects.exists()
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_brackets_inside_strings_do_not_count_as_nesting(tenant_client, tenant):
    body = {"account": "[" * 60, "password": "{[" * 30 + '"\\'}

    response = post_json(tenant_client, url("twilio"), body)

    assert response.status_code == 201, response.content
    assert Integration.objects.get(tenant=tenant).account == "[" * 60


def test_nesting_up_to_the_bound_reaches_the_validation_of_the_field(tenant_client, tenant):
    body = json.dumps({**TWILIO, "account": json.loads(nested(MAX_NESTING - 1))})

    response = post_json(tenant_client, url("twilio"), body)

    assert response.status_code == 400
    assert response.json()["fields"] == {"account": ["Must be a string."]}


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "tw\\ud800", "account": "AC1", "password": "p"}',
        '{"type": "twilio", "account": "AC1\\udfff", "password": "p"}',
        '{"type": "twilio", "account": "AC1", "password": "secret-\\ud800-value"}',
        '{"type": "twilio", "account": "AC1", "password": "p", "ke\\udc00y": "x"}',
        '{"type": "twilio", "account": "AC1", "password": "p", "extra": [{"\\ud800": 1}]}',
        '{"type": "twilio", "account": "AC1", "password": "p\\ud83d"}',
    ],
    ids=["type", "value", "secret", "key", "nested-key", "half-a-pair"],
)
def test_it_refuses_a_lone_surrogate_anywhere_with_a_400_that_echoes_nothing(
    debug, tenant_client, tenant, raw, caplog
):
    with caplog.at_level(logging.WARNING):
        response = post_json(tenant_client, url("twilio"), raw)

    assert response.status_code == 400, response.content
    assert response.json() == NOT_UNICODE
    assert "secret-" not in response.content.decode()
    assert not Integration.all_objects.exists()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_patch_with_a_lone_surrogate_is_400_and_changes_nothing(tenant_client, tenant):
    TwilioFactory(tenant=tenant, account="AC-kept")

    response = tenant_client.patch(
        url("twilio"), '{"account": "AC\\ud800"}', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == NOT_UNICODE
    assert Integration.objects.get(tenant=tenant).account == "AC-kept"


def test_a_well_formed_surrogate_pair_is_one_character_and_is_accepted(tenant_client, tenant):
    raw = '{"type": "twilio", "account": "AC\\ud83d\\ude00", "password": "p"}'

    response = post_json(tenant_client, url("twilio"), raw)

    assert response.status_code == 201, response.content
    assert response.json()["account"] == "AC\U0001f600"
    assert Integration.objects.get(tenant=tenant).account == "AC\U0001f600"
