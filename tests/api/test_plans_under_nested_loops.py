"""Every statement an API operation sends that writes or locks rows writes and locks in one
pass, whatever plan PostgreSQL makes.

A fresh database plans every join as a nested loop (no statistics: each table is believed
to hold a row). Under such a plan, a lock or a write in a subquery that depends on the outer
rows runs once per row: the last-use UPDATE of a 1,000-record list did, and took 72 s
(tests/api/test_last_use_plan.py has that case). Here each operation runs with the planner
held to nested loops, and each of its statements that writes or locks is first run under
EXPLAIN ANALYZE, where it is sent, in a savepoint rolled back: every LockRows and ModifyTable
node of its plan must run once."""

import re

import pytest
from django.db import connection

from tenants.models import AuditEvent
from tests.api.plans import WRITING_NODES, nested_loops_only, plan_nodes
from tests.factories import DataSiftFactory, SalesforceFactory, SendGridFactory, TwilioFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

PER_PROVIDER = 30  # enough rows that a pass per row shows as loops > 1
INTEGRATIONS = "/1.0/tenants/acme/integrations"
TWILIO = {"type": "twilio", "account": "AC-new", "password": "pw-new"}
WRITES_OR_LOCKS = re.compile(r"\b(INSERT|UPDATE|DELETE|FOR (NO KEY )?UPDATE|FOR (KEY )?SHARE)\b")
# (name, method, path, body): each writes or locks; `t0NN` are the seeded Twilio records.
OPERATIONS = [
    ("create", "post", f"{INTEGRATIONS}/brand-new", TWILIO),
    ("create by provider", "post", "/1.0/tenants/acme/twilio-2", TWILIO),
    ("replace", "post", f"{INTEGRATIONS}/t000", TWILIO),
    ("patch", "patch", f"{INTEGRATIONS}/t001", {"password": "rotated"}),
    ("read", "get", f"{INTEGRATIONS}/t002", None),
    ("list", "get", f"{INTEGRATIONS}?limit=1000", None),
    ("delete", "delete", f"{INTEGRATIONS}/t003", None),
    ("restore", "post", f"{INTEGRATIONS}/t004/versions/1/restore", None),
]


class ExplainFirst:
    """A Django execute wrapper: each statement that writes or locks is first run under
    EXPLAIN (ANALYZE) in a savepoint rolled back, on the driver's own cursor (not through
    the wrapper again); its writing nodes' loops are kept, then the statement runs."""

    def __init__(self):
        self.checked: list[tuple[str, list[tuple[str, int]]]] = []

    def __call__(self, execute, sql, params, many, context):
        if not many and WRITES_OR_LOCKS.search(sql):
            self.checked.append((sql[:120], self._writing_loops(sql, params)))
        return execute(sql, params, many, context)

    @staticmethod
    def _writing_loops(sql: str, params) -> list[tuple[str, int]]:
        with connection.connection.cursor() as cursor:
            cursor.execute("SAVEPOINT plan_check")
            try:
                cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
                [plan] = cursor.fetchone()[0]
            finally:
                cursor.execute("ROLLBACK TO SAVEPOINT plan_check")
                cursor.execute("RELEASE SAVEPOINT plan_check")
        return [
            (node["Node Type"], node["Actual Loops"])
            for node in plan_nodes(plan["Plan"])
            if node["Node Type"] in WRITING_NODES
        ]


@pytest.fixture
def acme_under_nested_loops(tenant):
    """PER_PROVIDER integrations of each provider for acme (last use due), version 1 and 2
    of t004; then the planner held to nested loops for the rest of the test."""
    for number in range(PER_PROVIDER):
        TwilioFactory(tenant=tenant, ident=f"t{number:03}")
        SalesforceFactory(tenant=tenant, ident=f"s{number:03}")
        SendGridFactory(tenant=tenant, ident=f"g{number:03}")
        DataSiftFactory(tenant=tenant, ident=f"d{number:03}")
    nested_loops_only()
    return tenant


@pytest.mark.parametrize(
    ("name", "method", "path", "body"), OPERATIONS, ids=[o[0] for o in OPERATIONS]
)
def test_every_write_and_lock_runs_once_under_nested_loops(
    name, method, path, body, acme_under_nested_loops, global_client
):
    if name == "restore":  # a version 2 to restore version 1 over
        response = global_client.patch(f"{INTEGRATIONS}/t004", {"password": "v2"}, format="json")
        assert response.status_code == 200, response.content[:300]
    events_before = AuditEvent.objects.count()
    explain_first = ExplainFirst()

    with connection.execute_wrapper(explain_first):
        response = getattr(global_client, method)(path, body, format="json")

    assert 200 <= response.status_code < 300, response.content[:300]
    assert explain_first.checked, "no statement that writes or locks was sent"
    repeated = [
        (sql, loops) for sql, loops in explain_first.checked if any(n > 1 for _, n in loops)
    ]
    assert repeated == []
    # The EXPLAINs were rolled back: the events are the statements' own, once each.
    written = AuditEvent.objects.count() - events_before
    if name == "list":
        assert written == 4 * PER_PROVIDER  # one reveal per record
    else:
        assert written >= 1
