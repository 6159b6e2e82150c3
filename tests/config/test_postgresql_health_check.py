"""config/postgresql: the kept connection's health check that costs no round trip."""

import time

import psycopg
import pytest
from django.db import close_old_connections, connection, connections

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def next_request() -> None:
    """What Django does between two requests of a thread (request_started/finished)."""
    connection.health_check_done = False
    close_old_connections()


@pytest.fixture
def kept_connections():
    connection.settings_dict["CONN_MAX_AGE"] = 60
    connection.settings_dict["CONN_HEALTH_CHECKS"] = True
    connection.close()
    yield
    connection.close()


def terminate(pid: int) -> None:
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)  # the server's word reaches the socket


def test_the_engine_is_ours():
    assert type(connections["default"]).__module__ == "config.postgresql.base"
    assert connection.vendor == "postgresql"


def test_a_healthy_kept_connection_is_reused_without_a_query(kept_connections, monkeypatch):
    first = backend_pid()
    sent = []
    driver = type(connection.connection)
    monkeypatch.setattr(driver, "execute", lambda *args, **kw: sent.append(args))
    monkeypatch.setattr(driver, "cursor", lambda *args, **kw: sent.append(args))
    next_request()

    connection.close_if_health_check_failed()

    assert sent == []  # Django's own check would have sent SELECT 1 here
    assert connection.health_check_done and connection.connection is not None
    monkeypatch.undo()
    assert backend_pid() == first


def test_a_connection_the_server_ended_is_replaced_before_the_request_uses_it(
    kept_connections,
):
    first = backend_pid()
    terminate(first)
    next_request()

    assert backend_pid() != first  # no error: a new connection


def test_a_connection_left_in_a_transaction_is_not_reused(kept_connections):
    backend_pid()
    connection.connection.execute("BEGIN")

    assert connection.is_usable() is False
    connection.connection.execute("ROLLBACK")
    assert connection.is_usable() is True
