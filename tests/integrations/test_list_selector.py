"""integration_list with a limit: the first `limit` ids after `after`, across providers, and
each provider's query reads at most `limit` rows (a page never loads the whole table)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.selectors import integration_list
from tests.factories import DataSiftFactory, SendGridFactory, TwilioFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def five(tenant):
    for ident in ("a-twilio", "c-twilio", "e-twilio"):
        TwilioFactory(tenant=tenant, ident=ident)
    SendGridFactory(tenant=tenant, ident="b-sendgrid")
    DataSiftFactory(tenant=tenant, ident="d-datasift")
    return tenant


def test_a_limit_gives_the_first_ids_across_providers(five):
    page = integration_list(tenant=five, limit=2)
    rest = integration_list(tenant=five, limit=10, after="b-sendgrid")

    assert [i.ident for i in page] == ["a-twilio", "b-sendgrid"]
    assert [i.ident for i in rest] == ["c-twilio", "d-datasift", "e-twilio"]


def test_without_a_limit_every_live_integration_is_listed(five):
    assert [i.ident for i in integration_list(tenant=five)] == [
        "a-twilio",
        "b-sendgrid",
        "c-twilio",
        "d-datasift",
        "e-twilio",
    ]


def test_each_providers_query_reads_at_most_the_limit(five):
    with CaptureQueriesContext(connection) as queries:
        integration_list(tenant=five, limit=1)

    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert selects
    assert all("LIMIT 1" in sql for sql in selects), selects
