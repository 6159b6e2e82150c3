"""An outsider's attack on f51938c: the API token looked up before any rate limit, and a right
token's two limits (its address's failed authentications, its own request rate) in one round
trip to the store (tenants.authentication.BearerTokenAuthentication, tenants.throttling.admit,
the counters' add_one(..., and_read=[...])).

Attacked: the guessing oracle from an address over its failure limit (right token against
wrong, unknown, revoked and expired ones: status, body, headers, Redis round trips, database
queries), what a locked-out right token may still do, every combination of the two rates on
both stores, a store that is down, hangs, holds junk, refuses scripts or refuses writes,
threads racing, window boundaries, and the logs.

Tests whose docstring starts with FIXED failed on the code as attacked (the holes, fixed since);
the rest held. Redis tests
use databases 9, 10 and 11 of the test Redis (emptied first), or a private redis-server.
"""

import logging
import math
import os
import signal
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import exceptions

from integrations.models import Integration
from tenants import throttling, token_cache
from tenants.authentication import BearerTokenAuthentication
from tenants.models import ApiToken, AuditEvent
from tenants.services import api_token_create, api_token_revoke
from tenants.throttling import TokenRateThrottle
from tests.api import test_hot_path_attack_4 as attack_4
from tests.api.support import TWILIO, post_json, url
from tests.api.test_hot_path_attack_3 import counters_in, own_redis, use_redis
from tests.api.test_rate_limits import LIST, START, WRONG, assert_too_many, bearer, clock
from tests.factories import actor_named
from tests.servers import support

pytestmark = pytest.mark.django_db

clock = clock  # the fixture of tests/api/test_rate_limits.py: the limits' clock, fixed
private_redis = attack_4.private_redis  # a redis-server of the test's own: (port, admin client)
app_user = attack_4.app_user
ADDRESS = "198.51.100.7"
LOCKED = "Too many failed authentications from this address."
# Headers that name the request, not the answer: they differ between any two requests.
PER_REQUEST = {"X-Request-ID", "Date"}


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request, settings):
    """The counters on the per-process memory cache, or on Redis (database 9, emptied)."""
    if request.param == "redis":
        cache = use_redis(settings, f"{request.getfixturevalue('redis_url')}/9")
        cache.clear()
    return request.param


@pytest.fixture
def limits(settings, clock, store):
    settings.API_AUTH_FAILURE_RATE = "3/min"
    settings.API_TOKEN_RATE = "100/min"
    settings.TRUSTED_PROXY_COUNT = 0
    return settings


@pytest.fixture
def redis9(settings, redis_url, clock):
    """The config's RedisCache on database 9 (emptied), the limits set; its raw client."""
    cache = use_redis(settings, f"{redis_url}/9")
    cache.clear()
    settings.API_AUTH_FAILURE_RATE = "3/min"
    settings.API_TOKEN_RATE = "100/min"
    settings.TRUSTED_PROXY_COUNT = 0
    return cache.client()


@pytest.fixture
def tokens(tenant):
    """Every kind of token an address may present: {kind: (plaintext, ApiToken or None)}."""
    actor = actor_named("tests")

    def create(label, **extra):
        return api_token_create(actor=actor, label=label, tenant=tenant, **extra)

    right_row, right = create("right")
    revoked_row, revoked = create("revoked")
    api_token_revoke(api_token=revoked_row, actor=actor)
    expired_row, expired = create("expired", expires_at=timezone.now() + timedelta(seconds=1))
    ApiToken.objects.filter(pk=expired_row.pk).update(expires_at=timezone.now() - timedelta(days=1))
    # The right token's prefix with a wrong secret, the same length: a well-formed guess.
    secret = right[12:]
    wrong = right[:12] + ("A" if secret[0] != "A" else "B") + secret[1:]
    return {
        "right": (right, right_row),
        "wrong": (wrong, right_row),
        "unknown": (WRONG, None),
        "revoked": (revoked, revoked_row),
        "expired": (expired, expired_row),
    }


def lock_out(address: str = ADDRESS, failures: int = 3) -> None:
    for _ in range(failures):
        assert bearer(WRONG, address).get(LIST).status_code == 401


def answer(response) -> tuple:
    """All an outsider sees of a response: status, body, headers (but the per-request ones)."""
    headers = {k: v for k, v in response.headers.items() if k not in PER_REQUEST}
    return response.status_code, response.content, headers


