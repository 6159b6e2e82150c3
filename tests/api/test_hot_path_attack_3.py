"""An outsider's attack on the API hot path changes: the session, user and messages middleware
skipped under /1.0/ (config/browser_middleware.py), JsonFirstContentNegotiation, the
Authorization and If-(None-)Match headers read from META, and the rate limits' counters on
Redis in one round trip each (config/redis_cache.py, tenants/throttling._RedisCounters).

The first three were holes (fixed since, each marked FIXED); the rest are attacks that held.
Redis tests use databases 12 to 15 of the test Redis (emptied with FLUSHDB first), or a
private redis-server of their own.
"""

import json
import os
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
from django.core.cache import caches
from django.core.handlers.base import BaseHandler
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from tenants.services import api_token_create
from tenants.throttling import (
    AuthFailureThrottle,
    SharedRateThrottle,
    TokenRateThrottle,
    _RedisCounters,
)
from tests.api.support import TWILIO, post_json, url
from tests.factories import actor_named
from tests.servers import support
from tests.web.conftest import PASSWORD, logged_in, make_user

pytestmark = pytest.mark.django_db

LIST = "/1.0/tenants/acme/integrations"
WRONG = "ir_" + "x" * 43
START = 1_800_000_000.0  # a window boundary for minutes
REDIS_SERVER = os.environ.get("REDIS_SERVER_PATH", "/usr/bin/redis-server")


@pytest.fixture
def clock(monkeypatch):
    """The rate limits' clock, fixed one second into a window."""
    now = [START + 1]
    monkeypatch.setattr(SharedRateThrottle, "timer", staticmethod(lambda: now[0]))
    return now


@pytest.fixture
def token(tenant):
    return api_token_create(actor=actor_named("tests"), label="ops", tenant=tenant)[1]


@pytest.fixture
def staff_cookie(db):
    client = logged_in(make_user("staffer", [], is_staff=True, is_superuser=True))
    return client.cookies["sessionid"].value


def bearer(value: str, address: str = "198.51.100.7") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    return client


def use_redis(settings, location: str, backend: str = "config.redis_cache.RedisCache", **extra):
    options = {"socket_connect_timeout": 1, "socket_timeout": 1}
    settings.CACHES = {
        "default": {"BACKEND": backend, "LOCATION": location, "OPTIONS": options, **extra}
    }
    return caches["default"]


def counters_in(raw: redis.Redis) -> dict[bytes, tuple[int, int]]:
    """Every rate-limit counter: key -> (count, seconds to live; -1 is none)."""
    return {key: (int(raw.get(key)), raw.ttl(key)) for key in raw.keys("*ratelimit:*")}


def own_redis(tmp: Path, port: int, *extra: str) -> support.Served:
    command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(tmp), *extra]  # fmt: skip
    log = tmp / f"redis-{time.monotonic_ns()}.log"
    return support.start(
        command, port=port, env=dict(os.environ), log=log, ready=support.accepts_connections
    )


def assert_json_error(response, status: int) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert set(json.loads(response.content)) == {"error"}


# --- holes found, now fixed -----------------------------------------------------------------------


@pytest.mark.redis
def test_a_refused_requests_take_back_never_leaves_a_counter_without_a_time_to_live(
    settings, redis_url, clock, tenant, token, monkeypatch
):
    """FIXED (was a hole).

    A refused request adds one (EVALSHA) and takes it back in a second round trip, a
    bare DECR. If the counter is gone in between (evicted under a maxmemory policy, a FLUSHDB,
    or expired because another server's clock is ahead), DECR creates it at -1 with no time to
    live: it never expires (and a volatile-* policy never evicts it), and the script's SET NX
    keeps it so. Django's decr, used before, refused a missing key (EXISTS first)."""
    settings.API_TOKEN_RATE = "1/min"
    cache = use_redis(settings, f"{redis_url}/12")
    cache.clear()
    raw = cache.client()
    real_add_one = _RedisCounters.add_one

    def add_one_then_evicted(self, key, ttl, *, and_read=None):
        result = real_add_one(self, key, ttl, and_read=and_read)
        if result[0] > 1:  # the request about to be refused: its counter is evicted now
            raw.delete(self._key(key))
        return result

    monkeypatch.setattr(_RedisCounters, "add_one", add_one_then_evicted)
    client = bearer(token)
    assert client.get(LIST).status_code == 200
    assert client.get(LIST).status_code == 429

    counters = counters_in(raw)
    # Fixed: the take-back found no counter and made none (the refused request is not
    # counted either way); whatever counters there are have their time to live.
    assert not [key for key in counters if b":token:" in key], counters
    for key, (count, ttl) in counters.items():
        assert count >= 0, f"{key!r} holds {count}"
        assert ttl > 0, f"{key!r} has no time to live ({ttl}): it is never removed"


