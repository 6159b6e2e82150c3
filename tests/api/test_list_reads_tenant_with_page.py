"""An all-tenants token's list reads the URL's tenant with the page (integration_list by
name): the token, the page and the reveal, three statements, where reading the tenant first
took four. The API's order of answers stays: a tenant that does not exist or was deleted is a
422 before any error of the query string; an empty page of a live tenant is still 200 [].
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.selectors import integration_list
from tenants.exceptions import TenantNotFound
from tenants.models import AuditAction, AuditEvent, Tenant
from tests.factories import SendGridFactory, TenantFactory, TwilioFactory

pytestmark = pytest.mark.django_db

LIST = "/1.0/tenants/{}/integrations"

# Each is an error of its own with a live tenant: (query string, status).
BAD_QUERIES = {
    "an unknown type": ("?type=zendesk", 422),
    "a limit that is no number": ("?limit=many", 400),
    "a limit out of range": ("?limit=0", 400),
    "an unknown status": ("?status=fine", 400),
}
NOT_LIVE = {"error": "Tenant 'acme' does not exist or has been deleted."}


def names(page) -> list[str]:
    return [integration.ident for integration in page]


@pytest.fixture
def acme_and_other():
    acme = TenantFactory(name="acme")
    TwilioFactory(tenant=acme, ident="a-twilio")
    SendGridFactory(tenant=acme, ident="b-sendgrid")
    TwilioFactory(tenant=TenantFactory(name="other"), ident="c-twilio")
    return acme


def test_by_name_the_page_is_the_tenants_with_its_tenant_loaded_in_one_query(acme_and_other):
    with CaptureQueriesContext(connection) as queries:
        page = integration_list(tenant="acme")
        tenants = {integration.tenant.name for integration in page}  # no query: JOINed

    assert names(page) == ["a-twilio", "b-sendgrid"]
    assert [type(i).__name__ for i in page] == ["TwilioIntegration", "SendGridIntegration"]
    assert tenants == {"acme"}
    assert len(queries.captured_queries) == 1


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({"limit": 1}, ["a-twilio"]),
        ({"after": "a-twilio"}, ["b-sendgrid"]),
        ({"provider": "sendgrid"}, ["b-sendgrid"]),
        ({"status": "never"}, ["a-twilio", "b-sendgrid"]),
    ],
)
def test_by_name_the_filters_are_those_by_tenant(acme_and_other, filters, expected):
    if "provider" in filters:
        from integrations.providers import provider_for

        filters = {**filters, "provider": provider_for(filters["provider"])}

    assert names(integration_list(tenant="acme", **filters)) == expected
    assert names(integration_list(tenant=acme_and_other, **filters)) == expected


def test_by_name_an_empty_page_of_a_live_tenant_is_empty(acme_and_other):
    with CaptureQueriesContext(connection) as queries:
        page = integration_list(tenant="acme", after="z")

    assert page == []
    # the page, then the tenant it did not show, then its page read after it, and the tenant
    # again (an empty page: deleted since?)
    assert len(queries.captured_queries) == 4


@pytest.mark.parametrize("name", ["nobody", "gone", "ACME", "bad\x00name", "x" * 65, ""])
def test_by_name_a_tenant_that_is_not_live_is_a_tenant_not_found(acme_and_other, name):
    gone = TenantFactory(name="gone")
    TwilioFactory(tenant=gone, ident="twilio")
    Tenant.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())

    with pytest.raises(TenantNotFound):
        integration_list(tenant=name)


@pytest.mark.parametrize("case", BAD_QUERIES, ids=list(BAD_QUERIES))
def test_a_bad_query_is_its_own_error_with_a_live_tenant(global_client, acme_and_other, case):
    query, status = BAD_QUERIES[case]

    response = global_client.get(LIST.format("acme") + query)

    assert response.status_code == status, response.content
    assert response.json() != NOT_LIVE


@pytest.mark.parametrize("case", BAD_QUERIES, ids=list(BAD_QUERIES))
@pytest.mark.parametrize("state", ["missing", "deleted"])
def test_a_tenant_not_live_is_a_422_before_a_bad_query(global_client, case, state):
    if state == "deleted":
        TenantFactory(name="acme", deleted_at=timezone.now())

    response = global_client.get(LIST.format("acme") + BAD_QUERIES[case][0])

    assert response.status_code == 422, response.content
    assert response.json() == NOT_LIVE


@pytest.mark.parametrize("state", ["missing", "deleted"])
def test_a_tenant_not_live_is_a_422_and_reveals_nothing(global_client, state):
    if state == "deleted":
        gone = TenantFactory(name="acme")
        TwilioFactory(tenant=gone, ident="twilio")
        Tenant.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())

    response = global_client.get(LIST.format("acme"))

    assert response.status_code == 422, response.content
    assert response.json() == NOT_LIVE
    assert not AuditEvent.objects.filter(action=AuditAction.REVEAL).exists()


def test_a_live_tenant_without_integrations_lists_none(global_client):
    TenantFactory(name="acme")

    response = global_client.get(LIST.format("acme"))

    assert response.status_code == 200, response.content
    assert response.json() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_list_is_the_token_the_page_and_the_reveal(global_client, acme_and_other):
    global_client.get(LIST.format("acme"))  # the token's first use notes its last use

    seen = []

    def record(execute, sql, params, many, context):
        seen.append(sql.split()[0])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        response = global_client.get(LIST.format("acme"))

    assert response.status_code == 200, response.content
    assert [record["id"] for record in response.json()] == ["a-twilio", "b-sendgrid"]
    assert AuditEvent.objects.filter(action=AuditAction.REVEAL).count() == 2 * 2  # twice read
    # The token, then the page with its tenant, its reveal events and its last-used-at.
    assert seen == ["SELECT", "WITH"]


@pytest.mark.parametrize("read", ["list", "one"])
def test_a_tenant_read_earlier_and_deleted_since_is_a_tenant_not_found(acme_and_other, read):
    """A tenant token's tenant was read with the token; soft-deleted since, its integrations
    are no longer served (the reads by its key check it live in the same statement)."""
    from integrations.selectors import integration_get_live

    stale = Tenant.objects.get(name="acme")
    Tenant.objects.filter(pk=stale.pk).update(deleted_at=timezone.now())

    with pytest.raises(TenantNotFound):
        if read == "list":
            integration_list(tenant=stale)
        else:
            integration_get_live(tenant=stale, ident="a-twilio")
