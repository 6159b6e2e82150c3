"""The row locks of the writes (`select_for_update`), checked by forcing the race they guard.

One write is held open in its own transaction (its own thread and connection) right after it
changed the row; the other request is sent through the API meanwhile and must wait for it.
Then the first commits, and the second must see its result: a PATCH after a DELETE answers
422 and writes nothing, a replace after a replace stores its own body whole. Without the lock
the second request reads the row as it was before the first, and writes over it (a PATCH
"succeeds" on a deleted row; two replaces leave a mix of both bodies).

Needs real concurrency: PostgreSQL. Reuses the harness of test_post_concurrency.py.
"""

import json
import threading
import time
from functools import partial

import pytest
from django.db import connection, transaction

from integrations import services
from integrations.models import Integration
from integrations.providers import TwilioIntegration
from tenants.models import AuditAction, AuditEvent
from tests.api.support import JSON, TWILIO, post_json, url
from tests.api.test_post_concurrency import acme_token, all_at_once  # noqa: F401 (a fixture)
from tests.factories import TwilioFactory, actor_named

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _waiting_for_a_lock() -> int:
    """How many other sessions of this database wait for a lock right now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def while_held_open(first_write, token: str, second_request):
    """Run `first_write()` in a transaction of its own thread and keep it open; send
    `second_request` (a function of an APIClient) through the API; once that request waits
    for a lock, commit the first. Returns (status, body) of the second request."""
    written, release = threading.Event(), threading.Event()
    failure: list = []

    def hold() -> None:
        try:
            with transaction.atomic():
                first_write()
                written.set()
                assert release.wait(timeout=30), "never released"
        except Exception as error:  # reported below, not lost in a thread
            failure.append(error)
            written.set()
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert written.wait(timeout=30)
    assert not failure, failure
    results: list = []
    second = threading.Thread(target=lambda: results.extend(all_at_once(token, [second_request])))
    second.start()
    deadline = time.monotonic() + 20
    while _waiting_for_a_lock() == 0:
        assert second.is_alive(), f"the second request did not wait for the first: {results}"
        assert time.monotonic() < deadline, "the second request never waited for a lock"
        time.sleep(0.02)
    release.set()
    holder.join(timeout=30)
    second.join(timeout=30)
    assert not failure, failure
    return results[0]


def test_a_patch_that_waits_for_a_delete_answers_422_and_writes_nothing(acme_token):  # noqa: F811
    tenant, token = acme_token
    twilio = TwilioFactory(tenant=tenant, account="AC-BEFORE", password="kept-secret")

    status, body = while_held_open(
        lambda: services.integration_delete(integration=twilio, actor=actor_named("deleter")),
        token,
        lambda client: client.patch(
            url("twilio"), json.dumps({"account": "AC-PATCHED"}), content_type=JSON
        ),
    )

    assert status == 422, body
    assert body == {"error": "Integration 'twilio' does not exist or has been deleted."}
    stored = TwilioIntegration.all_objects.get(pk=twilio.pk)
    assert stored.deleted_at is not None
    assert (stored.account, stored.password) == ("AC-BEFORE", "kept-secret")
    assert stored.updated_by == "deleter"
    actions = list(
        AuditEvent.objects.filter(integration_pk=twilio.pk).values_list("action", flat=True)
    )
    assert actions == [AuditAction.DELETE]


def test_a_replace_that_waits_for_another_stores_its_own_body_whole(acme_token):  # noqa: F811
    tenant, token = acme_token
    twilio = TwilioFactory(tenant=tenant, account="AC-ORIGINAL", password="original-secret")
    first = {"account": "AC-FIRST", "password": "first-secret"}
    # The second body repeats the original account: read before the first replace, the
    # account would look unchanged and only the password would be written.
    second = {"account": "AC-ORIGINAL", "password": "second-secret"}

    status, body = while_held_open(
        lambda: services.integration_upsert(
            tenant=tenant,
            ident="twilio",
            provider=TwilioIntegration,
            data=first,
            actor=actor_named("first"),
        ),
        token,
        partial(post_json, path=url("twilio"), body={**TWILIO, **second}),
    )

    assert status == 200, body
    assert (body["account"], body["password"]) == ("AC-ORIGINAL", "second-secret")
    stored = Integration.objects.get(pk=twilio.pk)
    assert (stored.account, stored.password) == ("AC-ORIGINAL", "second-secret")
    assert stored.version == twilio.version + 2
    numbers = sorted(stored.versions.values_list("number", flat=True))
    assert numbers[-2:] == [twilio.version + 1, twilio.version + 2]


def test_a_patch_that_waits_for_another_patch_keeps_both_changes(acme_token):  # noqa: F811
    tenant, token = acme_token
    twilio = TwilioFactory(tenant=tenant, account="AC-BEFORE", password="before-secret")

    status, body = while_held_open(
        lambda: services.integration_update(
            integration=twilio, data={"account": "AC-FIRST"}, actor=actor_named("first")
        ),
        token,
        lambda client: client.patch(
            url("twilio"), json.dumps({"password": "second-secret"}), content_type=JSON
        ),
    )

    assert status == 200, body
    assert (body["account"], body["password"]) == ("AC-FIRST", "second-secret")
    stored = Integration.objects.get(pk=twilio.pk)
    assert (stored.account, stored.password) == ("AC-FIRST", "second-secret")
    assert stored.version == twilio.version + 2