@pytest.mark.redis
@pytest.mark.parametrize(
    "backend",
    [
        # Django's RedisCache (the counters through its cache API), as before the change.
        "django.core.cache.backends.redis.RedisCache",
        # Settings' choice for CACHE_URL=redis:// since the change: HOLE.
        "config.redis_cache.RedisCache",
    ],
)
def test_a_redis_that_refuses_lua_scripts_still_enforces_the_limits(
    settings, tmp_path, clock, tenant, token, caplog, backend
):
    """FIXED (was a hole: a deployment regression; now MULTI/EXEC when scripts are refused).

    A Redis whose user may run every command but scripts
    (ACL `-@scripting`, or EVAL/EVALSHA renamed away, as some hardened or managed Redis are)
    served the limits through Django's cache API. With config.redis_cache every EVALSHA is
    refused (NoPermissionError), each request "fails open": the per-token limit and the
    brute-force limit on failed authentications are silently gone, with only an error log."""
    port = support.free_port()
    server = own_redis(tmp_path, port)
    try:
        redis.Redis(port=port).acl_setuser(
            "app",
            enabled=True,
            passwords=["+app-password"],
            keys=["*"],
            commands=["+@all", "-@scripting"],
        )
        use_redis(settings, f"redis://app:app-password@127.0.0.1:{port}/0", backend=backend)
        settings.API_TOKEN_RATE = "5/min"
        settings.API_AUTH_FAILURE_RATE = "3/min"

        good = [bearer(token).get(LIST).status_code for _ in range(6)]
        guesses = [bearer(WRONG, "198.51.100.8").get(LIST).status_code for _ in range(4)]
    finally:
        server.stop()

    assert good == [200] * 5 + [429], good
    assert guesses == [401] * 3 + [429], guesses
    assert "Rate limit store unavailable" not in caplog.text


@pytest.mark.parametrize(
    ("method", "header", "value"),
    [
        ("get", "HTTP_IF_NONE_MATCH", b'"1-1"'),
        ("get", "HTTP_IF_NONE_MATCH", b"*"),
        ("patch", "HTTP_IF_MATCH", b'"1-1"'),
        ("delete", "HTTP_IF_MATCH", b'"1-1"'),
    ],
)
def test_a_conditional_header_given_as_bytes_is_read_as_the_authorization_header_is(
    tenant, token, method, header, value
):
    """FIXED (was a hole; minor: in-process callers only, and as old as request.headers).

    The change reads
    Authorization from META and decodes a bytes value as latin-1 ("a test client, or a server
    outside PEP 3333, may give the header as bytes"); the If-(None-)Match headers it moved to
    META in the same change (TenantAPIView.header) get no such care: a bytes value is a 500
    (TypeError in views._none_match / preconditions._tags), not a 304, 412 or JSON 400."""
    client = bearer(token)
    assert post_json(client, url("twilio"), TWILIO).status_code == 201

    if method == "patch":
        body = json.dumps({"account": "AC-changed"})
        response = client.patch(
            url("twilio"), body, content_type="application/json", **{header: value}
        )
    else:
        response = getattr(client, method)(url("twilio"), **{header: value})

    assert response.status_code in {200, 204, 304, 400, 412}, response.content
    if response.status_code in {400, 412}:
        assert_json_error(response, response.status_code)


