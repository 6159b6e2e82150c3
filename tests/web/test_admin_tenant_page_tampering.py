"""A tampered POST of the tenant's admin page (its integrations inline) is a 400 that writes
nothing and mails no error report, never a 500.

Found by an outside tester: django-polymorphic's formset raised KeyError, ValueError,
ValidationError, DoesNotExist or UnsupportedChildType while building the rows of a POST that
the page could not have sent (a row without its id, a non-numeric id, more rows counted than
sent, an extra row whose type is no provider's): a 500 and an error mail per request, for
anyone holding change_tenant.
"""

import logging

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.test import Client

from integrations.models import Integration
from integrations.providers import SalesforceIntegration, TwilioIntegration
from tenants.models import Tenant
from tests.factories import TenantFactory, TwilioFactory

pytestmark = pytest.mark.django_db


def _page(tenant) -> str:
    return f"/admin/tenants/tenant/{tenant.pk}/change/"


def _ctype(model) -> str:
    return str(ContentType.objects.get_for_model(model).pk)


def _as_sent(tenant, twilio) -> dict:
    """The page as a browser sends it, with a change to the tenant and to its row (so that a
    POST that wrote anything would show)."""
    return {
        "name": tenant.name,
        "display_name": "Renamed by the POST",
        "integrations-TOTAL_FORMS": "1",
        "integrations-INITIAL_FORMS": "1",
        "integrations-MIN_NUM_FORMS": "0",
        "integrations-MAX_NUM_FORMS": "1000",
        "integrations-0-id": str(twilio.pk),
        "integrations-0-polymorphic_ctype": _ctype(type(twilio)),
        "integrations-0-tenant": str(tenant.pk),
        "integrations-0-ident": twilio.ident,
        "integrations-0-account": "AC-CHANGED",
        "integrations-0-password": "",
        "_save": "Save",
    }


def _extra_row(ctype: str, total: int = 2) -> dict:
    return {
        "integrations-TOTAL_FORMS": str(total),
        "integrations-1-polymorphic_ctype": ctype,
        "integrations-1-ident": "extra",
        "integrations-1-account": "AC-EXTRA",
        "integrations-1-password": "extra-password",
    }


TAMPERINGS = {
    "a-row-without-its-id": lambda data: data.pop("integrations-0-id"),
    "a-row-with-a-non-numeric-id": lambda data: data.update({"integrations-0-id": "abc"}),
    "a-row-with-a-decimal-id": lambda data: data.update({"integrations-0-id": "1.5"}),
    "more-initial-rows-counted-than-sent": lambda data: data.update(
        {"integrations-INITIAL_FORMS": "2", "integrations-TOTAL_FORMS": "2"}
    ),
    "more-rows-counted-than-sent": lambda data: data.update({"integrations-TOTAL_FORMS": "5"}),
    "an-extra-row-without-a-type": lambda data: data.update(
        {"integrations-TOTAL_FORMS": "2", "integrations-1-ident": "extra"}
    ),
    "an-extra-row-of-an-unknown-type": lambda data: data.update(_extra_row("99999")),
    "an-extra-row-of-a-type-past-any-integer": lambda data: data.update(
        _extra_row("99999999999999999999999")
    ),
    "an-extra-row-of-a-non-numeric-type": lambda data: data.update(_extra_row("zz")),
    "an-extra-row-of-the-user-type": lambda data: data.update(
        _extra_row(str(ContentType.objects.get(app_label="auth", model="user").pk))
    ),
    "an-extra-row-of-the-base-integration-type": lambda data: data.update(
        _extra_row(_ctype(Integration))
    ),
}


@pytest.fixture
def error_mail(settings):
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    return mail.outbox


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_a_tampered_inline_post_is_a_400_that_writes_nothing_and_mails_no_report(
    admin_user, tenant, error_mail, caplog, tampering
):
    twilio = TwilioFactory(tenant=tenant, account="AC-KEPT", password="stored-password")
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    data = _as_sent(tenant, twilio)
    TAMPERINGS[tampering](data)

    with caplog.at_level(logging.WARNING):
        response = client.post(_page(tenant), data)

    assert response.status_code == 400, response.status_code
    assert "Bad Request" in response.content.decode()
    assert Tenant.objects.get(pk=tenant.pk).display_name == "Acme Corp"
    assert [(i.ident, i.account) for i in Integration.objects.all()] == [("twilio", "AC-KEPT")]
    assert Integration.objects.get().password.reveal() == "stored-password"
    assert not LogEntry.objects.exists()
    assert error_mail == []
    assert "Refused a tenant page POST" in caplog.text
    assert "extra-password" not in caplog.text


def test_a_row_naming_another_tenants_integration_never_touches_that_integration(
    admin_user, tenant, error_mail
):
    mine = TwilioFactory(tenant=tenant, account="AC-KEPT")
    theirs = TwilioFactory(tenant=TenantFactory(name="globex"), account="AC-THEIRS")
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    data = _as_sent(tenant, mine)
    data["integrations-0-id"] = str(theirs.pk)

    response = client.post(_page(tenant), data)

    # Well-formed: the row is not one of this page's, so the page answers with a form error,
    # as it does for a row deleted meanwhile.
    assert response.status_code == 200
    assert "Please correct the errors below." in response.content.decode()
    assert sorted(TwilioIntegration.objects.values_list("tenant__name", "account")) == [
        ("acme", "AC-KEPT"),
        ("globex", "AC-THEIRS"),
    ]
    assert Tenant.objects.get(pk=tenant.pk).display_name == "Acme Corp"
    assert error_mail == []


def test_an_extra_row_of_another_provider_is_still_added(admin, tenant):
    twilio = TwilioFactory(tenant=tenant, account="AC-KEPT")
    data = _as_sent(tenant, twilio)
    data.update(
        {
            "integrations-TOTAL_FORMS": "2",
            "integrations-1-polymorphic_ctype": _ctype(SalesforceIntegration),
            "integrations-1-tenant": str(tenant.pk),
            "integrations-1-ident": "salesforce",
            "integrations-1-consumer_key": "key",
            "integrations-1-consumer_secret": "consumer-secret-value",
            "integrations-1-username": "dev@example.com",
            "integrations-1-password": "sf-password-value",
            "integrations-1-secret_token": "sf-token-value",
            "integrations-1-login_host": "login.salesforce.com",  # the select's default
        }
    )

    response = admin.post(_page(tenant), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Tenant.objects.get(pk=tenant.pk).display_name == "Renamed by the POST"
    assert sorted(Integration.objects.values_list("ident", flat=True)) == ["salesforce", "twilio"]
    assert Integration.objects.get(ident="twilio").account == "AC-CHANGED"
