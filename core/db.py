"""Read replicas (DATABASE_REPLICA_URLS): which database a read goes to.

Reads go to the primary (`default`) unless the code is inside `replica_reads()`, which the lookup endpoints and the
snapshot builds enter: an AI developer's answer may lag the primary by at most the replica's replay lag, which is
checked against KYODAKU_REPLICA_MAX_LAG (docs/scaling.md states the bound), while a holder's own reads and every
write stay on the primary, so holders read their own writes (a holder's export reads a replica only when it holds
the holder's latest changes: claims.export.claims_export_read_alias). One database is chosen per
`replica_reads()` block, so the statements of one request see one database's state. Raw-SQL readers ask
`read_alias()` for their connection; ORM reads follow `ReplicaRouter`.

The lag check: a replica is read only if it has replayed everything the primary had written when asked, or its
last replayed transaction is at most KYODAKU_REPLICA_MAX_LAG seconds old (an upper bound of how stale it is:
everything committed before that transaction is there). A replica that is too far behind, down, or not in
recovery is skipped; with none left the block reads the primary. Lookups reuse a replica's measured lag for
KYODAKU_REPLICA_LAG_CHECK_SECONDS (per process; an unreachable one for DOWN_RECHECK_SECONDS); a snapshot build
measures afresh (`fresh=True`).
"""
import contextvars
import logging
import random
import time
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connections

PRIMARY = "default"
_chosen: contextvars.ContextVar[str | None] = contextvars.ContextVar("kyodaku_read_alias", default=None)
_measured: dict[str, tuple[float, float | None]] = {}  # alias -> (time.monotonic() of the check, lag or None)

logger = logging.getLogger(__name__)


def replica_aliases() -> list[str]:
    return list(getattr(settings, "DATABASE_REPLICA_ALIASES", ()))


def read_alias() -> str:
    """The database alias reads go to here: the block's database inside `replica_reads()`, else the primary."""
    return _chosen.get() or PRIMARY


def replica_lag(alias: str) -> float | None:
    """Seconds `alias` is behind the primary: 0.0 when it has replayed all the WAL the primary had written when
    asked, else the age of its last replayed transaction (an upper bound). None when it cannot serve (unreachable,
    not a streaming replica in recovery, or nothing replayed yet while behind). Two short queries."""
    try:
        with connections[PRIMARY].cursor() as cursor:
            # the insert position: with synchronous_commit off (imports) the write position can be short of a commit
            cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
            position = cursor.fetchone()[0]
        with connections[alias].cursor() as cursor:
            cursor.execute(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() >= %s::pg_lsn, "
                "EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8",
                [position])
            in_recovery, caught_up, age = cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("replica %s: lag check failed (%s); reading the primary", alias, exc)
        connections[alias].close()  # a broken connection is not kept for the next block
        return None
    if not in_recovery:
        return None
    if caught_up:
        return 0.0
    return None if age is None else max(age, 0.0)


# An unreachable replica is asked again after this many seconds at the earliest (lookups): a connection attempt to
# a host that is down can take the whole connect_timeout, which one request in a process then waits.
DOWN_RECHECK_SECONDS = 30.0


def _lag(alias: str, *, fresh: bool) -> float | None:
    checked = _measured.get(alias)
    now = time.monotonic()
    interval = settings.KYODAKU_REPLICA_LAG_CHECK_SECONDS
    if checked is not None and checked[1] is None:
        interval = max(interval, DOWN_RECHECK_SECONDS)
    if fresh or checked is None or now - checked[0] >= interval:
        lag = replica_lag(alias)
        _measured[alias] = (now, lag)
        return lag
    return checked[1]


def choose_replica(*, fresh: bool = False) -> str | None:
    """A replica within KYODAKU_REPLICA_MAX_LAG of the primary (tried in random order), or None."""
    aliases = replica_aliases()
    random.shuffle(aliases)
    bound = settings.KYODAKU_REPLICA_MAX_LAG
    for alias in aliases:
        lag = _lag(alias, fresh=fresh)
        if lag is not None and lag <= bound:
            return alias
        logger.info("replica %s skipped: lag %s s (bound %s s)", alias, lag, bound)
    return None


@contextmanager
def replica_reads(*, fresh: bool = False):
    """Send this block's reads to one read replica within the lag bound; to the primary when none is configured or
    none is within it, and inside an outer block to that block's choice. Yields the alias read."""
    if not replica_aliases() or _chosen.get() is not None:
        yield read_alias()
        return
    token = _chosen.set(choose_replica(fresh=fresh) or PRIMARY)
    try:
        yield _chosen.get()
    finally:
        _chosen.reset(token)


class ReplicaRouter:
    """ORM reads inside `replica_reads()` go to its database; everything else, and every write, to the primary."""

    def db_for_read(self, model, **hints):
        return _chosen.get()

    def db_for_write(self, model, **hints):
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == PRIMARY
