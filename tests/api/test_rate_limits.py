"""API rate limits: failed authentications per client address, requests per token.

The counters live in the cache (locmem here; the Redis test in tests/servers proves them shared
between processes). A fixed clock keeps each test inside one window; a test that moves it
shows the sliding window.
"""

import logging

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from integrations.models import Integration
from tenants.services import api_token_create
from tenants.throttling import SharedRateThrottle
from tests.api.support import TWILIO, post_json, url
from tests.factories import actor_named

pytestmark = pytest.mark.django_db

LIST = "/1.0/tenants/acme/integrations"
WRONG = "ir_" + "x" * 43
START = 1_800_000_000.0  # a window boundary for minutes, hours and days alike


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(START + 1)
    monkeypatch.setattr(SharedRateThrottle, "timer", staticmethod(clock))
    return clock


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request, settings):
    """Each test runs on both stores of the counters: the per-process memory cache (through
    Django's cache API) and Redis (config.redis_cache, its counters in one round trip each:
    tenants.throttling._RedisCounters), database 2 of the test Redis, emptied first."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        settings.CACHES = {
            "default": {"BACKEND": "config.redis_cache.RedisCache", "LOCATION": f"{url}/2"}
        }
        caches["default"].clear()
    return request.param


@pytest.fixture
def limits(settings, clock, store):
    settings.API_AUTH_FAILURE_RATE = "3/min"
    settings.API_TOKEN_RATE = "5/min"
    settings.TRUSTED_PROXY_COUNT = 0
    return settings


def bearer(token: str, address: str = "198.51.100.7", **extra):
    client = APIClient(REMOTE_ADDR=address, **extra)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def good_token(tenant):
    _, token = api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)
    return token


def assert_too_many(response, sentence_start: str):
    assert response.status_code == 429, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"].startswith(sentence_start)
    assert int(response["Retry-After"]) >= 1


# --- failed authentications per address ------------------------------------------------------


def test_failed_authentications_from_one_address_are_limited(limits, tenant, good_token):
    statuses = [bearer(WRONG).get(LIST).status_code for _ in range(3)]
    refused = bearer(WRONG).get(LIST)

    assert statuses == [401, 401, 401]
    assert_too_many(refused, "Too many failed authentications from this address.")
    # 59 s to the next window, then 20 s more until the 3 old failures weigh 2 (3 * 40/60).
    assert refused["Retry-After"] == "79"


def test_over_the_limit_even_the_right_token_is_refused_so_guessing_learns_nothing(
    limits, tenant, good_token
):
    for _ in range(3):
        bearer(WRONG).get(LIST)

    response = post_json(bearer(good_token), url("twilio"), TWILIO)

    assert_too_many(response, "Too many failed authentications")
    assert not Integration.all_objects.exists()


def test_other_addresses_and_good_requests_are_not_counted(limits, tenant, good_token):
    for _ in range(3):
        bearer(WRONG, address="198.51.100.7").get(LIST)
    for _ in range(10):
        assert APIClient(REMOTE_ADDR="203.0.113.5").get(LIST).status_code == 401  # no token

    # No Authorization header is no attempt; another address has its own count.
    assert bearer(good_token, address="203.0.113.5").get(LIST).status_code == 200
    assert bearer(WRONG, address="203.0.113.5").get(LIST).status_code == 401


def test_a_malformed_bearer_header_counts_as_a_failure(limits, tenant):
    client = APIClient(REMOTE_ADDR="198.51.100.7")
    client.credentials(HTTP_AUTHORIZATION="Bearer two words")
    for _ in range(3):
        assert client.get(LIST).status_code == 401

    assert client.get(LIST).status_code == 429


def test_the_limit_slides_the_old_failures_weigh_less_as_time_passes(limits, clock, tenant):
    for _ in range(3):
        bearer(WRONG).get(LIST)
    clock.now = START + 60 + 10  # next window, 1/6 in: the old 3 weigh 2.5, 2.5 + 1 > 3
    assert bearer(WRONG).get(LIST).status_code == 429

    clock.now = START + 60 + 30  # half-way: the old 3 weigh 1.5, 1.5 + 1 <= 3
    assert bearer(WRONG).get(LIST).status_code == 401
    assert bearer(WRONG).get(LIST).status_code == 429  # 1.5 + 1 + 1 > 3

    clock.now = START + 60 + 59  # 0.05 + 1 + 1 <= 3
    assert bearer(WRONG).get(LIST).status_code == 401


def test_behind_trusted_proxies_the_forwarded_address_is_counted(limits, tenant, good_token):
    limits.TRUSTED_PROXY_COUNT = 1
    for _ in range(3):
        bearer(WRONG, address="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7").get(LIST)

    same = bearer(good_token, address="10.0.0.3", HTTP_X_FORWARDED_FOR="198.51.100.7")
    other = bearer(good_token, address="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert same.get(LIST).status_code == 429
    assert other.get(LIST).status_code == 200


def test_without_trusted_proxies_a_forged_forwarded_header_changes_nothing(limits, tenant):
    for n in range(3):
        bearer(WRONG, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").get(LIST)

    refused = bearer(WRONG, HTTP_X_FORWARDED_FOR="192.0.2.99").get(LIST)

    assert refused.status_code == 429


# --- requests per token ----------------------------------------------------------------------


def test_each_token_has_a_request_rate(limits, tenant, good_token):
    client = bearer(good_token)
    statuses = [client.get(LIST).status_code for _ in range(5)]

    refused = client.get(LIST)

    assert statuses == [200] * 5
    assert_too_many(refused, "Too many requests with this token")
    assert refused["Retry-After"] == "71"  # 59 s, then 12 s until the 5 weigh 4 (5 * 48/60)
    # Another token of the same tenant, from the same address, has its own count.
    _, other = api_token_create(actor=actor_named("tests"), label="other", tenant=tenant)
    assert bearer(other).get(LIST).status_code == 200


def test_refused_requests_do_not_count_so_a_client_that_slows_down_gets_through(
    limits, clock, tenant, good_token
):
    client = bearer(good_token)
    for _ in range(5):
        client.get(LIST)
    for _ in range(20):
        assert client.get(LIST).status_code == 429

    clock.now = START + 60 + 15  # 5 * 3/4 = 3.75: one more fits (4.75 <= 5), not two
    assert client.get(LIST).status_code == 200
    assert client.get(LIST).status_code == 429


def test_a_right_token_refused_for_its_address_failures_counts_against_its_rate(
    limits, tenant, good_token
):
    """Refused because its address is over its limit of failures, a request with the right
    token still counts against the token's rate: taking it back would tell the right token
    (tests/config/test_redis_cache.py). Every token an address presents counts somewhere."""
    for _ in range(3):
        bearer(WRONG).get(LIST)
    for _ in range(5):
        assert_too_many(bearer(good_token).get(LIST), "Too many failed authentications")

    # From an address in good standing, the token has used up its 5 a minute.
    assert_too_many(
        bearer(good_token, address="203.0.113.5").get(LIST), "Too many requests with this token"
    )


def test_requests_refused_by_a_permission_check_count_against_the_rate(limits, tenant, good_token):
    """Every request a token authenticates counts, answered 403 too: it is counted in the round
    trip that checks its address's failures, before the permission checks."""
    client = bearer(good_token)
    for _ in range(5):
        assert client.get("/1.0/tenants/other/integrations").status_code == 403

    assert_too_many(client.get(LIST), "Too many requests with this token")


