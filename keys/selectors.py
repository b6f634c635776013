"""Reading API keys on the hot path: every lookup authenticates, so a key's record is cached (Redis in production).

The cache holds the stored hash, never the key. Revoking or changing a key through keys.services (the admin and
the commands do) forgets the cached record at once; a change made behind the services' back is seen within
KEY_CACHE_SECONDS.

On top of that, each process keeps the keys it has VERIFIED (the whole key checked against its stored hash) for
settings.KYODAKU_API_KEY_LOCAL_SECONDS (default 5; 0 turns it off): a lookup then skips the Redis read, the
record's unpickling and the hash check (about a fifth of a lookup GET's CPU, docs/performance.md). Forgetting a
key (keys.services: revoke, update) empties it in the process that made the change; every other process refuses a
revoked key at most KYODAKU_API_KEY_LOCAL_SECONDS later (docs/security.md). An expiry date is checked on every
request, cached or not.
"""
import hashlib
import re
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from .models import APIKey, HolderToken

KEY_CACHE_SECONDS = 60
_FIELDS = ("id", "prefix", "hashed_key", "revoked", "expiry_date", "rate", "name", "default_purpose",
           "default_jurisdiction", "organisation_id")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9]{1,8}$")


def _cache_key(prefix: str) -> str:
    # v2: records carry organisation_id (a record cached before it would answer the key's lookups publicly)
    return f"kyodaku:api-key:v2:{prefix}"


def api_key_by_prefix(prefix: str) -> APIKey | None:
    """The key with this prefix (revoked ones too: the caller decides), or None. At most one query."""
    if not isinstance(prefix, str) or not _PREFIX_RE.match(prefix):
        return None
    record = cache.get(_cache_key(prefix))
    if record is None:
        record = APIKey.objects.filter(prefix=prefix).values(*_FIELDS).first()
        if record is None:
            return None  # misses are not cached: random prefixes must not fill the cache
        cache.set(_cache_key(prefix), record, KEY_CACHE_SECONDS)
    return APIKey(**record)


def api_key_forget(prefix: str) -> None:
    cache.delete(_cache_key(prefix))
    _verified_forget(prefix)


# The process's verified keys: blake2b(key) -> (monotonic deadline, APIKey). The key itself is not kept.
_verified: dict[bytes, tuple[float, APIKey]] = {}
_verified_lock = threading.Lock()
_VERIFIED_MAX = 4096  # distinct keys per process; over that the map starts again (keys are few, bots are many)


def _verified_forget(prefix: str) -> None:
    with _verified_lock:
        for digest in [d for d, (_, api_key) in _verified.items() if api_key.prefix == prefix]:
            _verified.pop(digest, None)


def api_key_verified(key: str) -> APIKey | None:
    """The usable key this plain `<prefix>.<secret>` is: found, the secret matching its stored hash, not revoked,
    not expired; None for anything else (one answer for all of them: nothing to probe). A key verified in this
    process within KYODAKU_API_KEY_LOCAL_SECONDS is not read or hashed again (the module's docstring)."""
    seconds = settings.KYODAKU_API_KEY_LOCAL_SECONDS
    digest = hashlib.blake2b(key.encode(), digest_size=20).digest()
    now = time.monotonic()
    hit = _verified.get(digest) if seconds > 0 else None
    if hit is not None and now < hit[0]:
        api_key = hit[1]
    else:
        prefix, dot, _secret = key.partition(".")
        api_key = api_key_by_prefix(prefix) if dot else None
        if api_key is None or api_key.revoked or not APIKey.objects.key_generator.verify(key, api_key.hashed_key):
            if hit is not None:
                _verified.pop(digest, None)
            return None
        if seconds > 0:
            with _verified_lock:
                if len(_verified) >= _VERIFIED_MAX:
                    _verified.clear()
                _verified[digest] = (now + seconds, api_key)
    if api_key.expiry_date is not None and api_key.expiry_date < timezone.now():
        return None
    return api_key


def token_hash(plain: str) -> str:
    """How a holder's API token is stored and found: the SHA-256 of the whole token (see HolderToken)."""
    return hashlib.sha256(plain.encode("utf-8", "surrogatepass")).hexdigest()


def holder_token_by_plain(plain: str) -> HolderToken | None:
    """The stored token (with its user) this plain token is, revoked and expired ones too, or None. One query."""
    if not plain or len(plain) > 200:
        return None
    return HolderToken.objects.select_related("user").filter(key_hash=token_hash(plain)).first()
