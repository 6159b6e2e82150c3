"""INSERT and UPDATE of one row on the API's hot path, with SQL built once per model and field
set instead of on every save.

`Model.save()` builds and compiles its statement on every call (~1 ms of CPU: the save
machinery, the compiler, signals) for a statement the database runs in a fraction of that. A
write of the API makes three to five of them (the integration's tables, its version, its
audit events). These functions write the same row with the same values: each field's value is
prepared by the field itself (`pre_save`, so auto_now and auto_now_add behave as in `save()`;
`get_db_prep_save`, so JSON, encrypted and date values are stored as the ORM stores them); only
the SQL text is cached, per database alias.

What they skip, on purpose: model signals (no receiver in this project listens to the models
written here; `tests/config/test_compiled_write.py` checks that stays so) and `save()`
overrides (none of this project's on these models, checked likewise; django-polymorphic's,
which sets a new row's content type, is done by the create service before insert_child).
Use them only for such models.
"""

import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from django.db import DatabaseError, DataError, connections, models, router, transaction

# Rows of one multi-row INSERT at most: the API renders up to 1,000 records per answer.
MAX_ROWS = 1000
# Above this many values, an INSERT on PostgreSQL sends one array per column (UNNEST) rather
# than one parameter per value: the same text for any row count (psycopg parses it once and
# caches it; the server plans one shape), but psycopg's array dumping costs more per call.
# Measured with audit rows (12 columns), client CPU per INSERT, arrays against parameters:
# 2 rows +45 %, 4 rows +20 %, 16 rows -8 to -30 %, 100 rows -30 to -45 %.
UNNEST_ABOVE_PARAMETERS = 100


class Sql(str):
    """A value of a write deferred by one_statement that another part of its statement gives:
    the SQL of a key an INSERT of it returns (insert_child's), or a column of its guard's row
    (guard_column). Written in place of the value's parameter."""


def guard_column(column: str) -> Sql:
    """Inside one_statement(guard=...): the value of the guard row's `column` (a column name
    of the guard's SELECT), failing the statement as its verdict does when the guard found no
    row (a NULL would fail a NOT NULL column first, as another error)."""
    found = f"(SELECT count(*) FROM {_GUARD}) = 1"  # noqa: S608
    return Sql(f"COALESCE((SELECT {column} FROM {_GUARD}), {_unless(found)})")  # noqa: S608


def insert(instance: models.Model) -> None:
    """INSERT `instance` (a single-table model: no parent model) as a new row, as
    `instance.save(force_insert=True)` would. Sets its auto primary key.

    Raises IntegrityError (django.db) when a constraint refuses the row, as save() would."""
    insert_all([instance])


