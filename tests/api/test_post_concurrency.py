"""Concurrent POSTs (and DELETEs) of one id: the unique constraint and the upsert's transaction
decide, so there is one live row and no 500. Needs real concurrency: PostgreSQL."""

from functools import partial

import pytest
from rest_framework.test import APIClient

from integrations.models import Integration
from tenants.services import api_token_create
from tests.api.support import TWILIO, post_json, url
from tests.concurrency import run_together
from tests.factories import TenantFactory, TwilioFactory, actor_named

THREADS = 20
# The POST/DELETE race: rounds of this many requests, half of each.
RACE_REQUESTS = 20
RACE_ROUNDS = 5

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def all_at_once(token: str, requests: list) -> list:
    """Run each request (a function of an APIClient) from its own thread and connection,
    released together by a barrier; returns (status, JSON body or None) per request."""

    def answer(request) -> tuple:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = request(client)
        return response.status_code, (response.json() if response.content else None)

    return run_together([partial(answer, request) for request in requests])


def post_all_at_once(token: str, path: str, bodies: list[dict]) -> list:
    """POST each body from its own thread and connection, released together by a barrier."""
    return all_at_once(token, [partial(post_json, path=path, body=body) for body in bodies])


@pytest.fixture
def acme_token():
    tenant = TenantFactory(name="acme")
    _, token = api_token_create(actor=actor_named("tests"), label="race", tenant=tenant)
    return tenant, token


def test_twenty_simultaneous_creates_of_one_id_make_one_row_one_201_and_no_500(acme_token):
    tenant, token = acme_token
    bodies = [{**TWILIO, "account": f"AC{i:02d}"} for i in range(THREADS)]

    results = post_all_at_once(token, url("twilio"), bodies)

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (THREADS - 1) + [201], results
    rows = Integration.all_objects.filter(tenant=tenant, ident="twilio")
    assert rows.count() == 1
    # The row holds one of the bodies whole, never a mix of two.
    stored = rows.get()
    assert stored.account in {b["account"] for b in bodies}
    assert stored.password == TWILIO["password"]


def test_twenty_simultaneous_replaces_keep_one_row_and_all_answer_200(acme_token):
    tenant, token = acme_token
    TwilioFactory(tenant=tenant)
    bodies = [{**TWILIO, "account": f"AC{i:02d}"} for i in range(THREADS)]

    results = post_all_at_once(token, url("twilio"), bodies)

    assert [status for status, _ in results] == [200] * THREADS, results
    assert Integration.all_objects.filter(tenant=tenant, ident="twilio").count() == 1


def test_posts_and_deletes_of_one_id_racing_never_answer_500_or_a_false_400(acme_token):
    tenant, token = acme_token
    TwilioFactory(tenant=tenant)
    path = url("twilio")
    # Same type in every body: a 400 ("its type cannot change") would be false.
    requests = [
        partial(post_json, path=path, body={**TWILIO, "account": f"AC{i:02d}"})
        if i % 2
        else (lambda client: client.delete(path))
        for i in range(RACE_REQUESTS)
    ]

    deletes = 0
    for _ in range(RACE_ROUNDS):
        results = all_at_once(token, requests)

        statuses = [status for status, _ in results]
        assert set(statuses) <= {200, 201, 204, 409, 422}, results
        for status, body in results:
            if status in {409, 422}:
                assert set(body) == {"error"}, body
        deletes += statuses.count(204)
        assert Integration.objects.filter(tenant=tenant, ident="twilio").count() <= 1
    # A DELETE answered 204 only when it deleted a live row: one deleted row per 204 (a
    # DELETE that lost the race answers 422 and leaves the first deleted_at alone).
    rows = Integration.all_objects.filter(tenant=tenant, ident="twilio")
    assert rows.filter(deleted_at__isnull=False).count() == deletes
