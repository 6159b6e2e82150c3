"""The admin in a browser: the integration list fits a 1280 px screen (light and dark), and the
links between a staff page and the same record in the admin lead both ways."""

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from integrations import services
from integrations.providers import all_providers
from tests.factories import PROVIDER_FACTORIES, TenantFactory, TwilioFactory, actor_named
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.browser

SID = "AC6a5b1c0d9e8f7a6b5c4d3e2f1a0b9c8d"


def fits(page) -> bool:
    return page.evaluate(
        """() => document.documentElement.scrollWidth <= window.innerWidth &&
           [...document.querySelectorAll('#changelist .results')]
             .every(results => results.scrollWidth <= results.clientWidth)"""
    )


def test_the_admin_integration_list_fits_a_1280_px_screen(
    page, log_in_as, screenshots_dir, secrets_never_shown
):
    for n, name in enumerate(["acme", "globex-international-holdings-emea", "initech"]):
        tenant = TenantFactory(name=name, display_name=f"{name.title()} Incorporated Worldwide")
        for factory in PROVIDER_FACTORIES:
            factory(tenant=tenant)
        TwilioFactory(tenant=tenant, ident=f"twilio-production-eu-west-{n}-primary-account")
    log_in_as(User.objects.create_superuser("boss", "boss@example.com", PASSWORD))

    for scheme in ["light", "dark"]:
        page.emulate_media(color_scheme=scheme)
        page.goto("/admin/integrations/integration/")
        expect(page.locator("#result_list tbody tr")).to_have_count(15)
        expect(page.locator("#result_list .badge").first).to_be_visible()
        secrets_never_shown.seen(page)
        page.screenshot(path=screenshots_dir / f"admin-integrations-{scheme}.png", full_page=True)
        assert fits(page), f"the integration list is wider than 1280 px ({scheme})"

    # The tenant column filters the list by that tenant, without listing every tenant.
    page.emulate_media(color_scheme="light")
    page.locator("#result_list").get_by_role("link", name="initech").first.click()
    expect(page.locator("#result_list tbody tr")).to_have_count(5)
    expect(page.locator("#changelist-filter")).to_contain_text("initech")
    secrets_never_shown.seen(page)


def test_a_record_links_from_the_staff_page_to_the_admin_and_back(
    page, log_in_as, screenshots_dir, secrets_never_shown
):
    seen = secrets_never_shown.seen
    tenant = TenantFactory(name="acme", display_name="Acme Corp")
    services.integration_upsert(
        tenant=tenant,
        ident="twilio",
        provider=next(p for p in all_providers() if p.provider_key == "twilio"),
        data={"account": SID, "password": "tw-admin-links"},
        actor=actor_named("support"),
    )
    log_in_as(User.objects.create_superuser("boss", "boss@example.com", PASSWORD))

    page.goto("/tenants/acme/")
    seen(page)
    page.get_by_role("link", name="Open twilio in the admin").click()
    expect(page).to_have_url(re.compile(r"/admin/integrations/integration/\d+/change/$"))
    expect(page.locator("#id_account")).to_have_value(SID)
    expect(page.locator(".field-tenant .select2-selection")).to_contain_text("acme (Acme Corp)")
    seen(page)
    page.screenshot(path=screenshots_dir / "admin-integration-change.png", full_page=True)

    page.get_by_role("link", name="View on site").click()
    expect(page).to_have_url(re.compile(r"/tenants/acme/#integration-twilio$"))
    expect(page.locator("#integration-twilio:target")).to_have_count(1)
    seen(page)

    page.get_by_role("link", name="Open in admin").click()
    expect(page).to_have_url(re.compile(r"/admin/tenants/tenant/\d+/change/$"))
    seen(page)
    page.get_by_role("link", name="View on site").click()
    expect(page).to_have_url(re.compile(r"/tenants/acme/$"))
    seen(page)