# --- 1. the guessing oracle from an address over its limit of failures -----------------------


def test_a_locked_out_address_sees_the_same_answer_for_every_token(limits, tokens):
    lock_out()
    answers = {kind: answer(bearer(plain).get(LIST)) for kind, (plain, _) in tokens.items()}

    assert answers["right"][0] == 429
    assert_too_many(bearer(tokens["right"][0]).get(LIST), LOCKED)
    for kind, seen in answers.items():
        assert seen == answers["right"], kind


@pytest.mark.parametrize("method", ["get", "post", "patch", "delete", "head", "options"])
def test_every_method_of_a_locked_out_address_answers_the_same_right_or_wrong(
    limits, tokens, method
):
    lock_out()
    right = getattr(bearer(tokens["right"][0]), method)(url("twilio"))
    wrong = getattr(bearer(tokens["wrong"][0]), method)(url("twilio"))
    assert right.status_code == 429
    assert answer(right) == answer(wrong)


def test_a_locked_out_address_costs_the_same_database_queries_right_or_wrong(limits, tokens):
    """The same whether the process remembers the token (tenants/token_cache.py: none, on
    Redis) or not (one: the token's row looked up; nothing written)."""
    lock_out()
    remembered = token_cache.enabled()
    for warm in (False, True):
        queries = {}
        for kind, (plain, _) in tokens.items():
            if warm:  # remembered, and stamped with the store's generation
                assert bearer(plain).get(LIST).status_code == 429
            else:
                token_cache.tokens.forget()
            client = bearer(plain)
            with CaptureQueriesContext(connection) as captured:
                assert client.get(LIST).status_code == 429
            queries[kind] = len(captured)
        assert set(queries.values()) == {0 if warm and remembered else 1}, (warm, queries)


@pytest.mark.redis
@pytest.mark.parametrize("token_rate", ["100/min", ""])
def test_a_locked_out_address_costs_one_round_trip_whatever_its_token(
    redis9, settings, tokens, round_trips, token_rate
):
    settings.API_TOKEN_RATE = token_rate
    lock_out()
    assert bearer(tokens["right"][0]).get(LIST).status_code == 429  # the script loaded

    sent = {}
    for kind, (plain, _) in tokens.items():
        round_trips.clear()
        assert bearer(plain).get(LIST).status_code == 429
        sent[kind] = list(round_trips)

    assert {kind: len(commands) for kind, commands in sent.items()} == dict.fromkeys(sent, 1)


@pytest.mark.redis
def test_a_locked_out_address_costs_as_many_round_trips_with_the_right_token_on_a_cold_script(
    redis9, tokens, round_trips
):
    """FIXED (was a hole, minor): after Redis lost its scripts (a restart, SCRIPT FLUSH), the
    first right token from a locked-out address cost three round trips (EVALSHA answered
    NOSCRIPT, SCRIPT LOAD, EVALSHA again) where a wrong token's refusal costs one (MGET, which
    needs no script): the right token's refusal was slower, once per process and Redis
    restart. The scripts now run with EVAL (config.redis_cache.run_script): one round trip
    whatever Redis holds."""
    lock_out()
    redis9.script_flush()

    round_trips.clear()
    assert bearer(tokens["right"][0]).get(LIST).status_code == 429
    right = len(round_trips)
    round_trips.clear()
    assert bearer(tokens["wrong"][0]).get(LIST).status_code == 429
    wrong = len(round_trips)

    assert right == wrong, (right, wrong)


@pytest.mark.redis
def test_without_scripts_a_locked_out_address_costs_one_round_trip_whatever_its_token(
    settings, private_redis, clock, tokens, round_trips
):
    port, admin = private_redis
    use_redis(settings, app_user(admin, port, "-@scripting"))
    settings.API_AUTH_FAILURE_RATE = "3/min"
    settings.API_TOKEN_RATE = "100/min"
    settings.TRUSTED_PROXY_COUNT = 0
    lock_out()
    assert bearer(tokens["right"][0]).get(LIST).status_code == 429  # the refusal found

    answers, trips = {}, {}
    for kind, (plain, _) in tokens.items():
        round_trips.clear()
        answers[kind] = answer(bearer(plain).get(LIST))
        trips[kind] = len(round_trips)

    assert answers["right"][0] == 429
    assert all(seen == answers["right"] for seen in answers.values())
    assert trips == dict.fromkeys(trips, 1)


