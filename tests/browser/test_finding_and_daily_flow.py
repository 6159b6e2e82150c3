"""Finding things and the daily flow, in a real browser: search by Account SID, a save that
lands on a briefly highlighted card, show/hide on secret inputs, copy buttons, dark mode, and a
tenant list that fits a phone. Screenshots go to artifacts/screenshots/ for people to look at;
every page is checked for secret values (the `secrets_never_shown` guard)."""

import re

import pytest
from playwright.sync_api import expect

from integrations import services
from integrations.providers import SalesforceIntegration, TwilioIntegration
from tests.browser.conftest import PHONE
from tests.factories import DataSiftFactory, SendGridFactory, TenantFactory, actor_named
from tests.web.conftest import SUPPORT_PERMISSIONS, make_user

pytestmark = pytest.mark.browser

SID = "AC6a5b1c0d9e8f7a6b5c4d3e2f1a0b9c8d"
TYPED_TOKEN = "tw-typed-3b1f9e22c7"


def a_few_tenants() -> None:
    """Tenants as support sees them: several providers, one tenant with two Twilio accounts."""
    actor = actor_named("support")
    for n, (name, display) in enumerate(
        [
            ("acme", "Acme Corp"),
            ("globex", "Globex Corporation"),
            ("initech", "Initech"),
            ("umbrella-eu", "Umbrella Europe GmbH"),
        ]
    ):
        tenant = TenantFactory(name=name, display_name=display)
        services.integration_upsert(
            tenant=tenant,
            ident="twilio",
            provider=TwilioIntegration,
            data={"account": SID if name == "globex" else f"AC{n:032d}", "password": f"tw-{n}"},
            actor=actor,
        )
        if name != "initech":
            SendGridFactory(tenant=tenant)
        if name == "acme":
            services.integration_upsert(
                tenant=tenant,
                ident="twilio-emea",
                provider=TwilioIntegration,
                data={"account": f"AC{9:032d}", "password": "tw-emea"},
                actor=actor,
            )
            services.integration_upsert(
                tenant=tenant,
                ident="salesforce",
                provider=SalesforceIntegration,
                data={
                    "consumer_key": "3MVG9-consumer-key",
                    "consumer_secret": "sf-secret-1",
                    "username": "dev@userevents.com",
                    "password": "sf-password-1",
                    "secret_token": "sf-token-1",
                },
                actor=actor,
            )
            DataSiftFactory(tenant=tenant)


def no_horizontal_overflow(page) -> bool:
    return page.evaluate(
        """() => document.documentElement.scrollWidth <= window.innerWidth && [
             ...document.querySelectorAll('.table-wrap')
           ].every(wrap => wrap.scrollWidth <= wrap.clientWidth)"""
    )


def luminance(page, selector: str, prop: str = "background-color") -> float:
    """Relative brightness (0 black .. 1 white) of a computed colour."""
    rgb = page.eval_on_selector(selector, f"e => getComputedStyle(e).getPropertyValue('{prop}')")
    r, g, b = (int(c) for c in re.findall(r"\d+", rgb)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def test_a_support_person_finds_a_tenant_by_a_piece_of_its_account_sid(
    page, log_in_as, screenshots_dir, secrets_never_shown
):
    seen = secrets_never_shown.seen
    a_few_tenants()
    log_in_as(make_user("support", SUPPORT_PERMISSIONS))

    page.goto("/")
    expect(page.locator("tbody tr")).to_have_count(4)
    seen(page)
    page.get_by_role("searchbox", name="Search tenants").fill("0d9e8f7a6b")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/\?q=0d9e8f7a6b"))
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("link", name="globex", exact=True)).to_be_visible()
    hit = rows.first.locator(".hit")
    expect(hit).to_have_count(1)
    expect(hit.locator(".badge")).to_have_text("Twilio")
    expect(hit).to_contain_text("Account SID")
    expect(hit.locator("mark")).to_have_text(["0d9e8f7a6b"])
    expect(hit.locator(".value")).to_have_text(SID)
    seen(page)
    page.screenshot(path=screenshots_dir / "tenant-search.png", full_page=True)

    # The result leads to the card itself.
    hit.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/tenants/globex/#integration-twilio$"))
    expect(page.locator("#integration-twilio:target")).to_have_count(1)
    seen(page)


