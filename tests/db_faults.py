"""A database that refuses writes: triggers that make every INSERT, UPDATE and DELETE of a
table fail with `fault` (on SQLite and PostgreSQL alike), to test what a write that fails
half-way leaves behind; or that drop each INSERTed row without an error (`skip_inserts`), to
test that a row not stored is noticed. Inside a test's transaction they are undone with it
(DDL included); a transactional test removes them with `allow_writes` / `allow_inserts`."""

from django.db import connection


def refuse_writes(table: str, fault: str) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE OR REPLACE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{fault}'; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER refuse_write BEFORE INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse_write()"
            )
        else:
            for event in ("INSERT", "UPDATE", "DELETE"):
                cursor.execute(
                    f"CREATE TRIGGER refuse_{event.lower()}_{table} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{fault}'); END"
                )


def divide_by_zero_on_writes(table: str) -> None:
    """PostgreSQL: a trigger whose every INSERT, UPDATE and DELETE of `table` fails with
    division_by_zero (SQLSTATE 22012), an error of the data, not of the statement that wrote
    it. Removed by `allow_writes`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM 1 / (SELECT count(*) - count(*) FROM pg_class); RETURN NEW; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER refuse_write BEFORE INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_write()"
        )


def allow_writes(table: str) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER refuse_write ON {table}")
        else:
            for event in ("insert", "update", "delete"):
                cursor.execute(f"DROP TRIGGER refuse_{event}_{table}")


def skip_inserts(table: str) -> None:
    """A trigger that drops every INSERTed row of `table` without an error (PostgreSQL:
    RETURN NULL; SQLite: RAISE(IGNORE))."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE OR REPLACE FUNCTION skip_row() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RETURN NULL; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER skip_row BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION skip_row()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER skip_row BEFORE INSERT ON {table} BEGIN SELECT RAISE(IGNORE); END"
            )


def allow_inserts(table: str) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER IF EXISTS skip_row ON {table}")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS skip_row")
