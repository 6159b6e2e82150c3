"""config.csp.CSPMiddleware (the settings' policy built once per process) against django-csp's
own csp.middleware.CSPMiddleware, answer by answer: every staff page and every admin page a
view-only staff user can open (lists, change, add, history and delete pages, the index, the
app lists, autocomplete, the "view on site" redirect), the API docs, the API document, API
answers and errors, and anonymous pages. Each request is made once with the app's middleware
and once with django-csp's in its place (the same settings otherwise), and both answers'
Content-Security-Policy headers must be equal (nonces aside, which differ by design)."""

import re

import pytest
from axes.models import AccessAttempt, AccessLog
from csp.constants import HEADER, HEADER_REPORT_ONLY
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.test import Client, override_settings
from django.utils import timezone

from integrations import services
from tenants.models import AuditEvent
from tests.factories import (
    DataSiftFactory,
    SalesforceFactory,
    SendGridFactory,
    TenantFactory,
    TwilioFactory,
    actor_named,
)

OURS = "config.csp.CSPMiddleware"
THEIRS = "csp.middleware.CSPMiddleware"
NONCE = re.compile(r"'nonce-([A-Za-z0-9+/=]+)'")


def _django_csp_middleware() -> list[str]:
    assert OURS in settings.MIDDLEWARE and THEIRS not in settings.MIDDLEWARE
    return [THEIRS if name == OURS else name for name in settings.MIDDLEWARE]


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def _both(user, method: str, url: str, **kwargs):
    """The answer to the request with the app's middleware, then with django-csp's (a new
    client: a client's handler loads MIDDLEWARE on its first request)."""
    ours = getattr(_client(user), method)(url, **kwargs)
    with override_settings(MIDDLEWARE=_django_csp_middleware()):
        theirs = getattr(_client(user), method)(url, **kwargs)
    return ours, theirs


def _policies(response) -> dict[str, str | None]:
    """Both policy headers, with any nonce replaced by a placeholder."""
    found = {}
    for name in (HEADER, HEADER_REPORT_ONLY):
        value = response.headers.get(name)
        found[name] = None if value is None else NONCE.sub("'nonce-N'", value)
    return found


def _assert_same_policy(user, method: str, url: str, **kwargs):
    ours, theirs = _both(user, method, url, **kwargs)
    where = (method, url, ours.status_code)
    assert ours.status_code == theirs.status_code, where
    assert _policies(ours) == _policies(theirs), where
    # The app answers every page with a policy (tests/web/test_security_headers.py).
    assert ours.headers.get(HEADER), where
    return ours


@pytest.fixture
def records(db, view_only_staff_user):
    """One row of every model the admin shows, so that each has its change pages."""
    tenant = TenantFactory(name="acme", display_name="Acme Corp")
    twilio = TwilioFactory(tenant=tenant)
    SalesforceFactory(tenant=tenant)
    SendGridFactory(tenant=tenant)
    DataSiftFactory(tenant=tenant)
    gone = TwilioFactory(tenant=tenant, ident="twilio-gone")
    services.integration_delete(integration=gone, actor=actor_named("setup"))
    services.integration_update(
        integration=twilio, data={"account": "AC-CHANGED"}, actor=actor_named("setup")
    )
    TenantFactory(name="globex", display_name="Globex")
    from tenants.services import api_token_create

    api_token_create(actor=actor_named("setup"), label="ops", tenant=tenant)
    Group.objects.create(name="support")
    now = timezone.now()
    AccessAttempt.objects.create(
        user_agent="ua",
        ip_address="127.0.0.1",
        username="mallory",
        http_accept="*/*",
        path_info="/admin/login/",
        get_data="",
        post_data="",
        failures_since_start=1,
    )
    AccessLog.objects.create(
        user_agent="ua",
        ip_address="127.0.0.1",
        username="boss",
        http_accept="*/*",
        path_info="/admin/login/",
        attempt_time=now,
    )
    LogEntry.objects.log_actions(
        user_id=view_only_staff_user.pk, queryset=[tenant], action_flag=CHANGE
    )
    assert AuditEvent.objects.exists()
    return tenant, twilio


def _admin_urls() -> list[str]:
    """The admin's index, app lists, and for every registered model its list, add page, and
    the change, history and delete pages of its first row."""
    urls = ["/admin/", "/admin/password_change/", "/admin/jsi18n/"]
    urls += [f"/admin/{app}/" for app in ("auth", "tenants", "integrations", "axes")]
    for model, model_admin in admin.site._registry.items():
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        urls += [base, f"{base}add/", f"{base}?q=acme", f"{base}?all="]
        row = model_admin.get_queryset(_FakeRequest()).order_by("pk").first()
        if row is None:
            row = model._base_manager.order_by("pk").first()
        assert row is not None, f"no {model.__name__} row: add one to the fixture"
        urls += [f"{base}{row.pk}/change/", f"{base}{row.pk}/history/", f"{base}{row.pk}/delete/"]
    return urls


class _FakeRequest:
    """What get_queryset() of this project's admins reads of a request: nothing but this."""

    GET: dict = {}
    user = None


