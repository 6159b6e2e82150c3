"""config/postgresql/timestamps.py: timestamptz parsed by psycopg's C loader, with the values
Django's own loader gives."""

from datetime import UTC, datetime

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg.types.datetime import TimestamptzLoader as PythonTimestamptzLoader

from config.postgresql.timestamps import UtcTimestamptzLoader
from tenants.models import Tenant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

TIMESTAMPTZ_OID = 1184
# What a session in UTC sends for timestamptz values (DateStyle ISO): every shape of fraction
# and offset, the ends of the type's range PostgreSQL and Python share, and what Python's
# datetime cannot hold.
SENT = [
    "2026-12-01 03:29:46.693526+00",
    "2026-12-01 03:29:46.5+00",
    "2026-12-01 03:29:46+00",
    "2026-02-28 23:59:59.999999+00",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "2026-12-01 03:29:46+05:30",
    "2026-12-01 03:29:46-03:00:15",
    "infinity",
    "-infinity",
    "0044-03-15 12:00:00+00 BC",
    "10000-01-01 00:00:00+00",
]


def loader_of_a_cursor():
    with connection.cursor() as cursor:
        return cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, psycopg.pq.Format.TEXT)(
            TIMESTAMPTZ_OID, cursor.cursor
        )


def djangos_loader():
    """The loader Django itself registers for its UTC connections."""
    with connection.cursor() as cursor:
        register_tzloader(UTC, cursor.cursor)
        loader_class = cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, psycopg.pq.Format.TEXT)
        return loader_class(TIMESTAMPTZ_OID, cursor.cursor)


def outcome(loader, text: str):
    try:
        value = loader.load(text.encode())
    except psycopg.DataError as error:
        return type(error)
    return value, value.tzinfo


def test_a_utc_session_parses_in_c(monkeypatch):
    def python_parse(*args):
        raise AssertionError("parsed in Python")

    monkeypatch.setattr(PythonTimestamptzLoader, "_load_iso", staticmethod(python_parse))
    loader = loader_of_a_cursor()

    assert isinstance(loader, UtcTimestamptzLoader)
    assert loader.load(SENT[0].encode()) == datetime(2026, 12, 1, 3, 29, 46, 693526, tzinfo=UTC)
    # Django's create_cursor compares this with its own zone: equal, so it keeps the loader.
    assert loader.timezone is connection.timezone is UTC


@pytest.mark.parametrize("text", SENT)
def test_each_value_loads_as_djangos_loader_loads_it(text):
    ours, djangos = loader_of_a_cursor(), djangos_loader()
    assert type(djangos) is not UtcTimestamptzLoader

    assert outcome(ours, text) == outcome(djangos, text)


def test_a_model_reads_back_the_instant_it_wrote():
    written = datetime(2026, 12, 1, 3, 29, 46, 693526, tzinfo=UTC)
    tenant = Tenant.objects.create(name="stamped", display_name="Stamped")
    Tenant.objects.filter(pk=tenant.pk).update(created_at=written)

    read = Tenant.objects.get(pk=tenant.pk).created_at

    assert read == written
    assert read.tzinfo is UTC


def test_a_session_outside_utc_parses_as_django_does():
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Asia/Kolkata'")
    try:
        loader = loader_of_a_cursor()
        # The C loader would stamp Asia/Kolkata; Django's loader is left to do what it does.
        assert "load" not in vars(loader)
        assert outcome(loader, SENT[0]) == outcome(djangos_loader(), SENT[0])
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
