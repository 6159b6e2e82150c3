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
A request with a right token makes one round trip for both limits (`admit`): under load each
round trip costs the worker far more than its own CPU (its thread gives up the GIL and waits to
get it back), and the two that each limit made alone cost GET one a fifth of its req/s.

When the cache cannot be reached the limits are not enforced (logged as an error): the API
stays up without Redis, as it would without any rate limit.
"""

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

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
        """The counts of `keys`, 0 for a counter not there; ValueError for one that holds
        something else than a whole number (written by something else)."""
        counts = self.cache.get_many(keys)
        return [_count_of(key, counts.get(key)) for key in keys]

    def add_one(
        self, key: str, ttl: int, *, and_read: list[str] | None = None
    ) -> tuple[int, list[int]]:
        """Adds 1 to the counter `key` (created with `ttl` seconds to live); returns its new
        count and the counts of the counters `and_read` (0 for one not there)."""
        try:
            count = self.cache.incr(key)
        except ValueError:  # the window's first hit
            self.cache.add(key, 0, timeout=ttl)
            count = self.cache.incr(key)
        return count, (self.read(and_read) if and_read else [])

    def take_one_back(self, key: str) -> None:
        """Takes back an add_one (a request refused), if the counter is still there."""
        try:
            self.cache.decr(key)
        except ValueError:  # gone (expired, evicted): there is nothing to take back
            return


# _RedisCounters.add_one, run by Redis as one command (EVAL): the counter KEYS[1] created
# with ARGV[1] seconds to live if it is not there, then incremented (so that it is never left
# without a time to live), and the counters KEYS[2], KEYS[3]... read (nil for one not there:
# GET's false, which Redis answers as nil).
_ADD_ONE = """
redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX')
local count = redis.call('INCR', KEYS[1])
local others = {}
for i = 2, #KEYS do others[i - 1] = redis.call('GET', KEYS[i]) end
return {count, others}
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
    Lua"), or, on a Redis that refuses scripts (an ACL without @scripting, EVAL renamed),
    the same commands in MULTI/EXEC transactions (a few more Python calls; a take-back WATCHes
    its counter). No counter is ever left without its time to live. Keys and values as
    Django's RedisCache writes them (its key function; integers stored as themselves), so
    either may read what the other wrote."""

    def __init__(self, cache: RedisCache):
        self.cache = cache
        self.client = cache.client()

    def read(self, keys: list[str]) -> list[int]:
        values = self.client.mget([self._key(key) for key in keys])
        return [_count_of(key, value) for key, value in zip(keys, values, strict=True)]

    def add_one(
        self, key: str, ttl: int, *, and_read: list[str] | None = None
    ) -> tuple[int, list[int]]:
        counter, others = self._key(key), [self._key(other) for other in and_read or []]

        def in_a_transaction() -> list:
            transaction = self.client.pipeline(transaction=True)
            transaction.set(counter, 0, ex=ttl, nx=True)
            transaction.incr(counter)
            for other in others:
                transaction.get(other)
            results = transaction.execute()
            return [results[1], results[2:]]

        count, values = self._scripted(_ADD_ONE, [counter, *others], [ttl], in_a_transaction)
        if len(values) != len(others):
            raise ValueError(f"Redis answered {len(values)} counts for {len(others)} counters")
        return int(count), [
            _count_of(key, value) for key, value in zip(and_read or [], values, strict=True)
        ]

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
                return self.cache.run_script(source, keys, args)
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
    """Whether Redis refused to run (or load) a script at all: an ACL (NOPERM), or EVAL
    renamed or disabled ("unknown command")."""
    return isinstance(error, redis.exceptions.NoPermissionError) or (
        "unknown command" in str(error).lower()
    )


def _first_line(error: Exception) -> str:
    # A store's error message, on one log line.
    return (str(error).splitlines() or [""])[0]


def _count(value: bytes | str | None) -> int:
    return 0 if value is None else int(value)


class Lenient(str):
    """A key read with the counters (`and_read`, `read`) whose value is not a counter of the
    limits: read as a whole number, 0 when it is not there, and -1 when it holds anything
    else, where a counter's junk raises ValueError (tenants/token_cache.py's generation:
    junk in it must not fail the round trip, and with it the limits, for every request)."""


def _count_of(key: str, value: bytes | str | None) -> int:
    if not isinstance(key, Lenient):
        return _count(value)
    try:
        return _count(value)
    except ValueError:
        return -1


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

    def store_unavailable(self, error: Exception, *, limits: str = "") -> bool:
        """Logs that the store failed with `error` and that `limits` (this one's scope by
        default) are not enforced for this request; True: the request is allowed."""
        logger.error(
            "Rate limit store unavailable (%s: %s); limit %s not enforced",
            type(error).__name__,
            _first_line(error),
            limits or self.scope,
        )
        return True


@dataclass(frozen=True)
class _Counted:
    """A request counted against its token's rate: its window's counter, that counter's count
    with the request, the previous window's count, and how many seconds into its window."""

    key: str
    count: int
    previous: int
    elapsed: float


