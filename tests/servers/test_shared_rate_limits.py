"""The rate limits hold across server processes: two runserver processes on different ports,
one database and one Redis (CACHE_URL), share one count. With a per-process cache each would
have let through its own allowance."""

import time

import pytest
import redis

from tests.servers import support

pytestmark = pytest.mark.redis

LIST = "/1.0/tenants/acme/integrations"
WRONG = "ir_" + "x" * 43


@pytest.fixture(scope="module")
def two_servers(redis_server, served_database, tmp_path_factory):
    # Day-long windows, and not in the last minute of one: a window boundary would let the
    # estimate fall in the middle of the test.
    wait_past_a_day_boundary()
    database_url, _ = served_database
    env = support.base_env(
        database_url,
        CACHE_URL=redis_server,
        API_AUTH_FAILURE_RATE="4/day",
        API_TOKEN_RATE="6/day",
    )
    logs = tmp_path_factory.mktemp("servers")
    first = support.start_runserver(env, logs / "first.log")
    try:
        second = support.start_runserver(env, logs / "second.log")
    except Exception:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()


def wait_past_a_day_boundary() -> None:
    left = 86400 - time.time() % 86400
    if left < 60:
        time.sleep(left + 1)


def get(server, token: str) -> tuple[int, dict, bytes]:
    return support.request(server.port, "GET", LIST, headers={"Authorization": f"Bearer {token}"})


def test_failed_authentications_are_counted_once_across_two_server_processes(two_servers):
    first, second = two_servers

    statuses = [get(server, WRONG)[0] for server in (first, second, first, second)]
    status, headers, body = get(second, WRONG)

    assert statuses == [401, 401, 401, 401]
    assert status == 429, body
    assert int(headers["Retry-After"]) >= 1
    assert b"Too many failed authentications" in body
    assert get(first, WRONG)[0] == 429


def test_a_token_s_request_rate_is_one_limit_across_two_server_processes(
    two_servers, served_database, redis_server
):
    first, second = two_servers
    _, token = served_database
    # Both processes see the same address (loopback); the previous test locked it for failed
    # authentications: start this one from a clean count of failures.
    client = redis.Redis.from_url(redis_server)
    for key in client.scan_iter("*auth-failures*"):
        client.delete(key)

    statuses = [get(server, token)[0] for server in (first, second) * 3]
    status, headers, body = get(first, token)

    assert statuses == [200] * 6
    assert status == 429, body
    assert b"Too many requests with this token" in body
    assert int(headers["Retry-After"]) >= 1
    assert any(b"ratelimit:token:" in key for key in client.keys("*"))
    assert all(token.encode() not in key for key in client.keys("*"))