def insert_all(instances: Sequence[models.Model]) -> None:
    """INSERT `instances` (of one single-table model) in as few statements as the database
    takes parameters for (one on PostgreSQL up to MAX_ROWS rows; SQLite takes 999 parameters),
    each atomic by itself: bulk_create would add BEGIN and COMMIT, two more round trips. Sets
    their auto primary keys where the database returns them (PostgreSQL, SQLite 3.35+).

    Raises IntegrityError (django.db) when a constraint refuses a row of a statement: none of
    that statement's rows is written."""
    if not instances:
        return
    model = type(instances[0])
    if any(type(instance) is not model for instance in instances):
        raise ValueError("insert_all() writes instances of one model.")
    alias = router.db_for_write(model, instance=instances[0])
    connection = connections[alias]
    columns = len(_insert_sql(model, 1, alias)[1])
    batch = min(MAX_ROWS, (connection.features.max_query_params or columns * MAX_ROWS) // columns)
    for start in range(0, len(instances), batch):
        _insert_rows(instances[start : start + batch], alias)


def _insert_rows(instances: Sequence[models.Model], alias: str) -> None:
    model = type(instances[0])
    connection = connections[alias]
    sql, fields, returns_pk, by_column = _insert_sql(model, len(instances), alias)
    rows = [[_prepared(field, instance, connection) for field in fields] for instance in instances]
    if any(isinstance(value, Sql) for row in rows for value in row):
        # Deferred, a value another part of the statement gives: written in its place.
        sql, rows = (
            _with_sql_values(sql, rows),
            [[value for value in row if not isinstance(value, Sql)] for row in rows],
        )
        by_column = False
    # UNNEST takes one array per column; VALUES one parameter per value.
    if by_column:
        params: list[Any] = [list(column) for column in zip(*rows, strict=True)]
    else:
        params = [value for row in rows for value in row]
    deferred = _deferred_to(alias)
    if deferred is not None:
        # Written with the batch, its rows counted there as here (a row a trigger dropped is
        # an error, not a silent gap in the audit trail); they get no primary key here.
        deferred.add(sql, params, expect_rows=len(instances), what=f"{model.__name__} INSERT")
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if returns_pk:
                # One row per row sent, in their order (what bulk_create relies on too).
                for instance, (pk,) in zip(instances, cursor.fetchall(), strict=True):
                    instance.pk = pk
            elif len(instances) == 1 and instances[0].pk is None:
                instances[0].pk = connection.ops.last_insert_id(
                    cursor, model._meta.db_table, column_of(model, "pk")
                )
    for instance in instances:
        instance._state.adding = False
        instance._state.db = alias


def _prepared(field: models.Field, instance: models.Model, connection: Any) -> Any:
    """The value of `field` of `instance` as an INSERT stores it (as save() prepares it), or
    the Sql standing for it."""
    value = field.pre_save(instance, True)
    return value if isinstance(value, Sql) else field.get_db_prep_save(value, connection)


def _with_sql_values(sql: str, rows: list[list[Any]]) -> str:
    """`sql`, an INSERT of _insert_sql's with one parameter per value (VALUES), rewritten with
    each Sql value of `rows` in its parameter's place."""
    head, _, rest = sql.partition(" VALUES ")
    if not rest:  # UNNEST's arrays: rewritten as VALUES
        head = sql.partition(" SELECT * FROM UNNEST(")[0]
    returning = sql.partition(" RETURNING ")[2]
    values = ", ".join(
        "(" + ", ".join(value if isinstance(value, Sql) else "%s" for value in row) + ")"
        for row in rows
    )
    return f"{head} VALUES {values}" + (f" RETURNING {returning}" if returning else "")


def insert_child(instance: models.Model) -> None:
    """INSERT `instance`, of a model with one concrete parent model (multi-table inheritance:
    a provider's row and its Integration row), into both tables as
    `instance.save(force_insert=True)` would, and set its primary key. On PostgreSQL one
    statement (the parent's INSERT is a WITH query of the child's: one round trip, not two);
    elsewhere two, in the caller's transaction or one of their own. It runs at once, also
    inside one_statement (what follows needs its key). A `save()` override (such as
    django-polymorphic's, which sets the content type) is not run: do its work first.

    Raises IntegrityError when a constraint refuses a row (neither row is kept), DatabaseError
    when a row was not written (a trigger dropped it)."""
    model = type(instance)
    alias = router.db_for_write(model, instance=instance)
    connection = connections[alias]
    sql = _insert_child_sql(model, alias)
    params = [
        _prepared(field, instance, connection) for field in (*sql.parent_fields, *sql.child_fields)
    ]
    deferred = _deferred_to(alias)
    if deferred is not None and deferred.can_defer_keys:
        _defer_child_insert(deferred, instance, sql, params)
        return
    if any(isinstance(value, Sql) for value in params):
        raise ValueError("A value of another part of a statement, outside one_statement.")
    if sql.combined is not None:
        [(pk, _)] = _counted(alias, sql.combined, params, f"{model.__name__} INSERT")
    else:
        parent_params = params[: len(sql.parent_fields)]
        with transaction.atomic(using=alias, savepoint=False), connection.cursor() as cursor:
            cursor.execute(sql.parent, parent_params)
            # A row a trigger skipped leaves the last insert id of an earlier row: not ours.
            _check_rows(cursor.rowcount, 1, f"{sql.parent_table} INSERT")
            pk = connection.ops.last_insert_id(cursor, sql.parent_table, sql.parent_key)
            execute(alias, sql.child, [pk, *params[len(sql.parent_fields) :]], expect_rows=1)
    setattr(instance, sql.parent_key_attname, pk)
    setattr(instance, sql.link_attname, pk)
    instance._state.adding = False
    instance._state.db = alias


def _defer_child_insert(
    batch: "_Batch", instance: models.Model, sql: "_ChildInsertSql", params: list[Any]
) -> None:
    """insert_child inside one_statement(alias, defer_keys=True): the parent's INSERT and the
    child's as two parts of the statement, the child's link taken from the parent's RETURNING.
    Until the statement is sent the instance's key is the Sql of that key (so later parts can
    refer to it: its version, its events); then its value."""
    connection = connections[batch.alias]
    quote = connection.ops.quote_name
    parent_values = params[: len(sql.parent_fields)]
    child_values = params[len(sql.parent_fields) :]
    parent = batch.next_name()
    key = Sql(f"(SELECT {quote(sql.parent_key)} FROM {parent})")  # noqa: S608
    parent_sql = _with_sql_values(sql.parent, [parent_values])
    batch.add(
        f"{parent_sql} RETURNING {quote(sql.parent_key)}",
        [value for value in parent_values if not isinstance(value, Sql)],
        expect_rows=1,
        what=f"{sql.parent_table} INSERT",
    )
    link = Sql(f"{parent}.{quote(sql.parent_key)}")
    child_sql = _with_sql_values(sql.child, [[link, *child_values]])
    head, _, values = child_sql.partition(" VALUES (")
    batch.add(
        f"{head} SELECT {values.removesuffix(')')} FROM {parent}",  # noqa: S608
        [value for value in child_values if not isinstance(value, Sql)],
        expect_rows=1,
        what=f"{type(instance).__name__} INSERT",
    )

    def keyed(pk: Any) -> None:
        setattr(instance, sql.parent_key_attname, pk)
        setattr(instance, sql.link_attname, pk)

    keyed(key)
    batch.select(key, keyed)
    instance._state.adding = False
    instance._state.db = batch.alias


@dataclass(frozen=True)
class _ChildInsertSql:
    parent: str  # the parent's INSERT (the child's pk is the key it gets)
    child: str  # the child's INSERT, its link (the first parameter) and its own columns
    combined: str | None  # both as one statement, returning the key (PostgreSQL)
    parent_fields: tuple[models.Field, ...]
    child_fields: tuple[models.Field, ...]
    parent_table: str
    parent_key: str
    parent_key_attname: str
    link_attname: str


@cache
def _insert_child_sql(model: type[models.Model], alias: str) -> _ChildInsertSql:
    parents = model._meta.parents
    if len(parents) != 1 or next(iter(parents))._meta.parents:
        raise ValueError(f"{model.__name__}: insert_child() writes a model with one parent.")
    [(parent, link)] = parents.items()
    if link is None or link is not model._meta.pk:
        raise ValueError(f"{model.__name__}: its primary key must be its parent link.")
    connection = connections[alias]
    quote = connection.ops.quote_name
    parent_fields = tuple(f for f in parent._meta.local_concrete_fields if not f.primary_key)
    child_fields = tuple(f for f in model._meta.local_concrete_fields if f is not link)
    parent_table, parent_key = parent._meta.db_table, column_of(parent, "pk")
    child_table = model._meta.db_table

    def insert(table: str, fields: Sequence[models.Field], first: str = "") -> str:
        columns = [quote(_column(field)) for field in fields]
        values = ["%s"] * len(fields)
        if first:
            columns.insert(0, quote(_column(link)))
            values.insert(0, first)
        # Identifiers come from the models, quoted by the backend; values are parameters.
        return (
            f"INSERT INTO {quote(table)} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join(values)})"
        )

    combined = None
    if connection.vendor == "postgresql":
        returning = f" RETURNING {quote(parent_key)}"
        # Both rows are counted in the statement, as one_statement counts its parts: a row a
        # trigger dropped fails it (_unless), so neither row is kept without the other. With
        # no parent row, the child's link fails before it could be NULL.
        parent_found = _unless("(SELECT count(*) FROM parent_row) > 0")
        new_key = f"COALESCE((SELECT {quote(parent_key)} FROM parent_row), {parent_found})"  # noqa: S608
        combined = (
            f"WITH parent_row AS ({insert(parent_table, parent_fields)}{returning}), "  # noqa: S608
            f"child_row AS ({insert(child_table, child_fields, first=new_key)} RETURNING 1) "
            f"SELECT {new_key}, {_unless('(SELECT count(*) FROM child_row) > 0')}"
        )
    return _ChildInsertSql(
        parent=insert(parent_table, parent_fields),
        child=insert(child_table, child_fields, first="%s"),
        combined=combined,
        parent_fields=parent_fields,
        child_fields=child_fields,
        parent_table=parent_table,
        parent_key=parent_key,
        parent_key_attname=parent._meta.pk.attname,
        link_attname=link.attname,
    )


def update(instance: models.Model, field_names: Sequence[str]) -> None:
    """UPDATE the columns of `field_names` of `instance`'s row, as
    `instance.save(update_fields=field_names)` would: one statement per table the fields live
    in (a multi-table child writes its parent's columns in the parent's table), auto_now fields
    among them set to now. Fields are model field names.

    Raises DatabaseError when a table has no row for the instance (as save() with
    update_fields does), ValueError for a name that is no concrete field."""
    model = type(instance)
    alias = router.db_for_write(model, instance=instance)
    connection = connections[alias]
    for sql, fields in _update_sql(model, tuple(field_names), alias):
        params = [
            field.get_db_prep_save(field.pre_save(instance, False), connection) for field in fields
        ]
        params.append(instance.pk)
        execute(alias, sql, params, expect_rows=1, what=f"{model.__name__} {instance.pk}")


def execute(
    alias: str, sql: str, params: Sequence[Any], *, expect_rows: int | None = None, what: str = ""
) -> int | None:
    """Run one INSERT, UPDATE or DELETE (`sql` with %s placeholders, its `params`) on database
    `alias`, or, inside one_statement(alias), add it to the statement written at its end.
    Returns the rows it wrote, or None when deferred. With `expect_rows`, a different count
    raises DatabaseError naming `what` (when deferred: at the end of one_statement)."""
    deferred = _deferred_to(alias)
    if deferred is not None:
        deferred.add(sql, params, expect_rows=expect_rows, what=what)
        return None
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        written = int(cursor.rowcount)
    _check_rows(written, expect_rows, what)
    return written


class RowsNotAsExpected(DatabaseError):
    """A statement of this module wrote other rows than it expected (a guard found no row, a
    trigger dropped one): nothing of it was kept."""


def can_guard(alias: str) -> bool:
    """Whether one_statement takes a `guard` on database `alias` (PostgreSQL)."""
    return connections[alias].vendor == "postgresql"


@contextmanager
def one_statement(
    alias: str, *, guard: tuple[str, Sequence[Any]] | None = None, defer_keys: bool = False
) -> Iterator[None]:
    """The writes of this module made inside the block, on database `alias`, stored all or none.

    On PostgreSQL they are deferred and sent at the end of the block as one statement (each a
    data-modifying WITH query of it): one round trip instead of one each, atomic by itself, so
    with no BEGIN and COMMIT of its own; the rows each part writes are counted in it. Its parts
    all see the database as it was before the statement: use it for writes that do not read
    each other's rows (a row's UPDATEs, its version and its audit events do not). Rows
    INSERTed inside get no primary key set. Elsewhere (SQLite) the writes run as they are
    made, in a transaction for the block (the caller's, when there is one).

    `guard` (PostgreSQL only, see can_guard): (SQL, parameters) of a SELECT that locks the
    rows the block writes (`FOR UPDATE`), run first in the statement; the block's writes are
    kept only when it finds exactly one row (with no write in the block, it is sent alone: a
    check that the row is still as read). Every UPDATE and DELETE of the block touches rows
    only when the guard found its row, so the statement takes its row locks in the guard's
    order (a writer taking the same locks with the same SELECT cannot deadlock with it), and
    none when it found none. For a write decided on a read without lock: the guard finds the
    row only if it is still as read (its version, say), and the writer retries otherwise.

    Raises, at the end of the block, what a failing part raises (IntegrityError,
    DatabaseError), or RowsNotAsExpected when a part wrote other than its rows (an INSERT's,
    an UPDATE's or execute()'s `expect_rows`) or the guard found no row; nothing of the block
    is then kept. An exception inside the block sends nothing.

    `defer_keys` (PostgreSQL): insert_child inside the block is a part of the statement too,
    the new row's key an Sql (compiled_write.Sql) that later parts write in its place (its
    version's and events' references) until the statement is sent, then its value. Without
    it insert_child runs at once. Nested blocks join the
    outermost (a guard is the outermost's alone: ValueError for one given to a nested
    block)."""
    if _deferred_to(alias) is not None:
        if guard is not None:
            raise ValueError("A guard belongs to the outermost one_statement block.")
        yield
        return
    if guard is not None and not can_guard(alias):
        raise ValueError(f"one_statement takes no guard on {connections[alias].vendor}.")
    if connections[alias].vendor != "postgresql":
        # No savepoint inside a transaction: a failure here fails the caller's transaction.
        with transaction.atomic(using=alias, savepoint=False):
            yield
        return
    batch = _Batch(alias, guard=guard, can_defer_keys=defer_keys)
    reset = _pending.set(batch)
    try:
        yield
    finally:
        _pending.reset(reset)
    batch.send()


@dataclass
class _Batch:
    """Writes deferred by one_statement, sent as one PostgreSQL statement."""

    alias: str
    guard: tuple[str, Sequence[Any]] | None = None
    # insert_child's keys deferred too (its parent's INSERT a part, its key an Sql), or run at
    # once (what follows needs its key as a value).
    can_defer_keys: bool = False
    statements: list[tuple[str, Sequence[Any], int | None, str]] = field(default_factory=list)
    # Values of the statement to hand on once it is sent: (SQL of one value, setter).
    selects: list[tuple[str, Callable[[Any], None]]] = field(default_factory=list)

    def add(
        self, sql: str, params: Sequence[Any], *, expect_rows: int | None = None, what: str = ""
    ) -> None:
        self.statements.append((sql, params, expect_rows, what))

    def next_name(self) -> str:
        """The name the next part added will have in the statement."""
        return f"w{len(self.statements)}"

    def select(self, sql: str, setter: Callable[[Any], None]) -> None:
        """Once the statement is sent: setter(the value of `sql`)."""
        self.selects.append((sql, setter))

    def send(self) -> None:
        if not self.statements and self.guard is None:
            return
        if (
            len(self.statements) == 1
            and self.statements[0][2] is None
            and self.guard is None
            and not self.selects
        ):
            only_sql, only_params, _, _ = self.statements[0]
            execute(self.alias, only_sql, only_params)
            return
        parts: list[str] = []
        params: list[Any] = []
        checks: list[str] = []
        counted: list[str] = []
        if self.guard is not None:
            guard_sql, guard_params = self.guard
            # First in the verdict: read first, and the parts below wait for it.
            parts.append(f"{_GUARD} AS ({guard_sql})")
            params.extend(guard_params)
            checks.append(f"(SELECT count(*) FROM {_GUARD}) = 1")  # noqa: S608
            counted.append("the guard's row")
        for number, (sql, values, expect_rows, what) in enumerate(self.statements):
            name = f"w{number}"
            if self.guard is not None:
                sql = _guarded(sql)
            if expect_rows is not None:
                # An INSERT here returns its keys already: one row per row written.
                sql += "" if " RETURNING " in sql else " RETURNING 1"
                checks.append(f"(SELECT count(*) FROM {name}) = {int(expect_rows)}")  # noqa: S608
                counted.append(what)
            parts.append(f"{name} AS ({sql})")
            params.extend(values)
        # A count that differs fails the statement itself (_unless), so none of its parts is
        # kept, inside a transaction or not, and a read needs no BEGIN and COMMIT for it.
        verdict = " AND ".join(checks) or "TRUE"
        selected = "".join(f", {value}" for value, _ in self.selects)
        # Our own statements' text (this module's and the callers' cached SQL).
        sql = f"WITH {', '.join(parts)} SELECT {_unless(verdict)}{selected}"
        [row] = _counted(self.alias, sql, params, ", ".join(counted))
        for (_, setter), value in zip(self.selects, row[1:], strict=True):
            setter(value)


_GUARD = "guard_row"

# read_with_writes's rows: a WITH query its writes read FROM, its columns named by position
# (c0, c1, ...: a read's columns may share names, such as two tables' "id").
READ_ROW = "read_row"
# A write's `one_per_row` for every row read.
EVERY_ROW = "TRUE"


def read_column(index: int) -> str:
    """In a write of read_with_writes: the SQL of column `index` of the row read."""
    return f"{READ_ROW}.c{int(index)}"


def insert_from_read(
    instance: models.Model, from_read: Mapping[str, int | str], *, where: str = EVERY_ROW
) -> tuple[str, list[Any]]:
    """(SQL, parameters) of an INSERT of `instance` (a single-table model) for
    read_with_writes: a row per row read for which `where` holds (SQL of ours about the read's
    columns, read_column(); no parameters). Each field of `from_read` is taken from that row:
    an int is a column of the read row, a str an SQL expression of ours over it (no
    parameters); the other fields as insert() would write them."""
    alias = router.db_for_write(type(instance), instance=instance)
    connection = connections[alias]
    sql, fields = _insert_from_read_sql(
        type(instance), tuple(sorted(from_read.items())), where, alias
    )
    params = [
        field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields
    ]
    return sql, params


@lru_cache(maxsize=256)
def _insert_from_read_sql(
    model: type[models.Model],
    from_read: tuple[tuple[str, int | str], ...],
    where: str,
    alias: str,
) -> tuple[str, tuple[models.Field, ...]]:
    """insert_from_read's SQL, and the fields whose values are its parameters, in order."""
    _, fields, _, _ = _insert_sql(model, 1, alias)
    taken = dict(from_read)
    quote = connections[alias].ops.quote_name
    values = [
        "%s"
        if field.attname not in taken
        else read_column(value)
        if isinstance(value := taken[field.attname], int)
        else value
        for field in fields
    ]
    names = ", ".join(quote(_column(f)) for f in fields)
    # Identifiers from the model, quoted by the backend; values are parameters, or ours.
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({names}) "  # noqa: S608
        f"SELECT {', '.join(values)} FROM {READ_ROW} WHERE {where}"
    )
    return sql, tuple(f for f in fields if f.attname not in taken)


