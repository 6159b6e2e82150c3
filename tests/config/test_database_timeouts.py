"""PostgreSQL connections fail fast: a connect timeout and a statement timeout, from the
environment (DATABASE_CONNECT_TIMEOUT, DATABASE_STATEMENT_TIMEOUT; seconds)."""

import json
import socket
import threading
import time

import pytest
from django.db import OperationalError, connection, transaction

from tests.config.test_settings import PRODUCTION, manage

PRINT_OPTIONS = (
    "import json; from django.conf import settings; "
    "print(json.dumps(settings.DATABASES['default'].get('OPTIONS', {})))"
)


def database_options(**env: str) -> dict:
    result = manage("shell", "-c", PRINT_OPTIONS, env={**PRODUCTION, **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_postgres_connections_get_a_5_s_connect_and_a_30_s_statement_timeout_by_default():
    options = database_options(DATABASE_URL="postgres://u:p@db.internal:5432/registry")

    assert options["connect_timeout"] == 5
    assert options["options"] == "-c statement_timeout=30000"


def test_both_timeouts_come_from_the_environment_in_seconds():
    options = database_options(
        DATABASE_URL="postgres://u:p@db.internal:5432/registry",
        DATABASE_CONNECT_TIMEOUT="2",
        DATABASE_STATEMENT_TIMEOUT="1.5",
    )

    assert options["connect_timeout"] == 2
    assert options["options"] == "-c statement_timeout=1500"


def test_sqlite_gets_no_postgres_options():
    options = database_options(DATABASE_URL="sqlite:////tmp/never-created.sqlite3")

    assert "connect_timeout" not in options
    assert "options" not in options


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never says a word: a hung database."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    listener.close()


def test_connecting_to_a_database_that_never_answers_fails_with_operational_error(silent_server):
    url = f"postgres://registry:registry@127.0.0.1:{silent_server}/registry"
    started = time.monotonic()

    # The app's own settings and backend, in a process of its own, as a server would run.
    result = manage(
        "shell",
        "-c",
        "from django.db import connection; connection.ensure_connection()",
        env={**PRODUCTION, "DATABASE_URL": url, "DATABASE_CONNECT_TIMEOUT": "1"},
    )

    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert "django.db.utils.OperationalError" in result.stderr
    assert "timeout expired" in result.stderr
    # psycopg waits at least 2 s (libpq's floor); without a timeout it waited 130 s.
    assert elapsed < 20, elapsed


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_live_connection_carries_the_statement_timeout():
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("30s",)


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_statement_over_its_timeout_is_an_operational_error():
    with (
        pytest.raises(OperationalError, match="statement timeout"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL statement_timeout = '100ms'")
        cursor.execute("SELECT pg_sleep(2)")
