"""GET /1.0/tenants/{tenant}/integrations[/{id}]: list and read, scoped, masked, within budget."""

import itertools

import pytest
from django.db import connection
from django.utils import timezone

from integrations.providers import all_providers
from tenants.models import ApiToken
from tenants.services import tenant_delete
from tests.api.support import fields_of
from tests.factories import (
    PROVIDER_FACTORIES,
    DataSiftFactory,
    SalesforceFactory,
    SendGridFactory,
    TenantFactory,
    TwilioFactory,
    actor_named,
)

pytestmark = pytest.mark.django_db

MASK = "********"
LIST = "/1.0/tenants/acme/integrations"


def one(ident: str, tenant: str = "acme") -> str:
    return f"/1.0/tenants/{tenant}/integrations/{ident}"


# --- list ------------------------------------------------------------------------------------


def test_the_list_holds_every_live_integration_of_the_tenant_ordered_by_id(tenant_client, tenant):
    TwilioFactory(tenant=tenant, ident="twilio", account="AC1", password="tw-secret")
    SalesforceFactory(tenant=tenant, ident="salesforce-us")
    SalesforceFactory(tenant=tenant, ident="salesforce-emea")
    DataSiftFactory(tenant=tenant, ident="datasift", username="ds", api_key="ds-key")

    response = tenant_client.get(LIST)

    assert response.status_code == 200, response.content
    records = response.json()
    assert [r["id"] for r in records] == ["datasift", "salesforce-emea", "salesforce-us", "twilio"]
    assert [r["type"] for r in records] == ["datasift", "salesforce", "salesforce", "twilio"]
    assert fields_of(records[0]) == {
        "id": "datasift",
        "type": "datasift",
        "username": "ds",
        "api-key": "ds-key",
    }
    assert fields_of(records[3]) == {
        "id": "twilio",
        "type": "twilio",
        "account": "AC1",
        "password": "tw-secret",
    }


def test_the_list_leaves_out_deleted_integrations_and_those_of_other_tenants(
    tenant_client, tenant, other_tenant
):
    TwilioFactory(tenant=tenant, ident="twilio")
    SendGridFactory(tenant=tenant, ident="gone", deleted_at=timezone.now())
    SendGridFactory(tenant=other_tenant, ident="sendgrid")

    response = tenant_client.get(LIST)

    assert [r["id"] for r in response.json()] == ["twilio"]


def test_a_tenant_without_integrations_has_an_empty_list(tenant_client, tenant):
    response = tenant_client.get(LIST)

    assert response.status_code == 200
    assert response.json() == []


def test_the_list_route_also_answers_with_a_trailing_slash(tenant_client, tenant):
    TwilioFactory(tenant=tenant)

    response = tenant_client.get(LIST + "/")

    assert response.status_code == 200
    assert [r["id"] for r in response.json()] == ["twilio"]


@pytest.mark.parametrize("provider", [p.provider_key for p in all_providers()])
def test_the_type_parameter_keeps_only_integrations_of_that_provider(
    tenant_client, tenant, provider
):
    for factory in PROVIDER_FACTORIES:
        factory(tenant=tenant)
        factory(tenant=tenant, ident=f"{factory._meta.model.provider_key}-2")

    response = tenant_client.get(LIST, {"type": provider})

    assert response.status_code == 200
    records = response.json()
    assert [r["id"] for r in records] == [provider, f"{provider}-2"]
    assert {r["type"] for r in records} == {provider}


@pytest.mark.parametrize("type_key", ["zendesk", "", "Twilio"])
def test_an_unknown_type_parameter_answers_422_naming_the_known_types(
    tenant_client, tenant, type_key
):
    response = tenant_client.get(LIST, {"type": type_key})

    assert response.status_code == 422
    assert response.json() == {
        "error": f"Unknown integration type '{type_key}'; known types: "
        "datasift, salesforce, sendgrid, twilio."
    }


def test_listing_a_missing_or_deleted_tenant_answers_422(global_client, tenant):
    tenant_delete(tenant=TenantFactory(name="closed"), actor=actor_named())

    for name in ("nobody", "closed"):
        response = global_client.get(f"/1.0/tenants/{name}/integrations")

        assert response.status_code == 422
        assert response.json() == {"error": f"Tenant '{name}' does not exist or has been deleted."}


def test_post_on_the_list_route_answers_405_and_is_not_taken_for_the_short_route(
    tenant_client, tenant
):
    response = tenant_client.post(
        LIST, {"account": "AC1", "password": "x"}, content_type="application/json"
    )

    assert response.status_code == 405
    assert response.json() == {"error": 'Method "POST" not allowed.'}
    assert response["Allow"] == "GET, HEAD, OPTIONS"
    assert not tenant.integrations.exists()


