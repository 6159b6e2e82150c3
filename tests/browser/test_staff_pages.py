"""A support person's day, in a real browser: log in, create a tenant, add a Twilio
integration, edit it (secret kept, then replaced), fix validation errors, delete it, log out.

Each step checks what the person sees and what the database holds; every page is checked for
secret values (the `secrets_never_shown` guard).
"""

import re

import pytest
from playwright.sync_api import expect

from integrations.forms import KEEP_PLACEHOLDER
from integrations.models import Integration
from integrations.providers import TwilioIntegration
from tenants.models import Tenant
from tests.web.conftest import PASSWORD, SUPPORT_PERMISSIONS, make_user

pytestmark = pytest.mark.browser

AUTH_TOKEN = "tw-auth-5f1c0e9a7b"
REJECTED_TOKEN = "tw-rejected-93d2aa1c04"
NEW_TOKEN = "tw-rotated-7e44b01d2f"


def field_of(page, input_id: str):
    """The form row (label, input, help, errors) around one input."""
    return page.locator(".field", has=page.locator(f"#{input_id}"))


def test_a_support_person_manages_a_twilio_integration_in_the_browser(page, secrets_never_shown):
    seen = secrets_never_shown.seen
    secrets_never_shown.typed |= {AUTH_TOKEN, REJECTED_TOKEN, NEW_TOKEN}
    make_user("support", SUPPORT_PERMISSIONS)

    # Every page needs a login: the tenant list sends the person to the login form.
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    seen(page)
    page.get_by_label("Username").fill("support")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Log out"))).to_contain_text("support")
    seen(page)

    # A new tenant, from the UI.
    page.get_by_role("link", name="New tenant").click()
    expect(page.get_by_role("heading", name="New tenant")).to_be_visible()
    seen(page)
    page.locator("#id_name").fill("initech")
    page.locator("#id_display_name").fill("Initech")
    page.get_by_role("button", name="Create tenant").click()
    expect(page).to_have_url(re.compile(r"/tenants/initech/$"))
    expect(page.locator(".message-success")).to_have_text("Tenant 'initech' created.")
    expect(page.get_by_role("heading", name="Initech")).to_be_visible()
    expect(page.get_by_text("No integrations configured for this tenant yet.")).to_be_visible()
    seen(page)
    tenant = Tenant.objects.get(name="initech")
    assert tenant.display_name == "Initech"

    # Choose a provider, then its form: labels, required markers, the seed's help link.
    page.get_by_role("link", name="Add integration").click()
    expect(page.get_by_role("heading", name="Add an integration")).to_be_visible()
    seen(page)
    page.locator("a.provider-choice", has_text="Twilio").click()
    expect(page).to_have_url(re.compile(r"/tenants/initech/add-integration/twilio/$"))
    expect(page.get_by_role("heading", name="Add Twilio integration")).to_be_visible()
    seen(page)
    for input_id, label in [
        ("id_ident", "ID"),
        ("id_account", "Account SID"),
        ("id_password", "Auth token"),
    ]:
        expect(page.locator(f"label[for={input_id}]")).to_have_text(f"{label} *")
        expect(page.locator(f"label[for={input_id}] .required")).to_be_visible()
    help_link = field_of(page, "id_password").get_by_role("link", name="Twilio Token")
    expect(help_link).to_have_attribute("href", re.compile(r"^https://www\.twilio\.com/"))
    expect(page.locator("#id_password")).to_have_attribute("type", "password")

    # An invalid id: the error is next to it, typed values stay, the secret input is empty.
    page.locator("#id_ident").fill("Twilio Main")
    page.locator("#id_account").fill("AC0001")
    page.locator("#id_password").fill(AUTH_TOKEN)
    page.get_by_role("button", name="Add integration").click()
    ident_row = field_of(page, "id_ident")
    expect(ident_row).to_have_class(re.compile(r"\bfield-invalid\b"))
    expect(ident_row.locator(".error")).to_contain_text("lower-case letters")
    expect(page.locator(".form-errors")).to_be_visible()
    expect(page.locator("#id_ident")).to_have_value("Twilio Main")
    expect(page.locator("#id_account")).to_have_value("AC0001")
    expect(page.locator("#id_password")).to_have_value("")
    seen(page)
    assert not Integration.all_objects.exists()

    # Fixed: added, with a flash, and a card that says a secret is stored without showing it.
    page.locator("#id_ident").fill("twilio")
    page.locator("#id_password").fill(AUTH_TOKEN)
    page.get_by_role("button", name="Add integration").click()
    expect(page).to_have_url(re.compile(r"/tenants/initech/#integration-twilio$"))
    expect(page.locator(".message-success")).to_have_text("Twilio integration 'twilio' added.")
    card = page.locator("#integration-twilio")
    expect(card.locator(".card-head .badge")).to_have_text("Twilio")
    expect(card.locator(".field-row", has_text="Account SID")).to_contain_text("AC0001")
    expect(card.locator(".field-row", has_text="Auth token")).to_contain_text("secret stored")
    expect(card).to_contain_text("by support")
    seen(page)
    twilio = TwilioIntegration.objects.get(tenant=tenant, ident="twilio")
    assert (twilio.account, twilio.password, twilio.updated_by) == ("AC0001", AUTH_TOKEN, "support")

    # Edit, leaving the auth token blank: the account changes, the stored secret stays.
    card.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit twilio")).to_be_visible()
    expect(page.locator("#id_ident")).to_be_disabled()
    expect(page.locator("#id_ident")).to_have_value("twilio")
    expect(page.locator("#id_account")).to_have_value("AC0001")
    expect(page.locator("#id_password")).to_have_value("")
    expect(page.locator("#id_password")).to_have_attribute("placeholder", KEEP_PLACEHOLDER)
    expect(page.locator("label[for=id_password] .required")).to_have_count(0)
    seen(page)
    page.locator("#id_account").fill("AC0002")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".message-success")).to_have_text("Twilio integration 'twilio' saved.")
    expect(card.locator(".field-row", has_text="Account SID")).to_contain_text("AC0002")
    seen(page)
    twilio.refresh_from_db()
    assert (twilio.account, twilio.password) == ("AC0002", AUTH_TOKEN)

    # An empty Account SID with a new token: error next to the field, the token not echoed,
    # nothing saved.
    card.get_by_role("link", name="Edit").click()
    page.locator("#id_account").fill("")
    page.locator("#id_password").fill(REJECTED_TOKEN)
    page.get_by_role("button", name="Save changes").click()
    account_row = field_of(page, "id_account")
    expect(account_row).to_have_class(re.compile(r"\bfield-invalid\b"))
    expect(account_row.locator(".error")).to_have_text("This field is required.")
    expect(field_of(page, "id_password").locator(".error")).to_have_count(0)
    expect(page.locator("#id_password")).to_have_value("")
    expect(page.locator("#id_password")).to_have_attribute("placeholder", KEEP_PLACEHOLDER)
    seen(page)
    twilio.refresh_from_db()
    assert (twilio.account, twilio.password) == ("AC0002", AUTH_TOKEN)

    # Fixed, with a new token this time: the new value replaces the stored one.
    page.locator("#id_account").fill("AC0003")
    page.locator("#id_password").fill(NEW_TOKEN)
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".message-success")).to_have_text("Twilio integration 'twilio' saved.")
    expect(card.locator(".field-row", has_text="Account SID")).to_contain_text("AC0003")
    seen(page)
    twilio.refresh_from_db()
    assert (twilio.account, twilio.password) == ("AC0003", NEW_TOKEN)

    # Delete asks first, then soft-deletes: the row stays, with deleted_at set.
    card.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete Twilio integration “twilio”?")).to_be_visible()
    seen(page)
    assert TwilioIntegration.objects.filter(pk=twilio.pk).exists()  # not yet
    page.get_by_role("button", name="Delete integration").click()
    expect(page.locator(".message-success")).to_have_text("Twilio integration 'twilio' deleted.")
    expect(page.locator("#integration-twilio")).to_have_count(0)
    expect(page.get_by_text("No integrations configured for this tenant yet.")).to_be_visible()
    seen(page)
    assert not Integration.objects.filter(tenant=tenant).exists()
    deleted = Integration.all_objects.get(pk=twilio.pk)
    assert deleted.deleted_at is not None
    assert deleted.password == NEW_TOKEN  # kept, encrypted, for an admin to restore

    # Log out: back to the login form, and the pages need a login again.
    page.get_by_role("button", name=re.compile("Log out")).click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    seen(page)
    page.goto("/tenants/initech/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/tenants/initech/$"))
    seen(page)
