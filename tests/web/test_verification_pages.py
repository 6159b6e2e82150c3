"""The staff pages and verification (issue 11): each card's status (ok / rejected / unreachable /
never tested, when, the detail) and its last use by the API; the "Test connection" button for
those who may change integrations, against a real local server playing the provider; the offer
to test right after saving; the tenant list's filter of tenants with a failing integration."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import Integration
from integrations.services import integration_delete
from tenants.models import AuditAction, AuditEvent, Channel
from tests import fake_providers as fakes
from tests.factories import TenantFactory, TwilioFactory, actor_named
from tests.web.support import submitted_form

pytestmark = pytest.mark.django_db

VERIFY_URL = "/tenants/acme/integrations/twilio/test-connection/"


def card_of(html: str, ident: str) -> str:
    """The HTML of the card of integration `ident` on a tenant page."""
    match = re.search(
        rf'<article class="card integration" id="integration-{ident}">(.*?)</article>', html, re.S
    )
    assert match, f"no card of {ident}"
    return match.group(1)


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def recorded(integration: Integration, status: str, detail: str, minutes_ago: int) -> None:
    Integration.all_objects.non_polymorphic().filter(pk=integration.pk).update(
        last_verification=status,
        last_verification_detail=detail,
        last_verified_at=timezone.now() - timedelta(minutes=minutes_ago, seconds=5),
    )


# --- what a card shows ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("ok", "OK 5 minutes ago: Twilio accepted the account SID and auth token."),
        (
            "rejected",
            "Rejected 5 minutes ago: Twilio refused the account SID and auth token (HTTP 401).",
        ),
        (
            "unreachable",
            "Unreachable 5 minutes ago: Twilio had an error (HTTP 503); try again later.",
        ),
    ],
)
def test_a_card_shows_the_last_test_in_words_with_when_and_why(viewer, tenant, status, words):
    twilio = TwilioFactory(tenant=tenant)
    recorded(twilio, status, words.split(": ", 1)[1], minutes_ago=5)

    card = card_of(viewer.get("/tenants/acme/").content.decode(), "twilio")

    assert f'class="badge verification verification-{status}"' in card
    assert words in text_of(card)


def test_a_card_never_tested_says_so(viewer, tenant):
    TwilioFactory(tenant=tenant)

    card = card_of(viewer.get("/tenants/acme/").content.decode(), "twilio")

    assert 'class="badge verification verification-never"' in card
    assert "Never tested" in text_of(card)


def test_the_status_is_told_by_words_not_by_colour_alone(viewer, tenant):
    for n, status in enumerate(["ok", "rejected", "unreachable", ""]):
        recorded(TwilioFactory(tenant=tenant, ident=f"twilio-{n}"), status, "A sentence.", 1)

    html = viewer.get("/tenants/acme/").content.decode()

    badges = re.findall(
        r'<span class="badge verification [^"]*">'
        r'<span aria-hidden="true">[^<]+</span> ([^<]+)</span>',
        html,
    )  # a symbol not read out, and the word
    assert badges == ["OK", "Rejected", "Unreachable", "Never tested"]


def test_a_card_says_when_the_api_last_used_it(viewer, tenant):
    used = TwilioFactory(tenant=tenant, ident="used")
    TwilioFactory(tenant=tenant, ident="unused")
    Integration.objects.non_polymorphic().filter(pk=used.pk).update(
        last_used_at=timezone.now() - timedelta(minutes=5, seconds=5)
    )

    html = viewer.get("/tenants/acme/").content.decode()

    assert "Used by the API 5 minutes ago" in text_of(card_of(html, "used"))
    assert "Never used by the API" in text_of(card_of(html, "unused"))


# --- the button -----------------------------------------------------------------------------


def test_those_who_may_change_integrations_get_a_test_button(support, tenant):
    TwilioFactory(tenant=tenant)

    card = card_of(support.get("/tenants/acme/").content.decode(), "twilio")

    assert f'<form method="post" action="{VERIFY_URL}"' in card
    assert "csrfmiddlewaretoken" in card
    assert ">Test connection</button>" in card


def test_view_only_staff_see_the_status_but_no_test_button(viewer, tenant):
    recorded(TwilioFactory(tenant=tenant), "rejected", "Twilio refused.", 2)

    card = card_of(viewer.get("/tenants/acme/").content.decode(), "twilio")

    assert "Rejected" in text_of(card)
    assert "Test connection" not in card
    assert VERIFY_URL not in card


def test_a_test_posted_by_view_only_staff_is_refused_and_nothing_is_sent_or_recorded(
    viewer, tenant, fake_providers
):
    TwilioFactory(tenant=tenant, **fakes.ACCEPTED["twilio"])

    response = viewer.post(VERIFY_URL)

    assert response.status_code == 403
    assert fake_providers.paths() == []
    stored = Integration.objects.get(ident="twilio")
    assert (stored.last_verification, stored.last_verified_at) == ("", None)
    assert not AuditEvent.objects.filter(action=AuditAction.VERIFY).exists()


def test_testing_asks_the_provider_records_ok_and_comes_back_to_the_card(
    support, tenant, fake_providers
):
    twilio = TwilioFactory(tenant=tenant, **fakes.ACCEPTED["twilio"])
    version = twilio.version

    response = support.post(VERIFY_URL)

    assert response.status_code == 302
    assert response["Location"] == "/tenants/acme/#integration-twilio"
    assert fake_providers.paths() == [
        f"/2010-04-01/Accounts/{fakes.ACCEPTED['twilio']['account']}.json"
    ]
    stored = Integration.objects.get(ident="twilio")
    assert stored.last_verification == "ok"
    assert stored.last_verified_at is not None
    assert stored.version == version  # a test is not a change
    event = AuditEvent.objects.get(action=AuditAction.VERIFY)
    assert (event.actor, event.channel, event.integration_ident) == (
        "support",
        Channel.WEB,
        "twilio",
    )
    page = support.get(response["Location"]).content.decode()
    assert "Connection test of Twilio &#x27;twilio&#x27;: OK." in page
    assert "message-success" in page
    assert 'class="badge verification verification-ok"' in card_of(page, "twilio")
    assert "OK now: Twilio accepted" in text_of(card_of(page, "twilio"))


def test_a_refused_test_is_recorded_as_rejected_and_said_as_an_error(
    support, tenant, fake_providers
):
    TwilioFactory(tenant=tenant, **fakes.REFUSED["twilio"])

    page = support.post(VERIFY_URL, follow=True).content.decode()

    assert Integration.objects.get(ident="twilio").last_verification == "rejected"
    assert "message-error" in page
    assert "Rejected. Twilio refused the account SID and auth token (HTTP 401)." in page
    assert fakes.REFUSED["twilio"]["password"] not in page
    assert fakes.BODY_MARK not in page


def test_a_provider_that_is_down_is_recorded_as_unreachable_and_said_as_a_warning(
    support, tenant, fake_providers
):
    TwilioFactory(tenant=tenant, **fakes.ACCEPTED["twilio"])
    fake_providers.mode = fakes.ERROR

    page = support.post(VERIFY_URL, follow=True).content.decode()

    assert Integration.objects.get(ident="twilio").last_verification == "unreachable"
    assert "message-warning" in page
    assert fakes.BODY_MARK not in page


def test_a_test_can_only_be_posted(support, tenant):
    TwilioFactory(tenant=tenant)

    assert support.get(VERIFY_URL).status_code == 405


def test_testing_a_deleted_integration_or_one_of_another_tenant_is_a_404(support, tenant):
    integration_delete(integration=TwilioFactory(tenant=tenant), actor=actor_named())
    TwilioFactory(tenant=TenantFactory(name="globex"))

    assert support.post(VERIFY_URL).status_code == 404
    assert not AuditEvent.objects.filter(action=AuditAction.VERIFY).exists()


# --- the offer after saving -----------------------------------------------------------------


def test_saving_offers_to_test_the_connection_once(support, tenant, fake_providers):
    TwilioFactory(tenant=tenant, **fakes.ACCEPTED["twilio"])
    edit = "/tenants/acme/integrations/twilio/edit/"
    form = submitted_form(support.get(edit).content.decode())

    saved = support.post(edit, form)
    page = support.get(saved["Location"]).content.decode()

    assert "Twilio integration &#x27;twilio&#x27; saved." in page
    offer = re.search(r'<form [^>]*class="message message-info offer-test".*?</form>', page, re.S)
    assert offer, "no offer to test"
    assert f'action="{VERIFY_URL}"' in offer.group(0)
    assert ">Test connection now</button>" in offer.group(0)
    assert "offer-test" not in support.get("/tenants/acme/").content.decode()  # only once

    support.post(VERIFY_URL)
    assert Integration.objects.get(ident="twilio").last_verification == "ok"


def test_adding_offers_to_test_the_new_integration(support, tenant):
    add = "/tenants/acme/add-integration/twilio/"
    form = {**submitted_form(support.get(add).content.decode()), **fakes.ACCEPTED["twilio"]}

    page = support.post(add, form, follow=True).content.decode()

    assert "Twilio integration &#x27;twilio&#x27; added." in page
    assert 'class="message message-info offer-test"' in page


def test_the_offer_is_not_made_on_another_tenants_page(support, tenant):
    TenantFactory(name="globex")
    TwilioFactory(tenant=tenant)
    edit = "/tenants/acme/integrations/twilio/edit/"
    support.post(edit, submitted_form(support.get(edit).content.decode()))

    assert "offer-test" not in support.get("/tenants/globex/").content.decode()


# --- the tenant list's filter ---------------------------------------------------------------


def listed(client, url: str) -> list[str]:
    html = client.get(url).content.decode()
    return re.findall(r'<a class="strong mono" href="/tenants/([^/]+)/">', html)


def test_the_tenant_list_filters_tenants_with_a_failing_integration(viewer):
    for name, status in [
        ("rejects", "rejected"),
        ("unreachable", "unreachable"),
        ("fine", "ok"),
        ("untested", ""),
    ]:
        recorded(TwilioFactory(tenant=TenantFactory(name=name)), status, "A sentence.", 1)
    gone = TwilioFactory(tenant=TenantFactory(name="deleted-one"), ident="old")
    recorded(gone, "rejected", "A sentence.", 1)
    integration_delete(integration=gone, actor=actor_named())
    recorded(TwilioFactory(tenant=TenantFactory(name="mixed"), ident="a"), "ok", "Fine.", 1)
    recorded(
        TwilioFactory(tenant=Integration.objects.get(ident="a").tenant, ident="b"),
        "rejected",
        "No.",
        1,
    )

    assert listed(viewer, "/?status=failing") == ["mixed", "rejects", "unreachable"]
    assert listed(viewer, "/?status=failing&q=rej") == ["rejects"]
    assert listed(viewer, "/?status=failing&provider=sendgrid") == []
    assert len(listed(viewer, "/?status=anything-else")) == 6  # an unknown value is ignored


def test_the_filter_is_a_select_beside_the_provider_filter_and_is_kept(viewer, tenant):
    html = viewer.get("/?status=failing").content.decode()

    assert re.search(
        r'<select id="provider" name="provider">.*?</select>\s*<label for="status"', html, re.S
    )
    assert '<option value="failing" selected>Failing integration</option>' in html
    assert "0 tenants with a failing integration" in html
    assert 'href="/" class="button subtle">Clear</a>' in html
