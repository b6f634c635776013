"""The Redis cache, degrading instead of failing when Redis is down.

The cache holds only what can be rebuilt: API-key records (read again from the database), the rate-limit
counters and the rule cache. So when Redis is unreachable a read is a miss, a write is dropped, and the request
goes on: lookups keep answering. Rate limits are not enforced meanwhile (each request counts as the first of its
window: fail open, see docs/security.md). Short socket timeouts keep a hung Redis from stalling every request.
"""
import hashlib
import logging
import time

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core import redis_kept

log = logging.getLogger("kyodaku.cache")
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
_LOG_EVERY = 30.0  # seconds: one warning per outage and half-minute, not one per request


class ReusingRedisCacheClient(RedisCacheClient):
    """Django's client builds a new `redis.Redis` around the pool for every cache call, and redis-py fills a dict of
    ~160 response callbacks in each: about a third of a lookup GET's CPU went there (three calls per request,
    docs/performance.md). One `redis.Redis` per pool, shared by the process's threads (it is thread-safe: each
    command takes a connection from the pool)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client

    def thread_connection(self, *, write=False):
        """This thread's own connection to the pool's server (core.redis_kept), for the counter sent on every
        request (ResilientRedisCache.count_in_window)."""
        return redis_kept.kept.connection(self._get_connection_pool(write))

    def thread_execute(self, *commands: tuple, write=False) -> list:
        """`commands` on this thread's own connection (core.redis_kept.KeptConnections.execute)."""
        return redis_kept.kept.execute(self._get_connection_pool(write), *commands)


class ResilientRedisCache(RedisCache):
    _last_logged = 0.0

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient

    def _unreachable(self, operation: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - ResilientRedisCache._last_logged >= _LOG_EVERY:
            ResilientRedisCache._last_logged = now
            log.warning("Redis cache unreachable (%s: %s); answering without the cache", operation, exc)

    def _guard(self, operation, default, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except UNREACHABLE as exc:
            self._unreachable(operation, exc)
            return default

    def get(self, key, default=None, version=None):
        return self._guard("get", default, super().get, key, default, version)

    def get_many(self, keys, version=None):
        return self._guard("get_many", {}, super().get_many, keys, version)

    def has_key(self, key, version=None):
        return self._guard("has_key", False, super().has_key, key, version)

    def add(self, key, value, timeout=None, version=None):
        return self._guard("add", False, super().add, key, value, timeout, version)

    def set(self, key, value, timeout=None, version=None):
        return self._guard("set", None, super().set, key, value, timeout, version)

    def set_many(self, data, timeout=None, version=None):
        return self._guard("set_many", list(data), super().set_many, data, timeout, version)

    def touch(self, key, timeout=None, version=None):
        return self._guard("touch", False, super().touch, key, timeout, version)

    def delete(self, key, version=None):
        return self._guard("delete", False, super().delete, key, version)

    def delete_many(self, keys, version=None):
        return self._guard("delete_many", None, super().delete_many, keys, version)

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        except UNREACHABLE as exc:
            self._unreachable("incr", exc)
            # As for a missing key: the caller (the rate limiter) starts a new count, which is then not stored.
            raise ValueError("cache unavailable") from exc

    def count_in_window(self, key, timeout, version=None) -> int:
        """Add one to the counter `key`, created at 0 with `timeout` seconds to live if absent; the new count. ONE
        round trip and one command (a server-side script: SET NX EX, then INCR), where add() then incr() took three
        round trips (SET NX, EXISTS, INCRBY) and a MULTI/EXEC pipeline four commands; atomic, so the counter can
        never outlive its window without a timeout. Redis unreachable: 1 (each request counts as the first of its
        window: fail open, as before)."""
        key = self.make_and_validate_key(key, version=version)
        try:
            return self._count(key, timeout)
        except UNREACHABLE as exc:
            self._unreachable("count_in_window", exc)
            return 1

    def _count(self, key: str, timeout: int) -> int:
        """count_in_window's command on this thread's own connection (core.redis_kept: a connection Redis closed is
        reopened and the command sent once more)."""
        try:
            return int(self._cache.thread_execute(("EVALSHA", _COUNT_SHA1, 1, key, timeout), write=True)[0])
        except NoScriptError:  # a new or restarted Redis: the script once, then by its hash again
            return int(self._cache.thread_execute(("EVAL", _COUNT, 1, key, timeout), write=True)[0])


# count_in_window's script: redis-py's pipeline (MULTI, SET, INCR, EXEC: four commands packed and four replies
# parsed) cost about a sixth of a lean lookup GET's Python time (docs/performance.md, "a lane before Django's
# handler"); a script is one command and one reply.
_COUNT = "redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX') return redis.call('INCR', KEYS[1])"
_COUNT_SHA1 = hashlib.sha1(_COUNT.encode()).hexdigest()
