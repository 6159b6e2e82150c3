"""Attack on config/postgresql/timestamps.py: every timestamptz must load as Django's own loader
loads it (same datetime, same tzinfo, same error type), whatever the value or the session."""

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection, transaction
from django.db.backends.postgresql.psycopg_any import register_tzloader
from django.test.utils import override_settings
from psycopg.types.range import Range

from config.postgresql.timestamps import UtcTimestamptzLoader
from tenants.models import Tenant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

TIMESTAMPTZ_OID = 1184


def outcome(load, text: str | bytes):
    """What a load gives, compared strictly: wall time, offset and tzinfo identity."""
    data = text.encode() if isinstance(text, str) else text
    try:
        value = load(data)
    except (psycopg.DataError, NotImplementedError) as error:
        return type(error)
    return value, value.replace(tzinfo=None), value.utcoffset(), value.tzinfo


def loaders():
    """(ours, Django's) loader instances for the current session settings."""
    with connection.cursor() as cursor:
        ours_class = cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, psycopg.pq.Format.TEXT)
        ours = ours_class(TIMESTAMPTZ_OID, cursor.cursor)
        register_tzloader(UTC, cursor.cursor)
        djangos_class = cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, psycopg.pq.Format.TEXT)
        djangos = djangos_class(TIMESTAMPTZ_OID, cursor.cursor)
    assert ours_class is UtcTimestamptzLoader
    assert djangos_class is not UtcTimestamptzLoader
    return ours, djangos


def fetch(sql: str, params=(), *, djangos: bool, binary: bool = False):
    """The rows of `sql` through a Django cursor, with our loader or with Django's."""
    with connection.cursor() as cursor:
        if djangos:
            register_tzloader(UTC, cursor.cursor)
        try:
            cursor.cursor.execute(sql, params or None, binary=binary)
            rows = cursor.cursor.fetchall()
        except (psycopg.DataError, NotImplementedError) as error:
            return type(error)
    return [tuple(_strict(value) for value in row) for row in rows]


def _strict(value):
    if isinstance(value, datetime):
        return value, value.tzinfo, value.utcoffset()
    if isinstance(value, list):
        return [_strict(v) for v in value]
    if isinstance(value, Range):
        return _strict(value.lower), _strict(value.upper), value.bounds
    return value


@pytest.fixture
def session_reset():
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET TimeZone")
        cursor.execute("RESET DateStyle")
        cursor.execute("SET TIME ZONE 'UTC'")


# --- loader level: texts a UTC/ISO session might send, and some it never sends --------------

ODD_TEXTS = [
    "2026-12-01 03:29:46.1+00",
    "2026-12-01 03:29:46.12+00",
    "2026-12-01 03:29:46.123+00",
    "2026-12-01 03:29:46.1234+00",
    "2026-12-01 03:29:46.12345+00",
    "2026-12-01 03:29:46.123456+00",
    "2026-12-01 03:29:46.000001+00",
    "2026-12-01 03:29:46.100000+00",
    "2016-12-31 23:59:60+00",  # leap second: PostgreSQL never sends it, Python refuses it
    "2026-12-01 03:29:46+05:30:15",
    "2026-12-01 03:29:46-00:00:01",
    "2026-03-08 02:30:00-05",
    "2026-11-01 01:30:00-04",
    "0001-01-01 00:00:00+00",
    "0001-01-01 00:00:00.000001+00",
    "9999-12-31 23:59:59.999999+00",
    "10000-01-01 00:00:00+00",
    "294276-12-31 23:59:59.999999+00",
    "0001-12-31 23:59:59+00 BC",
    "4713-01-01 00:00:00+00 BC",
    "infinity",
    "-infinity",
    "2026-02-29 00:00:00+00",
    "2026-13-01 00:00:00+00",
]


# Offsets that push the instant past datetime's range: a UTC session never sends a non-zero
# offset, but a session whose TimeZone psycopg cannot name (a POSIX/interval zone) is taken as
# UTC by psycopg, and there the server does.
OVERFLOWING_TEXTS = [
    "0001-01-01 00:00:00+05",
    "0001-01-01 01:30:00+05:30",
    "9999-12-31 23:00:00-05",
    "9999-12-31 23:59:59.999999-00:00:01",
]


@pytest.mark.parametrize("text", ODD_TEXTS + OVERFLOWING_TEXTS)
def test_odd_text_loads_as_djangos(text):
    ours, djangos = loaders()
    assert "load" in vars(ours)  # the C path is under test

    assert outcome(ours.load, text) == outcome(djangos.load, text)


