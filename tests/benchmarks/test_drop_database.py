"""bench.seed.drop_database: an autovacuum worker in the database (PostgreSQL 15 refuses a
role that is not a superuser to end it: InsufficientPrivilege) delays the drop, never fails it;
any other error, or one that lasts, is raised."""

import psycopg
import pytest

from bench import seed


class Connection:
    """Answers each execute() with the next of `answers`: an exception to raise, or None."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.statements = []

    def execute(self, statement):
        self.statements.append(statement)
        answer = self.answers.pop(0)
        if answer is not None:
            raise answer


def refused():
    return psycopg.errors.InsufficientPrivilege(
        "must be a member of the role whose process is being terminated"
    )


def test_a_drop_refused_while_autovacuum_runs_is_tried_again(monkeypatch):
    monkeypatch.setattr(seed.time, "sleep", lambda seconds: None)
    connection = Connection(refused(), refused(), None)

    seed.drop_database(connection, "registry_bench")

    assert len(connection.statements) == 3


def test_a_refusal_that_lasts_is_raised(monkeypatch):
    monkeypatch.setattr(seed.time, "sleep", lambda seconds: None)
    connection = Connection(*[refused() for _ in range(3)])

    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        seed.drop_database(connection, "registry_bench", attempts=3)
    assert len(connection.statements) == 3


def test_another_error_is_raised_at_once(monkeypatch):
    monkeypatch.setattr(seed.time, "sleep", lambda seconds: None)
    connection = Connection(psycopg.errors.ObjectInUse("in use"), None)

    with pytest.raises(psycopg.errors.ObjectInUse):
        seed.drop_database(connection, "registry_bench")
    assert len(connection.statements) == 1
