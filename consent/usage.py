"""Lookup statistics without a database write per lookup (issue 17, docs/admin.md "Lookup statistics").

On the request path, `lookups_count` adds the answers of one request to two counters per UTC day, in ONE round
trip: a batch is aggregated in Python first, then pushed as one serialised entry onto the day's pending list
(RedisStore). The flush folds the pending entries into two hashes per day:

- per (holder, work, purpose, jurisdiction, outcome, pointed-to-licence): hash `usage:w:<day>`;
- per (holder, organisation, outcome): hash `usage:o:<day>`.

Only answers about registered works are counted (an unregistered id or an invalid one belongs to no holder). The
store is Redis (`KYODAKU_USAGE_REDIS_URL`, else the default cache's Redis), or, on a site without Redis (the
SQLite default), a counter in this process. A Redis that is down costs a lost count, never a failed lookup.

`lookup_counts_flush` (Celery beat, `consent.tasks.lookup_counts_flush`) folds, then copies the hashes of the last
`FLUSH_DAYS` days into `LookupCount` / `LookupOrganisationCount` with one set-based upsert per table and batch.
The hashes hold each day's running totals and are not emptied, so a flush sets a row to the total it reads
(never below what the row holds): running it twice, or two at once, counts nothing twice. The hashes expire
`KEEP_DAYS` after their day.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, timedelta
from uuid import UUID

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.redis_kept import kept

log = logging.getLogger("kyodaku.usage")

KEEP_DAYS = 3  # a day's hashes live this long after the day began: the flush runs far more often
FLUSH_DAYS = 2  # today and yesterday (a flush just after midnight still finds yesterday's last counts)
SEP = "|"
_UPSERT_BATCH = 2000


def _day(at=None) -> str:
    """The UTC day of `at` (default now)."""
    return (at or timezone.now()).astimezone(UTC).date().isoformat()


# ---- the stores ---------------------------------------------------------------------------------------------
class MemoryStore:
    """Counters in this process: the SQLite/locmem default (one process: `runserver`, tests)."""

    def __init__(self):
        self._hashes: dict[str, Counter] = {}
        self._lock = threading.Lock()

    def add(self, day: str, per_work: Counter, per_org: Counter) -> None:
        with self._lock:
            self._hashes.setdefault(f"w:{day}", Counter()).update(per_work)
            self._hashes.setdefault(f"o:{day}", Counter()).update(per_org)

    def read(self, day: str) -> tuple[dict[str, int], dict[str, int]]:
        with self._lock:
            return dict(self._hashes.get(f"w:{day}", {})), dict(self._hashes.get(f"o:{day}", {}))

    def clear(self) -> None:
        with self._lock:
            self._hashes.clear()


class RedisStore:
    """Counters in Redis. The request path sends ONE pipeline of two commands whatever the request's size: RPUSH of
    the request's counts, serialised (orjson), onto the day's pending list, and its EXPIRE. Per-field HINCRBYs
    would cost a command per distinct key (10,000 for a batch of distinct works: about a second on this loaded
    machine, against milliseconds for one list push). The flush folds the pending lists into the day's hashes with a
    Lua script (atomic, at most FOLD_BLOBS pushes per call so that Redis is never blocked long), then reads the
    hashes."""

    FOLD_BLOBS = 50
    _FOLD = """
local folded = 0
while folded < tonumber(ARGV[2]) do
  local blob = redis.call('LPOP', KEYS[1])
  if not blob then break end
  local data = cjson.decode(blob)
  for field, count in pairs(data['w']) do redis.call('HINCRBY', KEYS[2], field, count) end
  for field, count in pairs(data['o']) do redis.call('HINCRBY', KEYS[3], field, count) end
  folded = folded + 1
end
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[1])
return folded
"""

    def __init__(self, client, prefix: str = "kyodaku:usage:"):
        self.client = client
        self.prefix = prefix
        self._fold = client.register_script(self._FOLD)

    def add(self, day: str, per_work: Counter, per_org: Counter) -> None:
        """The two commands in one write on this thread's own connection (core.redis_kept: sent on every lookup
        with an API key, where redis-py's pipeline took a connection from the pool and gave it back each time)."""
        name = f"{self.prefix}p:{day}"
        kept.execute(self.client.connection_pool, ("RPUSH", name, orjson.dumps({"w": per_work, "o": per_org})),
                     ("EXPIRE", name, KEEP_DAYS * 86400))

    def read(self, day: str) -> tuple[dict[str, int], dict[str, int]]:
        keys = [f"{self.prefix}{kind}:{day}" for kind in ("p", "w", "o")]
        while self._fold(keys=keys, args=[KEEP_DAYS * 86400, self.FOLD_BLOBS]) == self.FOLD_BLOBS:
            pass
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(keys[1])
        pipe.hgetall(keys[2])
        works, orgs = pipe.execute()
        return ({_text(f): int(v) for f, v in works.items()}, {_text(f): int(v) for f, v in orgs.items()})

    def clear(self) -> None:
        for name in self.client.scan_iter(match=self.prefix + "*", count=1000):
            self.client.delete(name)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


_memory = MemoryStore()
_store_cache: dict[str, object] = {}