# --- through the server ----------------------------------------------------------------------

LITERALS = [
    "2026-12-01 03:29:46.693526+00",
    "2026-12-01 03:29:46.1+00",
    "2026-12-01 03:29:46.12345+00",
    "2026-12-01 03:29:46+05:30",
    "2026-12-01 03:29:46-03:00:15",
    "2016-12-31 23:59:60+00",  # the server turns it into 2017-01-01 00:00:00
    "2026-03-08 02:30:00 America/New_York",  # a DST gap, named zone
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "10000-01-01 00:00:00+00",
    "294276-12-31 23:59:59.999999+00",
    "0044-03-15 12:00:00+00 BC",
    "infinity",
    "-infinity",
]


@pytest.mark.parametrize("literal", LITERALS)
def test_a_value_selected_in_utc_loads_as_djangos(literal):
    sql = "SELECT %s::timestamptz"

    ours = fetch(sql, [literal], djangos=False)
    assert ours == fetch(sql, [literal], djangos=True)


@pytest.mark.parametrize("literal", LITERALS)
def test_binary_results_load_as_djangos(literal):
    sql = "SELECT %s::timestamptz"

    assert fetch(sql, [literal], djangos=False, binary=True) == fetch(
        sql, [literal], djangos=True, binary=True
    )


ZONES = [
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Etc/UTC",
    "GMT",
    "Zulu",
    "UTC0",
    "-05",
    "EST5EDT",
]


@pytest.mark.parametrize("zone", ZONES)
def test_a_session_moved_to_another_zone_loads_as_djangos(zone, session_reset):
    with connection.cursor() as cursor:
        cursor.execute(f"SET TIME ZONE '{zone}'")
    sql = "SELECT %s::timestamptz, now() - now() + '2026-07-01 12:00:00+00'::timestamptz"
    for literal in ["2026-12-01 03:29:46.693526+00", "2026-07-01 12:00:00+00"]:
        assert fetch(sql, [literal], djangos=False) == fetch(sql, [literal], djangos=True)


