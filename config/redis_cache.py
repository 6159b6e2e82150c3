"""Django's Redis cache backend, keeping one redis-py client per connection pool.

Django's RedisCacheClient.get_client builds a new `redis.Redis` for every cache operation, and
redis-py's constructor copies its table of response callbacks and more: about 400 Python calls
each time. The rate limits (tenants/throttling.py) make several cache operations per API
request, so with Redis a GET one made 4,400 Python calls instead of 2,050 (bench/calls.py).
redis-py's clients are thread-safe (they take a connection from their pool for each command;
redis-py's README, "Thread Safety"), so one per pool serves every thread of a process; after a
fork the pool replaces its connections itself (ConnectionPool._checkpid).

Selected by CACHE_URL's redis:// scheme (config/settings.py).
"""

from typing import Any

import redis
from django.core.cache.backends import redis as django_redis


class PooledClientRedisCacheClient(django_redis.RedisCacheClient):
    """RedisCacheClient whose get_client returns the same client for the same pool."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, redis.Redis] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> redis.Redis:
        # Django's private helpers (django/core/cache/backends/redis.py), which its stubs omit.
        django_client: Any = self
        index = django_client._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            # Two threads may both build one the first time: either client serves.
            pool = django_client._get_connection_pool(write)
            client = self._clients[index] = django_client._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    """Django's RedisCache on PooledClientRedisCacheClient. `client()` gives its redis-py
    client, for what the cache API cannot say in one round trip (tenants/throttling.py)."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = PooledClientRedisCacheClient
        # Set by a caller of run_script() that found Redis refusing scripts (an ACL without
        # @scripting, EVAL renamed), so that it stops trying: see tenants/throttling.py.
        self.scripts_refused = False

    def client(self, *, write: bool = True) -> redis.Redis:
        """The redis-py client of the primary server (`write`), or of a replica if any."""
        return self._cache.get_client(write=write)

    def run_script(self, source: str, keys: list[str], args: list) -> Any:
        """Runs the Lua script `source` on the primary with `keys` and `args` (EVAL); its
        answer. One round trip every time: Redis compiles a script once and keeps it by its
        SHA1, and one that lost it (a restart, SCRIPT FLUSH) compiles it again in the same
        round trip, where EVALSHA would answer NOSCRIPT and take two more (SCRIPT LOAD, then
        EVALSHA again): a request's round trips would then depend on what Redis holds."""
        return self.client().eval(source, len(keys), *keys, *args)
