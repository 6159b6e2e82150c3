"""Screenshots of the tenant page and the add form, for people to look at (artifacts/screenshots,
git-ignored; README points there). The test also checks the pages fit a phone's width."""

import pytest
from playwright.sync_api import expect

from integrations import services
from integrations.providers import SalesforceIntegration, SendGridIntegration, TwilioIntegration
from tests.browser.conftest import PHONE
from tests.factories import TenantFactory, actor_named
from tests.web.conftest import SUPPORT_PERMISSIONS, make_user

pytestmark = pytest.mark.browser


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_screenshots_of_the_tenant_page_and_the_add_form(
    page, log_in_as, screenshots_dir, secrets_never_shown
):
    seen = secrets_never_shown.seen
    tenant = TenantFactory(name="acme", display_name="Acme Corp")
    for provider, ident, data in [
        (
            SalesforceIntegration,
            "salesforce",
            {
                "consumer_key": "3MVG9-consumer-key",
                "consumer_secret": "sf-consumer-secret-d8a1",
                "username": "dev@userevents.com",
                "password": "sf-password-77c2",
                "secret_token": "sf-token-0b9e",
            },
        ),
        (
            TwilioIntegration,
            "twilio",
            {"account": "AC6a5b1c0d9e8f7a6b5c4d3e2f1a0b9c8d", "password": "tw-token-a41f"},
        ),
        (
            SendGridIntegration,
            "sendgrid-eu",
            {"account": "acme-eu", "password": "sg-password-93be"},
        ),
    ]:
        unknown = set(data) - {f.name for f in provider.credential_fields()}
        assert not unknown, f"{provider.__name__} has no field {unknown}"
        services.integration_upsert(
            tenant=tenant, ident=ident, provider=provider, data=data, actor=actor_named("support")
        )
    log_in_as(make_user("support", SUPPORT_PERMISSIONS))

    page.goto("/tenants/acme/")
    expect(page.locator("article.integration")).to_have_count(3)
    seen(page)
    page.screenshot(path=screenshots_dir / "tenant-page.png", full_page=True)

    page.goto("/tenants/acme/add-integration/twilio/")
    expect(page.get_by_role("heading", name="Add Twilio integration")).to_be_visible()
    seen(page)
    page.screenshot(path=screenshots_dir / "add-form.png", full_page=True)

    page.set_viewport_size(PHONE)
    assert no_horizontal_scroll(page), "the add form is wider than a phone"
    page.goto("/tenants/acme/")
    expect(page.locator("article.integration")).to_have_count(3)
    seen(page)
    assert no_horizontal_scroll(page), "the tenant page is wider than a phone"
    page.screenshot(path=screenshots_dir / "tenant-page-phone.png", full_page=True)

    for name in ["tenant-page.png", "add-form.png", "tenant-page-phone.png"]:
        assert (screenshots_dir / name).stat().st_size > 10_000
