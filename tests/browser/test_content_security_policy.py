"""The pages work under the Content-Security-Policy, and Chromium reports no violation.

The policy allows no inline script or style: whatever the staff pages, the admin (with
django-polymorphic's inline and its type menu) or the API docs needed inline would be blocked
and reported here.
"""

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from integrations.models import Integration
from tests.factories import TenantFactory, TwilioFactory
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.browser

REPORT_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


@pytest.fixture
def violations(page):
    """Every CSP violation of the test's pages: reported events and console messages."""
    page.add_init_script(REPORT_VIOLATIONS)
    console: list[str] = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    def of_current_page() -> list[str]:
        reported = [*page.evaluate("window.__cspViolations || []"), *console]
        console.clear()
        return reported

    return of_current_page


def test_the_staff_pages_and_the_admin_run_under_the_policy_without_a_violation(
    page, log_in_as, secrets_never_shown, violations
):
    seen = secrets_never_shown.seen
    admin_user = User.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    tenant = TenantFactory(name="acme", display_name="Acme Corp")
    twilio = TwilioFactory(tenant=tenant)
    log_in_as(admin_user)

    for url in [
        "/",
        "/?q=twilio&provider=twilio",
        "/tenants/acme/",
        "/tenants/acme/add-integration/",
        "/tenants/acme/add-integration/twilio/",
        "/tenants/acme/integrations/twilio/edit/",
        "/admin/",
        "/admin/integrations/integration/",
        "/admin/integrations/integration/add/",
        f"/admin/integrations/integration/{twilio.pk}/change/",
        "/admin/tenants/apitoken/add/",
    ]:
        page.goto(url)
        seen(page)
        assert violations() == [], url

    # The tenant's admin page: polymorphic's "add another" menu is hidden until clicked.
    page.goto(f"/admin/tenants/tenant/{tenant.pk}/change/")
    seen(page)
    assert violations() == []
    menu = page.locator(".polymorphic-type-menu")
    expect(menu).to_be_hidden()
    page.get_by_role("link", name=re.compile("Add another Integration", re.IGNORECASE)).click()
    expect(menu).to_be_visible()
    menu.get_by_role("link", name="Twilio integration").click()
    expect(menu).to_be_hidden()
    row = page.locator(".inline-related.last-related:not(.empty-form)").last
    row.locator("input[name$='-ident']").fill("twilio-eu")
    row.locator("input[name$='-account']").fill("AC-EU")
    row.locator("input[name$='-password']").fill("eu-token-5f1c")
    secrets_never_shown.typed.add("eu-token-5f1c")
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    seen(page)
    assert Integration.objects.filter(tenant=tenant, ident="twilio-eu").exists()
    assert violations() == []

    # The page that shows a new API token once.
    page.goto("/admin/tenants/apitoken/add/")
    seen(page)
    page.locator("#id_label").fill("ci")
    page.locator("#id_tenant").select_option(label=str(tenant))
    page.locator("input[name=_save]").click()
    token = page.locator("#api-token-value")
    expect(token).to_have_value(re.compile(r"^ir_"))
    token.click()
    assert page.evaluate("window.getSelection().toString() || document.activeElement.value")
    seen(page)
    assert violations() == []


def test_the_api_docs_render_under_the_policy_without_a_violation(
    page, secrets_never_shown, violations
):
    page.goto("/1.0/docs")

    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.locator(".btn.authorize")).to_be_visible()
    secrets_never_shown.seen(page)
    assert violations() == []
