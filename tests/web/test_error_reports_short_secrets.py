"""A secret shorter than MIN_SCRUBBED_LENGTH never shows in an error report either.

Found by an outside tester: only remembered secrets of 4 characters or more were scrubbed, so
a shorter one (the API accepts any non-empty value) was in clear in the mailed report of a
failed write. Short secrets are now remembered too and replaced wherever they are a whole
value: a frame variable, an item of its containers, an attribute as its object's repr prints
it, a value of the request's POST. They are not replaced inside longer text, where they would
scrub ordinary words out of the report.
"""

import json
import logging
import sys
from collections import namedtuple
from types import SimpleNamespace

import pytest
from django.core import mail
from django.http import QueryDict
from django.test import Client
from django.utils.log import AdminEmailHandler
from django.views.debug import get_exception_reporter_class

from integrations import error_reports
from integrations.error_reports import MIN_SCRUBBED_LENGTH, SCRUBBED, remember_secret
from integrations.providers import TwilioIntegration
from tests.db_faults import refuse_writes
from tests.factories import TwilioFactory
from tests.web.test_error_reports import FAULT

pytestmark = pytest.mark.django_db

SHORT = "§¶¤"  # three characters that no report contains by chance
SHORT_ASCII = "qzx"
STORED = "-".join(["stored", "secret", "value"])


@pytest.fixture
def twilio_writes_fail(tenant):
    twilio = TwilioFactory(tenant=tenant, password=STORED)
    refuse_writes("integrations_twiliointegration", FAULT)
    return twilio


@pytest.fixture
def mailed_reports(settings):
    """The reports mailed to the admins, text and HTML (with every frame's locals), by the API's
    logger and Django's."""
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@example.com")]
    with_html = AdminEmailHandler(include_html=True)
    loggers = [logging.getLogger("integrations.api"), logging.getLogger("django.request")]
    for logger in loggers:
        logger.addHandler(with_html)

    def texts() -> list[str]:
        found = [m.body for m in mail.outbox]
        found += [content for m in mail.outbox for content, _ in m.alternatives]
        assert any("Local Vars" in text for text in found), "a report with the frames' locals"
        return found

    yield texts
    for logger in loggers:
        logger.removeHandler(with_html)


@pytest.mark.parametrize("secret", [SHORT, SHORT_ASCII, "7"])
def test_a_short_secret_patched_through_the_api_is_not_in_the_mailed_report_of_a_failed_write(
    tenant_client, twilio_writes_fail, mailed_reports, secret
):
    assert len(secret) < MIN_SCRUBBED_LENGTH

    response = tenant_client.patch(
        "/1.0/tenants/acme/integrations/twilio",
        json.dumps({"password": secret}, ensure_ascii=False).encode(),
        content_type="application/json",
    )

    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error."}
    assert TwilioIntegration.objects.get().password.reveal() == STORED
    texts = mailed_reports()
    assert any(SCRUBBED in text for text in texts)
    for text in texts:
        assert repr(secret) not in text
        assert f"&#x27;{secret}&#x27;" not in text
        assert json.dumps(secret) not in text
        if secret == SHORT:  # no report holds these characters but for the secret
            assert SHORT not in text
        assert STORED not in text


def test_a_short_secret_typed_into_the_staff_form_is_not_in_the_mailed_report(
    admin_user, tenant, twilio_writes_fail, mailed_reports
):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)

    response = client.post(
        f"/tenants/acme/integrations/{twilio_writes_fail.ident}/edit/",
        {"account": "AC-NEW", "password": SHORT},
    )

    assert response.status_code == 500
    assert TwilioIntegration.objects.get().account == twilio_writes_fail.account
    for text in mailed_reports():
        assert SHORT not in text
        assert STORED not in text


Pair = namedtuple("Pair", "name value")


def _report_of_a_crash_holding(secret: str, rf) -> tuple[str, str]:
    """The HTML and text reports of a crash whose frame holds `secret` in every shape a frame
    variable can, and the word `secret`+"word" (which is no secret) beside it."""
    request = rf.post("/", {"password": secret, "note": f"{secret}word"})
    token = error_reports._seen_in_request.set(set())
    try:
        remember_secret(secret)
        alone = secret
        in_a_dict = {"password": secret, "note": f"{secret}word"}
        in_a_list = [secret, [secret, (secret,)]]
        in_a_set = {secret}
        as_bytes = {"raw": secret.encode()}
        in_a_query_dict = QueryDict(mutable=True)
        in_a_query_dict.setlist("password", [secret, secret])
        in_a_named_tuple = Pair("password", secret)
        as_an_attribute = SimpleNamespace(password=secret)
        word = f"{secret}word"
        held = (alone, in_a_dict, in_a_list, in_a_set, as_bytes, in_a_query_dict)
        held += (in_a_named_tuple, as_an_attribute, word)
        try:
            raise RuntimeError("the write failed")
        except RuntimeError:
            reporter = get_exception_reporter_class(request)(request, *sys.exc_info())
            return reporter.get_traceback_html(), reporter.get_traceback_text()
    finally:
        error_reports._seen_in_request.reset(token)


@pytest.mark.parametrize("secret", [SHORT, SHORT_ASCII])
def test_a_short_secret_is_hidden_wherever_it_is_a_whole_value_in_a_frame(rf, secret):
    html, text = _report_of_a_crash_holding(secret, rf)

    assert "in_a_query_dict" in html and "as_an_attribute" in html  # the frame's locals
    for report in (html, text):  # (the text report has the request's POST, no locals)
        assert "the write failed" in report
        assert SCRUBBED in report
        for whole in (repr(secret), repr(secret.encode()), json.dumps(secret)):
            assert whole not in report
        # ...while an ordinary word that contains it is kept: it would scrub words out.
        assert f"{secret}word" in report
    assert f"&#x27;{secret}&#x27;" not in html
    assert SHORT not in html.replace(f"{SHORT}word", "")
    assert f"&lt;QueryDict: {{&#x27;password&#x27;: [&#x27;{SCRUBBED}&#x27;" in html
    assert f"Pair(name=&#x27;password&#x27;, value=&#x27;{SCRUBBED}&#x27;)" in html


def test_secrets_of_four_characters_or_more_are_still_hidden_inside_longer_text(rf):
    html, text = _report_of_a_crash_holding("wxyz", rf)

    for report in (html, text):
        assert "wxyz" not in report
        assert f"{SCRUBBED}word" in report
