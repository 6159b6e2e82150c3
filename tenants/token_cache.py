"""API tokens remembered per process, kept true by a generation in the shared store.

Looking a token up cost every API request one database round trip, and under load each
blocking round trip costs a worker far more than its own CPU (its thread gives up the GIL and
waits to get it back): with the token remembered, GET one answered 1.35x the requests a
second, POST replace 1.13x (bench-compare, 7 rounds).

What keeps a remembered token true is a *generation*: a random number in the store of the rate
limits (CACHE_URL's Redis), which every change to a token or to a tenant's name replaces once
it is committed (`changed`, from the models' signals). Each request reads it in the round trip
its rate limits make anyway (tenants/throttling.py), and uses a remembered token only when the
generation it was stamped with is still the store's. A token is stamped with a generation this
process read *before* it read the token from the database, so a change committed after that
read replaces the generation after it, and the next request reads the token again: a revoked
token is refused from the first request that starts after its revocation's commit.

Where that cannot hold, nothing is remembered: the store is a per-process memory cache (another
process's changes would never be seen), or `API_TOKEN_CACHE_SECONDS` is 0. When the store
cannot be read, or answers but refuses writes (it may have missed a change), the token is read
from the database. A remembered token is also read again after `API_TOKEN_CACHE_SECONDS`
(default 15): the bound on how long a change is missed when writing its generation failed
(logged as an error), when the store went back to an older generation (a failover to a
replica that missed the write, a restore from a snapshot), or when a token was changed in the
database by hand.
"""

import copy
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models import signals

from config.compiled_query import CompiledQuery
from config.redis_cache import RedisCache
from tenants.models import ApiToken, Tenant
from tenants.throttling import Lenient

logger = logging.getLogger("tenants.tokens")

# The store's key of the generation (through the cache's key function, as the counters').
GENERATION_KEY = "api-tokens:generation"
# Tokens remembered per process at most, the least recently used forgotten first: an unknown
# prefix is remembered too (as "no such token"), so a client presenting made-up prefixes can
# only push the others out, each push costing it the query it would cost anyway.
MAX_TOKENS = 1024

# The token of a prefix (unique), its tenant JOINed: one statement, compiled once (the ORM
# building it anew cost ~1.4 ms of CPU per request, far more than the database's answer).
_TOKEN_BY_PREFIX = CompiledQuery(
    ApiToken, lambda prefix: ApiToken.objects.select_related("tenant").filter(prefix=prefix), str
)


@dataclass(frozen=True)
class Found:
    """The token of a prefix as a request sees it: `token` (this request's own copy; None when
    no token has the prefix), the `generation` it was stamped with (None: unknown), and
    whether it was remembered (`remembered`) rather than read from the database now."""

    prefix: str
    token: ApiToken | None
    generation: int | None
    remembered: bool


@dataclass
class _Entry:
    token: ApiToken | None
    generation: int | None
    read_at: float  # time.monotonic()


class TokenCache:
    """The tokens one process remembers, shared by its threads (one lock around the table)."""

    def __init__(
        self, *, max_tokens: int = MAX_TOKENS, clock: Callable[[], float] = time.monotonic
    ):
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._max_tokens = max_tokens
        self._clock = clock
        # The generation this process read last, from any thread; None before the first.
        self._last_generation: int | None = None

    # --- a request's lookups --------------------------------------------------------------

    def find(self, prefix: str) -> Found:
        """The token whose prefix is `prefix` (a str of tokens.PREFIX_LENGTH characters):
        remembered if it is and is not older than API_TOKEN_CACHE_SECONDS, else read from
        the database (one query) and remembered. Raises what the database raises."""
        seconds = _seconds()
        if seconds and enabled():
            with self._lock:
                entry = self._entries.get(prefix)
                if entry is not None and self._clock() - entry.read_at < seconds:
                    self._entries.move_to_end(prefix)
                    return Found(prefix, _copy(entry.token), entry.generation, remembered=True)
        return self._read(prefix, self._last_generation)

    def confirmed(self, found: Found, generation: int | None) -> Found:
        """`found` if it is current at `generation` (the store's, read after `found` was;
        None: it could not be read): a token read from the database for this request is, a
        remembered one when its stamp is `generation`. Otherwise the token read again from
        the database (one query), stamped with `generation`. Raises what the database
        raises."""
        self._saw(generation)
        if not found.remembered or (generation is not None and found.generation == generation):
            return found
        return self._read(found.prefix, generation)

    def used(self, prefix: str, when) -> None:
        """Notes that the token of `prefix` was last used at `when` (an aware datetime, as
        written to its row), so that this process does not write it again within the
        precision of last_used_at."""
        with self._lock:
            entry = self._entries.get(prefix)
            if entry is not None and entry.token is not None:
                entry.token.last_used_at = when

    def forget(self) -> None:
        """Forgets every token (and the generation last read)."""
        with self._lock:
            self._entries.clear()
            self._last_generation = None

    # --- inside -----------------------------------------------------------------------------

    def _read(self, prefix: str, generation: int | None) -> Found:
        # `generation` was read before this query: a change committed after the query replaces
        # it, and the next request that finds this entry reads the token again.
        token = _TOKEN_BY_PREFIX.first(prefix)
        if _seconds() and enabled():
            with self._lock:
                self._entries[prefix] = _Entry(_copy(token), generation, self._clock())
                self._entries.move_to_end(prefix)
                while len(self._entries) > self._max_tokens:
                    self._entries.popitem(last=False)
        return Found(prefix, token, generation, remembered=False)

    def _saw(self, generation: int | None) -> None:
        if generation is not None:
            self._last_generation = generation