@pytest.mark.django_db
def test_every_admin_page_of_a_view_only_staff_user_gets_django_csps_header(
    records, view_only_staff_user
):
    tenant, twilio = records
    content_type = ContentType.objects.get_for_model(type(tenant))
    urls = [
        *_admin_urls(),
        f"/admin/auth/user/{view_only_staff_user.pk}/password/",
        f"/admin/r/{content_type.pk}/{tenant.pk}/",
        "/admin/autocomplete/?term=ac&app_label=integrations&model_name=integration"
        "&field_name=tenant",
        "/admin/integrations/integration/?status=deleted",
        f"/admin/integrations/integration/?tenant__id__exact={tenant.pk}",
        "/admin/integrations/integration/999999/change/",  # a 404
        "/admin/no-such-page/",
    ]
    statuses = {}
    for url in urls:
        statuses[url] = _assert_same_policy(view_only_staff_user, "get", url).status_code
    # The pages were really shown (not only redirects to the login page).
    assert statuses["/admin/"] == 200
    assert statuses[f"/admin/integrations/integration/{twilio.pk}/change/"] == 200
    assert statuses[f"/admin/tenants/tenant/{tenant.pk}/history/"] == 200
    assert statuses["/admin/tenants/tenant/add/"] == 403


@pytest.mark.django_db
def test_every_staff_page_of_a_view_only_staff_user_gets_django_csps_header(
    records, view_only_staff_user
):
    pages = [
        "/",
        "/?q=acme",
        "/?q=%25",
        "/?q=a%00",  # refused before any view (400)
        "/new-tenant/",
        "/tenants/acme/",
        "/tenants/acme/add-integration/",
        "/tenants/acme/add-integration/twilio/",
        "/tenants/acme/integrations/twilio/edit/",
        "/tenants/acme/integrations/twilio/delete/",
        "/tenants/acme/integrations/twilio/test-connection/",
        "/tenants/nobody/",
        "/accounts/password_change/",
    ]
    statuses = {
        page: _assert_same_policy(view_only_staff_user, "get", page).status_code for page in pages
    }
    assert statuses["/tenants/acme/"] == 200
    assert statuses["/?q=acme"] == 200
    assert statuses["/tenants/nobody/"] == 404
    # A change refused to a viewer, and a form post refused by CSRF.
    _assert_same_policy(view_only_staff_user, "post", "/tenants/acme/integrations/twilio/delete/")
    _assert_same_policy(None, "get", "/")
    _assert_same_policy(None, "get", "/accounts/login/")
    _assert_same_policy(None, "post", "/accounts/login/", data={"username": "x", "password": "y"})


@pytest.mark.django_db
def test_api_answers_and_errors_get_django_csps_header(records, tenant_client):
    for method, url in (
        ("get", "/1.0/openapi.json"),
        ("get", "/1.0/tenants/acme/integrations"),
        ("get", "/1.0/tenants/acme/integrations/nothing"),
        ("post", "/1.0/tenants/acme/integrations/twilio"),
        ("options", "/1.0/tenants/acme/integrations"),
        ("head", "/1.0/docs"),
        ("get", "/1.0/no-such-route"),
        ("get", "/2.0/tenants"),
        ("get", "/static/css/app.css"),
        ("get", "/healthz"),
    ):
        ours, theirs = _both(None, method, url)
        assert ours.status_code == theirs.status_code, (method, url)
        assert _policies(ours) == _policies(theirs), (method, url)


@pytest.mark.django_db
def test_the_api_docs_nonce_is_in_the_header_and_the_script_tag_and_new_each_time(client):
    ours, theirs = _both(None, "get", "/1.0/docs")
    again = client.get("/1.0/docs")

    assert ours.status_code == theirs.status_code == 200
    assert _policies(ours) == _policies(theirs)
    nonces = []
    for response in (ours, theirs, again):
        header = response[HEADER]
        (nonce,) = NONCE.findall(header)
        assert f"script-src 'self' 'nonce-{nonce}'" in header
        html = response.content.decode()
        assert re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html) == [f' nonce="{nonce}"']
        nonces.append(nonce)
    assert len(set(nonces)) == 3, nonces


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_debug_pages_get_what_django_csp_gives_them(records, view_only_staff_user):
    for url in ("/tenants/nobody/", "/no/such/page/", "/1.0/docs", "/1.0/nothing", "/"):
        ours, theirs = _both(view_only_staff_user, "get", url)
        assert ours.status_code == theirs.status_code, url
        assert _policies(ours) == _policies(theirs), url


@pytest.mark.django_db
def test_the_comparison_sees_a_header_that_differs_from_django_csps(monkeypatch):
    """The comparison above is not of the app's middleware with itself: a wrong cached policy
    shows up as a difference."""
    from config import csp

    monkeypatch.setattr(csp, "_settings_policy", lambda header: ("default-src 'none'", ()))

    ours, theirs = _both(None, "get", "/accounts/login/")

    assert ours[HEADER] == "default-src 'none'"
    assert "default-src 'self'" in theirs[HEADER]
