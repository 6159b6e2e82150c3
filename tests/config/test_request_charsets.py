"""A request whose Content-Type names a charset that cannot decode text (unknown, a binary
codec, one that refuses errors="replace"), or whose query string or form fails to decode, is
a 400 on every page (JSON under /1.0/), before any view, logged in or not; never a 500.

Found by an outside tester, no login needed:
- a multipart POST with `charset=idna` to any page (/accounts/login/ included) was a 500 in
  the NUL guard's read of request.POST (idna refuses errors="replace");
- `GET /?q=%41` with `Content-Type: text/plain; charset=base64` raised LookupError while
  Django was still building the request (its encoding setter evaluates request.GET): outside
  every handler, so the WSGI server answered its own 500.
config/handlers.py serves a request that never takes such a charset on;
config/request_guards.py's RefuseUndecodableCharsetMiddleware answers the 400.
"""

import asyncio
import io
import json
import logging

import pytest
from asgiref.sync import async_to_sync
from django.core import mail
from django.test import Client

from config.asgi import application as asgi_application
from config.handlers import RegistryWSGIRequest, decodes_text
from config.request_guards import CHARSET_REFUSED, NOT_DECODABLE
from config.wsgi import application as wsgi_application
from integrations.providers import TwilioIntegration
from tests.factories import TwilioFactory

pytestmark = pytest.mark.django_db

TYPED = "-".join(["typed", "secret", "value"])
CANNOT_DECODE_TEXT = ["idna", "undefined", "base64", "bz2_codec", "rot13", "no-such-charset"]
PAGES = ["/accounts/login/", "/admin/login/", "/tenants/acme/integrations/twilio/edit/", "/"]
API = "/1.0/tenants/acme/integrations"


@pytest.fixture
def error_mail(settings):
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    return mail.outbox


@pytest.fixture(autouse=True)
def served_request(monkeypatch):
    """Django's test client builds Django's own WSGIRequest, whatever config.wsgi serves; here
    it builds the one served (with Django's own, a charset such as base64 made the client
    itself raise LookupError, as the WSGI server's call did)."""
    monkeypatch.setattr("django.test.client.WSGIRequest", RegistryWSGIRequest)


@pytest.fixture
def djangos_request(monkeypatch):
    monkeypatch.undo()


@pytest.fixture
def twilio(tenant):
    return TwilioFactory(tenant=tenant, account="AC-KEPT", password="stored-password")


def _multipart(fields: dict[str, str], boundary: str = "BoUnDaRy") -> bytes:
    body = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    )
    return f"{body}--{boundary}--\r\n".encode()


def _client(user=None) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def _assert_refused_page(response, error_mail):
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "Bad Request" in response.content.decode()
    assert TYPED not in response.content.decode()
    assert error_mail == []


@pytest.mark.parametrize("built_by", ["served-request", "djangos-request"])
@pytest.mark.parametrize("charset", CANNOT_DECODE_TEXT)
@pytest.mark.parametrize("path", PAGES)
def test_a_multipart_form_in_a_charset_that_cannot_decode_text_is_a_400_that_writes_nothing(
    request, admin_user, twilio, error_mail, path, charset, built_by
):
    if built_by == "djangos-request":
        request.getfixturevalue("djangos_request")  # the middleware alone answers the 400
    client = _client(admin_user if path.startswith("/tenants/") else None)

    response = client.generic(
        "POST",
        path,
        _multipart({"account": "AC-CHANGED", "password": TYPED, "username": "boss"}),
        content_type=f"multipart/form-data; boundary=BoUnDaRy; charset={charset}",
    )

    _assert_refused_page(response, error_mail)
    assert TwilioIntegration.objects.get().account == "AC-KEPT"
    assert TwilioIntegration.objects.get().password.reveal() == "stored-password"


@pytest.mark.parametrize("charset", ["idna", "base64"])
def test_an_urlencoded_form_in_a_charset_that_cannot_decode_text_is_a_400(
    admin_user, twilio, error_mail, charset
):
    response = _client(admin_user).generic(
        "POST",
        "/tenants/acme/integrations/twilio/edit/",
        f"account=AC-CHANGED&password={TYPED}",
        content_type=f"application/x-www-form-urlencoded; charset={charset}",
    )

    _assert_refused_page(response, error_mail)
    assert TwilioIntegration.objects.get().account == "AC-KEPT"


def test_a_query_string_that_its_charset_fails_to_decode_is_a_400(admin_user, error_mail):
    # punycode is a text codec that takes errors="replace", but cannot decode "q=%41".
    response = _client(admin_user).get("/", {"q": "A"}, CONTENT_TYPE="text/plain; charset=punycode")

    _assert_refused_page(response, error_mail)


