"""A JSON body is UTF-8 (RFC 8259, section 8.1). A Content-Type that declares any other charset
is a 415 in the one error shape, before the body is decoded; nothing raised while a body is
decoded or parsed escapes the parser as a 500.

Found by an outside tester: `charset=idna` made the parser's `decode(errors="replace")` raise
UnicodeError (idna refuses "replace"): a 500 whose mailed report showed the posted secret in
the parser's `body` local, since the crash came before the parser remembered the body's
secrets for scrubbing.
"""

import json
import logging

import pytest
from django.core import mail
from django.utils.log import AdminEmailHandler

from integrations.api import parsers
from integrations.api.parsers import NOT_UTF8, UNREADABLE
from integrations.models import Integration
from tests.api.support import TWILIO, url
from tests.factories import TwilioFactory

pytestmark = pytest.mark.django_db

# Built at run time, so that a traceback's source lines never contain it.
TYPED = "-".join(["typed", "secret", "value"])
BODY = json.dumps({"account": "AC1", "password": TYPED})


@pytest.fixture
def error_mail(settings):
    """Every error report of the API and of Django, mailed with its frames' locals (ERROR,
    as Django's own mail_admins handler: a 4xx is a warning, not a report)."""
    settings.ADMINS = [("Ops", "ops@example.com")]
    with_locals = AdminEmailHandler(include_html=True)
    with_locals.setLevel(logging.ERROR)
    loggers = [logging.getLogger("integrations.api"), logging.getLogger("django.request")]
    for logger in loggers:
        logger.addHandler(with_locals)
    yield mail.outbox
    for logger in loggers:
        logger.removeHandler(with_locals)


def send(client, method: str, charset: str, body: bytes | str = BODY):
    data = body.encode() if isinstance(body, str) else body
    return client.generic(
        method, url("twilio"), data, content_type=f"application/json; charset={charset}"
    )


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize(
    "charset",
    ["idna", "undefined", "base64", "rot13", "latin-1", "utf-16", "cp1252", "utf-8-sig", "nope"],
)
def test_json_declared_in_any_charset_but_utf8_is_a_415_that_writes_nothing(
    tenant_client, tenant, error_mail, method, charset
):
    TwilioFactory(tenant=tenant, account="AC-kept")

    response = send(tenant_client, method, charset)

    assert response.status_code == 415, response.content
    assert response.json() == {"error": NOT_UTF8}
    assert Integration.objects.get(tenant=tenant).account == "AC-kept"
    assert error_mail == []


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", "utf8", '"utf-8"', "us-ascii", "ascii"])
def test_utf8_under_any_of_its_names_and_ascii_are_accepted(tenant_client, tenant, charset):
    response = send(tenant_client, "POST", charset, json.dumps(TWILIO))

    assert response.status_code == 201, response.content
    assert Integration.objects.get(tenant=tenant).account == TWILIO["account"]


def test_a_body_that_is_not_utf8_is_a_400_that_echoes_nothing(tenant_client, tenant, error_mail):
    body = json.dumps({"account": "AC1", "password": TYPED + "é"}, ensure_ascii=False)

    response = send(tenant_client, "POST", "utf-8", body.encode("latin-1"))

    assert response.status_code == 400
    assert response.json() == {
        "error": "The request body is not valid UTF-8 text; send JSON encoded in UTF-8."
    }
    assert TYPED not in response.content.decode()
    assert not Integration.all_objects.exists()
    assert error_mail == []


def test_a_body_declared_ascii_that_is_not_is_a_400(tenant_client, tenant):
    body = json.dumps({"account": "AC-é", "password": "p"}, ensure_ascii=False).encode()

    response = send(tenant_client, "POST", "us-ascii", body)

    assert response.status_code == 400
    assert set(response.json()) == {"error"}
    assert not Integration.all_objects.exists()


def test_the_odd_charset_that_crashed_the_parser_mails_no_report_and_leaks_no_secret(
    tenant_client, tenant, error_mail, caplog
):
    with caplog.at_level(logging.INFO):
        response = send(tenant_client, "POST", "idna")

    assert response.status_code == 415
    assert TYPED not in response.content.decode()
    assert error_mail == []
    assert TYPED not in caplog.text
    assert not Integration.all_objects.exists()


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_any_failure_while_parsing_is_a_400_in_the_one_shape_never_a_500(
    tenant_client, tenant, error_mail, monkeypatch, method
):
    TwilioFactory(tenant=tenant, account="AC-kept")

    def explode(text):
        raise RuntimeError(f"a bug that quotes the body: {text}")

    monkeypatch.setattr(parsers, "_nested_too_deep", explode)

    response = send(tenant_client, method, "utf-8")

    assert response.status_code == 400
    assert response.json() == {"error": UNREADABLE}
    assert TYPED not in response.content.decode()
    assert Integration.objects.get(tenant=tenant).account == "AC-kept"
    assert error_mail == []


def test_the_parser_refuses_an_odd_charset_itself_before_reading_the_stream():
    class Unread:
        def read(self, *args):
            raise AssertionError("the body was read")

    with pytest.raises(parsers.CharsetNotUtf8):
        parsers.BoundedJSONParser().parse(Unread(), "application/json; charset=idna", {})
