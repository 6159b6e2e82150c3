"""An outsider's attack on the fixes after tests/api/test_hot_path_attack_3.py: the rate limits'
counters in MULTI/EXEC transactions on a Redis that refuses Lua scripts
(tenants/throttling._RedisCounters), config.request_headers for every header read from META,
and the benchmark's private redis-server (bench/procs.redis_cache).

Tests marked FIXED failed on the code as attacked (holes, fixed since); the rest are attacks
that held. Redis tests use databases 10 and 11 of the test Redis (emptied with FLUSHDB first),
or a private redis-server of their own.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis
from rest_framework.test import APIClient

from bench import procs
from tests.api import test_hot_path_attack_3 as attack_3
from tests.api.support import TWILIO, post_json, url
from tests.api.test_hot_path_attack_3 import (
    LIST,
    WRONG,
    assert_json_error,
    bearer,
    counters_in,
    own_redis,
    race_on_the_counters,
    use_redis,
)
from tests.servers import support

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
REFUSES = "Redis refuses Lua scripts"
UNAVAILABLE = "Rate limit store unavailable"

# The fixtures of the first attack: the rate limits' clock fixed in a window; acme's token.
clock = attack_3.clock
token = attack_3.token


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of this test's own (ACL experiments): (port, admin client)."""
    port = support.free_port()
    server = own_redis(tmp_path, port)
    try:
        yield port, redis.Redis(port=port)
    finally:
        server.stop()


def app_user(admin: redis.Redis, port: int, *commands: str) -> str:
    """An ACL user `app` with every command but `commands` removed; its URL (database 0)."""
    admin.acl_setuser(
        "app",
        enabled=True,
        reset=True,
        passwords=["+app-password"],
        keys=["*"],
        commands=["+@all", *commands],
    )
    return f"redis://app:app-password@127.0.0.1:{port}/0"


def records(caplog, text: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if text in record.getMessage()]


# --- holes found, now fixed ----------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.parametrize(
    "refused",
    [
        # Scripts and WATCH refused (a proxy or ACL without WATCH): every take-back fails.
        ("-@scripting", "-watch"),
        # Scripts allowed but the take-back's commands are not (EXISTS refused).
        ("-exists",),
    ],
)
def test_a_take_back_that_fails_does_not_let_a_request_over_the_limit_through(
    settings, private_redis, clock, tenant, token, caplog, refused
):
    """FIXED (was a hole).

    TokenRateThrottle.allow_request adds one (it worked: the store is there and counts), finds
    the request over the limit, and takes its one back. The take-back is inside the same `try`
    as the count: when it fails (WATCH refused on the MULTI/EXEC path, a NOPERM in the
    script, or a timeout on that second round trip), the request "fails open" and is allowed.
    The limit was measured and exceeded: a failed take-back can only leave the refused request
    counted (a slightly stricter limit), never let it through. Here every request over the
    limit gets a 200 and an error log line."""
    port, admin = private_redis
    use_redis(settings, app_user(admin, port, *refused))
    settings.API_TOKEN_RATE = "2/min"

    statuses = [bearer(token).get(LIST).status_code for _ in range(5)]

    assert statuses == [200, 200, 429, 429, 429], (statuses, caplog.text[-600:])


