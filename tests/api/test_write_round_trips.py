"""On PostgreSQL a replace and a PATCH that race nobody are a read and one write, each its own
transaction (autocommit): no BEGIN and COMMIT round trips, no locked read. The write is kept
only if the row is still as read (tests/api/test_write_holds_its_tenant.py shows the races).
A create is a read and one write too: the tenant held live, the rows, the version and events."""

import json

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from integrations.providers.twilio import TwilioIntegration
from tests.factories import TwilioFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ONE = "/1.0/tenants/acme/integrations/twilio"


def statements_of(client, method: str, path: str, body: dict):
    """The response, and (first word, in autocommit?) of each statement the request ran."""
    seen = []

    def record(execute, sql, params, many, context):
        seen.append((sql.split()[0], context["connection"].get_autocommit()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        response = client.generic(method, path, json.dumps(body), content_type="application/json")
    return response, seen


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_write_that_races_nobody_is_the_token_a_read_and_one_write_in_autocommit(
    global_client, tenant, method
):
    TwilioFactory(tenant=tenant, account="AC-old")
    global_client.get(ONE)  # the token's first use notes its last use: not measured here

    body = {"account": "AC-new"} if method == "PATCH" else {"account": "AC-new", "password": "p"}

    response, seen = statements_of(global_client, method, ONE, body)

    assert response.status_code == 200, response.content
    assert response.json()["account"] == "AC-new"
    assert seen == [("SELECT", True), ("SELECT", True), ("WITH", True)]


def test_a_create_that_races_nobody_is_the_token_a_read_and_one_statement(global_client, tenant):
    global_client.get(ONE)
    # As in a running server after its first create (django-polymorphic caches it).
    ContentType.objects.get_for_model(TwilioIntegration, for_concrete_model=False)

    response, seen = statements_of(
        global_client, "POST", ONE, {"account": "AC-new", "password": "pw-new"}
    )

    assert response.status_code == 201, response.content
    # The token and the read without a lock; then the tenant's hold, the rows and the records,
    # one statement in autocommit (no BEGIN, no COMMIT).
    assert seen == [("SELECT", True), ("SELECT", True), ("WITH", True)]
    assert response["Location"].endswith("/1.0/tenants/acme/integrations/twilio")
