"""Testing a connection in a real browser (issue 11): a support person saves Twilio credentials,
is offered a test, runs it against a local server playing Twilio, and sees the card's badge go
from "Never tested" to "Rejected", then, the token fixed, to "OK"."""

import re

import pytest
from playwright.sync_api import expect

from integrations.models import Integration
from tests import fake_providers as fakes
from tests.factories import TenantFactory, TwilioFactory
from tests.web.conftest import SUPPORT_PERMISSIONS, make_user

pytestmark = pytest.mark.browser


def test_a_support_person_tests_a_connection_and_sees_the_status_change(
    page, log_in_as, fake_providers, secrets_never_shown, screenshots_dir
):
    seen = secrets_never_shown.seen
    secrets_never_shown.typed |= {fakes.ACCEPTED["twilio"]["password"]}
    TwilioFactory(tenant=TenantFactory(name="initech"), **fakes.REFUSED["twilio"])
    log_in_as(make_user("support", SUPPORT_PERMISSIONS))

    page.goto("/tenants/initech/")
    card = page.locator("#integration-twilio")
    badge = card.locator(".badge.verification")
    expect(badge).to_have_text(re.compile(r"Never tested"))
    expect(card).to_contain_text("Never used by the API")
    seen(page)

    card.get_by_role("button", name="Test connection").click()
    expect(page).to_have_url(re.compile(r"/tenants/initech/#integration-twilio$"))
    expect(badge).to_have_text(re.compile(r"Rejected"))
    expect(badge).to_have_class(re.compile(r"\bverification-rejected\b"))
    expect(card.locator(".verification-line")).to_contain_text(
        "Twilio refused the account SID and auth token (HTTP 401)."
    )
    expect(page.locator(".message-error")).to_contain_text("Connection test of Twilio 'twilio'")
    seen(page)

    # The token fixed: the page offers to test it at once.
    card.get_by_role("link", name="Edit").click()
    expect(page.locator("#id_password")).to_be_visible()
    seen(page)
    page.locator("#id_password").fill(fakes.ACCEPTED["twilio"]["password"])
    page.get_by_role("button", name=re.compile("Save")).click()
    expect(page.locator(".message-success")).to_have_text("Twilio integration 'twilio' saved.")
    page.get_by_role("button", name=re.compile("Test connection now")).click()
    expect(badge).to_have_text(re.compile(r"OK"))
    expect(badge).to_have_class(re.compile(r"\bverification-ok\b"))
    expect(page.locator(".offer-test")).to_have_count(0)
    seen(page)
    page.screenshot(path=screenshots_dir / "verification-ok.png", full_page=True)

    assert Integration.objects.get(ident="twilio").last_verification == "ok"
    assert len(fake_providers.seen) == 2
