"""The query budget of a create and a replace, authentication included, transaction control
(BEGIN/COMMIT/SAVEPOINT) not counted:

- the token (its tenant JOINed), +1 to note its last use when that is over a minute old;
- the live row, locked, with its tenant held live in the same statement (a racing soft delete
  of the tenant must not be acknowledged as a write into it); with no row (a create), the
  tenant is held by a statement of its own. An all-tenants token's URL tenant is read by
  these (JOINed by name), not by a statement of its own: a tenant's token has it already.
  On PostgreSQL the row is read without a lock, and the write begins by locking it (its
  guard, tests/api/test_write_round_trips.py): the same count;
- the write: the parent and the provider's rows (2; one statement on PostgreSQL);
- the version (1), and the audit events, the change's and the reveal of the secrets the
  answer carries (these tokens hold `secrets`), in one INSERT (1).

A create: at most 8; a replace: at most 7. On PostgreSQL, fewer, and asserted exactly: a
create that races nobody is, after the read without a lock, one statement (the tenant's hold,
both rows, the version and the events; a SAVEPOINT only inside the caller's transaction, as
here); a replace's writes are all one statement.

Measured with last_used_at fresh (no write) and stale (one UPDATE of the token). The content
type of each provider is looked up once per process by django-polymorphic and then cached, so
the cache is warmed first, as it is in a running server after its first write.
"""

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.providers import all_providers
from tenants.authentication import LAST_USED_PRECISION
from tenants.models import ApiToken
from tenants.services import api_token_create
from tests.api.support import BODIES, post_json, url
from tests.factories import PROVIDER_FACTORIES, TwilioFactory, actor_named

pytestmark = pytest.mark.django_db

CREATE_BUDGET = 2 + 1 + 1 + 2 + 1 + 1
REPLACE_BUDGET = 2 + 1 + 2 + 1 + 1


@pytest.fixture(autouse=True)
def _warm_content_types(db):
    for provider in all_providers():
        ContentType.objects.get_for_model(provider, for_concrete_model=False)


@pytest.fixture(params=["tenant-token", "global-token"])
def api_token(request, tenant):
    token, plaintext = api_token_create(
        actor=actor_named("tests"),
        label="budget",
        tenant=tenant if request.param == "tenant-token" else None,
    )
    token.plaintext = plaintext
    return token


def client_for(api_token, *, last_used):
    ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=last_used)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token.plaintext}")
    return client


FRESH = "fresh"
STALE = "stale"


def last_used(kind):
    if kind == FRESH:
        return timezone.now() - timedelta(seconds=5)
    return timezone.now() - LAST_USED_PRECISION - timedelta(seconds=5)


@pytest.mark.parametrize("kind", [FRESH, STALE])
@pytest.mark.parametrize("factory", PROVIDER_FACTORIES, ids=lambda f: f._meta.model.provider_key)
def test_a_create_stays_within_the_budget(count_sql, tenant, api_token, kind, factory):
    key = factory._meta.model.provider_key
    client = client_for(api_token, last_used=last_used(kind))

    with count_sql() as sql:
        response = post_json(client, url(key), BODIES[key])

    assert response.status_code == 201
    assert len(sql.statements) <= CREATE_BUDGET, "\n".join(sql.statements)
    if connection.vendor == "postgresql":
        # After the token, the read without a lock (no row), then one statement: the tenant's
        # hold first, the parent and provider rows, the version and the events.
        reads = 1 if kind == FRESH else 2
        assert len(sql.statements) == reads + 2, "\n".join(sql.statements)
        write = sql.statements[-1]
        assert write.startswith("WITH guard_row AS (SELECT "), write
        assert " FOR SHARE), " in write, write
        assert write.count(" AS (INSERT INTO ") == 4, write  # parent, child, version, events
        # Inside the test's transaction the statement gets a SAVEPOINT, so that a lost race
        # does not fail the caller's transaction.
        savepoints = [q["sql"] for q in sql.captured_queries if q["sql"].startswith("SAVEPOINT")]
        assert len(savepoints) == 1, savepoints


@pytest.mark.parametrize("kind", [FRESH, STALE])
@pytest.mark.parametrize("factory", PROVIDER_FACTORIES, ids=lambda f: f._meta.model.provider_key)
def test_a_replace_stays_within_the_budget(count_sql, tenant, api_token, kind, factory):
    key = factory._meta.model.provider_key
    factory(tenant=tenant)
    client = client_for(api_token, last_used=last_used(kind))

    with count_sql() as sql:
        response = post_json(client, url(key), BODIES[key])

    assert response.status_code == 200
    assert len(sql.statements) <= REPLACE_BUDGET, "\n".join(sql.statements)
    if connection.vendor == "postgresql":
        # After the token (+ its last use), the read with its tenant, then the guard (the
        # row locked, still as read), the parent and provider rows' UPDATEs, the version,
        # its pruning and the audit events as one statement (compiled_write.one_statement).
        reads = 1 if kind == FRESH else 2
        assert len(sql.statements) == reads + 2, "\n".join(sql.statements)
        write = sql.statements[-1]
        assert write.startswith("WITH guard_row AS (SELECT "), write
        assert write.count(" AS (UPDATE ") == 2, write
        assert write.count(" AS (INSERT INTO ") == 2, write  # the version and the events


@pytest.mark.parametrize("existing", [False, True], ids=["create", "replace"])
def test_a_stale_last_used_costs_exactly_one_more_statement(count_sql, tenant, api_token, existing):
    counts = {}
    for kind in (FRESH, STALE):
        ident = f"twilio-{kind}"
        if existing:
            TwilioFactory(tenant=tenant, ident=ident)
        client = client_for(api_token, last_used=last_used(kind))
        with count_sql() as sql:
            post_json(client, url(ident), {"type": "twilio", **BODIES["twilio"]})
        counts[kind] = sql.statements

    assert len(counts[STALE]) == len(counts[FRESH]) + 1
    assert [s for s in counts[STALE] if s.startswith("UPDATE") and "apitoken" in s]
    assert not [s for s in counts[FRESH] if "apitoken" in s and s.startswith("UPDATE")]
