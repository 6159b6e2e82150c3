"""PostgreSQL statements are bound server-side and prepared once per connection, from a
statement's sixth run on it (psycopg's prepare_threshold of 5), unless
DATABASE_PREPARED_STATEMENTS=false (for transaction-mode poolers)."""

import pytest
from django.db import connection

from tests.config.test_database_timeouts import database_options

POSTGRES_URL = "postgres://u:p@db.internal:5432/registry"


def test_postgres_statements_are_bound_on_the_server_and_prepared_after_five_runs():
    options = database_options(DATABASE_URL=POSTGRES_URL)

    assert options["server_side_binding"] is True
    assert options["prepare_threshold"] == 5


def test_prepared_statements_can_be_turned_off_for_a_pooler():
    options = database_options(DATABASE_URL=POSTGRES_URL, DATABASE_PREPARED_STATEMENTS="false")

    assert "server_side_binding" not in options
    assert "prepare_threshold" not in options
    assert options["connect_timeout"] == 5  # the rest of the options are unchanged


def test_sqlite_gets_neither():
    options = database_options(DATABASE_URL="sqlite:////tmp/never-created.sqlite3")

    assert "server_side_binding" not in options
    assert "prepare_threshold" not in options


def prepared_statements() -> list[str]:
    """The SQL of the statements prepared on this connection by psycopg (not by PREPARE)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_api_read_repeated_runs_on_prepared_statements(tenant, tenant_client):
    url = f"/1.0/tenants/{tenant.name}/integrations"
    before = prepared_statements()

    for _ in range(6):
        response = tenant_client.get(url)
        assert response.status_code == 200, response.content

    prepared = [sql for sql in prepared_statements() if sql not in before]
    assert any('FROM "tenants_apitoken"' in sql for sql in prepared), prepared
    assert any('FROM "integrations_integration"' in sql for sql in prepared), prepared


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_statement_is_prepared_on_its_sixth_run_only():
    marker = "one_off_statement_marker"
    with connection.cursor() as cursor:
        for _ in range(5):
            cursor.execute(f"SELECT %s AS {marker}", [1])
            assert cursor.fetchone() == (1,)

    assert not [sql for sql in prepared_statements() if marker in sql]

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s AS {marker}", [1])

    assert [sql for sql in prepared_statements() if marker in sql]