# --- what held: the middleware skipped under the API -----------------------------------------


def through_middleware(request):
    handler = BaseHandler()
    handler.load_middleware()
    return handler.get_response(request)


@pytest.mark.parametrize(
    ("script_name", "path"),
    [
        ("/registry", LIST),  # mounted under a prefix: path_info is the API's
        ("", "/1.0"),
        ("", "/1.0.0/anything"),
        ("", "/01.0/"),
        ("", "/\u0661.\u0660/"),  # Arabic-Indic digits: \d matches them, the URLconf too
    ],
)
def test_a_staff_cookie_under_any_api_like_path_is_never_read_and_gets_json(
    staff_cookie, tenant, script_name, path
):
    request = RequestFactory().get(
        path, SCRIPT_NAME=script_name, HTTP_COOKIE=f"sessionid={staff_cookie}"
    )
    response = through_middleware(request)
    assert response.status_code in {401, 404}
    assert_json_error(response, response.status_code)
    assert not hasattr(request, "session")
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_login_admin_api_and_logout_still_work_together(tenant):
    """A staff session logs in, opens the admin, is never an API credential, logs out."""
    make_user("staffer", [], is_staff=True, is_superuser=True)
    browser = Client(enforce_csrf_checks=True)
    browser.get("/accounts/login/")
    response = browser.post(
        "/accounts/login/",
        {
            "username": "staffer",
            "password": PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302
    session = browser.cookies["sessionid"].value
    assert browser.get("/admin/").status_code == 200

    api = browser.get(LIST)
    assert_json_error(api, 401)
    assert not api.cookies

    response = browser.post(
        "/accounts/logout/", {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value}
    )
    assert response.status_code == 302
    browser.cookies["sessionid"] = session
    assert browser.get("/admin/").status_code == 302  # the old session is gone


# --- what held: negotiation and the Authorization header -------------------------------------


@pytest.mark.parametrize(
    ("accept", "query", "status"),
    [
        ("APPLICATION/JSON", "", 200),
        ("application/json\n", "", 200),
        ("application/json, application/json", "", 200),
        ("text/html, */*", "", 200),
        ("a" * 100_000, "", 406),
        ("", "", 406),
        ("\udcff", "", 406),
        ("application/json\x00", "", 406),
        (None, "?format=api", 404),
        (None, "?format=xml", 404),
        ("*/*", "?format=json&format=api", 404),
    ],
)
def test_odd_accept_headers_and_formats_get_json_never_a_500(tenant, token, accept, query, status):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = bearer(token).get(LIST + query, **headers)
    if status == 200:
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "application/json"
    else:
        assert_json_error(response, status)


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("bearer {token}", 200),
        ("BEARER  {token}\n", 200),
        ("Bearer {token}\x00", 401),
        ("Bearer {token}\udcff", 401),
        ("Bearer \ud800", 401),
        ("Bearer t\u00f6k\u20acn", 401),
        ("Bearer {token}, Bearer {token}", 401),
        ("Bearer ir_" + "\u00e4" * 43, 401),
        ("Token {token}", 401),
    ],
)
def test_odd_authorization_headers_are_a_json_401_never_a_500(tenant, token, header, status):
    response = APIClient().get(LIST, HTTP_AUTHORIZATION=header.format(token=token))
    if status == 200:
        assert response.status_code == 200, response.content
    else:
        assert_json_error(response, status)


# --- what held: the counters on Redis --------------------------------------------------------


def _token_request(prefix: str = "ir_abcdefghi"):
    return SimpleNamespace(
        auth=SimpleNamespace(prefix=prefix),
        META={"REMOTE_ADDR": "198.51.100.9"},
        method="GET",
        path=LIST,
    )


