"""Security headers: a Content-Security-Policy on every page, `no-store` on all but /static/.

(tests/browser/test_content_security_policy.py checks in Chromium that the pages, the admin's
polymorphic inline and the API docs work under the policy, with no violation reported.)
"""

import base64
import hashlib
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

from tests.factories import TwilioFactory

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self' 'unsafe-hashes' 'sha256-biLFinpqYMtWHmXfkA1BPeCY0/fNt46SAZ+BBk5YUog='",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def _directives(header: str) -> dict[str, str]:
    pairs = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {name: value for name, value in pairs}


def _pages(tenant, twilio) -> list[tuple[str, str]]:
    return [
        ("support", "/"),
        ("support", "/?q=acme"),
        ("support", "/new-tenant/"),
        ("support", "/tenants/acme/"),
        ("support", "/tenants/acme/add-integration/"),
        ("support", "/tenants/acme/add-integration/twilio/"),
        ("support", "/tenants/acme/integrations/twilio/edit/"),
        ("support", "/tenants/acme/integrations/twilio/delete/"),
        ("support", "/tenants/nobody/"),  # the 404 page
        ("outsider", "/tenants/acme/"),  # the 403 page
        ("admin", "/admin/"),
        ("admin", "/admin/tenants/tenant/"),
        ("admin", f"/admin/tenants/tenant/{tenant.pk}/change/"),
        ("admin", "/admin/tenants/apitoken/add/"),
        ("admin", "/admin/integrations/integration/"),
        ("admin", "/admin/integrations/integration/add/"),
        ("admin", f"/admin/integrations/integration/{twilio.pk}/change/"),
        ("admin", f"/admin/integrations/integration/{twilio.pk}/history/"),
        ("admin", "/accounts/password_change/"),
        ("client", "/accounts/login/"),
        ("client", "/admin/login/"),
        ("client", "/"),  # the redirect to the login page
        ("admin", "/?q=%00"),  # refused before any view
    ]


@pytest.mark.django_db
def test_every_staff_and_admin_page_has_the_policy_and_no_store(
    request, tenant, support, admin, outsider, client
):
    twilio = TwilioFactory(tenant=tenant)

    for who, url in _pages(tenant, twilio):
        response = request.getfixturevalue(who).get(url)
        assert _directives(response["Content-Security-Policy"]) == POLICY, (
            who,
            url,
            response.status_code,
        )
        assert "no-store" in response["Cache-Control"], (who, url)


@pytest.mark.django_db
def test_the_page_that_shows_a_new_api_token_has_the_policy_and_no_store(admin, tenant):
    response = admin.post(
        "/admin/tenants/apitoken/add/",
        {"label": "ci", "tenant": tenant.pk, "scope_choices": ["read"]},
    )

    assert response.status_code == 200
    assert _directives(response["Content-Security-Policy"]) == POLICY
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert "onclick=" not in html and "style=" not in html


@pytest.mark.django_db
def test_the_api_docs_run_their_one_inline_script_by_the_requests_nonce(client):
    response = client.get("/1.0/docs")

    assert response.status_code == 200
    directives = _directives(response["Content-Security-Policy"])
    nonce = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9+/=]+)'", directives["script-src"]).group(1)
    assert directives["style-src"] == POLICY["style-src"]
    assert directives["default-src"] == "'self'"
    html = response.content.decode()
    inline_scripts = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline_scripts == [f' nonce="{nonce}"']
    assert "<style" not in html
    assert client.get("/1.0/docs")["Content-Security-Policy"] != response["Content-Security-Policy"]


@pytest.mark.django_db
def test_api_answers_have_the_policy_and_no_store(tenant_client, tenant):
    response = tenant_client.get("/1.0/tenants/acme/integrations")

    assert response.status_code == 200
    assert _directives(response["Content-Security-Policy"]) == POLICY
    assert "no-store" in response["Cache-Control"]


def test_static_files_may_be_cached(settings):
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True

    response = Client().get("/static/css/app.css")

    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_the_one_inline_style_allowed_is_django_polymorphics_hidden_type_menu():
    script = Path(finders.find("polymorphic/js/polymorphic_inlines.js")).read_text()
    digest = base64.b64encode(hashlib.sha256(b"display: none;").digest()).decode()

    assert 'class="polymorphic-type-menu" style="display: none;"' in script
    allowed = settings.POLYMORPHIC_MENU_STYLE_HASH
    assert allowed == f"'sha256-{digest}'"
