"""Concurrent POSTs of one id: the unique constraint and the upsert's transaction decide, so
there is one row, one 201, and no 500. Needs real concurrency: PostgreSQL."""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from integrations.models import Integration
from tenants.services import api_token_create
from tests.api.support import TWILIO, post_json, url
from tests.factories import TenantFactory, TwilioFactory

THREADS = 20

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def post_all_at_once(token: str, path: str, bodies: list[dict]) -> list:
    """POST each body from its own thread and connection, released together by a barrier."""
    barrier = threading.Barrier(len(bodies))
    results: list = [None] * len(bodies)

    def worker(index: int) -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            barrier.wait(timeout=30)
            response = post_json(client, path, bodies[index])
            results[index] = (response.status_code, response.json())
        except Exception as error:  # reported by the assertions below, not lost in a thread
            results[index] = ("exception", repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    return results


@pytest.fixture
def acme_token():
    tenant = TenantFactory(name="acme")
    _, token = api_token_create(label="race", tenant=tenant)
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