# --- 2. what a locked-out right token may still do -------------------------------------------


def test_a_locked_out_right_token_writes_reveals_and_touches_nothing(limits, tenant):
    actor = actor_named("tests")
    row, plain = api_token_create(actor=actor, label="all", tenant=tenant)
    assert post_json(bearer(plain, "203.0.113.5"), url("twilio"), TWILIO).status_code == 201
    long_ago = timezone.now() - timedelta(days=3)
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=long_ago)
    events = AuditEvent.objects.count()
    stored = Integration.all_objects.get()
    lock_out()

    client = bearer(plain)
    responses = [
        client.get(url("twilio")),
        client.get(LIST),
        post_json(client, url("sendgrid"), {"account": "u", "password": "sendgrid-pw-x"}),
        client.patch(url("twilio"), '{"account": "AC999"}', content_type="application/json"),
        client.put(
            url("twilio"),
            '{"account": "AC999", "password": "p"}',
            content_type="application/json",
        ),
        client.delete(url("twilio")),
    ]

    for response in responses:
        assert_too_many(response, LOCKED)
        assert TWILIO["password"].encode() not in response.content
        assert b"AC0123456789" not in response.content
    assert AuditEvent.objects.count() == events
    assert ApiToken.objects.get(pk=row.pk).last_used_at == long_ago
    [after] = Integration.all_objects.all()
    assert (after.pk, after.account, after.deleted_at) == (stored.pk, "AC0123456789", None)


# --- 3. the rates' settings, on both stores --------------------------------------------------


@pytest.mark.parametrize(
    ("token_rate", "failure_rate"), [("", ""), ("5/min", ""), ("", "3/min"), ("5/min", "3/min")]
)
def test_each_combination_of_rates_enforces_exactly_the_ones_set(
    limits, tokens, token_rate, failure_rate
):
    limits.API_TOKEN_RATE = token_rate
    limits.API_AUTH_FAILURE_RATE = failure_rate
    right, guess = bearer(tokens["right"][0]), bearer(tokens["wrong"][0])

    rights = [right.get(LIST).status_code for _ in range(7)]
    guesses = [guess.get(LIST).status_code for _ in range(5)]
    after = right.get(LIST)

    assert rights == ([200] * 5 + [429] * 2 if token_rate else [200] * 7)
    assert guesses == ([401] * 3 + [429] * 2 if failure_rate else [401] * 5)
    if failure_rate:
        assert_too_many(after, LOCKED)
    elif token_rate:
        assert_too_many(after, "Too many requests with this token")
    else:
        assert after.status_code == 200


@pytest.mark.redis
@pytest.mark.parametrize(
    ("token_rate", "failure_rate", "cache_seconds", "right_trips", "wrong_trips"),
    [
        # Without tokens remembered (tenants/token_cache.py): only the limits' round trips.
        ("", "", 0, 0, 0),
        ("5/min", "", 0, 1, 0),
        ("", "3/min", 0, 1, 2),
        ("5/min", "3/min", 0, 1, 2),
        # Remembered: the tokens' generation is read in the limits' first round trip, or in
        # one of its own when no limit makes one.
        ("", "", 15, 1, 1),
        ("5/min", "", 15, 1, 1),
        ("", "3/min", 15, 1, 2),
        ("5/min", "3/min", 15, 1, 2),
    ],
)
def test_each_combination_of_rates_costs_its_round_trips_and_no_more(
    redis9,
    settings,
    tokens,
    round_trips,
    token_rate,
    failure_rate,
    cache_seconds,
    right_trips,
    wrong_trips,
):
    settings.API_TOKEN_RATE = token_rate
    settings.API_AUTH_FAILURE_RATE = failure_rate
    settings.API_TOKEN_CACHE_SECONDS = cache_seconds
    right, guess = bearer(tokens["right"][0]), bearer(tokens["wrong"][0], "203.0.113.5")
    assert right.get(LIST).status_code == 200  # the script loaded
    assert guess.get(LIST).status_code == 401

    round_trips.clear()
    assert right.get(LIST).status_code == 200
    right_sent = len(round_trips)
    round_trips.clear()
    assert guess.get(LIST).status_code == 401
    wrong_sent = len(round_trips)

    assert (right_sent, wrong_sent) == (right_trips, wrong_trips)
    keys = {key.split(b":ratelimit:")[1].split(b":")[0] for key in redis9.keys("*ratelimit:*")}
    expected = {b"token"} if token_rate else set()
    assert keys == expected | ({b"auth-failures"} if failure_rate else set())


