"""Per-key rate limits through the Django cache (Redis in production): a fixed window counter per key.

One request is one request, however many identifiers a batch carries. Over the limit: 429 with Retry-After.
"""
import math
import time

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from keys.services import api_key_rate

from .auth import api_key_of


class ApiKeyRateThrottle(BaseThrottle):
    cache_prefix = "kyodaku:rate:"

    def allow_request(self, request, view):
        api_key = api_key_of(request)
        if api_key is None:
            return True
        rate = api_key_rate(api_key)
        if rate is None:
            return True
        now = time.time()
        window = int(now // rate.period)
        key = f"{self.cache_prefix}{api_key.prefix}:{rate.period}:{window}"
        # add() is a no-op when the counter exists; incr() is atomic in Redis, so workers share one count.
        cache.add(key, 0, timeout=rate.period + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=rate.period + 1)
            count = 1
        if count <= rate.requests:
            return True
        self._wait = max(1, math.ceil((window + 1) * rate.period - now))
        return False

    def wait(self):
        return getattr(self, "_wait", 1)
