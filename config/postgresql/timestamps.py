"""timestamptz columns parsed by psycopg's C loader, with Django's result.

Django registers its own loader for timestamptz (django.db.backends.postgresql.psycopg_any,
BaseTzLoader): a subclass of psycopg's pure-Python TimestamptzLoader that parses the text
with a regular expression, then stamps the result with Django's time zone. That costs
~5.7 µs per value against ~0.2 µs for the C loader of psycopg[binary] (measured here), and
an API read loads a dozen timestamps or more (token, tenant, integration, each with several):
~4 % of an API request's CPU for parsing dates.

With USE_TZ and the database's TIME_ZONE unset (this project's settings), Django's zone is
UTC and it sets the session's TimeZone to UTC (DatabaseWrapper._configure_timezone). psycopg's
C loader then returns exactly what Django's does: the same instant, tzinfo
datetime.timezone.utc (psycopg._tz.get_tzinfo maps the session's "UTC" to it). The loader
below uses the C loader only when that holds for the session it loads from, and Django's
parsing otherwise, and for any value the C loader could not stamp UTC (tests:
tests/config/test_postgresql_timestamps.py, test_timestamps_attack.py). It subclasses
Django's loader because Django's create_cursor compares its `timezone` with the
connection's before each cursor.
"""

from datetime import UTC

from django.db.backends.postgresql.psycopg_any import BaseTzLoader
from psycopg.types.datetime import TimestamptzLoader as PythonTimestamptzLoader

try:  # psycopg[binary] (pyproject.toml); without it, Django's parsing throughout
    from psycopg_binary import _psycopg

    # Not in psycopg_binary's type stub, which lists only what psycopg calls by name.
    NativeTimestamptzLoader = _psycopg.TimestamptzLoader  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover (the project installs psycopg[binary])
    NativeTimestamptzLoader = None


class UtcTimestamptzLoader(BaseTzLoader):
    """Django's timestamptz loader for UTC, parsing in C when the session's TimeZone is UTC
    and its DateStyle ISO (both as Django sets them): `load(data: bytes) -> datetime`,
    aware, tzinfo datetime.timezone.utc, as Django's for every input."""

    timezone = UTC

    def __init__(self, oid, context=None):
        super().__init__(oid, context)
        pgconn = self.connection.pgconn if self.connection else None
        # The setting by its name: psycopg takes a zone it cannot name (SET TIME ZONE
        # INTERVAL '-05:00' HOUR TO MINUTE reads "<-05>+05") for UTC, and stamps its values
        # with the offset the server sends.
        session_in_utc = pgconn is not None and pgconn.parameter_status(b"TimeZone") == b"UTC"
        # What psycopg's Python loader found for this session (its __init__).
        iso = self._load_method is PythonTimestamptzLoader._load_iso
        if NativeTimestamptzLoader is not None and session_in_utc and iso:
            # psycopg's transformer calls `loader.load`: the instance's attribute wins.
            self.load = self._native_else_djangos(NativeTimestamptzLoader(oid, context).load)

    def _native_else_djangos(self, native_load):
        djangos_load = super().load

        def load(data):
            value = native_load(data)
            # Anything but UTC is an instant UTC cannot write within years 1-9999 (text with
            # its own offset, which a UTC session does not send): the C loader keeps the
            # offset, Django's parse replaces it with UTC. Django's answer, as everywhere.
            return value if value.tzinfo is UTC else djangos_load(data)

        return load
