"""Which rows the audit log vouches for, and how each is written down.

Apps above the audit log register their models here (in `AppConfig.ready`), so that the audit app can verify
rows without importing the apps that own them.
"""
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from django.db.models import Model, QuerySet


@dataclass(frozen=True)
class Tracked:
    object_type: str
    snapshot: Callable[[Model], dict]
    current_rows: Callable[[], QuerySet]


_TRACKED: dict[str, Tracked] = {}


def register(object_type: str, *, snapshot: Callable[[Model], dict], current_rows: Callable[[], QuerySet]) -> None:
    _TRACKED[object_type] = Tracked(object_type, snapshot, current_rows)


def tracked() -> list[Tracked]:
    return list(_TRACKED.values())


def snapshot_of(object_type: str, obj: Model) -> dict:
    return _TRACKED[object_type].snapshot(obj)


def iso(value) -> str | None:
    # Bulk imports snapshot millions of rows stamped with a handful of distinct times (a chunk's own, mostly).
    # Equal datetimes can still print differently (another zone, or fold), so those are part of the key.
    return None if value is None else _iso(value, getattr(value, "tzinfo", None), getattr(value, "fold", 0))


@lru_cache(maxsize=256)
def _iso(value, tzinfo, fold) -> str:
    return value.isoformat()