def test_writes_over_the_rate_write_nothing(limits, tenant, good_token):
    client = bearer(good_token)
    for _ in range(5):
        client.get(LIST)

    response = post_json(client, url("twilio"), TWILIO)

    assert response.status_code == 429
    assert not Integration.all_objects.exists()


def test_an_empty_rate_is_no_limit(limits, tenant, good_token):
    limits.API_TOKEN_RATE = ""
    limits.API_AUTH_FAILURE_RATE = ""
    assert {bearer(WRONG).get(LIST).status_code for _ in range(10)} == {401}
    assert {bearer(good_token).get(LIST).status_code for _ in range(10)} == {200}


def test_the_default_token_rate_is_generous(settings):
    count, period = settings.API_TOKEN_RATE.split("/")
    assert int(count) >= 600 and period.startswith("m")


# --- logs ------------------------------------------------------------------------------------


def test_429s_are_logged_with_the_token_prefix_never_the_token(limits, tenant, good_token, caplog):
    client = bearer(good_token)
    with caplog.at_level(logging.WARNING, logger="tenants.ratelimits"):
        for _ in range(6):
            client.get(LIST)
        for _ in range(4):
            bearer(WRONG, address="203.0.113.9").get(LIST)

    lines = [r.getMessage() for r in caplog.records if r.name == "tenants.ratelimits"]
    assert len(lines) == 2
    assert "limit=token" in lines[0] and f"token_prefix={good_token[:12]} " in lines[0]
    assert "client=198.51.100.7" in lines[0] and "retry_after=71" in lines[0]
    assert "limit=auth-failures" in lines[1] and "client=203.0.113.9" in lines[1]
    assert good_token not in caplog.text
    assert WRONG not in caplog.text


# --- the shared store is down ----------------------------------------------------------------


@pytest.mark.parametrize(
    "backend", ["django.core.cache.backends.redis.RedisCache", "config.redis_cache.RedisCache"]
)
def test_an_unreachable_cache_leaves_the_api_up_and_says_so_in_the_log(
    limits, tenant, good_token, caplog, backend
):
    # A closed port: the connection is refused at once.
    limits.CACHES = {
        "default": {
            "BACKEND": backend,
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    with caplog.at_level(logging.ERROR, logger="tenants.ratelimits"):
        ok = bearer(good_token).get(LIST)
        wrong = bearer(WRONG).get(LIST)

    assert ok.status_code == 200
    assert wrong.status_code == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "tenants.ratelimits"]
    # The right token's request tried the store once, for both limits (a store that hangs
    # costs it one timeout, not two); the wrong one's tried it twice: check, then count.
    assert len(lines) == 3, lines
    assert all(line.startswith("Rate limit store unavailable") for line in lines)
    assert "limit auth-failures and token not enforced" in lines[0]


def test_a_refused_request_whose_counter_vanished_is_refused_without_an_error(
    limits, tenant, good_token, monkeypatch, caplog
):
    """The counter expired or was evicted between the count and its take-back: nothing to
    take back, no error logged, the request refused all the same."""
    from tenants import throttling

    limits.API_TOKEN_RATE = "1/min"
    for counters in (throttling._CacheCounters, throttling._RedisCounters):
        real = counters.take_one_back

        def vanished_first(self, key, real=real):
            caches["default"].delete(key)
            return real(self, key)

        monkeypatch.setattr(counters, "take_one_back", vanished_first)
    client = bearer(good_token)
    with caplog.at_level(logging.ERROR, logger="tenants.ratelimits"):
        assert client.get(LIST).status_code == 200
        assert client.get(LIST).status_code == 429
    assert "take-back failed" not in caplog.text
