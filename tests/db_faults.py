"""A database that refuses writes: triggers that make every INSERT, UPDATE and DELETE of a
table fail with `fault` (on SQLite and PostgreSQL alike), to test what a write that fails
half-way leaves behind. Inside a test's transaction they are undone with it (DDL included);
a transactional test removes them with `allow_writes`."""

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


def allow_writes(table: str) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER refuse_write ON {table}")
        else:
            for event in ("insert", "update", "delete"):
                cursor.execute(f"DROP TRIGGER refuse_{event}_{table}")