# On the DRF request: the _Counted that `admit` made, or _NOT_COUNTED when the store could not
# be reached (logged there; the limit is not enforced, and not tried again).
_COUNTED = "_token_rate_counted"
_NOT_COUNTED = object()


class TokenRateThrottle(SharedRateThrottle):
    """Requests per API token (settings.API_TOKEN_RATE). Refused requests do not count, so a
    client that slows down to the rate gets through.

    The request was counted by `admit`, in the round trip that checked its address's failures;
    a request that `admit` did not count (no token, another authentication) is counted here."""

    scope = "token"
    rate_setting = "API_TOKEN_RATE"

    def get_cache_key(self, request, view):
        api_token = getattr(request, "auth", None)
        prefix = getattr(api_token, "prefix", None)
        return self.key_of(prefix) if prefix else None  # no token, no token limit

    @staticmethod
    def key_of(prefix: str) -> str:
        """The counters' key of the token whose prefix is `prefix`."""
        return f"token:{prefix}"

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        counted = getattr(request, _COUNTED, None)
        if counted is _NOT_COUNTED:
            return True
        if counted is None:
            key = self.get_cache_key(request, view)
            if key is None:
                return True
            try:
                counted, _ = self.count(key, self.timer())
            except Exception as error:  # Redis down or unreachable: fail open
                return self.store_unavailable(error)
        return self._admits(request, counted)

    def count(
        self, key: str, now: float, *, and_read: list[str] | None = None
    ) -> tuple[_Counted, list[int]]:
        """Adds one request to `key`'s window at `now` (seconds since the epoch); returns it
        as a _Counted, and the counts of the counters `and_read` read in the same round trip.
        Raises what the store raises."""
        current_key, previous_key, elapsed = self._windows(key, now)
        count, (previous, *others) = self.counters.add_one(
            current_key, self._time_to_live(), and_read=[previous_key, *(and_read or [])]
        )
        return _Counted(current_key, count, previous, elapsed), others

    def _admits(self, request, counted: _Counted) -> bool:
        current = counted.count - 1  # the others', before this one
        if self._fits_one_more(counted.previous, current, counted.elapsed):
            return True
        try:
            self.counters.take_one_back(counted.key)
        except Exception as error:
            # The store counted this request: it is over the limit, and refused whatever
            # happens to the take-back (left counted, the limit is only stricter for a while).
            logger.error(
                "Rate limit take-back failed (%s: %s); a refused request stays counted",
                type(error).__name__,
                _first_line(error),
            )
        self._wait = self._seconds_until_allowed(counted.previous, current, counted.elapsed)
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

    `allow_request` only reads: whether this address may be told anything of its token. Over
    the limit, every token it presents is refused (429), the right one too (`admit`), so
    guessing learns nothing. `record_failure` counts a failure. Concurrent guesses may pass
    the check together before their failures are counted: the overshoot is bounded by how many
    requests one address has in flight, once.
    """

    scope = "auth-failures"
    rate_setting = "API_AUTH_FAILURE_RATE"

    def get_cache_key(self, request, view=None):
        return f"auth-failures:{self.get_ident(request)}"

    def windows(self, request, now: float) -> tuple[str, str, float]:
        """The address's current and previous counters at `now`, and the seconds into the
        current window."""
        return self._windows(self.get_cache_key(request), now)

    def allow_request(self, request, view=None):
        return self.allows(request)[0]

    def allows(
        self, request, *, and_read: list[str] | None = None
    ) -> tuple[bool, list[int] | None]:
        """Whether the address of `request` may present a token (as allow_request), and the
        counts of the counters `and_read`, read in the same round trip (None when the store
        could not be read: then the address is allowed, logged). No round trip when there
        is nothing to read."""
        others = list(and_read or [])
        if self.rate is None:
            if not others:
                return True, []
            try:
                return True, self.counters.read(others)
            except Exception as error:
                return self.store_unavailable(error), None
        current_key, previous_key, elapsed = self.windows(request, self.timer())
        try:
            current, previous, *counts = self.counters.read([current_key, previous_key, *others])
        except Exception as error:
            return self.store_unavailable(error), None
        return self.admits(request, previous, current, elapsed), counts

    def admits(self, request, previous: int, current: int, elapsed: float) -> bool:
        """Whether the address, with `current` and `previous` failures counted `elapsed`
        seconds into the window, may present a token; when not, logs the refusal and sets
        the Retry-After of `refusal()`."""
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
        current_key, _, _ = self.windows(request, self.timer())
        try:
            self.counters.add_one(current_key, self._time_to_live())
        except Exception as error:
            self.store_unavailable(error)

    def refusal(self) -> RateLimited:
        return RateLimited(
            wait=self._wait,
            detail="Too many failed authentications from this address.",
        )


def admit(request, api_token, *, and_read: list[str] | None = None) -> list[int] | None:
    """Both limits for a request whose token is right (`api_token`, an ApiToken), in one round
    trip to the store: reads its address's failed authentications (API_AUTH_FAILURE_RATE) and
    counts it against its token's rate (API_TOKEN_RATE), which TokenRateThrottle then decides
    after the permission checks, with no round trip of its own. Returns the counts of the
    counters `and_read`, read in the same round trip (the tokens' generation, see
    tenants/token_cache.py), or None when they were not read.

    Raises RateLimited (429) when the address is over its limit of failures: the right token
    is refused as a wrong one would be, so guessing learns nothing. That request stays counted
    against its token: taking it back would take one more round trip than refusing a wrong
    token does, and the difference in time would tell the right token. When the store cannot
    be reached, neither limit is enforced (logged), as each would alone. When it answers but
    refuses to count (out of memory, a read-only replica after a failover: it still answers
    reads), the token's rate is not enforced, and the address's failures are read alone: a
    store that a wrong token's refusal can read must refuse the right one as well; `and_read`
    is then not read (what a store that refuses writes holds may be behind)."""
    failures, requests = AuthFailureThrottle(), TokenRateThrottle()
    now = failures.timer()
    failure_keys = failures.windows(request, now) if failures.rate else None
    failure_counters = list(failure_keys[:2]) if failure_keys else []
    keys = [*failure_counters, *(and_read or [])]
    others_read = bool(and_read)
    try:
        if requests.rate:
            counted, read = requests.count(requests.key_of(api_token.prefix), now, and_read=keys)
            setattr(request, _COUNTED, counted)
        else:
            read = failures.counters.read(keys) if keys else []
    except Exception as error:
        setattr(request, _COUNTED, _NOT_COUNTED)
        if not (failure_keys and isinstance(error, redis.ResponseError)):
            # Down, unreachable or hanging (one timeout is enough): fail open.
            failures.store_unavailable(error, limits="auth-failures and token")
            return None
        requests.store_unavailable(error)
        try:
            read = failures.counters.read(failure_counters)
        except Exception as read_error:
            failures.store_unavailable(read_error)
            return None
        others_read = False
    failed, others = read[: len(failure_counters)], read[len(failure_counters) :]
    if failure_keys and not failures.admits(request, failed[1], failed[0], failure_keys[2]):
        raise failures.refusal()
    return others if others_read else None