# --- one -------------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", PROVIDER_FACTORIES)
def test_getting_one_integration_returns_its_record_with_secrets_for_a_secrets_token(
    tenant_client, tenant, factory
):
    integration = factory(tenant=tenant, ident="main")

    response = tenant_client.get(one("main"))

    assert response.status_code == 200, response.content
    expected = {"id": "main", "type": integration.provider_key}
    for field in type(integration).credential_fields():
        expected[field.name.replace("_", "-")] = getattr(integration, field.name)
    assert fields_of(response.json()) == expected


@pytest.mark.parametrize("state", ["missing", "deleted", "of another tenant"])
def test_getting_an_integration_that_is_not_live_in_the_tenant_answers_422(
    tenant_client, tenant, other_tenant, state
):
    if state == "deleted":
        TwilioFactory(tenant=tenant, deleted_at=timezone.now())
    if state == "of another tenant":
        TwilioFactory(tenant=other_tenant)

    response = tenant_client.get(one("twilio"))

    assert response.status_code == 422
    assert response.json() == {"error": "Integration 'twilio' does not exist or has been deleted."}


def test_getting_one_of_a_deleted_tenant_answers_422(global_client, tenant):
    TwilioFactory(tenant=tenant)
    tenant_delete(tenant=tenant, actor=actor_named())

    response = global_client.get(one("twilio"))

    assert response.status_code == 422
    assert response.json() == {"error": "Tenant 'acme' does not exist or has been deleted."}


def test_the_short_route_is_for_post_only(tenant_client, tenant):
    TwilioFactory(tenant=tenant)

    response = tenant_client.get("/1.0/tenants/acme/twilio")

    assert response.status_code == 405
    assert response.json() == {"error": 'Method "GET" not allowed.'}


# --- scopes and masking ----------------------------------------------------------------------


def test_a_token_without_the_secrets_scope_sees_every_secret_masked(token_client, tenant):
    SalesforceFactory(tenant=tenant, password="sf-pw", secret_token="sf-tok")
    TwilioFactory(tenant=tenant, account="AC1", password="tw-pw")
    client = token_client(tenant, "read")

    listed = client.get(LIST).json()
    single = client.get(one("salesforce")).json()

    assert fields_of(listed[1]) == {
        "id": "twilio",
        "type": "twilio",
        "account": "AC1",
        "password": MASK,
    }
    assert single["consumer-key"] == "consumerkey"
    assert single["username"] == "dev@userevents.com"
    for key in ("consumer-secret", "password", "secret-token"):
        assert single[key] == MASK
        assert listed[0][key] == MASK
    for secret in ("sf-pw", "sf-tok", "tw-pw"):
        assert secret not in str(listed) + str(single)


def test_reading_needs_the_read_scope(token_client, tenant):
    TwilioFactory(tenant=tenant)
    client = token_client(tenant, "write,secrets")

    for path in (LIST, one("twilio")):
        response = client.get(path)

        assert response.status_code == 403
        assert response.json() == {"error": "This token lacks the 'read' scope."}


def test_a_token_of_another_tenant_may_not_read_whether_or_not_the_tenant_exists(
    token_client, tenant, other_tenant
):
    TwilioFactory(tenant=other_tenant)
    client = token_client(tenant)

    for name in ("globex", "nobody"):
        for path in (f"/1.0/tenants/{name}/integrations", one("twilio", tenant=name)):
            response = client.get(path)

            assert response.status_code == 403
            assert response.json() == {"error": f"This token may not act on tenant '{name}'."}


def test_a_global_token_reads_any_tenant(global_client, other_tenant):
    TwilioFactory(tenant=other_tenant)

    response = global_client.get("/1.0/tenants/globex/integrations/twilio")

    assert response.status_code == 200
    assert response.json()["id"] == "twilio"


def test_reading_without_a_token_answers_401(anonymous_client, tenant):
    for path in (LIST, one("twilio")):
        response = anonymous_client.get(path)

        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Bearer"
        assert "error" in response.json()


# --- query budgets ---------------------------------------------------------------------------