def read_with_writes(
    alias: str,
    read: tuple[str, Sequence[Any]],
    width: int,
    writes: Sequence[tuple[str, Sequence[Any], str | None]],
) -> tuple[tuple[Any, ...], tuple[int, ...]] | None:
    """read_rows_with_writes of a read of at most one row: that row and the writes' counts,
    or None when the read found no row (and then nothing was written)."""
    rows, counts = read_rows_with_writes(alias, read, width, writes)
    if not rows:
        return None
    return rows[0], counts


def read_rows_with_writes(
    alias: str,
    read: tuple[str, Sequence[Any]],
    width: int,
    writes: Sequence[tuple[str, Sequence[Any], str | None]],
) -> tuple[list[tuple[Any, ...]], tuple[int, ...]]:
    """PostgreSQL only (can_guard): one statement that reads rows and writes what that read
    calls for, for a read whose answer must not go out unrecorded (an audit event of it).

    `read` is (SQL, parameters) of a SELECT of rows of `width` columns. `writes` are (SQL,
    parameters, one_per_row) of INSERTs and UPDATEs whose SQL takes the read rows' values with
    read_column() (insert_from_read), so that each writes only for rows read. With
    `one_per_row` (SQL of ours about a read row, EVERY_ROW for all), a write must write one
    row per row read for which it holds, or the statement fails (RowsNotAsExpected) and
    nothing of it is kept: a row a trigger dropped is an error, not a gap in the trail.

    Returns the rows read (their values as the database sent them; in no promised order: sort
    them as the answer needs) and how many rows each write wrote (none when no row was read).
    Atomic by itself (no BEGIN and COMMIT); the read takes no lock. Raises what a failing
    part raises."""
    if not can_guard(alias):
        raise ValueError(f"read_with_writes runs on PostgreSQL, not {connections[alias].vendor}.")
    read_sql, read_params = read
    params: list[Any] = list(read_params)
    for _, values, _ in writes:
        params.extend(values)
    shape = tuple((sql, one_per_row) for sql, _, one_per_row in writes)
    rows = _counted(alias, _read_with_writes_sql(read_sql, width, shape), params, "a read's writes")
    if not rows:
        return [], (0,) * len(writes)
    counts = tuple(int(count) for count in rows[0][width : width + len(writes)])
    return [tuple(row[:width]) for row in rows], counts


