"""Bodies sent with Transfer-Encoding: chunked and no Content-Length.

The test client stands in for the two kinds of server: one that de-chunks the body and says
so (`wsgi.input_terminated`, as gunicorn does) and one that does not (runserver). Real servers:
tests/servers/test_chunked_bodies.py.
"""

import json
from io import BytesIO

import pytest

from integrations.models import Integration
from integrations.providers import TwilioIntegration
from tests.api.support import JSON, TWILIO, post_json, url
from tests.web.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


def chunked(client, method: str, path: str, body: bytes, *, de_chunked: bool, media=JSON):
    """A request whose body has no Content-Length; `de_chunked`: the server read the chunks and
    ends wsgi.input where the body ends."""
    environ = {
        "CONTENT_TYPE": media,
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": BytesIO(body),
    }
    if de_chunked:
        environ["wsgi.input_terminated"] = True
    # No data: the test client sets no CONTENT_LENGTH (DRF's sets CONTENT_TYPE from its own
    # argument, Django's from the environ).
    return client.generic(method, path, b"", content_type=media, **environ)


@pytest.fixture
def twilio(tenant_client, tenant):
    assert post_json(tenant_client, url("twilio"), TWILIO).status_code == 201
    return TwilioIntegration.objects.get(tenant=tenant, ident="twilio")


def stored(integration) -> tuple[str, str]:
    fresh = TwilioIntegration.all_objects.get(pk=integration.pk)
    return fresh.account, fresh.password.reveal()


# --- a server that de-chunks: the body is read -----------------------------------------------


def test_a_chunked_patch_changes_the_record(tenant_client, twilio):
    body = json.dumps({"account": "AC-CHUNKED"}).encode()

    response = chunked(tenant_client, "PATCH", url("twilio"), body, de_chunked=True)

    assert response.status_code == 200, response.content
    assert response.json()["account"] == "AC-CHUNKED"
    assert stored(twilio) == ("AC-CHUNKED", TWILIO["password"])


def test_a_chunked_post_creates_the_record(tenant_client, tenant):
    body = json.dumps(TWILIO).encode()

    response = chunked(tenant_client, "POST", url("twilio"), body, de_chunked=True)

    assert response.status_code == 201, response.content
    assert TwilioIntegration.objects.get(tenant=tenant, ident="twilio").account == "AC0123456789"


def test_a_chunked_body_of_exactly_1_mib_is_read(tenant_client, twilio):
    start = json.dumps({"account": "AC-BIG"}).encode()
    body = start + b" " * (MIB - len(start))

    response = chunked(tenant_client, "PATCH", url("twilio"), body, de_chunked=True)

    assert len(body) == MIB
    assert response.status_code == 200, response.content
    assert stored(twilio)[0] == "AC-BIG"


def test_a_chunked_body_over_1_mib_is_413_and_changes_nothing(tenant_client, twilio):
    start = json.dumps({"account": "AC-TOO-BIG"}).encode()
    body = start + b" " * (MIB + 1 - len(start))

    response = chunked(tenant_client, "PATCH", url("twilio"), body, de_chunked=True)

    assert response.status_code == 413
    assert response.json() == {"error": "The request body is larger than the limit of 1 MiB."}
    assert stored(twilio) == (TWILIO["account"], TWILIO["password"])


def test_an_empty_chunked_body_is_the_parser_s_400_not_an_empty_object(tenant_client, twilio):
    response = chunked(tenant_client, "PATCH", url("twilio"), b"", de_chunked=True)

    assert response.status_code == 400
    assert set(response.json()) == {"error"}


def test_a_chunked_login_form_is_read_too(client, db):
    make_user("support", [])
    form = f"username=support&password={PASSWORD}".encode()

    response = chunked(
        client,
        "POST",
        "/accounts/login/",
        form,
        de_chunked=True,
        media="application/x-www-form-urlencoded",
    )

    assert response.status_code == 302
    assert client.session["_auth_user_id"]


# --- a server that does not: 411, never an empty body ----------------------------------------


@pytest.mark.parametrize("method", ["PATCH", "POST"])
def test_a_chunked_body_the_server_did_not_de_chunk_is_411_and_changes_nothing(
    tenant_client, twilio, method
):
    body = json.dumps({"account": "AC-LOST"}).encode()

    response = chunked(tenant_client, method, url("twilio"), body, de_chunked=False)

    assert response.status_code == 411
    assert response.json() == {
        "error": "This server cannot read a body sent with Transfer-Encoding (chunked); "
        "send it with a Content-Length header."
    }
    assert stored(twilio) == (TWILIO["account"], TWILIO["password"])
    assert Integration.all_objects.count() == 1


def test_a_staff_form_the_server_did_not_de_chunk_is_a_plain_411(client, db):
    response = chunked(
        client,
        "POST",
        "/accounts/login/",
        b"username=support&password=x",
        de_chunked=False,
        media="application/x-www-form-urlencoded",
    )

    assert response.status_code == 411
    assert response["Content-Type"].startswith("text/plain")
    assert "Content-Length" in response.content.decode()
    assert "no-store" in response["Cache-Control"]


def test_bodies_with_a_content_length_are_unaffected(tenant_client, twilio):
    response = tenant_client.patch(
        url("twilio"), json.dumps({"account": "AC-PLAIN"}), content_type=JSON
    )

    assert response.status_code == 200
    assert stored(twilio)[0] == "AC-PLAIN"
