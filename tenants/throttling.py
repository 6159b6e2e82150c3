"""API rate limits: requests per token, and failed authentications per client address.

Both are DRF throttles (the rate strings and the 429 with Retry-After are DRF's) whose counts
live in Django's cache, `CACHE_URL`: Redis in production, so every server process and machine
shares one count. DRF's SimpleRateThrottle keeps a list of timestamps that each process reads
and writes back whole, so concurrent requests overwrite each other's counts; here each count is
an atomic increment (Redis INCR) of a per-window counter, and the limit is a sliding window
estimated from the current and the previous window (the previous one weighted by how much of
it still overlaps the last `duration` seconds).

With Redis (config/redis_cache.py) each of those steps is one round trip (_RedisCounters);
through Django's cache API a counter's increment alone takes two (its incr asks EXISTS first).

When the cache cannot be reached the limits are not enforced (logged as an error): the API
stays up without Redis, as it would without any rate limit.
"""

import logging
import math
from collections.abc import Callable

import redis
from django.conf import settings
from django.core.cache import caches
from rest_framework import exceptions, throttling

from config.client_address import client_address
from config.redis_cache import RedisCache

logger = logging.getLogger("tenants.ratelimits")


class _CacheCounters:
    """The limits' per-window counters through Django's cache API, on any backend (the
    per-process memory cache of `make run` and the tests)."""

    def __init__(self, cache):
        self.cache = cache

    def read(self, keys: list[str]) -> list[int]:
        """The counts of `keys`, 0 for a counter not there."""
        counts = self.cache.get_many(keys)
        return [counts.get(key, 0) for key in keys]

    def add_one(self, key: str, ttl: int, *, and_read: str | None = None) -> tuple[int, int]:
        """Adds 1 to the counter `key` (created with `ttl` seconds to live); returns its new
        count and the count of the counter `and_read` (0 when None or not there)."""
        try:
            count = self.cache.incr(key)
        except ValueError:  # the window's first hit
            self.cache.add(key, 0, timeout=ttl)
            count = self.cache.incr(key)
        return count, (self.cache.get(and_read, 0) if and_read else 0)

    def take_one_back(self, key: str) -> None:
        """Takes back an add_one (a request refused), if the counter is still there."""
        try:
            self.cache.decr(key)
        except ValueError:  # gone (expired, evicted): there is nothing to take back
            return


