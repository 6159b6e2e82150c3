"""`InSubquery`: `column IN (subquery)` that PostgreSQL can answer from an index when it is one
branch of an OR.

PostgreSQL plans `x IN (SELECT …)` as a semi-join, or, under an OR, as a "hashed SubPlan"
tested row by row: a filter, so the table around it is read in full whatever the other
branches' indexes could have found. `x = ANY(ARRAY(SELECT …))` is the same test
(https://www.postgresql.org/docs/15/functions-comparisons.html), but the subquery runs once,
before the outer query (an InitPlan), and its array is an index condition: a BitmapOr can
combine it with the other branches' indexes, and the planner can still choose to walk another
index (an ORDER BY … LIMIT) and test each row against the array instead.

Cost: the array is built in full, so use it for subqueries of few rows (the ids a search finds
in the integration tables), not for one that returns a whole table. Other databases get the
ordinary `IN (subquery)`.
"""

from django.db.models.lookups import In


class InSubquery(In):
    """`InSubquery(F("pk"), queryset.values("id"))`: usable in filter() and inside Q (Django
    takes lookups as expressions). The right-hand side must be a QuerySet of one column;
    a list of values is refused (`In` does lists already)."""

    lookup_name = "in_subquery"

    def get_prep_lookup(self):
        if not hasattr(self.rhs, "resolve_expression"):
            raise TypeError("InSubquery takes a QuerySet of one column, not values.")
        return super().get_prep_lookup()

    def as_postgresql(self, compiler, connection) -> tuple[str, tuple]:
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        # rhs_sql is the parenthesised subquery: ARRAY(SELECT …), or ARRAY((…) UNION (…)).
        return f"{lhs_sql} = ANY(ARRAY{rhs_sql})", (*lhs_params, *rhs_params)
