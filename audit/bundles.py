"""Bundles: one audit event carrying several objects' changes, written by bulk imports (issue 15 item 2).

A claims import changes, per CSV row, a work, its identifiers and its declarations: eight objects for a typical
row. One event per object made the audit log the largest table an import writes (28 % of the database's CPU in
docs/performance.md). A bulk import therefore writes one `bundle` event per work and chunk instead:

    action "bundle", object_type "work", object_id <the work's id>, before null,
    after [{"action", "object_type", "object_id", "before", "after"}, ...]   (the changes, in the order made)

hashed and chained like any event, so the chain still covers every change with its own action, before and after.
Which object's changes go into which bundle is said by the app that owns the object (`audit.snapshots.register`,
`bundled_by` / `bundle_key`: a work's identifiers and declarations belong to that work for ever), so every reader
finds an object's bundled changes through the object it is keyed on: `verify_audit`, the per-object history, the
change feed. A change whose object has no bundle key (a catalogue-wide declaration, a dispute), or that would be
alone in its bundle, stays an event of its own. Services filing one thing at a time keep writing per-object events;
readers handle both.
"""
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from .snapshots import tracked_type

BUNDLE_ACTION = "bundle"


class Change(NamedTuple):
    """One object's change, as an event of its own or a bundle member carries it."""

    action: str
    object_type: str
    object_id: str
    before: object
    after: object


def bundle_key(object_type: str, object_id: str, before, after) -> tuple[str, str] | None:
    """(bundling object type, its id) for a change, or None when the object's changes are never bundled."""
    item = tracked_type(object_type)
    if item is None or item.bundled_by is None:
        return None
    key = item.bundle_of(str(object_id), after if after is not None else before)
    return None if key is None else (item.bundled_by, str(key))


def bundled(events: Sequence, *, make) -> list:
    """Group a bulk write's events (`PendingEvent`s: action, object_type, object_id, before, after) into one
    bundle per bundle key, in the order each group first appears; each group keeps its changes' order. A change
    with no bundle key, or alone in its group, is left as it is. `make` builds an event from the same five fields.

    Reordering across groups is safe: a bulk write's events share one time and one transaction, and every reader
    orders one object's changes, which stay within one group, by their place in it."""
    grouped = Bundler()
    keyers: dict = {}  # object type -> (bundled_by, its key function) or None: looked up once per type
    for event in events:
        _action, object_type, object_id, before, after = event
        keyer = keyers.get(object_type, False)
        if keyer is False:
            item = tracked_type(object_type)
            keyer = keyers[object_type] = (
                (item.bundled_by, item.bundle_key) if item is not None and item.bundled_by else None)
        snapshot = after if after is not None else before
        key = keyer[1](object_id, snapshot) if keyer is not None and isinstance(snapshot, dict) else None
        grouped.add(None if key is None else (keyer[0], key), event)
    return grouped.events(make=make)


class Bundler:
    """`bundled`, fed one event at a time by a writer that already knows each event's bundle key (`bundle_key`'s
    answer for it, or None): the claims planner knows the work every change it plans belongs to, so it need not
    look the key up again from each snapshot (issue 15 item 2). The grouping and the bundles made are
    `bundled`'s own (it is this class with the keys looked up); `tests/claims/test_copying.py` holds the keys a
    plan gives to `bundle_key`'s."""

    __slots__ = ("_groups", "_order")

    def __init__(self):
        self._groups: dict = {}
        self._order: list = []

    def add(self, key, event) -> None:
        """An event and its bundle key ((bundled_by, id) or None), in the order the changes are made."""
        if key is None:
            self._order.append([event])
            return
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = [key]
            self._order.append(group)
        group.append(event)

    def change(self, key, action: str, object_type: str, object_id: str, before, after) -> None:
        """`add` for a writer whose object ids are already text (the claims planner): the change is kept as the
        member dict a bundle holds, made once here rather than as an event first and a dict later (a keyed change
        nearly always ends up in a bundle); it becomes an event only if it stays alone."""
        self.add(key, {"action": action, "object_type": object_type, "object_id": object_id, "before": before,
                       "after": after})

    def __len__(self) -> int:
        """How many events were added."""
        return sum(1 if len(group) == 1 else len(group) - 1 for group in self._order)

    def flat(self, *, make=tuple) -> list:
        """The changes added, each group's together (in `bundled`'s output order, unbundled), as events."""
        return [_event(change, make) for group in self._order
                for change in (group if len(group) == 1 else group[1:])]

    def events(self, *, make) -> list:
        """The events with each group of two or more in one bundle, as `bundled` returns them."""
        out = []
        for group in self._order:
            if len(group) == 1:  # an event without a bundle key
                out.append(_event(group[0], make))
            elif len(group) == 2:  # a key and one change: alone in its bundle
                out.append(_event(group[1], make))
            else:
                (object_type, object_id), changes = group[0], group[1:]
                out.append(make((BUNDLE_ACTION, object_type, str(object_id), None, [
                    change if change.__class__ is dict else
                    {"action": change[0], "object_type": change[1], "object_id": str(change[2]),
                     "before": change[3], "after": change[4]}
                    for change in changes])))
        return out


def _event(change, make):
    """An event added (as it is) or a change kept as a member dict (`Bundler.change`), as an event."""
    if change.__class__ is dict:
        return make((change["action"], change["object_type"], change["object_id"], change["before"],
                     change["after"]))
    return change


def members(after) -> Iterator[Change]:
    """The changes a bundle's `after` carries, in order (nothing for anything that is not a list of changes)."""
    if not isinstance(after, list):
        return
    for member in after:
        if isinstance(member, dict):
            yield Change(member.get("action"), member.get("object_type"), member.get("object_id"),
                         member.get("before"), member.get("after"))


def misfiled(object_type: str, object_id: str, after) -> str | None:
    """Why a bundle's content is not what a bundle keyed on (object_type, object_id) may hold, or None."""
    if not isinstance(after, list) or len(after) < 2:
        return "a bundle holds a list of at least two changes"
    for change in members(after):
        if change.action is None or change.object_type is None or change.object_id is None:
            return "a bundle member lacks its action, object type or id"
        if bundle_key(change.object_type, change.object_id, change.before, change.after) != (object_type, object_id):
            return f"holds {change.object_type} {change.object_id}, which is not bundled by {object_type} {object_id}"
    if sum(1 for _ in members(after)) != len(after):
        return "a bundle member is not a change"
    return None


def changes_of(rows: Iterable[tuple]) -> Iterator[tuple]:
    """(seq, Change) for events given as (seq, action, object_type, object_id, before, after): each bundle's
    members in turn, every other event as itself."""
    for seq, action, object_type, object_id, before, after in rows:
        if action == BUNDLE_ACTION:
            for change in members(after):
                yield seq, change
        else:
            yield seq, Change(action, object_type, object_id, before, after)
