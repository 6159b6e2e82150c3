"""Helpers shared by the integration tests: raw columns, and `manage.py` run in a subprocess
against a SQLite file of its own (for round trips between two databases)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
KEY = "dGVzdC1vbmx5LWtleS0wMTIzNDU2Nzg5YWJjZGVmISE="


def raw_column(integration, field_name: str) -> str:
    """The column as the database holds it, read around the model field."""
    model = type(integration)
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(model._meta.get_field(field_name).column)
    pk = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE {pk} = %s", [integration.pk])  # noqa: S608
        return cursor.fetchone()[0]


def manage(
    database: Path,
    *args: str,
    stdin: str | None = None,
    keys: str = KEY,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run `manage.py *args` in a subprocess on the SQLite file `database` with
    FIELD_ENCRYPTION_KEYS=`keys` and nothing else from this environment but PATH and `env`.
    Returns the completed process (text stdout and stderr); never raises for its exit code."""
    environment = {
        "PATH": os.environ["PATH"],
        "ENV_FILE": "/dev/null",
        "DEBUG": "false",
        "SECRET_KEY": "test-only-secret-key",
        "FIELD_ENCRYPTION_KEYS": keys,
        "DATABASE_URL": f"sqlite:///{database}",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=environment,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def fresh_database(path: Path, *, like: Path | None = None) -> Path:
    """A migrated, empty SQLite database at `path`: a copy of `like` (a fresh database made
    before, which saves migrating again) or, without it, migrated in a subprocess."""
    if like is not None:
        shutil.copyfile(like, path)
        return path
    result = manage(path, "migrate", "--noinput")
    assert result.returncode == 0, result.stderr
    return path