def test_bench_redis_cache_never_yields_another_servers_redis(monkeypatch, tmp_path):
    """FIXED (was a hole).

    procs.redis_cache picks a free port, starts redis-server on it, and waits until something
    on that port answers PING. If the port is taken meanwhile (free_port releases it before
    redis-server binds it: another process may take it, another bench's redis-server
    included), its own redis-server exits ("Address already in use"), but the first PING
    is answered by the other server: the block gets that server's URL, and the bench counts
    its rate limits in, and its results depend on, someone else's Redis (which it may even
    share with a concurrent bench). Its docstring: "SystemExit when redis-server ... does not
    start"."""
    port = support.free_port()
    foreign = own_redis(tmp_path, port)
    logs = tmp_path / "logs"
    logs.mkdir()
    monkeypatch.setattr(procs, "free_port", lambda: port)
    try:
        with pytest.raises(SystemExit), procs.redis_cache(logs, timeout=5) as given:
            mine = [p for p in _redis_servers_of(os.getpid()) if p != foreign.process.pid]
            pytest.fail(
                f"yielded {given}, another server's; its own redis-server: {mine or 'gone'}"
            )
        ours = []
    finally:
        ours = [p for p in _redis_servers_of(os.getpid()) if p != foreign.process.pid]
        foreign.stop()
    assert not ours


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_a_bytes_like_request_id_is_read_as_bytes_are_never_a_500(tenant, token, kind):
    """FIXED (was a hole; minor: in-process callers or a server outside PEP 3333 only).

    config.request_headers reads a bytes value as latin-1 ("a test client, or a server outside
    the PEP, may give bytes"), but only `bytes`: a bytearray or memoryview is passed through,
    and RequestIdMiddleware's str pattern raises TypeError on it, a 500 before any view (the
    Authorization and X-Forwarded-For readers happen to survive one: .split() works on
    bytearray). A bytes-like value should be read as bytes are."""
    client = bearer(token)
    client.raise_request_exception = False
    response = client.get(LIST, HTTP_X_REQUEST_ID=kind(b"abc-123"))
    assert response.status_code == 200, response.content[:200]
    assert response["X-Request-ID"] == "abc-123"


# --- what held: the counters when Redis refuses scripts ---------------------------------------


@pytest.mark.redis
def test_threads_racing_on_the_transaction_path_count_exactly_with_a_time_to_live(
    settings, private_redis, clock
):
    """Scripts refused: 8 threads x 40 token requests (the WATCHed take-backs retrying under
    contention) and failures recorded: counts exact, every counter expiring."""
    port, admin = private_redis
    use_redis(settings, app_user(admin, port, "-@scripting"))
    settings.API_TOKEN_RATE = "50/min"
    settings.API_AUTH_FAILURE_RATE = "100000/min"
    race_on_the_counters(admin)


@pytest.mark.redis
@pytest.mark.parametrize(
    "refused",
    [
        ("-@scripting",),
        ("-eval",),  # the one scripting command the limits send (config.redis_cache.run_script)
    ],
)
def test_scripts_refused_later_at_run_time_keep_the_limits_logged_once(
    settings, private_redis, clock, tenant, token, caplog, refused
):
    """Scripts allowed at first (the scripts loaded), then an ACL change refuses them: the
    limits hold across the switch, the switch is logged once, nothing "unavailable"."""
    port, admin = private_redis
    location = app_user(admin, port)
    use_redis(settings, location)
    settings.API_TOKEN_RATE = "6/min"
    settings.API_AUTH_FAILURE_RATE = "4/min"
    good, guess = bearer(token), bearer(WRONG, "198.51.100.8")

    before = [(good.get(LIST).status_code, guess.get(LIST).status_code) for _ in range(2)]
    admin.script_flush()  # Redis lost the scripts (a restart): EVAL sends them again
    app_user(admin, port, *refused)
    after = [(good.get(LIST).status_code, guess.get(LIST).status_code) for _ in range(5)]

    assert before == [(200, 401)] * 2
    assert after == [(200, 401)] * 2 + [(200, 429)] + [(200, 429)] + [(429, 429)], after
    assert len(records(caplog, REFUSES)) == 1
    assert not records(caplog, UNAVAILABLE)
    assert all(ttl > 0 for _, ttl in counters_in(admin).values())


@pytest.mark.redis
def test_a_redis_refusing_scripts_and_transactions_fails_open_logged_never_a_500(
    settings, private_redis, clock, tenant, token, caplog
):
    """MULTI refused: the token limit fails open, logged, each time. (Redis still runs the
    commands queued after a refused MULTI one by one, so failures are counted and the
    address is refused after its limit, although the log says "auth-failures not
    enforced".)"""
    port, admin = private_redis
    use_redis(settings, app_user(admin, port, "-@scripting", "-@transaction"))
    settings.API_TOKEN_RATE = "1/min"
    settings.API_AUTH_FAILURE_RATE = "1/min"

    good = [bearer(token).get(LIST) for _ in range(3)]
    guesses = [bearer(WRONG, "198.51.100.8").get(LIST) for _ in range(3)]

    assert [response.status_code for response in good] == [200] * 3
    assert guesses[0].status_code == 401
    for response in guesses:
        assert_json_error(response, response.status_code)
        assert response.status_code in {401, 429}
    assert records(caplog, UNAVAILABLE)
    assert all(ttl > 0 for _, ttl in counters_in(admin).values())


