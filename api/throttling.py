"""Per-key rate limits through the Django cache (Redis in production): a fixed window counter per key.

One request is one request, however many identifiers a batch carries. Over the limit: 429 with Retry-After.
Every answer to a rate-limited key carries the key's state in `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset` (requests per window, requests left in this window, seconds until the window ends), as the
IETF RateLimit header fields draft names them; a key without a limit (`none`) gets none of them.
"""
import math
import time
from dataclasses import dataclass

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from keys.services import api_key_rate

from .auth import api_key_of

RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset: int  # seconds until the current window ends

    def headers(self) -> dict[str, str]:
        return dict(zip(RATE_LIMIT_HEADERS, (str(self.limit), str(self.remaining), str(self.reset)), strict=True))


def _count(key: str, *, timeout: int) -> int:
    """One more request in the window counted at `key`; the window's count so far, this one included."""
    count_in_window = getattr(cache, "count_in_window", None)
    if count_in_window is not None:  # the Redis cache (config/cache.py): one atomic round trip
        return count_in_window(key, timeout)
    # Any other cache: add() is a no-op when the counter exists, incr() is atomic where the cache is shared.
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=timeout)
        return 1


CACHE_PREFIX = "kyodaku:rate:"


def rate_limit_count(api_key) -> tuple[bool, RateLimitState | None, int]:
    """Count one request of `api_key` in its window: (allowed, the key's state or None without a limit, seconds
    until the window ends). The one home of the rule, for the DRF throttle and the lean GET (api.views.lookup)."""
    rate = api_key_rate(api_key)
    if rate is None:
        return True, None, 1
    now = time.time()
    window = int(now // rate.period)
    count = _count(f"{CACHE_PREFIX}{api_key.prefix}:{rate.period}:{window}", timeout=rate.period + 1)
    wait = max(1, math.ceil((window + 1) * rate.period - now))
    return count <= rate.requests, RateLimitState(limit=rate.requests, remaining=max(0, rate.requests - count),
                                                  reset=wait), wait


class ApiKeyRateThrottle(BaseThrottle):
    cache_prefix = CACHE_PREFIX

    def allow_request(self, request, view):
        api_key = api_key_of(request)
        if api_key is None:
            return True
        allowed, state, self._wait = rate_limit_count(api_key)
        if state is not None:
            request.rate_limit_state = state
        return allowed

    def wait(self):
        return getattr(self, "_wait", 1)


class RateLimitHeadersMixin:
    """For views throttled by ApiKeyRateThrottle: the key's rate-limit state on every response, 429s included."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        state = getattr(request, "rate_limit_state", None)
        if state is not None:
            for name, value in state.headers().items():
                response[name] = value
        return response