# --- 4. the store fails ----------------------------------------------------------------------


@pytest.mark.parametrize(("token_rate", "failure_rate"), [("5/min", "3/min"), ("", "3/min")])
def test_a_closed_port_fails_open_never_a_500(
    settings, clock, tokens, caplog, token_rate, failure_rate
):
    use_redis(settings, "redis://127.0.0.1:9/0")
    settings.API_TOKEN_RATE, settings.API_AUTH_FAILURE_RATE = token_rate, failure_rate
    with caplog.at_level(logging.ERROR, logger="tenants.ratelimits"):
        statuses = [
            (bearer(tokens["right"][0]).get(LIST).status_code, bearer(WRONG).get(LIST).status_code)
            for _ in range(6)
        ]
    assert statuses == [(200, 401)] * 6
    assert "not enforced" in caplog.text


@pytest.mark.redis
@pytest.mark.parametrize(("token_rate", "failure_rate"), [("5/min", "3/min"), ("", "3/min")])
def test_a_hung_redis_costs_a_right_token_one_timeout(
    settings, tmp_path, clock, tokens, caplog, round_trips, token_rate, failure_rate
):
    """One command sent to the hung Redis, so one timeout waited (the time is only checked
    loosely: the request's database work on a loaded machine may take a while too)."""
    settings.API_TOKEN_RATE, settings.API_AUTH_FAILURE_RATE = token_rate, failure_rate
    port = support.free_port()
    server = own_redis(tmp_path, port)
    client = bearer(tokens["right"][0])
    try:
        use_redis(settings, f"redis://127.0.0.1:{port}/0")  # socket_timeout 1
        assert client.get(LIST).status_code == 200  # connected, the script loaded
        os.kill(server.process.pid, signal.SIGSTOP)
        round_trips.clear()
        began = time.monotonic()
        response = client.get(LIST)
        took = time.monotonic() - began
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()
    assert response.status_code == 200
    assert len(round_trips) == 1, round_trips
    assert 0.9 < took < 10, took
    unavailable = [r for r in caplog.records if "store unavailable" in r.getMessage()]
    assert len(unavailable) == 1