# _RedisCounters.add_one, run by Redis as one command (EVALSHA): the counter KEYS[1] created
# with ARGV[1] seconds to live if it is not there, then incremented (so that it is never left
# without a time to live), and the counter KEYS[2] read (nil when KEYS[2] is "").
_ADD_ONE = """
redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX')
local count = redis.call('INCR', KEYS[1])
local other = false
if KEYS[2] ~= '' then other = redis.call('GET', KEYS[2]) end
return {count, other}
"""
# _RedisCounters.take_one_back: a DECR of a counter that is gone would make one at -1 that
# never expires.
_TAKE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECR', KEYS[1]) end
return 0
"""


class _RedisCounters:
    """_CacheCounters' operations on the cache's Redis in one round trip each, where Django's
    cache API takes two to four: Lua scripts (each run atomically: redis.io, "Scripting with
    Lua"), or, on a Redis that refuses scripts (an ACL without @scripting, EVALSHA renamed),
    the same commands in MULTI/EXEC transactions (a few more Python calls; a take-back WATCHes
    its counter). No counter is ever left without its time to live. Keys and values as
    Django's RedisCache writes them (its key function; integers stored as themselves), so
    either may read what the other wrote."""

    def __init__(self, cache: RedisCache):
        self.cache = cache
        self.client = cache.client()

    def read(self, keys: list[str]) -> list[int]:
        return [_count(value) for value in self.client.mget([self._key(key) for key in keys])]

    def add_one(self, key: str, ttl: int, *, and_read: str | None = None) -> tuple[int, int]:
        counter, other = self._key(key), self._key(and_read) if and_read else ""

        def in_a_transaction() -> list:
            transaction = self.client.pipeline(transaction=True)
            transaction.set(counter, 0, ex=ttl, nx=True)
            transaction.incr(counter)
            if other:
                transaction.get(other)
            results = transaction.execute()
            return [results[1], results[2] if other else None]

        count, value = self._scripted(_ADD_ONE, [counter, other], [ttl], in_a_transaction)
        return int(count), _count(value)

    def take_one_back(self, key: str) -> None:
        counter = self._key(key)

        def if_still_there(watching) -> None:
            if watching.exists(counter):
                watching.multi()
                watching.decr(counter)

        self._scripted(
            _TAKE_BACK, [counter], [], lambda: self.client.transaction(if_still_there, counter)
        )

    def _scripted(self, source: str, keys: list[str], args: list, unscripted: Callable):
        """Runs the Lua `source` with `keys` and `args`; on a Redis that refuses scripts,
        `unscripted()` instead, from then on without trying (logged once per cache)."""
        if not self.cache.scripts_refused:
            try:
                return self.cache.script(source)(keys=keys, args=args)
            except redis.ResponseError as error:
                if not _refuses_scripts(error):
                    raise
                self.cache.scripts_refused = True
                logger.warning(
                    "Redis refuses Lua scripts (%s); the rate limits count in MULTI/EXEC "
                    "transactions instead",
                    _first_line(error),
                )
        return unscripted()

    def _key(self, key: str) -> str:
        return self.cache.make_and_validate_key(key)


def _refuses_scripts(error: redis.ResponseError) -> bool:
    """Whether Redis refused to run (or load) a script at all: an ACL (NOPERM), or EVALSHA,
    EVAL or SCRIPT renamed or disabled ("unknown command")."""
    return isinstance(error, redis.exceptions.NoPermissionError) or (
        "unknown command" in str(error).lower()
    )


def _first_line(error: Exception) -> str:
    # A store's error message, on one log line.
    return (str(error).splitlines() or [""])[0]


def _count(value: bytes | str | None) -> int:
    return 0 if value is None else int(value)


class RateLimited(exceptions.Throttled):
    """A 429 with our sentence; errors.py adds Retry-After from `wait`."""

    extra_detail_singular = "Retry after {wait} second."
    extra_detail_plural = "Retry after {wait} seconds."


class SharedRateThrottle(throttling.SimpleRateThrottle):
    """A sliding-window limit of `rate` ("1200/min") per `get_cache_key`, in the shared cache.

    `rate_setting` names the Django setting holding the rate; an empty rate is no limit.
    """

    rate_setting = ""
    cache_prefix = "ratelimit"
    # Set by SimpleRateThrottle.__init__ from parse_rate (the DRF stubs omit them); None when
    # `rate` is None, and the counters below run only when a rate is set.
    num_requests: int
    duration: int

    def __init__(self):
        cache = caches["default"]
        self.counters = (
            _RedisCounters(cache) if isinstance(cache, RedisCache) else _CacheCounters(cache)
        )
        self._wait = 1
        super().__init__()

    def get_rate(self):
        return getattr(settings, self.rate_setting) or None

    def get_ident(self, request) -> str:
        return client_address(request) or "unknown"

    # --- the counters -----------------------------------------------------------------------

    def _windows(self, key: str, now: float) -> tuple[str, str, float]:
        """The current and previous window's counter keys, and how many seconds into the
        current window `now` is."""
        index = math.floor(now / self.duration)
        elapsed = now - index * self.duration
        prefix = f"{self.cache_prefix}:{key}"
        return f"{prefix}:{index}", f"{prefix}:{index - 1}", elapsed

    def _time_to_live(self) -> int:
        # Two windows: a counter is read as "the previous window" in the next one.
        return 2 * self.duration + 1

    def _fits_one_more(self, previous: int, current: int, elapsed: float) -> bool:
        """Whether one more request keeps the estimated count of the last `duration` seconds
        within the limit."""
        overlap = 1 - elapsed / self.duration
        return previous * overlap + current + 1 <= self.num_requests

    def _seconds_until_allowed(self, previous: int, current: int, elapsed: float) -> int:
        """How long until one more request fits: the previous window's weight must fall far
        enough in this window or, if the current count alone is too high, in the next."""
        room, duration = self.num_requests - 1, self.duration
        seconds = None
        if current <= room and previous > 0:
            needed = duration * (1 - (room - current) / previous)  # seconds into this window
            if needed <= duration:
                seconds = needed - elapsed
        if seconds is None:
            seconds = (duration - elapsed) + duration * max(0.0, 1 - room / max(current, 1))
        return max(1, math.ceil(seconds - 1e-6))

    def wait(self):
        return self._wait

    def _store_unavailable(self, error: Exception) -> bool:
        logger.error(
            "Rate limit store unavailable (%s: %s); limit %s not enforced",
            type(error).__name__,
            _first_line(error),
            self.scope,
        )
        return True


class TokenRateThrottle(SharedRateThrottle):
    """Requests per API token (settings.API_TOKEN_RATE). Refused requests do not count, so a
    client that slows down to the rate gets through."""

    scope = "token"
    rate_setting = "API_TOKEN_RATE"

    def get_cache_key(self, request, view):
        api_token = getattr(request, "auth", None)
        prefix = getattr(api_token, "prefix", None)
        return f"token:{prefix}" if prefix else None  # no token, no token limit

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        current_key, previous_key, elapsed = self._windows(key, self.timer())
        try:
            count, previous = self.counters.add_one(
                current_key, self._time_to_live(), and_read=previous_key
            )
        except Exception as error:  # Redis down or unreachable: fail open
            return self._store_unavailable(error)
        current = count - 1  # the others', before this one
        if self._fits_one_more(previous, current, elapsed):
            return True
        try:
            self.counters.take_one_back(current_key)
        except Exception as error:
            # The store counted this request: it is over the limit, and refused whatever
            # happens to the take-back (left counted, the limit is only stricter for a while).
            logger.error(
                "Rate limit take-back failed (%s: %s); a refused request stays counted",
                type(error).__name__,
                _first_line(error),
            )
        self._wait = self._seconds_until_allowed(previous, current, elapsed)
        logger.warning(
            "API rate limit exceeded: limit=token token_prefix=%s rate=%s client=%s "
            "method=%s path=%s retry_after=%s",
            request.auth.prefix,
            self.rate,
            self.get_ident(request),
            request.method,
            request.path,
            self._wait,
        )
        return False


class AuthFailureThrottle(SharedRateThrottle):
    """Failed authentications per client address (settings.API_AUTH_FAILURE_RATE).

    `allow_request` only reads: whether this address may try a token at all. Over the limit,
    every token it presents is refused (429) before it is checked, the right one too, so
    guessing learns nothing. `record_failure` counts a failure. Concurrent guesses may pass
    the check together before their failures are counted: the overshoot is bounded by how many
    requests one address has in flight, once.
    """

    scope = "auth-failures"
    rate_setting = "API_AUTH_FAILURE_RATE"

    def get_cache_key(self, request, view=None):
        return f"auth-failures:{self.get_ident(request)}"

    def allow_request(self, request, view=None):
        if self.rate is None:
            return True
        current_key, previous_key, elapsed = self._windows(
            self.get_cache_key(request), self.timer()
        )
        try:
            current, previous = self.counters.read([current_key, previous_key])
        except Exception as error:
            return self._store_unavailable(error)
        if self._fits_one_more(previous, current, elapsed):
            return True
        self._wait = self._seconds_until_allowed(previous, current, elapsed)
        logger.warning(
            "API rate limit exceeded: limit=auth-failures rate=%s client=%s method=%s "
            "path=%s retry_after=%s",
            self.rate,
            self.get_ident(request),
            request.method,
            request.path,
            self._wait,
        )
        return False

    def record_failure(self, request) -> None:
        if self.rate is None:
            return
        current_key, _, _ = self._windows(self.get_cache_key(request), self.timer())
        try:
            self.counters.add_one(current_key, self._time_to_live())
        except Exception as error:
            self._store_unavailable(error)

    def refusal(self) -> RateLimited:
        return RateLimited(
            wait=self._wait,
            detail="Too many failed authentications from this address.",
        )