def _guarded(sql: str) -> str:
    """An UPDATE or DELETE of this module's (one WHERE, conditions joined by AND) that touches
    rows only once the guard found its row; INSERTs unchanged (new rows wait for no one, and
    their foreign keys are checked at the end of the statement, after the guard)."""
    if sql.startswith("INSERT "):
        return sql
    if not sql.startswith(("UPDATE ", "DELETE ")) or sql.count(" WHERE ") != 1 or " OR " in sql:
        raise ValueError(f"Not a write a guard can hold: {sql[:80]}")
    return f"{sql} AND EXISTS (SELECT 1 FROM {_GUARD})"  # noqa: S608 (our own statements)


# Plain SQL has no ASSERT: a statement of this module fails itself by casting this text to an
# integer. Its error is told from the schema's own (a trigger's division by zero, a check that
# casts a value) by its text, which ends with a number of this process's that no request can
# know, so no stored value can spell it, and by having no context (a trigger's error names its
# function).
NOT_AS_EXPECTED = f"compiled_write: rows not as expected ({secrets.token_hex(8)})"
# SQLSTATE of invalid_text_representation (PostgreSQL, Appendix A "Error Codes").
INVALID_TEXT_REPRESENTATION = "22P02"


@lru_cache(maxsize=256)
def _read_with_writes_sql(
    read_sql: str, width: int, writes: tuple[tuple[str, str | None], ...]
) -> str:
    """read_rows_with_writes's statement, built once per read and writes (cached SQL texts)."""
    names = ", ".join(f"c{index}" for index in range(width))
    parts = [f"{READ_ROW}({names}) AS ({read_sql})"]
    checks: list[str] = []
    for number, (sql, one_per_row) in enumerate(writes):
        returning = "" if " RETURNING " in sql else " RETURNING 1"
        parts.append(f"w{number} AS ({sql}{returning})")
        if one_per_row is not None:
            checks.append(
                f"(SELECT count(*) FROM w{number}) = "  # noqa: S608
                f"(SELECT count(*) FROM {READ_ROW} WHERE {one_per_row})"
            )
    counts = "".join(f", (SELECT count(*) FROM w{number})" for number in range(len(writes)))  # noqa: S608
    verdict = _unless(" AND ".join(checks) or "TRUE")
    # Our own statements' text (this module's and the callers' cached SQL).
    return f"WITH {', '.join(parts)} SELECT {READ_ROW}.*{counts}, {verdict} FROM {READ_ROW}"  # noqa: S608