@pytest.mark.parametrize("where", ["failures", "token"])
@pytest.mark.parametrize(
    "backend", ["memory", pytest.param("django-redis", marks=pytest.mark.redis)]
)
def test_a_cache_api_counter_holding_a_non_integer_is_never_a_500(
    settings, request, clock, tokens, caplog, where, backend
):
    """FIXED (was a hole, minor, older than f51938c, which kept it): through Django's cache API
    (_CacheCounters: the memory cache, or Django's own RedisCache, which the limits support
    for a rolling deploy and which unpickles any non-int it finds) `read` and
    `add_one(and_read=...)` answer a counter's value as stored. A non-number (here a str in
    the previous window's counter) reaches the sliding-window arithmetic outside any `try`
    (AuthFailureThrottle.admits from admit and from _refuse, TokenRateThrottle._admits):
    TypeError, a 500 for the right token and (the failures' counter) the wrong one alike.
    On _RedisCounters the same counter fails open, logged; now here too (_CacheCounters.read
    reads each value as a whole number, inside the store's `try`)."""
    if backend == "django-redis":
        use_redis(
            settings,
            f"{request.getfixturevalue('redis_url')}/11",
            backend="django.core.cache.backends.redis.RedisCache",
        )
    settings.API_TOKEN_RATE = "5/min"
    settings.API_AUTH_FAILURE_RATE = "3/min"
    settings.TRUSTED_PROXY_COUNT = 0
    cache = caches["default"]
    cache.clear()
    prefix = tokens["right"][1].prefix
    index = int(START // 60)
    key = f"auth-failures:{ADDRESS}" if where == "failures" else f"token:{prefix}"
    cache.set(f"ratelimit:{key}:{index - 1}", "junk", 120)  # the previous window's counter

    right = bearer(tokens["right"][0])
    right.raise_request_exception = False
    wrong = bearer(tokens["wrong"][0])
    wrong.raise_request_exception = False
    statuses = (right.get(LIST).status_code, wrong.get(LIST).status_code)

    assert statuses == (200, 401)


@pytest.mark.redis
@pytest.mark.parametrize("scripts", [True, False])
def test_a_redis_refusing_writes_still_refuses_a_locked_out_address_its_right_token(
    settings, private_redis, clock, tokens, caplog, scripts
):
    """FIXED (was a hole): the right token's one round trip adds to its counter and reads the
    address's failures together. When Redis refuses writes but answers reads (maxmemory reached with
    its default policy, noeviction: "OOM command not allowed"; or a read-only replica after
    a failover), the script (or the MULTI/EXEC) fails whole, admit fails open and the right
    token gets in (200) from an address over its limit, while every wrong token is still
    refused (429: the failures' MGET answers). The lockout's point, that a guessing address
    learns nothing, is lost while the store refuses writes; before f51938c the failures were
    read first and every token of the address was refused. Now, when the store answers the
    combined round trip with an error, admit reads the failures alone: the address stays
    refused (the token's rate is what goes unenforced, logged)."""
    port, admin = private_redis
    use_redis(settings, app_user(admin, port, *([] if scripts else ["-@scripting"])))
    settings.API_AUTH_FAILURE_RATE = "3/min"
    settings.API_TOKEN_RATE = "100/min"
    settings.TRUSTED_PROXY_COUNT = 0
    right, wrong = bearer(tokens["right"][0]), bearer(tokens["wrong"][0])
    assert right.get(LIST).status_code == 200
    lock_out()
    admin.config_set("maxmemory", "1")  # full: every write refused, reads answered

    try:
        answers = {"right": answer(right.get(LIST)), "wrong": answer(wrong.get(LIST))}
    finally:
        admin.config_set("maxmemory", "0")

    assert answers["wrong"][0] == 429
    assert answers["right"] == answers["wrong"]


# --- 5. racing ------------------------------------------------------------------------------


def _request(address: str, prefix: str | None = None):
    """What admit, the throttles and _refuse read of a DRF request."""
    return SimpleNamespace(
        auth=SimpleNamespace(prefix=prefix) if prefix else None,
        META={"REMOTE_ADDR": address},
        method="GET",
        path=LIST,
    )


def _race(work, threads: int = 8) -> list[Exception]:
    errors: list[Exception] = []

    def run():
        try:
            work()
        except Exception as error:
            errors.append(error)

    running = [threading.Thread(target=run) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=60)
    return errors


@pytest.mark.redis
@pytest.mark.parametrize("scripts", [True, False])
def test_threads_racing_through_admit_get_exactly_the_rate(
    settings, request, redis_url, clock, scripts
):
    """8 threads x 40 requests of one token through admit then TokenRateThrottle (the path of
    a right token), 50 a minute: exactly 50 admitted, the counter at 50 with its time to live.
    Without scripts: an ACL user without @scripting on a private Redis (each thread has its
    own cache object, so scripts_refused cannot be set from here)."""
    if scripts:
        cache = use_redis(settings, f"{redis_url}/10")
        cache.clear()
    else:
        port, admin = request.getfixturevalue("private_redis")
        cache = use_redis(settings, app_user(admin, port, "-@scripting"))
    settings.API_TOKEN_RATE = "50/min"
    settings.API_AUTH_FAILURE_RATE = "3/min"
    settings.TRUSTED_PROXY_COUNT = 0
    token = SimpleNamespace(prefix="ir_abcdefghi")
    allowed: list[bool] = []

    def work():
        for _ in range(40):
            request = _request("198.51.100.9", token.prefix)
            throttling.admit(request, token)
            allowed.append(TokenRateThrottle().allow_request(request, None))

    assert _race(work) == []
    assert (sum(allowed), len(allowed)) == (50, 320)
    counters = counters_in(cache.client())
    assert [count for count, _ in counters.values()] == [50]
    assert all(0 < ttl <= 121 for _, ttl in counters.values())


@pytest.mark.redis
def test_right_and_wrong_tokens_racing_from_one_address(settings, redis_url, clock):
    """4 threads guessing, 4 with the right token, one address, 10 failures a minute: the
    guesses counted are the limit plus at most one per thread in flight; once the address is
    over, the right token is refused too, and counted against its rate, never over it."""
    cache = use_redis(settings, f"{redis_url}/10")
    cache.clear()
    settings.API_TOKEN_RATE = "1000/min"
    settings.API_AUTH_FAILURE_RATE = "10/min"
    settings.TRUSTED_PROXY_COUNT = 0
    token = SimpleNamespace(prefix="ir_abcdefghi")
    guesses: list[str] = []
    rights: list[str] = []
    turn = threading.Barrier(8)

    def work():
        guessing = turn.wait() % 2 == 0
        for _ in range(30):
            if guessing:
                try:
                    BearerTokenAuthentication._refuse(_request("198.51.100.9"), "no")
                except exceptions.Throttled:
                    guesses.append("429")
                except exceptions.AuthenticationFailed:
                    guesses.append("401")
            else:
                request = _request("198.51.100.9", token.prefix)
                try:
                    throttling.admit(request, token)
                except exceptions.Throttled:
                    rights.append("429")
                    continue
                rights.append("200" if TokenRateThrottle().allow_request(request, None) else "!")

    assert _race(work) == []
    assert 10 <= guesses.count("401") <= 10 + 3, guesses.count("401")
    assert guesses.count("429") == 120 - guesses.count("401")
    assert "!" not in rights and len(rights) == 120
    counters = {
        key.split(b":ratelimit:")[1]: count
        for key, (count, _) in counters_in(cache.client()).items()
    }
    failures = [c for k, c in counters.items() if k.startswith(b"auth-failures:")]
    token_counts = [c for k, c in counters.items() if k.startswith(b"token:")]
    assert failures == [guesses.count("401")]
    assert token_counts == [120]  # every right request counted, the refused ones too
    # After the race the address is over its limit: the right token is refused.
    request = _request("198.51.100.9", token.prefix)
    with pytest.raises(exceptions.Throttled):
        throttling.admit(request, token)


# --- 6. window boundaries --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "status"),
    [
        (59.999, 429),
        (60, 429),
        (60.001, 429),
        (60 + 19.9, 429),
        (60 + 20, 200),  # 3 * 40/60 = 2: 2 + 1 <= 3
        (119.999, 200),
        (120, 200),
    ],
)
def test_at_the_window_boundaries_right_and_wrong_tokens_are_refused_alike(
    limits, clock, tokens, at, status
):
    lock_out()  # 3 failures at START + 1
    clock.now = START + at
    right = bearer(tokens["right"][0]).get(LIST)
    wrong = bearer(tokens["wrong"][0]).get(LIST)

    assert right.status_code == status
    if status == 429:
        assert answer(right) == answer(wrong)
        # Until the 3 failures of START's window weigh 2: 20 s into the next one.
        assert int(right["Retry-After"]) == max(1, math.ceil(80 - at - 1e-6))
    else:
        assert wrong.status_code == 401


