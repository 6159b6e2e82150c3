"""The admin's tenant and integration lists at scale: what each costs the database, and that
what they show stays right (issue 10's page targets; `make bench` measures the time).

- The tenant list counts each tenant's live integrations with a correlated subquery, so its
  page reads only its own rows and the paginator's COUNT touches the tenant table alone
  (Count() over a join grouped every tenant with every integration: ~100 ms at 10,000).
- Neither list runs the second, unfiltered COUNT (show_full_result_count).
"""

import pytest
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext

from integrations.providers import TwilioIntegration
from integrations.services import integration_delete
from tenants.services import tenant_delete
from tests.factories import SendGridFactory, TenantFactory, TwilioFactory, actor_named


def counts(response) -> dict[str, int]:
    return {tenant.name: tenant.live_count for tenant in response.context["cl"].result_list}


def statements_of(client, url: str, params: dict | None = None) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200, response.status_code
    return response, [query["sql"] for query in captured]


@pytest.mark.django_db
def test_the_tenant_list_counts_live_integrations_only_and_sorts_by_that_count(admin):
    busy, quiet, _empty = (TenantFactory(name=name) for name in ["busy", "quiet", "empty"])
    for ident in ["a", "b", "c"]:
        TwilioFactory(tenant=busy, ident=ident)
    SendGridFactory(tenant=quiet, ident="kept")
    gone = SendGridFactory(tenant=quiet, ident="gone")
    integration_delete(integration=gone, actor=actor_named())

    listed = admin.get("/admin/tenants/tenant/")
    # The column's header link sorts by it: list_display's third column, descending.
    by_count = admin.get("/admin/tenants/tenant/", {"o": "-3"})

    assert counts(listed) == {"busy": 3, "empty": 0, "quiet": 1}
    assert ">3</td>" in listed.content.decode()
    assert [t.name for t in by_count.context["cl"].result_list] == ["busy", "quiet", "empty"]


@pytest.mark.django_db
def test_the_tenant_list_counts_a_deleted_tenants_live_integrations_too(admin):
    tenant = TenantFactory(name="former")
    TwilioFactory(tenant=tenant)
    tenant_delete(tenant=tenant, actor=actor_named())

    response = admin.get("/admin/tenants/tenant/", {"status": "deleted"})

    assert counts(response) == {"former": 1}


@pytest.mark.django_db
def test_the_tenant_lists_count_reads_tenants_alone_and_runs_once(admin):
    for name in ["one", "two"]:
        TwilioFactory(tenant=TenantFactory(name=name))

    _, sql = statements_of(admin, "/admin/tenants/tenant/")

    counted = [statement for statement in sql if statement.startswith("SELECT COUNT(")]
    assert len(counted) == 1, counted
    assert "integrations_integration" not in counted[0]
    page = next(s for s in sql if s.startswith('SELECT "tenants_tenant"."id"'))
    assert "JOIN" not in page  # the count is a subquery per row, not a join grouped


@pytest.mark.django_db
def test_the_integration_list_runs_one_count(admin, tenant):
    TwilioFactory(tenant=tenant)

    response, sql = statements_of(admin, "/admin/integrations/integration/")

    assert len([s for s in sql if s.startswith("SELECT COUNT(")]) == 1
    assert "1 integration" in response.content.decode()


@pytest.mark.django_db
def test_a_template_reads_a_provider_class_without_making_an_instance(monkeypatch):
    """Provider classes are values in templates (badges read their label and key); the engine
    must not call them as it calls other callables."""

    def refuse(*args, **kwargs):
        raise AssertionError("the template instantiated the provider")

    monkeypatch.setattr(TwilioIntegration, "__init__", refuse)

    rendered = Template("{{ p.label }}|{{ p.provider_key }}").render(
        Context({"p": TwilioIntegration})
    )

    assert rendered == "Twilio|twilio"
