"""config/browser_middleware.py: sessions, the logged-in user and messages are skipped under
the API, and only there."""

import json

import pytest
from django.contrib.messages import get_messages
from django.core import checks
from django.core.handlers.base import BaseHandler
from django.test import RequestFactory

from tests.factories import TenantFactory, actor_named
from tests.web.conftest import logged_in, make_user

pytestmark = pytest.mark.django_db


def through_middleware(request):
    """The request and its answer, through the project's whole middleware chain and views."""
    handler = BaseHandler()
    handler.load_middleware()
    return handler.get_response(request)


@pytest.fixture
def staff_cookie(db):
    client = logged_in(make_user("staffer", [], is_staff=True, is_superuser=True))
    return client.cookies["sessionid"].value


def test_an_api_request_gets_no_session_user_or_messages_and_sets_no_cookie(
    tenant, token_client, staff_cookie
):
    from tenants.services import api_token_create

    _, token = api_token_create(actor=actor_named("tests"), label="t", tenant=tenant)
    request = RequestFactory().get(
        "/1.0/tenants/acme/integrations",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_COOKIE=f"sessionid={staff_cookie}",
    )
    response = through_middleware(request)
    assert response.status_code == 200, response.content
    assert json.loads(response.content) == []
    assert not hasattr(request, "session")
    assert not hasattr(request, "_messages")
    # DRF's authentication sets the token's user on the Django request; Django's lazy one
    # (from the session cookie) was never made.
    assert str(request.user) == "token:t"
    assert not hasattr(request, "auser")
    assert "Set-Cookie" not in response.headers and not response.cookies
    assert "Cookie" not in response.headers.get("Vary", "")
    # The headers that describe every answer are still there.
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response.headers["Cache-Control"]


def test_a_session_never_authenticates_the_api(staff_cookie, tenant):
    request = RequestFactory().get(
        "/1.0/tenants/acme/integrations", HTTP_COOKIE=f"sessionid={staff_cookie}"
    )
    response = through_middleware(request)
    assert response.status_code == 401
    assert set(json.loads(response.content)) == {"error"}


def test_an_api_request_reads_no_session_row(tenant, staff_cookie, count_sql):
    from tenants.services import api_token_create

    _, token = api_token_create(actor=actor_named("tests"), label="t", tenant=tenant)
    request = RequestFactory().get(
        "/1.0/tenants/acme/integrations",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_COOKIE=f"sessionid={staff_cookie}",
    )
    with count_sql() as sql:
        assert through_middleware(request).status_code == 200
    assert sql.statements, "the request ran no SQL at all: the check below would pass anyway"
    assert not [s for s in sql.statements if "django_session" in s or "auth_user" in s]


def test_pages_keep_their_session_user_and_messages(staff_cookie):
    TenantFactory(name="initech")
    request = RequestFactory().get("/", HTTP_COOKIE=f"sessionid={staff_cookie}")
    response = through_middleware(request)
    assert response.status_code == 200
    assert request.session.session_key == staff_cookie
    assert request.user.get_username() == "staffer"
    assert list(get_messages(request)) == []  # the storage is there (and empty)
    assert b"initech" in response.content


def test_a_message_set_on_a_page_survives_to_the_next_page(client, db):
    """Messages still travel between pages (a staff page's "created" notice)."""
    client.force_login(make_user("admin2", [], is_staff=True, is_superuser=True))
    response = client.post("/new-tenant/", {"name": "hooli", "display_name": "Hooli"}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [("/tenants/hooli/", 302)]
    shown = [str(message) for message in response.context["messages"]]
    assert shown == ["Tenant 'hooli' created."]


def test_paths_that_only_look_like_the_api_keep_their_session(staff_cookie):
    """Only a version-like first segment is the API (integrations.api.errors.API_PATH)."""
    request = RequestFactory().get("/1.0x/", HTTP_COOKIE=f"sessionid={staff_cookie}")
    through_middleware(request)
    assert request.session.session_key == staff_cookie


def test_the_admin_system_checks_still_find_the_middleware():
    errors = [
        message
        for message in checks.run_checks()
        if message.id in {"admin.E408", "admin.E409", "admin.E410"}
    ]
    assert errors == []
