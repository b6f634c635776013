"""Reading API keys on the hot path: every lookup authenticates, so a key's record is cached (Redis in production).

The cache holds the stored hash, never the key. Revoking or changing a key through keys.services (the admin and
the commands do) forgets the cached record at once; a change made behind the services' back is seen within
KEY_CACHE_SECONDS.
"""
import hashlib
import re

from django.core.cache import cache

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


def token_hash(plain: str) -> str:
    """How a holder's API token is stored and found: the SHA-256 of the whole token (see HolderToken)."""
    return hashlib.sha256(plain.encode("utf-8", "surrogatepass")).hexdigest()


def holder_token_by_plain(plain: str) -> HolderToken | None:
    """The stored token (with its user) this plain token is, revoked and expired ones too, or None. One query."""
    if not plain or len(plain) > 200:
        return None
    return HolderToken.objects.select_related("user").filter(key_hash=token_hash(plain)).first()
