"""Fixtures for tests against real server processes (see support.py)."""

import pytest
import redis

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
def redis_server(redis_url):
    """The URL of a Redis (tests/conftest.py's redis_url, database 0) with no rate-limit
    counters."""
    url = f"{redis_url}/0"
    client = redis.Redis.from_url(url)
    for key in client.scan_iter("*ratelimit:*"):
        client.delete(key)
    return url