def test_the_provider_filter_and_the_counts_per_provider(
    page, log_in_as, screenshots_dir, secrets_never_shown
):
    a_few_tenants()
    log_in_as(make_user("support", SUPPORT_PERMISSIONS))

    page.goto("/")
    acme = page.locator("tbody tr", has=page.get_by_role("link", name="acme", exact=True))
    expect(acme.locator(".configured .badge")).to_have_text(
        ["DataSift", "Salesforce", "SendGrid", re.compile(r"^Twilio\s+\u00d72$")]
    )
    secrets_never_shown.seen(page)
    page.get_by_label("Provider").select_option(label="SendGrid")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tbody tr")).to_have_count(3)
    expect(page.get_by_text("3 tenants with SendGrid")).to_be_visible()
    secrets_never_shown.seen(page)
    page.screenshot(path=screenshots_dir / "tenant-list-provider-filter.png", full_page=True)


def test_saving_lands_on_the_saved_card_and_highlights_it_briefly(
    page, log_in_as, screenshots_dir, secrets_never_shown
):
    seen = secrets_never_shown.seen
    secrets_never_shown.typed.add(TYPED_TOKEN)
    a_few_tenants()
    log_in_as(make_user("support", SUPPORT_PERMISSIONS))

    # Initech has no SendGrid yet: the choice says what it has, the form suggests the id.
    page.goto("/tenants/initech/add-integration/")
    expect(page.locator(".provider-choice", has_text="Twilio")).to_contain_text("Has 1: twilio")
    expect(page.locator(".provider-choice", has_text="SendGrid")).to_contain_text("Not set up yet")
    seen(page)
    page.screenshot(path=screenshots_dir / "provider-choice.png", full_page=True)
    page.locator(".provider-choice", has_text="SendGrid").click()
    expect(page.locator("#id_ident")).to_have_value("sendgrid")
    page.locator("#id_account").fill("initech-mail")
    page.locator("#id_password").fill(TYPED_TOKEN)
    seen(page)
    page.get_by_role("button", name="Add integration").click()

    expect(page).to_have_url(re.compile(r"/tenants/initech/#integration-sendgrid$"))
    card = page.locator("#integration-sendgrid")
    expect(card).to_be_in_viewport()
    animations = card.evaluate("c => c.getAnimations().map(a => a.animationName)")
    assert animations == ["card-landed"]
    seen(page)
    page.screenshot(path=screenshots_dir / "saved-card-highlighted.png", full_page=True)
    # Briefly: the animation ends by itself and the card looks like the others again.
    page.wait_for_function(
        "() => document.querySelector('#integration-sendgrid').getAnimations().length === 0",
        timeout=5_000,
    )
    twilio_bg = page.locator("#integration-twilio").evaluate(
        "c => getComputedStyle(c).backgroundColor"
    )
    assert card.evaluate("c => getComputedStyle(c).backgroundColor") == twilio_bg


def test_cards_keep_their_own_height_and_long_values_wrap_inside_them(
    page, log_in_as, screenshots_dir, secrets_never_shown
):
    a_few_tenants()
    log_in_as(make_user("support", SUPPORT_PERMISSIONS))

    page.goto("/tenants/acme/")
    secrets_never_shown.seen(page)
    boxes = {
        card.get_attribute("id"): card.bounding_box()
        for card in page.locator("article.integration").all()
    }
    salesforce, datasift = boxes["integration-salesforce"], boxes["integration-datasift"]
    assert salesforce["height"] > datasift["height"] + 40  # five fields against two
    for card in page.locator("article.integration").all():
        assert card.evaluate("c => c.scrollWidth <= c.clientWidth"), card.get_attribute("id")
    page.screenshot(path=screenshots_dir / "tenant-cards.png", full_page=True)


