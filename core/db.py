"""Read replicas (DATABASE_REPLICA_URLS): which database a read goes to.

Reads go to the primary (`default`) unless the code is inside `replica_reads()`, which the lookup endpoints enter:
an AI developer's answer may lag the primary by the replica's replay lag (docs/scaling.md states the bound), while
a holder's own reads and every write stay on the primary, so holders read their own writes. One replica is chosen
per `replica_reads()` block, so the statements of one request see one replica's state. Raw-SQL readers ask
`read_alias()` for their connection; ORM reads follow `ReplicaRouter`.
"""
import contextvars
import random
from contextlib import contextmanager

from django.conf import settings

PRIMARY = "default"
_chosen: contextvars.ContextVar[str | None] = contextvars.ContextVar("kyodaku_read_alias", default=None)


def replica_aliases() -> list[str]:
    return list(getattr(settings, "DATABASE_REPLICA_ALIASES", ()))


def read_alias() -> str:
    """The database alias reads go to here: the block's replica inside `replica_reads()`, else the primary."""
    return _chosen.get() or PRIMARY


@contextmanager
def replica_reads():
    """Send this block's reads to one read replica (the primary when none is configured, or inside an outer block's
    choice)."""
    aliases = replica_aliases()
    if not aliases or _chosen.get() is not None:
        yield read_alias()
        return
    token = _chosen.set(random.choice(aliases))
    try:
        yield _chosen.get()
    finally:
        _chosen.reset(token)


class ReplicaRouter:
    """ORM reads inside `replica_reads()` go to its replica; everything else, and every write, to the primary."""

    def db_for_read(self, model, **hints):
        return _chosen.get()

    def db_for_write(self, model, **hints):
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == PRIMARY
