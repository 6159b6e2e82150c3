"""A crash never puts a secret into an error report: not the mail production sends to the
admins (DEBUG=false), not the DEBUG page (DEBUG=true).

The faults are real: a database trigger refuses the write, inside Django's own save frames,
whose locals (`values`, `row`) our `sensitive_variables` cannot reach; what keeps the secrets
out is the central scrubbing of every report (integrations/error_reports.py).
"""

import json
import logging
import sys

import pytest
from django.core import mail
from django.test import Client
from django.utils.log import AdminEmailHandler
from django.views.debug import get_exception_reporter_class

from integrations.error_reports import SCRUBBED
from tests.db_faults import refuse_writes
from tests.factories import TwilioFactory

# Built at run time, so that the test's own source lines in a traceback do not contain them.
TYPED = "-".join(["typed", "secret", "value"])
STORED = "-".join(["stored", "secret", "value"])
FAULT = "the database refused this write"


@pytest.fixture
def twilio_writes_fail(tenant):
    """A stored Twilio integration; from then on every write of a Twilio row fails
    in the database (undone with the test's transaction, DDL included, on SQLite and
    PostgreSQL alike)."""
    twilio = TwilioFactory(tenant=tenant, password=STORED)
    refuse_writes("integrations_twiliointegration", FAULT)
    return twilio


@pytest.fixture
def error_mail(settings):
    """Production's error reports: with ADMINS set, Django's default logging mails each
    500's report to them (AdminEmailHandler); we add its HTML variant to check that too."""
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    with_html = AdminEmailHandler(include_html=True)
    logger = logging.getLogger("django.request")
    logger.addHandler(with_html)
    yield mail.outbox
    logger.removeHandler(with_html)


def _report_texts(outbox) -> list[str]:
    assert len(outbox) == 2, "Django's report and its HTML twin were mailed"
    texts = [message.body for message in outbox]
    texts += [content for message in outbox for content, _ in message.alternatives]
    assert any("<html" in text for text in texts)
    return texts


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _doors(tenant, twilio) -> list[tuple[str, dict]]:
    """The HTML forms that write a Twilio integration, with a newly typed secret."""
    return [
        (
            f"/tenants/acme/integrations/{twilio.ident}/edit/",
            {"account": "AC-NEW", "password": TYPED},
        ),
        (
            "/tenants/acme/add-integration/twilio/",
            {"ident": "twilio-two", "account": "AC-NEW", "password": TYPED},
        ),
        (
            f"/admin/integrations/twiliointegration/{twilio.pk}/change/",
            {"tenant": tenant.pk, "ident": twilio.ident, "account": "AC-NEW", "password": TYPED},
        ),
        (
            "/admin/integrations/twiliointegration/add/",
            {"tenant": tenant.pk, "ident": "twilio-two", "account": "AC-NEW", "password": TYPED},
        ),
    ]


@pytest.mark.django_db
# On SQLite a trigger can only fail an INSERT as a constraint violation, which the create
# paths rightly read as a lost race (409): the add doors crash for real on PostgreSQL only.
@pytest.mark.parametrize(
    "door",
    [
        pytest.param(0, id="staff-edit"),
        pytest.param(1, id="staff-add", marks=pytest.mark.postgres),
        pytest.param(2, id="admin-change"),
        pytest.param(3, id="admin-add", marks=pytest.mark.postgres),
    ],
)
def test_the_error_mail_of_a_failed_write_shows_neither_typed_nor_stored_secrets(
    door, admin_user, tenant, error_mail, twilio_writes_fail
):
    twilio = twilio_writes_fail
    path, form = _doors(tenant, twilio)[door]

    response = _client(admin_user).post(path, form)

    assert response.status_code == 500
    texts = _report_texts(error_mail)
    assert any("Local Vars" in text for text in texts)  # the HTML report: every frame's locals
    for text in texts:
        assert path in text
        assert TYPED not in text
        assert STORED not in text
    assert TYPED not in response.content.decode()


@pytest.mark.django_db
def test_the_debug_page_of_a_failed_write_hides_the_typed_secret(
    settings, admin_user, tenant, twilio_writes_fail
):
    settings.DEBUG = True
    path, form = _doors(tenant, twilio_writes_fail)[0]

    response = _client(admin_user).post(path, form)

    page = response.content.decode()
    assert response.status_code == 500
    assert FAULT in page  # Django's technical 500 page, with its frames and locals
    # The frame of the write (config.compiled_write.update), whose locals held the instance
    # with the typed secret and the values sent to the database.
    assert "compiled_write.py" in page and "params" in page
    assert TYPED not in page
    assert SCRUBBED in page


@pytest.mark.django_db
def test_a_report_hides_the_database_password_and_the_keys_held_in_any_frame(rf, settings):
    settings.DATABASES = {**settings.DATABASES}
    settings.DATABASES["default"] = {**settings.DATABASES["default"], "PASSWORD": "db-pass-1234"}
    request = rf.get("/")

    def connect(password=settings.DATABASES["default"]["PASSWORD"], keys=settings.SECRET_KEY):
        raise ConnectionError("connection refused")

    try:
        connect()
    except ConnectionError:
        reporter = get_exception_reporter_class(request)(request, *sys.exc_info())
        html, text = reporter.get_traceback_html(), reporter.get_traceback_text()

    for report in (html, text):
        assert "connection refused" in report
        assert "db-pass-1234" not in report
        assert settings.SECRET_KEY not in report


@pytest.mark.django_db
def test_an_api_crash_mailed_to_the_admins_hides_the_posted_secret(
    settings, tenant_client, twilio_writes_fail
):
    settings.ADMINS = [("Ops", "ops@example.com")]
    with_locals = AdminEmailHandler(include_html=True)
    logger = logging.getLogger("integrations.api")
    logger.addHandler(with_locals)
    try:
        response = tenant_client.patch(
            "/1.0/tenants/acme/integrations/twilio",
            json.dumps({"password": TYPED}),
            content_type="application/json",
        )
    finally:
        logger.removeHandler(with_locals)

    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error."}
    texts = [m.body for m in mail.outbox] + [c for m in mail.outbox for c, _ in m.alternatives]
    assert any("Local Vars" in text and SCRUBBED in text for text in texts)  # held, then hidden
    assert all(TYPED not in text and STORED not in text for text in texts)