# Every provider's rows come in one query: the base table LEFT JOINed to each provider's.
PAGE_QUERY = 1
# These clients hold the `secrets` scope: each answer's reveal of secrets is audited, in one
# INSERT however many records it carries.
REVEAL_AUDIT = 1
# ... and the integrations whose secrets an answer carries get their last_used_at, in one
# UPDATE for them all, at most once a minute each (none when all were read within the minute).
# On PostgreSQL that UPDATE is part of the reveal's INSERT statement (a data-modifying WITH,
# config.compiled_write.one_statement): no statement of its own.
LAST_USED = 0 if connection.vendor == "postgresql" else 1
# One integration whose id names its provider: on PostgreSQL its row, its reveal's audit event
# and its last_used_at are one statement (integrations.reveal_reads); elsewhere, in that order.
ONE_READ_REVEALED = 1 if connection.vendor == "postgresql" else 1 + LAST_USED + REVEAL_AUDIT
# A page likewise: on PostgreSQL its rows, their reveal events and last_used_at are one
# statement; elsewhere the page, then the last_used_at (when due), then the reveal events.
PAGE_REVEALED = 1 if connection.vendor == "postgresql" else PAGE_QUERY + LAST_USED + REVEAL_AUDIT
PAGE_REVEALED_JUST_USED = 1 if connection.vendor == "postgresql" else PAGE_QUERY + REVEAL_AUDIT


def fifty_mixed_integrations(tenant):
    factories = itertools.cycle(PROVIDER_FACTORIES)
    for n in range(50):
        next(factories)(tenant=tenant, ident=f"integration-{n:02d}")


def test_listing_fifty_integrations_of_mixed_types_with_a_fresh_token_stays_in_budget(
    tenant_client, tenant, count_sql
):
    fifty_mixed_integrations(tenant)
    assert ApiToken.objects.get().last_used_at is None

    with count_sql() as sql:
        response = tenant_client.get(LIST)

    assert response.status_code == 200
    assert len(response.json()) == 50
    # token lookup (its tenant JOINed) + its last_used_at update + the page (every provider's
    # table JOINed) with the integrations' last_used_at and the reveal's audit events
    assert len(sql.statements) == 2 + PAGE_REVEALED, sql.statements


def test_listing_fifty_integrations_with_a_just_used_token_skips_the_last_used_write(
    tenant_client, tenant, count_sql
):
    fifty_mixed_integrations(tenant)
    tenant_client.get(LIST)

    with count_sql() as sql:
        response = tenant_client.get(LIST)

    assert len(response.json()) == 50
    # the integrations too were used within the minute: no last_used_at write for them either
    assert len(sql.statements) == 1 + PAGE_REVEALED_JUST_USED, sql.statements


def test_an_all_tenants_token_reads_the_tenant_with_the_page(global_client, tenant, count_sql):
    fifty_mixed_integrations(tenant)

    with count_sql() as sql:
        response = global_client.get(LIST)

    assert len(response.json()) == 50
    # token lookup + its last_used_at (fresh), then the page JOINed to its tenant by name
    assert len(sql.statements) == 2 + PAGE_REVEALED, sql.statements


def test_the_type_filter_queries_only_that_providers_table(tenant_client, tenant, count_sql):
    fifty_mixed_integrations(tenant)

    with count_sql() as sql:
        response = tenant_client.get(LIST, {"type": "twilio"})

    assert len(response.json()) == 13  # 50 cycled over 4 providers: 13, 13, 12, 12
    # token, its last_used_at, twilio rows (with their last_used_at and reveal events)
    assert len(sql.statements) == 2 + PAGE_REVEALED, sql.statements


@pytest.mark.parametrize("warm", [False, True], ids=["fresh token", "just-used token"])
def test_getting_one_integration_takes_at_most_five_queries(tenant_client, tenant, count_sql, warm):
    fifty_mixed_integrations(tenant)
    if warm:
        tenant_client.get(one("integration-00"))

    with count_sql() as sql:
        response = tenant_client.get(one("integration-01"))

    assert response.status_code == 200
    # token lookup with its tenant (+ last_used_at update when fresh) + base row + provider row
    # + the integration's last_used_at (never read before) + the reveal's audit event
    assert len(sql.statements) == (3 if warm else 4) + LAST_USED + REVEAL_AUDIT, sql.statements


@pytest.mark.parametrize("warm", [False, True], ids=["fresh token", "just-used token"])
def test_getting_an_integration_whose_id_names_its_provider_reads_its_row_at_once(
    tenant_client, tenant, count_sql, warm
):
    fifty_mixed_integrations(tenant)
    TwilioFactory(tenant=tenant, ident="twilio")
    if warm:
        tenant_client.get(one("integration-00"))

    with count_sql() as sql:
        response = tenant_client.get(one("twilio"))

    assert response.status_code == 200
    assert response.json()["type"] == "twilio"
    # token lookup with its tenant (+ last_used_at update when fresh) + the provider's JOINed
    # row (the id names the provider: no base row read first) with last_used_at and the reveal
    assert len(sql.statements) == (1 if warm else 2) + ONE_READ_REVEALED, sql.statements