@pytest.mark.parametrize(
    "interval",
    ["'-05:00' HOUR TO MINUTE", "'+05:30' HOUR TO MINUTE", "'+14:00' HOUR TO MINUTE"],
)
@pytest.mark.parametrize(
    "literal",
    [
        "9999-12-31 23:00:00+00",
        "0001-01-01 00:00:00+00",
        "2026-12-01 03:29:46+00",
        # Instants outside datetime's range in UTC, inside it in the session's zone: the
        # server sends them with the zone's offset, and loading overflows.
        "10000-01-01 02:00:00+00",
        "0001-12-31 22:00:00+00 BC",
    ],
)
def test_an_interval_time_zone_loads_as_djangos(interval, literal, session_reset):
    """SET TIME ZONE INTERVAL gives TimeZone '<-05>+05', a name ZoneInfo does not know:
    psycopg logs a warning and takes the session as UTC, so ours parses in C."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET TIME ZONE INTERVAL {interval}")
        assert ">" in cursor.connection.info.parameter_status("TimeZone")
    sql = "SELECT %s::timestamptz"

    assert fetch(sql, [literal], djangos=False) == fetch(sql, [literal], djangos=True)


DATESTYLES = ["ISO, DMY", "ISO, MDY", "SQL, DMY", "SQL, MDY", "German", "Postgres", "Postgres, DMY"]


@pytest.mark.parametrize("style", DATESTYLES)
def test_a_session_with_another_datestyle_loads_as_djangos(style, session_reset):
    with connection.cursor() as cursor:
        cursor.execute(f"SET DateStyle = '{style}'")
    sql = "SELECT %s::timestamptz"
    ours = fetch(sql, ["2026-12-01 03:29:46.693526+00"], djangos=False)

    assert ours == fetch(sql, ["2026-12-01 03:29:46.693526+00"], djangos=True)
    if style.startswith("ISO"):
        assert ours[0][0][0] == datetime(2026, 12, 1, 3, 29, 46, 693526, tzinfo=UTC)
    else:
        assert ours is NotImplementedError


@pytest.mark.parametrize(
    "change",
    ["SET TIME ZONE 'America/New_York'", "SET DateStyle = 'SQL, DMY'", "SET DateStyle = 'German'"],
)
def test_settings_changed_between_two_statements_of_one_cursor(change, session_reset):
    """A loader is chosen when a result is first loaded; one cursor runs a SELECT, then the
    session changes, then the same cursor runs it again."""

    def run(djangos: bool):
        with connection.cursor() as cursor:
            if djangos:
                register_tzloader(UTC, cursor.cursor)
            results = []
            for statement in ["SELECT", change, "SELECT"]:
                try:
                    if statement == "SELECT":
                        cursor.cursor.execute("SELECT '2026-12-01 03:29:46.5+00'::timestamptz")
                        results.append([_strict(v) for v in cursor.cursor.fetchone()])
                    else:
                        cursor.cursor.execute(statement)
                except (psycopg.DataError, NotImplementedError) as error:
                    results.append(type(error))
            cursor.cursor.execute("RESET DateStyle")
            cursor.cursor.execute("SET TIME ZONE 'UTC'")
        return results

    assert run(djangos=False) == run(djangos=True)


@pytest.mark.django_db(transaction=True)
def test_set_local_time_zone_inside_a_transaction_then_after_it(session_reset):
    sql = "SELECT '2026-12-01 03:29:46.5+00'::timestamptz"
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL TIME ZONE 'Asia/Kolkata'")
        inside = fetch(sql, djangos=False), fetch(sql, djangos=True)
    after = fetch(sql, djangos=False)

    assert inside[0] == inside[1]
    assert after == [((datetime(2026, 12, 1, 3, 29, 46, 500000, tzinfo=UTC), UTC, timedelta(0)),)]


# --- the ORM's paths ------------------------------------------------------------------------


def _stamp_tenants():
    stamps = [
        datetime(2026, 12, 1, 3, 29, 46, 693526, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
    ]
    for i, stamp in enumerate(stamps):
        tenant = Tenant.objects.create(name=f"t{i}", display_name=f"T{i}")
        Tenant.objects.filter(pk=tenant.pk).update(created_at=stamp)
    return stamps


def test_a_named_server_side_cursor_loads_utc_values():
    stamps = _stamp_tenants()
    with transaction.atomic():
        read = [t.created_at for t in Tenant.objects.order_by("name").iterator(chunk_size=2)]

    assert read == stamps
    assert all(value.tzinfo is UTC for value in read)


def test_array_agg_of_timestamptz_loads_utc_values():
    stamps = _stamp_tenants()
    aggregated = Tenant.objects.aggregate(stamps=ArrayAgg("created_at", order_by="name"))["stamps"]

    assert aggregated == stamps
    assert all(value.tzinfo is UTC for value in aggregated)


def test_a_raw_array_and_a_range_load_as_djangos():
    sql = (
        "SELECT array['2026-12-01 03:29:46.5+00'::timestamptz, '0001-01-01 00:00:00+00'], "
        "tstzrange('2026-01-01 00:00:00+00', '2026-02-01 00:00:00.000001+00', '[)'), "
        "tstzmultirange(tstzrange('2026-01-01 00:00:00+00', null))"
    )
    ours = fetch(sql, djangos=False)

    assert ours == fetch(sql, djangos=True)
    array, span, _ = ours[0]
    assert array[0] == (datetime(2026, 12, 1, 3, 29, 46, 500000, tzinfo=UTC), UTC, timedelta(0))
    assert span[0][1] is UTC


@pytest.mark.django_db(transaction=True)
def test_a_reopened_connection_still_loads_in_c():
    connection.close()
    ours, _ = loaders()
    assert "load" in vars(ours)

    assert fetch("SELECT '2026-12-01 03:29:46.5+00'::timestamptz", djangos=False) == [
        ((datetime(2026, 12, 1, 3, 29, 46, 500000, tzinfo=UTC), UTC, timedelta(0)),)
    ]


def test_create_cursor_still_registers_djangos_loader_when_use_tz_is_off():
    stamp = datetime(2026, 12, 1, 3, 29, 46, 693526, tzinfo=UTC)
    tenant = Tenant.objects.create(name="naive", display_name="Naive")
    Tenant.objects.filter(pk=tenant.pk).update(created_at=stamp)

    with override_settings(USE_TZ=False):
        read = Tenant.objects.get(pk=tenant.pk).created_at
    assert read == stamp.replace(tzinfo=None)
    assert read.tzinfo is None
    assert Tenant.objects.get(pk=tenant.pk).created_at.tzinfo is UTC