@pytest.mark.redis
@pytest.mark.parametrize(
    ("value", "guessed"),
    [
        (b"abc", 401),
        (b"1.5", 401),
        (b"\x80\x04K\x01.", 401),  # a pickle, as Django's cache writes a non-int
        (b"99999999999999999999", 429),  # read as over the limit; INCR out of range
    ],
)
@pytest.mark.parametrize("scripts", [True, False])
def test_a_counter_holding_a_non_integer_fails_open_logged_never_a_500(
    settings, private_redis, clock, tenant, token, caplog, value, guessed, scripts
):
    port, admin = private_redis
    cache = use_redis(settings, app_user(admin, port, *([] if scripts else ["-@scripting"])))
    settings.API_TOKEN_RATE = "5/min"
    settings.API_AUTH_FAILURE_RATE = "5/min"
    assert bearer(token).get(LIST).status_code == 200
    assert bearer(WRONG, "198.51.100.8").get(LIST).status_code == 401
    for key in admin.keys("*ratelimit:*"):
        admin.set(key, value, keepttl=True)  # both windows' counters, as found
        admin.set(key.replace(b":30000000", b":29999999"), value, ex=60)

    good = [bearer(token).get(LIST) for _ in range(2)]
    guesses = [bearer(WRONG, "198.51.100.8").get(LIST) for _ in range(2)]

    assert [response.status_code for response in good] == [200, 200]
    for response in guesses:
        assert_json_error(response, guessed)
    assert records(caplog, UNAVAILABLE)
    assert cache.scripts_refused is not scripts  # a non-integer is not a refusal
    assert all(admin.ttl(key) > 0 for key in admin.keys("*ratelimit:*"))


@pytest.mark.redis
@pytest.mark.parametrize(
    ("address", "forwarded", "proxies"),
    [
        ("fe80::1%eth0", None, 0),
        ("fe80::1%a b\nc:d{e}", None, 0),
        ("fe80::1%" + "\u00e9" * 300, None, 0),
        ("10.0.0.1", "203.0.113.9, fe80::1%eth0", 1),
        ("10.0.0.1", "2001:db8::1%zone:with:colons, 10.0.0.2", 2),
        ("10.0.0.1", b"2001:db8::7, \xff\xfe", 1),
    ],
)
def test_odd_client_addresses_make_working_keys_on_redis(
    settings, redis_url, clock, tenant, token, address, forwarded, proxies
):
    cache = use_redis(settings, f"{redis_url}/10")
    cache.clear()
    settings.TRUSTED_PROXY_COUNT = proxies
    settings.API_AUTH_FAILURE_RATE = "2/min"
    extra = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}

    client = APIClient(REMOTE_ADDR=address, **extra)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {WRONG}")
    statuses = [client.get(LIST) for _ in range(3)]

    assert [response.status_code for response in statuses] == [401, 401, 429]
    for response in statuses:
        assert_json_error(response, response.status_code)
    counters = counters_in(cache.client())
    assert [count for count, _ in counters.values()] == [2]
    assert all(ttl > 0 for _, ttl in counters.values())


# --- what held: config.request_headers --------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        b"abc-123",
        b"\xff\xfe\x00",
        b"a\r\nSet-Cookie: x=1",
        "a\r\nSet-Cookie: x=1",
        "\udcff",
        "\ud800abc",
        "x" * 1_000_000,
        b"x" * 64,
        "",
    ],
)
def test_odd_request_ids_are_replaced_never_a_500(tenant, token, value):
    response = bearer(token).get(LIST, HTTP_X_REQUEST_ID=value)
    assert response.status_code == 200, response.content
    given = response["X-Request-ID"]
    assert given.isascii() and 0 < len(given) <= 64 and "\n" not in given
    if value in (b"abc-123", b"x" * 64):
        assert given == value.decode()


