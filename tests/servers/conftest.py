"""Fixtures for tests against real server processes (see support.py)."""

import pytest
import redis

from tests.conftest import REDIS_SERVER, TEST_REDIS_URL, _missing, redis_missing
from tests.servers import support


@pytest.fixture(scope="session")
def served_database(tmp_path_factory):
    """A migrated SQLite file holding the tenant `acme` and a token for it (all scopes), made
    with the project's own commands: (DATABASE_URL, token)."""
    folder = tmp_path_factory.mktemp("served-db")
    url = f"sqlite:///{folder / 'registry.sqlite3'}"
    env = support.base_env(url)
    support.manage("migrate", "--noinput", env=env)
    support.manage("createtenant", "acme", env=env)
    token = support.manage("createapitoken", "--tenant", "acme", env=env).strip().splitlines()[-1]
    return url, token


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """The URL of a Redis with no rate-limit counters: CI's (TEST_REDIS_URL, started by
    .ci/run), else a private redis-server on a free port. (The marker check runs per test,
    after module fixtures: the policy is applied here too.)"""
    if redis_missing():
        _missing(f"needs {REDIS_SERVER} (apt-get install redis-server) or TEST_REDIS_URL")
    served = None
    url = TEST_REDIS_URL
    if not url:
        served = support.start_redis(tmp_path_factory.mktemp("redis"), REDIS_SERVER)
        url = f"redis://127.0.0.1:{served.port}/0"
    client = redis.Redis.from_url(url)
    client.ping()  # an unreachable TEST_REDIS_URL fails here, never skips
    for key in client.scan_iter("*ratelimit:*"):
        client.delete(key)
    yield url
    if served is not None:
        served.stop()