def usage_store():
    """The configured store: `KYODAKU_USAGE_REDIS_URL`, else the default cache's Redis, else this process."""
    url = getattr(settings, "KYODAKU_USAGE_REDIS_URL", "") or ""
    if url:
        store = _store_cache.get(url)
        if store is None:
            import redis

            store = _store_cache[url] = RedisStore(redis.Redis.from_url(
                url, socket_connect_timeout=0.5, socket_timeout=0.5))
        return store
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]  # the cache itself: `django.core.cache.cache` is a proxy, never a RedisCache instance
    if isinstance(cache, RedisCache):
        return RedisStore(cache._cache.get_client(write=True), prefix=cache.make_key("usage:"))
    return _memory


# ---- counting (the request path) ----------------------------------------------------------------------------
def lookups_count(results: Iterable[dict], *, organisation_id, at=None) -> None:
    """Count one request's answers (consent.lookup.lookup_many calls this for lookups made with an API key)."""
    per_work: Counter = Counter()
    per_org: Counter = Counter()
    org = str(organisation_id)
    for result in results:
        holder = result.get("holder")
        if holder is None:  # not registered, or an invalid id
            continue
        outcome = result["outcome"]
        pointed = "1" if outcome == "denied" and result.get("license_url") else "0"
        hid = str(holder["id"])
        per_work[SEP.join((hid, str(result["work"]["id"]), result["purpose"], result["jurisdiction"], outcome,
                           pointed))] += 1
        per_org[SEP.join((hid, org, outcome))] += 1
    if not per_work:
        return
    try:
        usage_store().add(_day(at), per_work, per_org)
    except Exception as exc:  # noqa: BLE001 - a statistic is never worth a failed lookup
        log.warning("lookup counters not updated: %s", exc)


# ---- flushing (Celery beat) ---------------------------------------------------------------------------------
def lookup_counts_flush(*, today: date | None = None) -> dict[str, int]:
    """Copy the last FLUSH_DAYS days' counters into the daily tables; returns the rows written per table."""
    today = today or timezone.now().date()
    days = [today - timedelta(days=n) for n in range(FLUSH_DAYS)]
    store = usage_store()
    work_rows, org_rows = [], []
    for day in days:
        works, orgs = store.read(day.isoformat())
        for field, n in works.items():
            holder, work, purpose, jurisdiction, outcome, pointed = field.split(SEP)
            work_rows.append((day, UUID(holder), UUID(work), purpose, jurisdiction, outcome, pointed == "1", n))
        for field, n in orgs.items():
            holder, org, outcome = field.split(SEP)
            org_rows.append((day, UUID(holder), UUID(org), outcome, n))
    with transaction.atomic():
        _upsert_work_counts(work_rows)
        _upsert_org_counts(org_rows)
    return {"works": len(work_rows), "organisations": len(org_rows)}


_WORK_COLUMNS = ("day", "holder_id", "work_id", "purpose", "jurisdiction", "outcome", "pointed_to_licence", "count")
_ORG_COLUMNS = ("day", "holder_id", "organisation_id", "outcome", "count")


def _upsert(table: str, columns: tuple[str, ...], key: tuple[str, ...], rows: list[tuple], model,
            exists: dict[str, str]) -> None:
    """INSERT … ON CONFLICT DO UPDATE SET count = GREATEST(old, new), in batches; rows whose holder/work/
    organisation no longer exists are left out (a JOIN, not an error)."""
    if not rows:
        return
    if connection.vendor != "postgresql":  # SQLite: Django's upsert (count = the total read)
        objs = [model(**dict(zip(columns, row, strict=True))) for row in rows]
        model.objects.bulk_create(objs, batch_size=500, update_conflicts=True,
                                  unique_fields=[c.removesuffix("_id") for c in key], update_fields=["count"])
        return
    arrays = ", ".join(f"%s::{kind}[]" for kind in _pg_types(columns))
    joins = " ".join(f"JOIN {other} ON {other}.id = v.{column}" for column, other in exists.items())
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) "
           f"SELECT v.* FROM unnest({arrays}) AS v({', '.join(columns)}) {joins} "
           f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET count = GREATEST({table}.count, EXCLUDED.count)")
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _UPSERT_BATCH):
            batch = rows[start:start + _UPSERT_BATCH]
            cursor.execute(sql, [list(column) for column in zip(*batch, strict=True)])


def _pg_types(columns):
    types = {"day": "date", "holder_id": "uuid", "work_id": "uuid", "organisation_id": "uuid", "purpose": "text",
             "jurisdiction": "text", "outcome": "text", "pointed_to_licence": "boolean", "count": "bigint"}
    return [types[c] for c in columns]


def _upsert_work_counts(rows):
    from .models import LookupCount

    _upsert(LookupCount._meta.db_table, _WORK_COLUMNS, _WORK_COLUMNS[:-1], rows, LookupCount,
            {"holder_id": "registry_holder", "work_id": "registry_work"})


def _upsert_org_counts(rows):
    from registry.models import Organisation

    from .models import LookupOrganisationCount

    _upsert(LookupOrganisationCount._meta.db_table, _ORG_COLUMNS, _ORG_COLUMNS[:-1], rows, LookupOrganisationCount,
            {"holder_id": "registry_holder", "organisation_id": Organisation._meta.db_table})