def _is_own_verdict(cause: BaseException | None) -> bool:
    """Whether the database error `cause` is a statement of this module failing its _unless."""
    diag = getattr(cause, "diag", None)
    return (
        getattr(cause, "sqlstate", None) == INVALID_TEXT_REPRESENTATION
        and f'"{NOT_AS_EXPECTED}"' in str(cause)
        and getattr(diag, "context", None) is None
    )


def _unless(condition: str) -> str:
    """An SQL expression worth 1 when `condition` (SQL about the statement's own rows) holds,
    and failing the statement with NOT_AS_EXPECTED when it does not. `condition` may be the
    constant TRUE, never one the planner could fold to false: it would fail every statement."""
    return f"CAST(CASE WHEN {condition} THEN '1' ELSE '{NOT_AS_EXPECTED}' END AS integer)"


def _counted(alias: str, sql: str, params: Sequence[Any], what: str) -> list[tuple[Any, ...]]:
    """Run `sql`, a statement that checks its own row counts (_unless), and return its rows; a
    wrong count raises RowsNotAsExpected naming `what`."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
    except DataError as error:
        if not _is_own_verdict(error.__cause__):
            raise
        raise RowsNotAsExpected(
            f"{what}: other rows written than expected; nothing was kept."
        ) from None


_pending: ContextVar[_Batch | None] = ContextVar("compiled_write_pending", default=None)


def _deferred_to(alias: str) -> _Batch | None:
    batch = _pending.get()
    return batch if batch is not None and batch.alias == alias else None


def _check_rows(written: int, expected: int | None, what: str) -> None:
    if expected is not None and written != expected:
        raise RowsNotAsExpected(f"{what}: {written} rows written, {expected} expected.")


def column_of(model: type[models.Model], name: str) -> str:
    """The column of `model`'s concrete field `name` ("pk": its primary key's). ValueError for
    a name that is no column (a reverse relation, a many-to-many)."""
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise ValueError(f"{model.__name__}.{name} is not a column.")
    return _column(field)


def _column(field: models.Field) -> str:
    if not field.concrete or field.column is None:
        raise ValueError(f"{field} is not a column.")
    return field.column


@cache
def _insert_sql(
    model: type[models.Model], rows: int, alias: str
) -> tuple[str, tuple[models.Field, ...], bool, bool]:
    """(SQL, fields in its order, whether it RETURNs the keys, whether its parameters are one
    array per column) of an INSERT of `rows` rows of `model`."""
    meta = model._meta
    if meta.parents:
        raise ValueError(f"{model.__name__} has parent models: insert() writes one table.")
    if not 1 <= rows <= MAX_ROWS:
        raise ValueError(f"insert_all() writes 1 to {MAX_ROWS} rows at once, not {rows}.")
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = tuple(field for field in meta.concrete_fields if not field.primary_key)
    columns = ", ".join(quote(_column(field)) for field in fields)
    types = [_array_type(field, connection) for field in fields]
    by_column = (
        rows * len(fields) > UNNEST_ABOVE_PARAMETERS
        and connection.vendor == "postgresql"
        and None not in types
    )
    if by_column:
        # As Django's bulk_create writes it on PostgreSQL: the same text and parameter count
        # for any number of rows, so psycopg's cache of parsed queries serves it too, and the
        # server plans one shape.
        source = "SELECT * FROM UNNEST(" + ", ".join(f"(%s)::{t}[]" for t in types) + ")"  # noqa: S608
    else:
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        source = "VALUES " + ", ".join([row] * rows)
    # Identifiers come from the model and are quoted by the backend; values are parameters.
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) {source}"
    returns_pk = connection.features.can_return_columns_from_insert
    if returns_pk:
        sql += f" RETURNING {quote(meta.db_table)}.{quote(column_of(model, 'pk'))}"
    return sql, fields, returns_pk, by_column


def _array_type(field: models.Field, connection: Any) -> str | None:
    """The type of an array of `field`'s values (for UNNEST), without its length (varchar, not
    varchar(50)); None where Django's own bulk insert on PostgreSQL sends values one by one
    (django.db.backends.postgresql.compiler: a placeholder per value, a type it does not know)."""
    typed = field.target_field if isinstance(field, models.ForeignKey) else field
    if hasattr(field, "get_placeholder") or typed.get_internal_type() not in connection.data_types:
        return None
    db_type = field.db_type(connection)
    return None if db_type is None else db_type.split("(")[0]


@cache
def _update_sql(
    model: type[models.Model], field_names: tuple[str, ...], alias: str
) -> tuple[tuple[str, tuple[models.Field, ...]], ...]:
    meta = model._meta
    quote = connections[alias].ops.quote_name
    by_table: dict[type[models.Model], list[models.Field]] = {}
    for name in field_names:
        field = meta.get_field(name)
        if not isinstance(field, models.Field) or not field.concrete or field.primary_key:
            raise ValueError(f"{model.__name__}.{name} is not a column update() can write.")
        owner = field.model._meta.concrete_model or field.model
        by_table.setdefault(owner, []).append(field)
    statements = []
    # Parent tables first, as save() writes them (the same lock order for every writer).
    for owner, fields in sorted(by_table.items(), key=lambda item: item[0] is model):
        # The child's primary key is its parent link, equal to the parent's: one pk value
        # addresses the row in every table.
        assignments = ", ".join(f"{quote(_column(field))} = %s" for field in fields)
        table, key = quote(owner._meta.db_table), quote(column_of(owner, "pk"))
        sql = f"UPDATE {table} SET {assignments} WHERE {key} = %s"  # noqa: S608 (as above)
        statements.append((sql, tuple(fields)))
    return tuple(statements)
