"""Reading PostgreSQL's plans in tests: EXPLAIN (ANALYZE) a statement where it runs, and hold
the planner to nested loops, the plans a database without statistics makes (a fresh one, or
tables just emptied: every table is believed to hold a row)."""

from collections.abc import Iterator

from django.db import connection

# The nodes that write or lock rows: each must run once per statement (loops = 1), or rows
# are locked or written again for every row of an outer loop.
WRITING_NODES = ("LockRows", "ModifyTable")


def plan_nodes(plan: dict) -> Iterator[dict]:
    """Every node of an EXPLAIN (FORMAT JSON) plan, depth first."""
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def nested_loops_only() -> None:
    """For the rest of the current transaction: no hash or merge joins, hash aggregates,
    sorts or materialised inner loops, which leaves the planner nested loops and plain
    subqueries, as a database without statistics plans."""
    with connection.cursor() as cursor:
        for method in ("hashjoin", "mergejoin", "hashagg", "sort", "material"):
            cursor.execute(f"SET LOCAL enable_{method} = off")