def _copy(token: ApiToken | None) -> ApiToken | None:
    # Each request gets its own token and tenant (it sets last_used_at on the one; services
    # set deleted_at on the other): the remembered ones are shared by the process's threads.
    # copy.copy is model pickling's: its own _state and cache of related objects.
    if token is None:
        return None
    clone = copy.copy(token)
    if token.tenant_id is not None:
        clone.tenant = copy.copy(token.tenant)
    return clone


def _seconds() -> float:
    return float(settings.API_TOKEN_CACHE_SECONDS)


def enabled() -> bool:
    """Whether tokens may be remembered: only with a store that every process shares (Redis,
    config.redis_cache), where a change made by one process is seen by the others."""
    return isinstance(caches["default"], RedisCache)


def generation_key() -> list[str]:
    """The keys a request reads for the cache in its rate limits' round trip: the
    generation's ([] when tokens are not remembered), read as a whole number or -1 when it
    holds anything else (tenants.throttling.Lenient), so that no value of it fails the round
    trip and with it the limits."""
    return [Lenient(GENERATION_KEY)] if _seconds() and enabled() else []


def generation_of(values: list[int] | None) -> int | None:
    """The generation among `values` (what a round trip read of `generation_key()`'s keys:
    0 for a key not there, -1 for one holding what no process writes; None when the store
    could not be read), or None when unknown. A generation that is not there (a store
    restarted or emptied) or not one this module writes is written anew (one more round
    trip, once), and stays unknown for this request: a new generation only ever makes
    remembered tokens be read again."""
    if not values:
        return None
    if values[0] <= 0:
        _write_generation()
        return None
    return values[0]


def changed() -> None:
    """A token, or a tenant's name, changes in the current transaction: once it is committed,
    every process's remembered tokens are stale (a new generation is written). Called by the
    models' signals (tenants/apps.py), so that every way of changing them (services, admin,
    loaddata, deletes and their cascades) is covered. QuerySet.update() sends none: this
    project's own are on tokens' last_used_at, which no decision reads, and on tenants'
    deleted_at, whose service calls this itself."""
    if enabled():
        transaction.on_commit(_changed_now, robust=True)


def listen_for_changes() -> None:
    """Calls `changed` on every save and delete of a token, and on a tenant's save that may
    change its name (tenants/apps.py)."""
    for signal in (signals.post_save, signals.post_delete):
        name = "saved" if signal is signals.post_save else "deleted"
        signal.connect(_token_changed, sender=ApiToken, dispatch_uid=f"token-cache-token-{name}")
        signal.connect(_tenant_changed, sender=Tenant, dispatch_uid=f"token-cache-tenant-{name}")


def _token_changed(sender, **kwargs) -> None:
    changed()


def _tenant_changed(sender, created: bool = False, update_fields=None, **kwargs) -> None:
    # A new tenant has no token yet (creating one is a change of its own); a save of fields
    # that leaves out the name changes no token's decisions.
    if created or (update_fields is not None and "name" not in update_fields):
        return
    changed()


def _changed_now() -> None:
    tokens.forget()
    _write_generation()


def _write_generation() -> None:
    # Random, never 0 (a missing key reads as 0) and never one written before (in 2**62), so
    # a stamp is current only if nothing was written since it was read; no time to live.
    value = secrets.randbits(62) + 1
    try:
        caches["default"].set(GENERATION_KEY, value, timeout=None)
    except Exception as error:
        logger.error(
            "Could not write the API tokens' generation (%s: %s); other processes may use "
            "a token as it was before this change for up to %s seconds",
            type(error).__name__,
            (str(error).splitlines() or [""])[0],
            _seconds(),
        )


# The process's tokens.
tokens = TokenCache()
