"""config/redis_cache.py and the rate limits' counters on Redis (tenants/throttling.py),
against a real redis-server."""

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from tenants.services import api_token_create
from tenants.throttling import _RedisCounters
from tests.factories import actor_named

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

LIST = "/1.0/tenants/acme/integrations"


@pytest.fixture
def redis_cache(settings, redis_url):
    settings.CACHES = {
        "default": {
            "BACKEND": "config.redis_cache.RedisCache",
            "LOCATION": f"{redis_url}/3",
            "KEY_PREFIX": "registry-test",
        }
    }
    settings.API_TOKEN_RATE = "1000/min"
    settings.API_AUTH_FAILURE_RATE = "1000/min"
    cache = caches["default"]
    cache.clear()
    return cache


def test_one_client_serves_every_operation_and_the_cache_api_still_works(redis_cache):
    assert redis_cache.client() is redis_cache.client()
    assert redis_cache._cache.get_client(write=True) is redis_cache.client()

    redis_cache.set("plain", {"a": 1})
    redis_cache.set("number", 41)
    assert redis_cache.incr("number") == 42
    assert redis_cache.get_many(["plain", "number", "absent"]) == {"plain": {"a": 1}, "number": 42}
    with pytest.raises(ValueError):
        redis_cache.incr("absent")


def test_an_api_request_costs_one_round_trip_to_redis(redis_cache, tenant, round_trips):
    _, token = api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(LIST).status_code == 200
    caches["default"].client().script_flush()  # Redis lost its scripts (a restart)
    round_trips.clear()

    response = client.get(LIST)

    assert response.status_code == 200
    assert len(round_trips) == 1, round_trips
    # The token's count added, and read with the previous window's and the address's failures.
    [script] = round_trips
    assert b"\r\nEVAL\r\n" in script
    assert b":token:" in script and script.count(b":auth-failures:") == 2


def test_a_wrong_token_costs_two_round_trips_to_redis(redis_cache, tenant, round_trips):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer ir_" + "x" * 43)
    assert client.get(LIST).status_code == 401
    round_trips.clear()

    assert client.get(LIST).status_code == 401

    assert len(round_trips) == 2, round_trips
    assert b"MGET" in round_trips[0]  # whether the address may be told anything
    assert b"\r\nEVAL\r\n" in round_trips[1] and b":auth-failures:" in round_trips[1]  # counted


def test_counters_are_written_as_djangos_cache_writes_them(redis_cache):
    counters = _RedisCounters(redis_cache)

    assert counters.add_one("window:1", 121) == (1, [])
    assert counters.add_one("window:1", 121, and_read=["window:0"]) == (2, [0])
    redis_cache.set("window:0", 7)
    assert counters.add_one("window:1", 121, and_read=["window:0"]) == (3, [7])
    counters.take_one_back("window:1")

    assert redis_cache.get("window:1") == 2
    assert counters.read(["window:1", "window:0", "absent"]) == [2, 7, 0]
    assert redis_cache.incr("window:1") == 3
    stored = redis_cache.make_and_validate_key("window:1")
    assert stored.startswith("registry-test:")
    assert 0 < redis_cache.client().ttl(stored) <= 121


def test_a_counter_always_has_its_time_to_live(redis_cache):
    counters = _RedisCounters(redis_cache)
    for _ in range(3):
        counters.add_one("window:9", 50)
    assert 0 < redis_cache.client().ttl(redis_cache.make_and_validate_key("window:9")) <= 50


def test_a_redis_that_lost_the_script_gets_it_again(redis_cache, tenant):
    _, token = api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(LIST).status_code == 200

    redis_cache.client().script_flush()  # as a restarted Redis would have it
    assert client.get(LIST).status_code == 200

    raw = redis_cache.client()
    assert [int(raw.get(key)) for key in raw.keys("registry-test:*:ratelimit:token:*")] == [2]


def test_a_counter_that_is_not_a_number_fails_open_and_is_logged(redis_cache, tenant, caplog):
    _, token = api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)
    client = APIClient(REMOTE_ADDR="198.51.100.7")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(LIST).status_code == 200
    for key in redis_cache.client().keys("*ratelimit:*"):
        redis_cache.client().set(key, b"not a number")

    assert client.get(LIST).status_code == 200
    assert "Rate limit store unavailable" in caplog.text


def test_without_scripts_a_take_back_of_a_vanished_counter_makes_none(redis_cache):
    redis_cache.scripts_refused = True  # as after a Redis refused them: MULTI/EXEC instead
    counters = _RedisCounters(redis_cache)
    assert counters.add_one("window:5", 60) == (1, [])
    assert counters.add_one("window:5", 60) == (2, [])
    counters.take_one_back("window:5")
    assert counters.read(["window:5"]) == [1]

    redis_cache.delete("window:5")  # evicted, flushed or expired in between
    counters.take_one_back("window:5")

    assert redis_cache.client().exists(redis_cache.make_and_validate_key("window:5")) == 0


def test_a_redis_with_the_script_commands_renamed_away_still_counts(
    settings, tmp_path, tenant, caplog
):
    from tests.servers import support

    port = support.free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(tmp_path),
               "--rename-command", "EVALSHA", "", "--rename-command", "EVAL", ""]  # fmt: skip
    server = support.start(
        command, port=port, env={}, log=tmp_path / "redis.log", ready=support.accepts_connections
    )
    try:
        settings.CACHES = {
            "default": {
                "BACKEND": "config.redis_cache.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{port}/0",
            }
        }
        settings.API_TOKEN_RATE = "3/hour"
        _, token = api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

        statuses = [client.get(LIST).status_code for _ in range(5)]
    finally:
        server.stop()

    assert statuses == [200, 200, 200, 429, 429]
    refusals = [r for r in caplog.records if "refuses Lua scripts" in r.getMessage()]
    assert len(refusals) == 1  # said once, then counted without trying again
    assert "Rate limit store unavailable" not in caplog.text


def test_a_locked_out_address_is_refused_in_as_many_round_trips_with_the_right_token(
    redis_cache, settings, tenant, round_trips
):
    """Over its limit of failures, an address is refused (429) whether its token is right or
    wrong, and in one round trip either way: a take-back of the right token's count would make
    its refusal slower, and the difference would tell the right token."""
    settings.API_AUTH_FAILURE_RATE = "1/min"
    _, token = api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)
    right, wrong = APIClient(), APIClient()
    right.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    wrong.credentials(HTTP_AUTHORIZATION="Bearer ir_" + "x" * 43)
    assert wrong.get(LIST).status_code == 401  # the address's one failure
    assert right.get(LIST).status_code == 429

    trips = {}
    for name, client in (("right", right), ("wrong", wrong)):
        round_trips.clear()
        assert client.get(LIST).status_code == 429
        trips[name] = len(round_trips)

    assert trips == {"right": 1, "wrong": 1}
