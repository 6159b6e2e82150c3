import re

import pytest

from integrations.models import Integration
from tests.factories import TwilioFactory

WRITE_URLS = [
    "/new-tenant/",
    "/tenants/acme/add-integration/",
    "/tenants/acme/add-integration/twilio/",
    "/tenants/acme/integrations/twilio/edit/",
    "/tenants/acme/integrations/twilio/delete/",
]


@pytest.mark.django_db
def test_a_viewer_sees_the_pages_without_any_edit_button(viewer, tenant):
    TwilioFactory(tenant=tenant)

    listing = viewer.get("/").content.decode()
    detail = viewer.get("/tenants/acme/").content.decode()

    assert "New tenant" not in listing
    assert "twilio" in detail
    for action in ["Add integration", "/edit/", "/delete/"]:
        assert action not in detail


@pytest.mark.django_db
@pytest.mark.parametrize("url", WRITE_URLS)
def test_a_viewer_gets_403_on_every_write_url(viewer, tenant, url):
    TwilioFactory(tenant=tenant, account="AC-KEEP")

    assert viewer.get(url).status_code == 403
    assert viewer.post(url, {"ident": "x", "account": "AC-NEW", "password": "p"}).status_code == 403
    integration = Integration.all_objects.get()
    assert (integration.account, integration.deleted_at) == ("AC-KEEP", None)


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/tenants/acme/", *WRITE_URLS])
def test_a_user_without_permissions_gets_403_everywhere(outsider, tenant, url):
    TwilioFactory(tenant=tenant)

    response = outsider.get(url)

    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/tenants/{name}/",
        "/tenants/{name}/add-integration/",
        "/tenants/{name}/integrations/twilio/edit/",
        "/tenants/{name}/integrations/twilio/delete/",
    ],
)
def test_permission_is_checked_before_the_tenant_is_looked_up(outsider, tenant, path):
    # Someone without access cannot tell existing tenants from missing ones: the same page.
    TwilioFactory(tenant=tenant, account="AC-ACME")

    existing = outsider.get(path.format(name="acme"))
    missing = outsider.get(path.format(name="nobody"))

    assert existing.status_code == missing.status_code == 403
    assert "Not allowed" in existing.content.decode()
    assert _page(existing).replace("acme", "nobody") == _page(missing)
    assert "AC-ACME" not in existing.content.decode()


def _page(response) -> str:
    """The page without its CSRF token (masked anew on every render)."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())
