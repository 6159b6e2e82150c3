"""A NUL character in a path, a query parameter or a form field is a 400, before any view.

PostgreSQL refuses NUL in text, so each of these requests was a 500 there (staff search, the
admin's search and filters, form posts); SQLite took them. Both now answer 400: JSON
`{"error": ...}` under the API, Django's plain 400 page elsewhere. Every case runs on the
configured database, and again marked `postgres` (skipped, with the reason, without it).
"""

import pytest

from integrations.models import Integration
from tenants.models import Tenant
from tests.factories import TwilioFactory

PAGES = [
    ("staff search", "support", "/", {"q": "\x00"}),
    ("staff search, mid-word", "support", "/", {"q": "ac\x00me"}),
    ("query parameter name", "support", "/", {"\x00": "1"}),
    ("tenant in the path", "support", "/tenants/ac%00me/", {}),
    ("admin tenant search", "admin", "/admin/tenants/tenant/", {"q": "ac\x00me"}),
    ("admin integration search", "admin", "/admin/integrations/integration/", {"q": "\x00"}),
    ("admin provider filter", "admin", "/admin/integrations/integration/", {"provider": "\x00"}),
    ("admin status filter", "admin", "/admin/integrations/integration/", {"status": "\x00"}),
    (
        "admin tenant filter",
        "admin",
        "/admin/integrations/integration/",
        {"tenant__id__exact": "1\x00"},
    ),
    ("admin token search", "admin", "/admin/tenants/apitoken/", {"q": "ir_\x00"}),
    ("admin object id", "admin", "/admin/tenants/tenant/1%00/change/", {}),
]
FORMS = [
    ("new tenant", "support", "/new-tenant/", {"name": "ac\x00me", "display_name": "Acme"}),
    (
        "new integration",
        "support",
        "/tenants/acme/add-integration/twilio/",
        {"ident": "twilio", "account": "AC\x00", "password": "p"},
    ),
    ("log in", None, "/accounts/login/", {"username": "boss\x00", "password": "x"}),
    ("admin log in", None, "/admin/login/", {"username": "\x00", "password": "x"}),
    (
        "admin tenant page",
        "admin",
        "/admin/tenants/tenant/add/",
        {"name": "globex", "display_name": "Glo\x00bex"},
    ),
]


def _client(request, who):
    return request.getfixturevalue(who) if who else request.getfixturevalue("client")


def _assert_plain_400(response):
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "Bad Request (400)" in response.content.decode()


def _page_is_refused(request, who, url, params):
    TwilioFactory(tenant=request.getfixturevalue("tenant"))
    _assert_plain_400(_client(request, who).get(url, params))


def _form_is_refused(request, who, url, data, multipart):
    request.getfixturevalue("tenant")
    client = _client(request, who)
    rows = (Tenant.all_objects.count(), Integration.all_objects.count())
    if multipart:
        response = client.post(url, data)
    else:
        body = "&".join(f"{k}={v.replace(chr(0), '%00')}" for k, v in data.items())
        response = client.post(url, body, content_type="application/x-www-form-urlencoded")
    _assert_plain_400(response)
    assert (Tenant.all_objects.count(), Integration.all_objects.count()) == rows


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "who", "url", "params"), PAGES, ids=[c[0] for c in PAGES])
def test_a_nul_in_a_page_request_is_a_400(request, case, who, url, params):
    _page_is_refused(request, who, url, params)


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize(("case", "who", "url", "params"), PAGES, ids=[c[0] for c in PAGES])
def test_a_nul_in_a_page_request_is_a_400_on_postgresql(request, case, who, url, params):
    _page_is_refused(request, who, url, params)


@pytest.mark.django_db
@pytest.mark.parametrize("multipart", [False, True], ids=["urlencoded", "multipart"])
@pytest.mark.parametrize(("case", "who", "url", "data"), FORMS, ids=[c[0] for c in FORMS])
def test_a_nul_in_a_form_post_is_a_400_and_writes_nothing(request, case, who, url, data, multipart):
    _form_is_refused(request, who, url, data, multipart)


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("multipart", [False, True], ids=["urlencoded", "multipart"])
@pytest.mark.parametrize(("case", "who", "url", "data"), FORMS, ids=[c[0] for c in FORMS])
def test_a_nul_in_a_form_post_is_a_400_and_writes_nothing_on_postgresql(
    request, case, who, url, data, multipart
):
    _form_is_refused(request, who, url, data, multipart)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/1.0/tenants/acme/integrations", {"type": "\x00"}),
        ("/1.0/tenants/acme/integrations", {"\x00": ""}),
        ("/1.0/tenants/ac%00me/integrations", {}),
        ("/1.0/tenants/acme/integrations/twil%00io", {}),
    ],
)
def test_a_nul_under_the_api_is_a_json_400(tenant_client, url, params):
    response = tenant_client.get(url, params)

    assert response.status_code == 400
    assert response.json() == {
        "error": "The request contains a NUL character, which no field, id or search accepts."
    }


@pytest.mark.django_db
def test_requests_without_a_nul_go_through(support, admin, tenant):
    assert support.get("/", {"q": "acme"}).status_code == 200
    assert admin.get("/admin/integrations/integration/", {"provider": "twilio"}).status_code == 200
    response = support.post("/new-tenant/", {"name": "globex", "display_name": "Globex"})
    assert response.status_code == 302
    assert Tenant.objects.filter(name="globex").exists()
