"""The same add flow in the Django admin, as a superuser: Integrations → Add → Twilio → save."""

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from integrations.providers import TwilioIntegration
from tests.factories import TenantFactory
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.browser

AUTH_TOKEN = "tw-admin-token-41be07c9aa"


def test_an_admin_adds_a_twilio_integration_in_the_admin(page, secrets_never_shown):
    seen = secrets_never_shown.seen
    admin_user = User.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    secrets_never_shown.typed.add(AUTH_TOKEN)
    tenant = TenantFactory(name="acme", display_name="Acme Corp")

    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))
    seen(page)
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    seen(page)

    page.locator("#integrations-integration").get_by_role("link", name="Integrations").click()
    expect(page).to_have_url(re.compile(r"/admin/integrations/integration/$"))
    seen(page)
    page.get_by_role("link", name=re.compile("Add integration", re.IGNORECASE)).click()

    # django-polymorphic's type choice page: one radio per provider.
    expect(page.get_by_label("Twilio integration")).to_be_visible()
    seen(page)
    page.get_by_label("Twilio integration").check()
    page.locator("input[type=submit][name=_save], input[type=submit]").first.click()

    expect(page).to_have_url(re.compile(r"/admin/integrations/integration/add/\?ct_id=\d+"))
    expect(page.locator("#id_password")).to_have_attribute("type", "password")
    expect(page.locator("#id_password")).to_have_value("")
    seen(page)
    # The tenant is a search box (autocomplete_fields), not a list of every tenant.
    page.locator(".field-tenant .select2-selection").click()
    page.locator(".select2-search__field").fill("acm")
    page.locator(".select2-results__option", has_text=str(tenant)).click()
    expect(page.locator("#id_tenant")).to_have_value(str(tenant.pk))
    page.locator("#id_ident").fill("twilio-emea")
    page.locator("#id_account").fill("AC-ADMIN-1")
    page.locator("#id_password").fill(AUTH_TOKEN)
    page.locator("input[name=_save]").click()

    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    seen(page)
    twilio = TwilioIntegration.objects.get(tenant=tenant, ident="twilio-emea")
    assert (twilio.provider_key, twilio.account, twilio.password) == (
        "twilio",
        "AC-ADMIN-1",
        AUTH_TOKEN,
    )
    assert twilio.updated_by == admin_user.username

    # The change page never renders the stored value: the password input is empty.
    page.goto(f"/admin/integrations/integration/{twilio.pk}/change/")
    expect(page.locator("#id_account")).to_have_value("AC-ADMIN-1")
    expect(page.locator("#id_password")).to_have_value("")
    expect(page.locator("#id_password")).to_have_attribute("type", "password")
    seen(page)

    # Saving with the secret left blank keeps it.
    page.locator("#id_account").fill("AC-ADMIN-2")
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")
    seen(page)
    twilio.refresh_from_db()
    assert (twilio.account, twilio.password) == ("AC-ADMIN-2", AUTH_TOKEN)
