"""config.sqlite: SQLite's LIKE, replaced by one that folds case beyond ASCII (as PostgreSQL's
search does), with SQLite's rules otherwise. Runs on its own in-memory SQLite connection,
whatever database the suite uses."""

import sqlite3

import pytest

from config.sqlite.base import DatabaseWrapper, unicode_like
from tests.config.test_settings import PRODUCTION, manage


def new_connection() -> sqlite3.Connection:
    """A connection of config.sqlite to a new in-memory database (its like() replaced)."""
    wrapper = DatabaseWrapper({**_settings(), "NAME": ":memory:"})
    return wrapper.get_new_connection(wrapper.get_connection_params())


@pytest.fixture
def sqlite():
    connection = new_connection()
    yield connection
    connection.close()


def _settings() -> dict:
    return {
        "ENGINE": "config.sqlite",
        "OPTIONS": {},
        "TIME_ZONE": None,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "AUTOCOMMIT": True,
        "ATOMIC_REQUESTS": False,
        "TEST": {},
    }


def _like(connection, value, pattern, escape=None):
    if escape is None:
        return connection.execute("SELECT ? LIKE ?", (value, pattern)).fetchone()[0]
    return connection.execute("SELECT ? LIKE ? ESCAPE ?", (value, pattern, escape)).fetchone()[0]


@pytest.mark.parametrize(
    "value,pattern",
    [
        ("Müller GmbH", "%MÜLLER%"),
        ("ÉCOLE", "%école%"),
        ("Ωmega", "ωMEGA"),
        ("acme", "ACME"),  # ASCII, as SQLite's own LIKE
        ("line one\nline two", "%ONE%TWO"),  # % crosses a line end
        ("a.b", "a.b"),
        ("a(b)*", "%(B)*"),  # regex metacharacters are plain characters
        ("x", "_"),
        ("", "%"),
    ],
)
def test_matches_with_case_folded_beyond_ascii(sqlite, value, pattern):
    assert _like(sqlite, value, pattern) == 1


@pytest.mark.parametrize(
    "value,pattern",
    [
        ("Müller", "MULLER"),  # folding case does not drop accents
        ("axb", "a.b"),
        ("ab", "_"),
        ("abc", "ab"),  # the whole value, not a part of it
        ("", "_"),
    ],
)
def test_what_does_not_match(sqlite, value, pattern):
    assert _like(sqlite, value, pattern) == 0


def test_the_escape_character_makes_wildcards_literal_as_django_writes_them(sqlite):
    # Django's icontains on SQLite: LIKE %s ESCAPE '\', the value's % and _ escaped.
    assert _like(sqlite, "100% sure", "%100\\%%", "\\") == 1
    assert _like(sqlite, "1000 sure", "%100\\%%", "\\") == 0
    assert _like(sqlite, "a_b", "a\\_b", "\\") == 1
    assert _like(sqlite, "axb", "a\\_b", "\\") == 0
    assert _like(sqlite, "back\\slash", "%K\\\\S%", "\\") == 1
    assert _like(sqlite, "ab\\", "ab\\", "\\") == 0  # at the end, it matches nothing (SQLite)


def test_null_gives_null_and_numbers_compare_as_text(sqlite):
    assert sqlite.execute("SELECT NULL LIKE 'a'").fetchone()[0] is None
    assert sqlite.execute("SELECT 'a' LIKE NULL").fetchone()[0] is None
    assert sqlite.execute("SELECT 1234 LIKE '%23%'").fetchone()[0] == 1


def test_an_escape_of_more_than_one_character_is_an_error(sqlite):
    with pytest.raises(sqlite3.Error, match=r"single character|user-defined function raised"):
        _like(sqlite, "a", "a", "ab")


def test_the_function_alone():
    assert unicode_like("%Ä%", "bär") is True
    assert unicode_like("%Ä%", None) is None


def test_an_sqlite_database_url_selects_this_backend():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])",
        env={**PRODUCTION, "DATABASE_URL": "sqlite:////tmp/never-created.sqlite3"},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "config.sqlite"