def test_under_the_api_a_query_string_that_its_charset_fails_to_decode_is_a_json_400(
    tenant_client, tenant
):
    response = tenant_client.generic(
        "GET", f"{API}?type=twilio", content_type="text/plain; charset=punycode"
    )

    assert response.status_code == 400
    assert response.json() == {"error": NOT_DECODABLE}


def test_a_multipart_form_in_a_charset_that_decodes_text_is_still_read(admin_user, twilio):
    body = _multipart({"account": "AC-été", "password": ""}).decode().encode("latin-1")

    response = _client(admin_user).generic(
        "POST",
        "/tenants/acme/integrations/twilio/edit/",
        body,
        content_type="multipart/form-data; boundary=BoUnDaRy; charset=latin-1",
    )

    assert response.status_code == 302
    assert TwilioIntegration.objects.get().account == "AC-été"


@pytest.mark.parametrize("charset", ["base64", "idna", "no-such-charset"])
def test_under_the_api_a_request_in_such_a_charset_is_a_json_400(tenant_client, tenant, charset):
    response = tenant_client.generic("GET", API, content_type=f"text/plain; charset={charset}")

    assert response.status_code == 400
    assert response.json() == {"error": CHARSET_REFUSED}


def test_under_the_api_a_json_body_in_such_a_charset_is_the_parsers_415(tenant_client, tenant):
    response = tenant_client.generic(
        "POST",
        f"{API}/twilio",
        json.dumps({"account": "AC1", "password": TYPED}),
        content_type="application/json; charset=idna",
    )

    assert response.status_code == 415
    assert set(response.json()) == {"error"}
    assert not TwilioIntegration.objects.exists()


# --- the request Django builds before any middleware ------------------------------------------


def _environ(path: str, query: str, content_type: str) -> dict:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "CONTENT_TYPE": content_type,
    }


def _through_wsgi(path: str, query: str, content_type: str) -> tuple[str, bytes]:
    """What a WSGI server gets from config.wsgi's application: the status line and the body
    (an exception escaping the application fails the test, as it is the server's own 500)."""
    status = {}

    def start_response(line, headers, exc_info=None):
        status["line"] = line

    body = b"".join(wsgi_application(_environ(path, query, content_type), start_response))
    return status["line"], body


@pytest.mark.parametrize("charset", CANNOT_DECODE_TEXT)
@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/admin/login/", API])
def test_a_query_string_with_such_a_charset_is_a_400_from_the_real_wsgi_application(
    tenant, error_mail, path, charset
):
    line, body = _through_wsgi(path, "q=%41", f"text/plain; charset={charset}")

    assert line == "400 Bad Request"
    if path.startswith("/1.0/"):
        assert json.loads(body) == {"error": CHARSET_REFUSED}
    else:
        assert b"Bad Request" in body
    assert error_mail == []


def test_the_real_wsgi_application_still_serves_a_query_in_a_charset_that_decodes_text(tenant):
    line, _ = _through_wsgi("/accounts/login/", "next=%2F", "text/plain; charset=latin-1")

    assert line == "200 OK"


def test_the_test_client_gets_the_same_400(error_mail):
    response = _client().get("/", {"q": "A"}, CONTENT_TYPE="text/plain; charset=base64")

    _assert_refused_page(response, error_mail)


def test_the_served_request_never_takes_on_a_charset_that_cannot_decode_text():
    refused = RegistryWSGIRequest(_environ("/", "q=%41", "text/plain; charset=base64"))
    taken = RegistryWSGIRequest(_environ("/", "q=%E9", "text/plain; charset=latin-1"))

    assert refused.encoding is None  # Django's default, UTF-8
    assert refused.GET["q"] == "A"
    assert taken.encoding == "latin-1"
    assert taken.GET["q"] == "é"
    assert [decodes_text(c) for c in CANNOT_DECODE_TEXT] == [False] * len(CANNOT_DECODE_TEXT)
    assert decodes_text("utf-8") and decodes_text("latin-1")


def test_the_asgi_application_answers_such_a_request_with_a_400_too(error_mail):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/accounts/login/",
        "raw_path": b"/accounts/login/",
        "query_string": b"q=%41",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"text/plain; charset=base64"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent = []
    requested = []

    async def receive():
        if requested:  # then the handler listens for a disconnect until it has answered
            await asyncio.Event().wait()
        requested.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    async_to_sync(asgi_application)(scope, receive, send)

    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 400
    assert error_mail == []


def test_a_refused_request_is_logged_as_a_warning_without_its_data(admin_user, caplog):
    with caplog.at_level(logging.WARNING):
        _client(admin_user).generic(
            "POST",
            "/tenants/acme/integrations/twilio/edit/",
            _multipart({"password": TYPED}),
            content_type="multipart/form-data; boundary=BoUnDaRy; charset=idna",
        )

    assert TYPED not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
