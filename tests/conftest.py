"""Shared fixtures: named actors (tokens, users) and the postgres/browser/redis marker policy.

Tests marked `postgres`, `browser` or `redis` skip locally, with a reason, when the database,
the browser or redis-server is missing; with CI=true a missing one fails the test instead, so
CI never passes by skipping them.
"""

import os
import re
import shutil
from urllib.parse import urlsplit

import pytest
import redis
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tenants import token_cache
from tenants.services import api_token_create
from tests.factories import TenantFactory, actor_named

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
REDIS_SERVER = os.environ.get("REDIS_SERVER_PATH", "redis-server")
# A Redis to use (CI starts one, .ci/run); without it, redis tests start their own server.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


def redis_missing() -> bool:
    return not TEST_REDIS_URL and not shutil.which(REDIS_SERVER)


def _missing(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must run in CI, so it fails instead of skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, with this process's stray sessions ended before it is
    dropped. A connection opened under another asgiref context of the main thread (Django's
    connections are per context; Playwright's sync API switches greenlets, each with its own)
    is not one that Django's close_all() sees: the whole suite on PostgreSQL ended with one
    idle session of ours on the test database, and DROP DATABASE then failed with "being
    accessed by other users" (a warning, and the database left behind)."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
            "current_database() AND usename = current_user AND pid <> pg_backend_pid()"
        )
    connection.close()


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters live in the cache (locmem in tests): each test starts with none,
    and with no API token remembered (tenants/token_cache.py)."""
    caches["default"].clear()
    token_cache.tokens.forget()
    yield
    caches["default"].clear()
    token_cache.tokens.forget()


@pytest.fixture(autouse=True)
def _requirements_of_markers(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _missing("needs PostgreSQL: set DATABASE_URL=postgres://...")
    if request.node.get_closest_marker("browser") and not shutil.which(CHROMIUM):
        _missing(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    if request.node.get_closest_marker("redis") and redis_missing():
        _missing(f"needs {REDIS_SERVER} (apt-get install redis-server) or TEST_REDIS_URL")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A Redis server's URL without its database number (redis://host:port): CI's
    (TEST_REDIS_URL, started by .ci/run), else a private redis-server on a free port, started
    once. (The marker check runs per test, after this: the policy is applied here too.)"""
    from tests.servers import support

    if redis_missing():
        _missing(f"needs {REDIS_SERVER} (apt-get install redis-server) or TEST_REDIS_URL")
    served = None
    if TEST_REDIS_URL:
        parts = urlsplit(TEST_REDIS_URL)
        url = f"{parts.scheme}://{parts.netloc}"
    else:
        served = support.start_redis(tmp_path_factory.mktemp("redis"), REDIS_SERVER)
        url = f"redis://127.0.0.1:{served.port}"
    redis.Redis.from_url(url).ping()  # an unreachable TEST_REDIS_URL fails here, never skips
    yield url
    if served is not None:
        served.stop()


@pytest.fixture
def round_trips(monkeypatch):
    """Every command (or MULTI/EXEC pipeline) this process sends to a Redis, as sent: one
    round trip each."""
    sent: list[bytes] = []
    real = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(command if isinstance(command, bytes) else b"".join(command))
        return real(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    return sent


# --- named actors ----------------------------------------------------------------------------


@pytest.fixture
def tenant(db):
    return TenantFactory(name="acme", display_name="Acme Corp")


@pytest.fixture
def other_tenant(db):
    return TenantFactory(name="globex", display_name="Globex")


def _client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def tenant_client(tenant):
    """A client holding a token scoped to `tenant` with every scope."""
    _, token = api_token_create(actor=actor_named("tests"), label="acme ops", tenant=tenant)
    return _client_with(token)


@pytest.fixture
def global_client(db):
    """A client holding a token for all tenants with every scope."""
    _, token = api_token_create(actor=actor_named("tests"), label="platform", tenant=None)
    return _client_with(token)


@pytest.fixture
def token_client(db):
    """Make a client with a token of the given tenant and scopes: token_client(tenant, "read")."""

    def make(tenant, scopes="read,write,secrets", **kwargs):
        _, token = api_token_create(
            actor=actor_named("tests"), label="custom", tenant=tenant, scopes=scopes, **kwargs
        )
        return _client_with(token)

    return make


@pytest.fixture
def anonymous_client():
    return APIClient()


# --- query counting --------------------------------------------------------------------------

TRANSACTION_CONTROL = re.compile(
    r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|ROLLBACK TO)\b", re.IGNORECASE
)


class SqlStatements(CaptureQueriesContext):
    """Captures SQL, leaving out transaction control (BEGIN/COMMIT/SAVEPOINT...)."""

    @property
    def statements(self) -> list[str]:
        return [q["sql"] for q in self.captured_queries if not TRANSACTION_CONTROL.match(q["sql"])]


@pytest.fixture
def count_sql():
    """`with count_sql() as sql: ...; assert len(sql.statements) <= N`."""
    return lambda: SqlStatements(connection)


# --- fake providers (issue 11: verification) -------------------------------------------------

# Port 9 (discard) on loopback: nothing listens, a connection is refused at once.
NO_PROVIDER = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _no_real_providers(settings):
    """No test ever calls a real provider: every base URL points at a closed local port (a
    verification answers `unreachable` at once) unless the test asks for `fake_providers`."""
    for name in (
        "SALESFORCE_LOGIN_URL",
        "SALESFORCE_TEST_LOGIN_URL",
        "TWILIO_API_URL",
        "SENDGRID_API_URL",
        "DATASIFT_API_URL",
    ):
        setattr(settings, name, NO_PROVIDER)


@pytest.fixture
def fake_providers(settings):
    """A real HTTP server on 127.0.0.1 playing every provider (tests/fake_providers.py), with
    every provider's base URL pointed at it and short timeouts (0.5 s to connect, 0.5 s per
    read). The shared HTTP client is closed afterwards (its pooled connections)."""
    from integrations.verification import close_http_client
    from tests import fake_providers as fakes

    fake = fakes.start()
    for name, value in fake.settings().items():
        setattr(settings, name, value)
    settings.VERIFY_CONNECT_TIMEOUT = 0.5
    settings.VERIFY_READ_TIMEOUT = 0.5
    yield fake
    fake.stop()
    close_http_client()


@pytest.fixture
def fixed_during_verification(monkeypatch):
    """While the provider is being asked, someone fixes the Twilio password (a PATCH, a staff
    edit): the verification's outcome is of credentials that are no longer stored."""
    from integrations import verification, verification_services
    from integrations.models import Integration
    from integrations.services import integration_update
    from tests import fake_providers as fakes

    real = verification.verify

    def verify_while_fixed(integration: Integration):
        integration_update(
            integration=Integration.objects.get(pk=integration.pk),
            data={"password": fakes.ACCEPTED["twilio"]["password"]},
            actor=actor_named("a colleague"),
        )
        return real(integration)

    monkeypatch.setattr(verification_services.verification, "verify", verify_while_fixed)