@pytest.mark.parametrize(
    "value",
    [
        b"Bearer \xff\xfe",
        b"Bearer " + "\u00e9".encode() * 43,
        "Bearer \udcff" * 1000,
        "Bearer\x00 x",
        "Bearer x\r\nX-Evil: 1",
        b"Bearer " + b"x" * 1_000_000,
    ],
)
def test_odd_authorization_values_are_a_json_401(tenant, value):
    assert_json_error(APIClient().get(LIST, HTTP_AUTHORIZATION=value), 401)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("HTTP_IF_MATCH", "\udcff"),
        ("HTTP_IF_MATCH", '"\ud800"'),
        ("HTTP_IF_MATCH", b'"\xff"'),
        ("HTTP_IF_MATCH", '"1-1"\x00'),
        ("HTTP_IF_MATCH", '"1-1"\r\n'),
        ("HTTP_IF_MATCH", '"1-1", ' * 100_000),
        ("HTTP_IF_NONE_MATCH", "\udcff"),
        ("HTTP_IF_NONE_MATCH", b"\xff\x00"),
        ("HTTP_IF_NONE_MATCH", "*" * 1_000_000),
    ],
)
@pytest.mark.parametrize("method", ["get", "patch", "delete", "post"])
def test_odd_conditional_headers_are_never_a_500(tenant, token, header, value, method):
    client = bearer(token)
    assert post_json(client, url("twilio"), TWILIO).status_code == 201
    if method == "get":
        response = client.get(url("twilio"), **{header: value})
    elif method == "post":
        response = post_json(client, url("twilio"), TWILIO, **{header: value})
    else:
        body = {"account": "AC-changed"} if method == "patch" else None
        response = getattr(client, method)(
            url("twilio"), body, format="json" if body else None, **{header: value}
        )
    assert response.status_code in {200, 201, 204, 304, 400, 412, 428}, response.content
    if response.status_code >= 400:
        assert_json_error(response, response.status_code)


# --- what held: bench/procs.redis_cache ------------------------------------------------------


def _redis_servers_of(parent: int) -> list[int]:
    found = []
    for pid in procs.children_of(parent):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "redis-server":
                found.append(pid)
        except OSError:
            continue
    return found


def _gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while True:
        try:
            state = procs._stat_fields(pid)[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_bench_redis_cache_is_stopped_when_the_block_raises(tmp_path):
    with pytest.raises(RuntimeError), procs.redis_cache(tmp_path) as given:
        assert redis.Redis.from_url(given).ping()
        (pid,) = _redis_servers_of(os.getpid())
        raise RuntimeError("the bench failed")
    assert _gone(pid)
    assert not _redis_servers_of(os.getpid())


def test_bench_redis_cache_on_a_port_held_by_something_else_is_a_system_exit(monkeypatch, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setattr(procs, "free_port", lambda: taken.getsockname()[1])
        with pytest.raises(SystemExit, match="did not start"), procs.redis_cache(tmp_path):
            pytest.fail("yielded")
    assert not _redis_servers_of(os.getpid())


_BENCH = """
import os, sys, time
from pathlib import Path
from bench import procs
with procs.redis_cache(Path(sys.argv[1])) as given:
    pids = [p for p in procs.children_of(os.getpid())
            if Path(f"/proc/{p}/comm").read_text().strip() == "redis-server"]
    print(pids[0], flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_bench_redis_cache_dies_with_a_bench_that_is_signalled(tmp_path, signum):
    bench = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_BENCH), str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    pid = None
    try:
        pid = int(bench.stdout.readline())
        bench.send_signal(signum)
        # Generous: on a loaded CI machine a SIGKILLed bench once took over 20 s to be reaped.
        bench.wait(timeout=90)
        assert _gone(pid, within=30), f"redis-server {pid} outlived the bench ({signum!r})"
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
        if pid is not None and not _gone(pid, within=0):
            os.kill(pid, signal.SIGKILL)
