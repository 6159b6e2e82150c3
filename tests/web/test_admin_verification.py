"""The integration admin and verification (issue 11): the "Verify selected" action (change
permission; a summary of counts per status and seconds; the failing ones named; a bounded
selection), the status column and the status filter."""

import re

import pytest
from django.urls import reverse

from integrations.admin import verification_admin
from integrations.models import Integration
from integrations.services import integration_delete
from tenants.models import AuditAction, AuditEvent, Channel
from tests import fake_providers as fakes
from tests.factories import SendGridFactory, TwilioFactory, actor_named

LIST = reverse("admin:integrations_integration_changelist")


def run_action(client, integrations, follow=True):
    return client.post(
        f"{LIST}?status=all",
        {
            "action": "verify_selected",
            "_selected_action": [i.pk for i in integrations],
            "post": "yes",
        },
        follow=follow,
    )


def shown_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def good_and_bad(tenant):
    return [
        TwilioFactory(tenant=tenant, ident="twilio-good", **fakes.ACCEPTED["twilio"]),
        TwilioFactory(tenant=tenant, ident="twilio-bad", **fakes.REFUSED["twilio"]),
        SendGridFactory(tenant=tenant, **fakes.ACCEPTED["sendgrid"]),
    ]


@pytest.mark.django_db
def test_a_superuser_verifies_the_selection_and_reads_a_summary(
    admin, good_and_bad, fake_providers
):
    response = run_action(admin, good_and_bad)

    assert response.status_code == 200
    summary, failing = shown_messages(response)
    assert re.fullmatch(r"Verified 3 integrations in \d+\.\d s: 2 OK, 1 rejected\.", summary)
    assert failing == "Failing: acme/twilio-bad."
    statuses = dict(Integration.objects.values_list("ident", "last_verification"))
    assert statuses == {"twilio-good": "ok", "twilio-bad": "rejected", "sendgrid": "ok"}
    events = AuditEvent.objects.filter(action=AuditAction.VERIFY)
    assert {(e.actor, e.channel) for e in events} == {("boss", Channel.ADMIN)}
    assert events.count() == 3
    assert len(fake_providers.seen) == 3


@pytest.mark.django_db
def test_deleted_integrations_in_the_selection_are_not_verified_and_counted(
    admin, good_and_bad, fake_providers
):
    integration_delete(integration=good_and_bad[1], actor=actor_named())

    summary, *_ = shown_messages(run_action(admin, good_and_bad))

    assert re.fullmatch(
        r"Verified 2 integrations in \d+\.\d s: 2 OK\. "
        r"1 deleted \(or of a deleted tenant\) not verified\.",
        summary,
    )
    deleted = Integration.all_objects.get(ident="twilio-bad")
    assert deleted.last_verification == ""


@pytest.mark.django_db
def test_an_unreachable_provider_is_counted_as_such(admin, good_and_bad, fake_providers):
    fake_providers.mode = fakes.ERROR

    summary, failing = shown_messages(run_action(admin, good_and_bad))

    assert re.fullmatch(r"Verified 3 integrations in \d+\.\d s: 3 unreachable\.", summary)
    assert failing == "Failing: acme/sendgrid, acme/twilio-bad, acme/twilio-good."


@pytest.mark.django_db
def test_view_only_staff_are_not_offered_the_action_and_posting_it_changes_nothing(
    view_only_staff, good_and_bad, fake_providers
):
    page = view_only_staff.get(LIST)
    assert page.status_code == 200
    offered = page.context["action_form"]
    assert offered is None or "verify_selected" not in dict(offered.fields["action"].choices)

    run_action(view_only_staff, good_and_bad)

    assert fake_providers.seen == []
    assert set(Integration.objects.values_list("last_verification", flat=True)) == {""}
    assert not AuditEvent.objects.filter(action=AuditAction.VERIFY).exists()


@pytest.mark.django_db
def test_staff_who_may_change_integrations_may_verify(
    change_only_staff, good_and_bad, fake_providers
):
    page = change_only_staff.get(LIST)
    assert "verify_selected" in dict(page.context["action_form"].fields["action"].choices)

    run_action(change_only_staff, good_and_bad)

    assert Integration.objects.get(ident="twilio-good").last_verification == "ok"


@pytest.mark.django_db
def test_a_selection_too_large_for_a_request_is_refused_whole(
    admin, good_and_bad, fake_providers, monkeypatch
):
    monkeypatch.setattr(verification_admin, "MAX_SELECTED", 2)

    [message] = shown_messages(run_action(admin, good_and_bad))

    assert message == (
        "3 integrations selected; verify at most 2 at once here (use `manage.py "
        "verify_integrations` for more). Nothing was verified."
    )
    assert fake_providers.seen == []


# PostgreSQL: SQLite's in-memory test database is shared between threads with table locks
# ("database table is locked" when two threads write at once), which a file database in WAL
# mode, as served, does not have; concurrent recording is what deployments run on PostgreSQL.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_action_verifies_several_at_once(
    admin, good_and_bad, fake_providers, monkeypatch
):
    used: list[int] = []
    verify_many = verification_admin.integration_verify_many

    def spy(**kwargs):
        used.append(kwargs["concurrency"])
        return verify_many(**kwargs)

    monkeypatch.setattr(verification_admin, "integration_verify_many", spy)

    summary, _ = shown_messages(run_action(admin, good_and_bad))

    assert used == [3]
    assert summary.startswith("Verified 3 integrations in ")
    statuses = dict(Integration.objects.values_list("ident", "last_verification"))
    assert statuses == {"twilio-good": "ok", "twilio-bad": "rejected", "sendgrid": "ok"}


# --- the column and the filter --------------------------------------------------------------


def mark(integration: Integration, status: str) -> None:
    Integration.objects.non_polymorphic().filter(pk=integration.pk).update(
        last_verification=status, last_verification_detail="A sentence."
    )


@pytest.mark.django_db
def test_the_list_shows_each_status_as_a_badge_with_its_word(admin, tenant):
    for status in ["ok", "rejected", "unreachable", ""]:
        mark(TwilioFactory(tenant=tenant, ident=f"t-{status or 'never'}"), status)

    html = admin.get(LIST).content.decode()

    for status, word in [
        ("ok", "OK"),
        ("rejected", "Rejected"),
        ("unreachable", "Unreachable"),
        ("never", "Never tested"),
    ]:
        assert re.search(
            rf'<span class="badge verification verification-{status}" title="[^"]*">'
            rf'<span aria-hidden="true">[^<]+</span> {word}</span>',
            html,
        ), status
    assert 'title="Never verified with the provider"' in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ok", ["t-ok"]),
        ("rejected", ["t-rejected"]),
        ("unreachable", ["t-unreachable"]),
        ("never", ["t-never"]),
        ("nonsense", ["t-never", "t-ok", "t-rejected", "t-unreachable"]),
    ],
)
def test_the_list_filters_by_the_last_verification(admin, tenant, value, expected):
    for status in ["ok", "rejected", "unreachable", ""]:
        mark(TwilioFactory(tenant=tenant, ident=f"t-{status or 'never'}"), status)

    response = admin.get(f"{LIST}?verification={value}")

    shown = sorted(row.ident for row in response.context["cl"].result_list)
    assert shown == expected
    if value != "nonsense":
        assert "verification" in response.content.decode()  # the filter's title
