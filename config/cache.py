"""The Redis cache, degrading instead of failing when Redis is down.

The cache holds only what can be rebuilt: API-key records (read again from the database), the rate-limit
counters and the rule cache. So when Redis is unreachable a read is a miss, a write is dropped, and the request
goes on: lookups keep answering. Rate limits are not enforced meanwhile (each request counts as the first of its
window: fail open, see docs/security.md). Short socket timeouts keep a hung Redis from stalling every request.
"""
import logging
import time

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("kyodaku.cache")
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
_LOG_EVERY = 30.0  # seconds: one warning per outage and half-minute, not one per request


class ResilientRedisCache(RedisCache):
    _last_logged = 0.0

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
