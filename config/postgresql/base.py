"""Django's PostgreSQL backend, with a health check that costs no round trip.

With CONN_HEALTH_CHECKS, Django checks a kept connection at the start of every request that
uses it by sending `SELECT 1` and waiting for the answer: one more round trip on every
request (an API read is three otherwise). What that check catches in practice is a server
that restarted, failed over or ended the session (idle timeout, pg_terminate_backend): in
each case the server says so on the socket (an ErrorResponse, then end of file) or the
kernel closes it. An idle connection between requests has nothing to read, so the socket
being readable, closed or in error means the connection is gone. Checking that is a poll
with a zero timeout: no round trip.

What it cannot see, neither could `SELECT 1` in time: a server unreachable without a word
(then the first statement fails after the connect/statement timeouts and the request
answers 503, as it would with Django's check after its own wait).

With prepared statements (DATABASE_PREPARED_STATEMENTS, config/settings.py), a statement
prepared before another session changed the type of a column it reads (a migration widening a
CharField, run while the app serves) fails with "cached plan must not change result type" on
every later run, on every kept connection. PreparedStatementCursor recovers from that: see it.

timestamptz values are parsed by psycopg's C loader where Django's own loader would parse
them in Python, with the same result (config/postgresql/timestamps.py).

Selected by DATABASE_URL's postgres:// scheme (config/settings.py); everything else is
Django's backend unchanged.
"""

import select
from datetime import UTC
from functools import cache
from typing import TYPE_CHECKING

import psycopg
from django.db.backends.postgresql import base
from psycopg import errors
from psycopg.adapt import AdaptersMap
from psycopg.pq import TransactionStatus

from config.postgresql.timestamps import UtcTimestamptzLoader

# PostgreSQL's message (SQLSTATE 0A000, feature_not_supported) when a prepared statement's
# result columns changed type since it was prepared (src/backend/utils/cache/plancache.c).
STALE_PREPARED_STATEMENT = "cached plan must not change result type"


if TYPE_CHECKING:  # defined by Django only with psycopg 3, which django-stubs do not see
    _ServerBindingCursor = psycopg.Cursor
else:
    _ServerBindingCursor = base.ServerBindingCursor


class PreparedStatementCursor(_ServerBindingCursor):
    """Django's server-binding cursor, recovering from prepared statements gone stale.

    Outside a transaction (the API's reads run in autocommit) a stale statement did nothing,
    so every prepared statement of the connection is dropped (psycopg forgets its own on
    seeing DEALLOCATE ALL) and the statement runs again, once. Inside a transaction, the
    transaction has failed: its ROLLBACK makes psycopg drop them, and the error becomes an
    OperationalError, which the app answers 503 with Retry-After (nothing was written)."""

    def execute(self, query, params=None, **kwargs):
        try:
            return super().execute(query, params, **kwargs)
        except errors.FeatureNotSupported as error:
            if STALE_PREPARED_STATEMENT not in str(error):
                raise
            if self.connection.info.transaction_status != TransactionStatus.IDLE:
                raise psycopg.OperationalError(
                    "A table changed under a prepared statement (a migration?): the "
                    "transaction was rolled back; try again."
                ) from error
            super().execute("DEALLOCATE ALL")
            return super().execute(query, params, **kwargs)


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        params = super().get_connection_params()
        if params.get("cursor_factory") is base.ServerBindingCursor:
            params["cursor_factory"] = PreparedStatementCursor
        if self.timezone is UTC and "context" in params:
            params["context"] = _with_native_timestamps(params["context"])
        return params

    def is_usable(self) -> bool:
        """Whether the kept connection is still open (see the module's docstring). Django
        calls it for CONN_HEALTH_CHECKS at the start of a request, and after an error."""
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != TransactionStatus.IDLE:
            return False  # left inside a transaction (or a failed one): not to be reused
        return not _peer_spoke_or_hung_up(connection.fileno())


@cache
def _with_native_timestamps(adapters: AdaptersMap) -> AdaptersMap:
    """Django's adapters for its connections (one map, cached by Django), timestamptz
    loaded by UtcTimestamptzLoader: see config/postgresql/timestamps.py."""
    derived = AdaptersMap(adapters)
    derived.register_loader("timestamptz", UtcTimestamptzLoader)
    return derived


def _peer_spoke_or_hung_up(fileno: int) -> bool:
    """Whether an idle connection's socket has something to read, or was closed or failed:
    a zero-timeout poll (no data is read)."""
    poller = select.poll()
    poller.register(fileno, select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
    try:
        return bool(poller.poll(0))
    except OSError:
        return True