def test_show_hide_reveals_only_what_is_being_typed(
    page, log_in_as, screenshots_dir, secrets_never_shown
):
    seen = secrets_never_shown.seen
    secrets_never_shown.typed.add(TYPED_TOKEN)
    a_few_tenants()
    log_in_as(make_user("support", SUPPORT_PERMISSIONS))

    page.goto("/tenants/globex/integrations/twilio/edit/")
    secret = page.locator("#id_password")
    toggle = page.get_by_role("button", name="Show Auth token while typing")
    expect(secret).to_have_value("")  # the stored token is never in the page
    expect(secret).to_have_attribute("type", "password")
    toggle.click()
    expect(secret).to_have_attribute("type", "text")
    expect(secret).to_have_value("")  # nothing to reveal but what is typed
    secret.fill(TYPED_TOKEN)
    hide = page.get_by_role("button", name="Hide Auth token while typing")
    expect(hide).to_have_attribute("aria-pressed", "true")
    seen(page)
    page.screenshot(path=screenshots_dir / "edit-form-secret-shown.png", full_page=True)
    hide.click()
    expect(secret).to_have_attribute("type", "password")
    expect(secret).to_have_value(TYPED_TOKEN)

    # Shown when the form is sent: it goes back to a password input first.
    page.get_by_role("button", name="Show Auth token while typing").click()
    secret.evaluate(
        "i => i.form.addEventListener('submit', () => { sessionStorage.typeAtSubmit = i.type })"
    )
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(re.compile(r"/tenants/globex/#integration-twilio$"))
    seen(page)
    assert page.evaluate("sessionStorage.typeAtSubmit") == "password"
    twilio = TwilioIntegration.objects.get(tenant__name="globex", ident="twilio")
    assert twilio.password == TYPED_TOKEN


def test_copy_buttons_put_the_api_name_an_id_and_a_value_on_the_clipboard(
    context, page, live_server, log_in_as, secrets_never_shown
):
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    a_few_tenants()
    log_in_as(make_user("support", SUPPORT_PERMISSIONS))

    page.goto("/tenants/globex/")
    secrets_never_shown.seen(page)
    card = page.locator("#integration-twilio")
    for button, copied in [
        (page.get_by_role("button", name="Copy the API name"), "globex"),
        (card.get_by_role("button", name="Copy the integration id twilio"), "twilio"),
        (card.get_by_role("button", name="Copy Account SID"), SID),
    ]:
        button.click()
        expect(button).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == copied
        expect(button).to_have_text("Copy")  # back after a moment
    assert card.get_by_role("button", name=re.compile("Copy Auth token")).count() == 0


def test_dark_mode_follows_the_system_setting(
    page, log_in_as, screenshots_dir, secrets_never_shown
):
    a_few_tenants()
    log_in_as(make_user("support", SUPPORT_PERMISSIONS))

    page.emulate_media(color_scheme="dark")
    for url, name in [
        ("/?q=AC", "tenant-list-dark.png"),
        ("/tenants/acme/", "tenant-page-dark.png"),
        ("/tenants/acme/integrations/salesforce/edit/", "edit-form-dark.png"),
    ]:
        page.goto(url)
        secrets_never_shown.seen(page)
        assert luminance(page, "body") < 0.2, url
        assert luminance(page, "body", "color") > 0.7, url
        assert luminance(page, "main .card, main .table-wrap") < 0.3, url
        page.screenshot(path=screenshots_dir / name, full_page=True)

    page.emulate_media(color_scheme="light")
    page.goto("/tenants/acme/")
    secrets_never_shown.seen(page)
    assert luminance(page, "body") > 0.8
    assert luminance(page, "body", "color") < 0.3


def test_the_tenant_list_and_a_search_fit_a_phone(
    page, log_in_as, screenshots_dir, secrets_never_shown
):
    a_few_tenants()
    log_in_as(make_user("support", SUPPORT_PERMISSIONS))
    page.set_viewport_size(PHONE)

    page.goto("/")
    secrets_never_shown.seen(page)
    assert no_horizontal_overflow(page), "the tenant list is wider than a phone"
    page.screenshot(path=screenshots_dir / "tenant-list-phone.png", full_page=True)

    page.goto("/?q=AC0")
    expect(page.locator(".hit").first).to_be_visible()
    secrets_never_shown.seen(page)
    assert no_horizontal_overflow(page), "the search results are wider than a phone"
    page.screenshot(path=screenshots_dir / "tenant-search-phone.png", full_page=True)

    page.goto("/tenants/globex/")
    secrets_never_shown.seen(page)
    assert no_horizontal_overflow(page), "the tenant page is wider than a phone"
    page.screenshot(path=screenshots_dir / "tenant-cards-phone.png", full_page=True)
