"""A crash while saving a form must not put the typed secret into Django's error report
(what production sends to error mail or a tracker: POST data and every frame's locals)."""

import sys

import pytest
from django.core.signals import got_request_exception
from django.test import Client
from django.views.debug import ExceptionReporter

from integrations.providers import TwilioIntegration

# Built at run time, so that the test's own source lines in the traceback do not contain it.
SECRET = "-".join(["typed", "secret", "value"])


@pytest.fixture
def error_reports(monkeypatch, settings):
    """Make saving a Twilio integration crash, and collect the error reports it produces."""
    settings.DEBUG = False  # Django filters reports in production mode only

    def crash(self, *args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(TwilioIntegration, "save", crash)
    reports = []

    def report(sender, request, **kwargs):
        reports.append(ExceptionReporter(request, *sys.exc_info()).get_traceback_html())

    got_request_exception.connect(report)
    yield reports
    got_request_exception.disconnect(report)


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_error_report_of_the_staff_form_hides_the_typed_secret(
    support_user, tenant, error_reports
):
    response = _client(support_user).post(
        "/tenants/acme/integrations/add/twilio/",
        {"ident": "twilio", "account": "AC1", "password": SECRET},
    )

    assert response.status_code == 500
    assert len(error_reports) == 1
    assert "the database went away" in error_reports[0]
    assert "integration_upsert" in error_reports[0]  # the service's frame is in the report
    assert SECRET not in error_reports[0]


@pytest.mark.django_db
def test_the_error_report_of_the_admin_form_hides_the_typed_secret(
    admin_user, tenant, error_reports
):
    response = _client(admin_user).post(
        "/admin/integrations/twiliointegration/add/",
        {"tenant": tenant.pk, "ident": "twilio", "account": "AC1", "password": SECRET},
    )

    assert response.status_code == 500
    assert len(error_reports) == 1
    assert "integration_create" in error_reports[0]
    assert SECRET not in error_reports[0]