def race_on_the_counters(raw: redis.Redis) -> None:
    """8 threads x 40 requests of one token against a limit of 50 a minute, each also counting
    a failed authentication: exactly 50 allowed, 320 failures counted, every counter with its
    time to live. `raw`: a client of the Redis the settings' cache uses."""
    request = _token_request()
    allowed: list[bool] = []
    errors: list[Exception] = []

    def work():
        try:
            for _ in range(40):
                allowed.append(TokenRateThrottle().allow_request(request, None))
                AuthFailureThrottle().record_failure(request)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    assert sum(allowed) == 50
    counters = counters_in(raw)
    assert sorted(count for count, _ in counters.values()) == [50, 320]
    assert all(0 < ttl <= 121 for _, ttl in counters.values())


@pytest.mark.redis
def test_threads_racing_on_the_counters_count_exactly_with_a_time_to_live(
    settings, redis_url, clock
):
    settings.API_TOKEN_RATE = "50/min"
    settings.API_AUTH_FAILURE_RATE = "100000/min"
    cache = use_redis(settings, f"{redis_url}/13")
    cache.clear()
    race_on_the_counters(cache.client())


@pytest.mark.redis
def test_counters_agree_with_djangos_cache_api_under_a_prefix_and_version(
    settings, redis_url, clock
):
    """Another process on Django's own RedisCache (a rolling deploy) and this one share the
    counters, KEY_PREFIX and VERSION included."""
    location = f"{redis_url}/14"
    extra = {"KEY_PREFIX": "reg", "VERSION": 7}
    cache = use_redis(settings, location, **extra)
    cache.clear()
    counters = _RedisCounters(cache)
    django_cache = use_redis(
        settings, location, backend="django.core.cache.backends.redis.RedisCache", **extra
    )

    assert counters.add_one("w:2", 121, and_read=["w:1"]) == (1, [0])
    assert django_cache.incr("w:2") == 2
    django_cache.add("w:1", 0, timeout=121)
    django_cache.incr("w:1", 4)
    assert counters.add_one("w:2", 121, and_read=["w:1"]) == (3, [4])
    assert counters.read(["w:2", "w:1", "w:0"]) == [3, 4, 0]
    assert django_cache.get_many(["w:2", "w:1"]) == {"w:2": 3, "w:1": 4}
    keys = sorted(cache.client().keys("*"))
    assert keys == [b"reg:7:w:1", b"reg:7:w:2"]


@pytest.mark.redis
def test_a_redis_that_stops_hangs_and_restarts_fails_open_then_counts_again(
    settings, tmp_path, clock, tenant, token, caplog
):
    settings.API_TOKEN_RATE = "100/min"
    settings.API_AUTH_FAILURE_RATE = "100/min"
    port = support.free_port()
    server = own_redis(tmp_path, port)
    good, guess = bearer(token), bearer(WRONG, "198.51.100.8")
    try:
        use_redis(settings, f"redis://127.0.0.1:{port}/0")
        assert (good.get(LIST).status_code, guess.get(LIST).status_code) == (200, 401)

        server.stop()  # gone: fail open, logged
        assert (good.get(LIST).status_code, guess.get(LIST).status_code) == (200, 401)
        assert "Rate limit store unavailable (ConnectionError" in caplog.text

        server = own_redis(tmp_path, port)  # back, empty, without the script
        caplog.clear()
        assert (good.get(LIST).status_code, guess.get(LIST).status_code) == (200, 401)

        os.kill(server.process.pid, signal.SIGSTOP)  # hung: each request waits its timeout
        began = time.monotonic()
        assert (good.get(LIST).status_code, guess.get(LIST).status_code) == (200, 401)
        assert time.monotonic() - began < 10
        os.kill(server.process.pid, signal.SIGCONT)
        caplog.clear()
        # No reply of the timed-out commands is read as another's: counts stay exact.
        for _ in range(2):
            assert (good.get(LIST).status_code, guess.get(LIST).status_code) == (200, 401)
        assert "Rate limit store unavailable" not in caplog.text
        counters = counters_in(redis.Redis(port=port))
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()
    # After the restart: 1 + 2, and the hung request's if Redis ran it once resumed.
    assert len(counters) == 2
    assert all(count in {3, 4} for count, _ in counters.values()), counters
    assert all(ttl > 0 for _, ttl in counters.values())
