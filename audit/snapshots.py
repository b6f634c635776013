"""Which rows the audit log vouches for, and how each is written down.

Apps above the audit log register their models here (in `AppConfig.ready`), so that the audit app can verify
rows without importing the apps that own them.
"""
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Model, QuerySet


@dataclass(frozen=True)
class Tracked:
    object_type: str
    snapshot: Callable[[Model], dict]
    current_rows: Callable[[], QuerySet]
    # The rows verification streams (default: every row of the model): a model whose snapshot reads relations
    # gives a queryset that prefetches them, so that a chunk of rows costs a fixed number of queries.
    rows: Callable[[], QuerySet] | None = None


_TRACKED: dict[str, Tracked] = {}


def register(object_type: str, *, snapshot: Callable[[Model], dict], current_rows: Callable[[], QuerySet],
             rows: Callable[[], QuerySet] | None = None) -> None:
    _TRACKED[object_type] = Tracked(object_type, snapshot, current_rows, rows)


def tracked() -> list[Tracked]:
    return list(_TRACKED.values())


def iso(value) -> str | None:
    """ISO 8601 text of a date or time. Bulk imports snapshot millions of rows stamped with the same time object
    (their chunk's), so the last one is remembered by identity: the same object always prints the same."""
    if value is None:
        return None
    last = _last_iso
    if last[0] is value:
        return last[1]
    text = value.isoformat()
    _remember(value, text)
    return text


_last_iso: tuple = (None, None)


def _remember(value, text) -> None:
    global _last_iso
    _last_iso = (value, text)  # one assignment of a tuple: safe with concurrent readers
