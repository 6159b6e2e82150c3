"""The last-use UPDATE of a read with secrets (services.used_update_sql) locks the due rows in
one pass, whatever plan the database makes.

A fresh PostgreSQL database has no statistics and believes each table holds a row; it planned
every join as a nested loop, ran the locking SELECT (then a subquery of the UPDATE's WHERE)
once for each row of the table, and a list of 1,000 records took over 70 s, past the
statement timeout (CI, twice). The locking SELECT is now an ARRAY(…), which PostgreSQL runs
once, before the UPDATE. Here the planner is held to nested loops, as the fresh database
chose, and the plan of the list's own statement must lock in one pass: every LockRows node
of it runs once."""

import pytest
from django.db import connection, transaction

from integrations.models import Integration
from tenants.models import AuditAction, AuditEvent
from tests.api.plans import nested_loops_only, plan_nodes
from tests.factories import TwilioFactory

LIST = "/1.0/tenants/acme/integrations"
RECORDS = 120  # more than a default page, few enough that the old plan ends in seconds


def _lock_passes(sql: str, params) -> list[int]:
    """How many times each LockRows node of `sql`'s plan ran (EXPLAIN ANALYZE, rolled back)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
            [plan] = cursor.fetchone()[0]
        transaction.set_rollback(True)
    return [
        node["Actual Loops"] for node in plan_nodes(plan["Plan"]) if node["Node Type"] == "LockRows"
    ]


def _statement_of_list(client, limit: int) -> tuple[str, list]:
    """The one statement a list with secrets sends, and its parameters (the list itself is
    rolled back: its rows stay due)."""
    sent: list[tuple[str, list]] = []

    def keep(execute, sql, params, many, context):
        sent.append((sql, list(params or ())))
        return execute(sql, params, many, context)

    with transaction.atomic(), connection.execute_wrapper(keep):
        response = client.get(LIST, {"limit": limit})
        assert response.status_code == 200, response.content[:300]
        assert len(response.json()) == limit
        transaction.set_rollback(True)
    [statement] = [(sql, params) for sql, params in sent if sql.startswith("WITH")]
    return statement


@pytest.fixture
def records_under_nested_loops(tenant):
    """RECORDS Twilio integrations of acme, their last use due; the planner held to nested
    loops for the rest of the test's transaction."""
    for number in range(RECORDS):
        TwilioFactory(tenant=tenant, ident=f"t{number:04}")
    nested_loops_only()


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.usefixtures("records_under_nested_loops")
def test_a_list_locks_its_due_rows_in_one_pass_under_nested_loops(global_client):
    sql, params = _statement_of_list(global_client, RECORDS)
    assert "FOR UPDATE" in sql
    passes = _lock_passes(sql, params)
    assert passes == [1], passes


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.usefixtures("records_under_nested_loops")
def test_a_list_under_nested_loops_stamps_and_audits_every_record(global_client):
    response = global_client.get(LIST, {"limit": RECORDS})
    assert response.status_code == 200, response.content[:300]
    assert len(response.json()) == RECORDS
    assert AuditEvent.objects.filter(action=AuditAction.REVEAL).count() == RECORDS
    assert not Integration.objects.filter(last_used_at=None).exists()
