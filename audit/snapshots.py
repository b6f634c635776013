"""Which rows the audit log vouches for, and how each is written down.

Apps above the audit log register their models here (in `AppConfig.ready`), so that the audit app can verify
rows without importing the apps that own them.

A model may also say which bundle its changes go into when a bulk import writes them (`bundled_by`,
`bundle_key`): a bulk import writes one `bundle` event per bundle key and chunk instead of one event per object
(docs/evidence.md, "Bundles"), and every reader finds an object's bundled changes through that key, read from the
object's own snapshot. The key must never change over an object's life (a work's identifiers and declarations
never move to another work), or its older bundles could not be found again.
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
    # The object type bundles of this type's changes are keyed on ("work"), and its key: (object id, snapshot) ->
    # the id of the bundling object, or None when this object's changes are never bundled (a catalogue-wide
    # declaration belongs to no work).
    bundled_by: str | None = None
    bundle_key: Callable[[str, dict], str | None] | None = None

    def bundle_of(self, object_id: str, snapshot) -> str | None:
        if self.bundle_key is None or not isinstance(snapshot, dict):
            return None
        return self.bundle_key(object_id, snapshot)


_TRACKED: dict[str, Tracked] = {}


def register(object_type: str, *, snapshot: Callable[[Model], dict], current_rows: Callable[[], QuerySet],
             rows: Callable[[], QuerySet] | None = None, bundled_by: str | None = None,
             bundle_key: Callable[[str, dict], str | None] | None = None) -> None:
    if (bundled_by is None) != (bundle_key is None):
        raise ValueError("bundled_by and bundle_key go together")
    _TRACKED[object_type] = Tracked(object_type, snapshot, current_rows, rows, bundled_by, bundle_key)


def tracked() -> list[Tracked]:
    return list(_TRACKED.values())


def tracked_type(object_type: str) -> Tracked | None:
    return _TRACKED.get(object_type)


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
