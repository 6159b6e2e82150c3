"""Queries of the API's hot path, compiled to SQL once per database instead of on every request.

Building and compiling a QuerySet costs about a millisecond of CPU (filter(), clone, as_sql:
thousands of small calls) for a statement the database answers in a fraction of that. A
`CompiledQuery` is written as an ordinary QuerySet (so the ORM still decides the SQL, the
joins, FOR UPDATE and the columns), compiled the first time it runs on a database, and then
run with new parameter values: the SQL and the compiler's row converters are kept, and rows
become model instances as the ORM's own iterator makes them (Model.from_db, select_related
populators), so instances are the same as `queryset.first()` would give.

Parameters are placeholders: the queryset is built with sentinel values (`CompiledQuery.arg`)
whose positions in the compiled parameters are found once; each run replaces them in order.
"""

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from django.db import connections, models, router, transaction
from django.db.models.query import get_related_populators
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, int], ...]  # (position in params, index of the argument)
    compiler: Any  # the SQLCompiler that compiled it: converters and populators use it
    converters: dict[int, Any]
    populators: tuple[Any, ...]  # select_related: one per related model
    init_list: tuple[str, ...]
    fields_start: int
    fields_end: int
    for_update: bool


class CompiledQuery(Generic[M]):
    """`build(*sentinels)` returns the QuerySet; `first(*values)` runs it with `values` in place
    of the sentinels and returns the first instance or None.

    Sentinels are strings for text columns and negative integers for integer ones (values no
    row holds and no validator sees): build must pass each one straight to a lookup, so that
    it reaches the compiled parameters unchanged.
    """

    def __init__(
        self,
        model: type[M],
        build: Callable[..., "models.QuerySet[M, Any]"],
        *kinds: type,
        lock_suffix: Callable[[Any], str] | None = None,
    ) -> None:
        """`lock_suffix(connection)`, if given, is appended to the compiled SQL: a locking
        clause the ORM cannot write (PostgreSQL's `FOR SHARE OF t` beside `FOR UPDATE OF`)."""
        self.model = model
        self.build = build
        self.lock_suffix = lock_suffix
        self.sentinels: tuple[Any, ...] = tuple(
            -(987_654_301 + index) if kind is int else f"\x1fcompiled-query-arg-{index}\x1f"
            for index, kind in enumerate(kinds)
        )
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def _compile(self, alias: str) -> _Compiled:
        queryset = self.build(*self.sentinels)
        compiler = queryset.query.get_compiler(using=alias)
        # The ORM refuses to compile a lock in autocommit; statement() may (see there). Nothing
        # runs inside the block: no BEGIN or COMMIT is sent.
        locks_in_autocommit = (
            queryset.query.select_for_update and connections[alias].get_autocommit()
        )
        with transaction.atomic(using=alias) if locks_in_autocommit else nullcontext():
            sql, params = compiler.as_sql()
        if self.lock_suffix is not None:
            sql += self.lock_suffix(connections[alias])
        slots = [
            (position, self.sentinels.index(value))
            for position, value in enumerate(params)
            if value in self.sentinels
        ]
        if sorted(index for _, index in slots) != list(range(len(self.sentinels))):
            raise ValueError(f"{self.model.__name__}: each argument must appear once in the SQL")
        klass_info = compiler.klass_info  # None for values_list(): rows, no instances
        select = compiler.select
        start, end = (
            (klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1)
            if klass_info
            else (0, 0)
        )
        return _Compiled(
            sql=sql,
            params=tuple(params),
            slots=tuple(slots),
            compiler=compiler,
            converters=compiler.get_converters([column for column, _, _ in select]),
            # Django 5.2's signature; the stubs describe a later one (with fetch_mode).
            populators=tuple(
                get_related_populators(klass_info, select, alias)  # type: ignore[call-arg]
                if klass_info
                else ()
            ),
            init_list=tuple(column.target.attname for column, _, _ in select[start:end]),
            fields_start=start,
            fields_end=end,
            for_update=queryset.query.select_for_update,
        )

    def row(self, *values: Any) -> tuple[Any, ...] | None:
        """The first row of the statement run with `values`, converted as the ORM converts
        its values (no model instance): for `values_list()` querysets."""
        found = self._run(values)
        if found is None:
            return None
        return tuple(found[2])

    def first(self, *values: Any) -> M | None:
        """The first instance the statement finds with `values`, or None."""
        found = self._run(values)
        if found is None:
            return None
        return self._instance(*found)

    def all(self, *values: Any) -> list[M]:
        """Every instance the statement finds with `values`, in its order."""
        compiled, alias, rows = self._run_all(values)
        return [self._instance(compiled, alias, row) for row in rows]

    def width(self) -> int:
        """How many columns the statement's rows have (compiled on first use)."""
        return len(self._compiled_for(router.db_for_read(self.model)).compiler.select)

    def column(self, attname: str) -> int:
        """The position in the statement's rows of the queried model's field `attname` (its
        column attribute: "tenant_id", not "tenant"). ValueError when it is not selected."""
        compiled = self._compiled_for(router.db_for_read(self.model))
        return compiled.fields_start + compiled.init_list.index(attname)

    def field_column(self, field: models.Field) -> int:
        """The position in the statement's rows of `field`'s column, a field of the queried
        model or of a model it selects with it (select_related). ValueError when not selected."""
        compiled = self._compiled_for(router.db_for_read(self.model))
        for index, (column, _, _) in enumerate(compiled.compiler.select):
            if getattr(column, "target", None) is field:
                return index
        raise ValueError(f"{field} is not selected by this query.")

    def instance_of(self, row: Sequence[Any]) -> M:
        """The instance the ORM makes of `row`, a row of this statement fetched by a caller
        (run within a larger one: `statement()`), its values not yet converted."""
        alias = router.db_for_read(self.model)
        compiled = self._compiled_for(alias)
        if compiled.converters:
            row = next(iter(compiled.compiler.apply_converters([row], compiled.converters)))
        return self._instance(compiled, alias, row)

    def _instance(self, compiled: _Compiled, alias: str, row: Sequence[Any]) -> M:
        instance = self.model.from_db(
            alias, list(compiled.init_list), row[compiled.fields_start : compiled.fields_end]
        )
        for populator in compiled.populators:
            populator.populate(row, instance)
        return instance

    def _run_all(self, values: Sequence[Any]) -> tuple[_Compiled, str, list[Sequence[Any]]]:
        compiled, alias, cursor_sql, params = self._prepare(values)
        with connections[alias].cursor() as cursor:
            cursor.execute(cursor_sql, params)
            rows: list[Sequence[Any]] = list(cursor.fetchall())
        if compiled.converters:
            rows = list(compiled.compiler.apply_converters(rows, compiled.converters))
        return compiled, alias, rows

    def statement(self, *values: Any) -> tuple[str, list[Any]]:
        """The SQL and parameters the query runs with `values`, not run: to be part of a
        larger statement (a WITH query of compiled_write.one_statement's, which is a
        transaction by itself, so a lock in it needs no transaction around it)."""
        _, _, sql, params = self._prepare(values, in_statement=True)
        return sql, params

    def _prepare(
        self, values: Sequence[Any], *, in_statement: bool = False
    ) -> tuple[_Compiled, str, str, list[Any]]:
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        compiled = self._compiled_for(alias)
        # As the ORM's compiler checks it on every run: a lock outside a transaction is a bug.
        locks = compiled.for_update and connection.features.has_select_for_update
        if locks and not in_statement and connection.get_autocommit():
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        params = list(compiled.params)
        for position, index in compiled.slots:
            params[position] = values[index]
        return compiled, alias, compiled.sql, params

    def _compiled_for(self, alias: str) -> _Compiled:
        key = (alias, connections[alias].vendor)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(alias)
        return compiled

    def _run(self, values: Sequence[Any]) -> tuple[_Compiled, str, Sequence[Any]] | None:
        compiled, alias, _, params = self._prepare(values)
        with connections[alias].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        if compiled.converters:
            row = next(iter(compiled.compiler.apply_converters([row], compiled.converters)))
        return compiled, alias, row


class CompiledPerModel(Generic[M]):
    """One CompiledQuery per model class, made the first time that class asks: for the same
    query over each provider's model. `build(model, *sentinels)` returns the QuerySet;
    `kinds` and `lock_suffix` as CompiledQuery's. `queries.of(model)` is that model's."""

    def __init__(
        self,
        build: Callable[..., "models.QuerySet[Any, Any]"],
        *kinds: type,
        lock_suffix: Callable[[Any], str] | None = None,
    ) -> None:
        self.build = build
        self.kinds = kinds
        self.lock_suffix = lock_suffix
        self._queries: dict[type[M], CompiledQuery[M]] = {}

    def of(self, model: type[M]) -> CompiledQuery[M]:
        query = self._queries.get(model)
        if query is None:
            query = self._queries[model] = CompiledQuery(
                model, partial(self.build, model), *self.kinds, lock_suffix=self.lock_suffix
            )
        return query