@pytest.mark.parametrize(
    ("at", "status"), [(60, 429), (60 + 11.9, 429), (60 + 12, 200), (120, 200)]
)
def test_the_token_rate_slides_across_the_boundary_with_the_count_admit_made(
    limits, clock, tokens, at, status
):
    limits.API_TOKEN_RATE = "5/min"
    clock.now = START + 59.9
    client = bearer(tokens["right"][0])
    assert [client.get(LIST).status_code for _ in range(5)] == [200] * 5

    clock.now = START + at  # 5 * (1 - elapsed/60) + 0 + 1 <= 5 from 12 s in
    assert client.get(LIST).status_code == status


# --- 7. logs --------------------------------------------------------------------------------


def test_no_log_line_ever_holds_a_token(settings, limits, tokens, caplog):
    """Locked out, over the token rate, the store down: every logger, every level."""
    limits.API_TOKEN_RATE = "2/min"
    presented = [plain for plain, _ in tokens.values()]
    with caplog.at_level(logging.DEBUG):
        for plain in presented:
            bearer(plain, "203.0.113.5").get(LIST)
        for _ in range(3):
            bearer(tokens["right"][0], "203.0.113.6").get(LIST)
        lock_out()
        for plain in presented:
            bearer(plain).get(LIST)
        use_redis(settings, "redis://127.0.0.1:9/0")
        for plain in presented:
            bearer(plain, "203.0.113.7").get(LIST)

    assert "limit=auth-failures" in caplog.text and "limit=token" in caplog.text
    assert "not enforced" in caplog.text
    for plain in presented:
        assert plain not in caplog.text
        assert plain[12:] not in caplog.text  # the secret part alone
