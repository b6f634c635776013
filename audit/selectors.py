"""Reading and verifying the audit log."""
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain

from django.db import connection
from django.db.models import Q

from .bundles import BUNDLE_ACTION, bundle_key, changes_of, members, misfiled
from .chain import GENESIS_HASH, canonical_time, content_hash, event_hash, legacy_event_hash
from .models import AuditEvent, AuditHead
from .snapshots import tracked, tracked_type

# What the public feed shows: enough to re-check every hash, nothing about who acted or what the rows hold.
PUBLIC_FIELDS = ("seq", "at", "action", "object_type", "object_id", "content_hash", "prev_hash", "hash")


def audit_head() -> dict:
    head = AuditHead.objects.filter(id=1).values("seq", "hash").first()
    return head or {"seq": 0, "hash": GENESIS_HASH}


def audit_event_hash_at(*, seq: int) -> str | None:
    """The hash the chain holds at `seq` today (the genesis hash for 0), or None when there is no such event."""
    if seq == 0:
        return GENESIS_HASH
    return AuditEvent.objects.filter(seq=seq).values_list("hash", flat=True).first()


def audit_event_hash_held(*, seq: int, digest: str) -> bool:
    """Whether the chain holds `digest` at `seq`: its hash today, or the hash it had before migration audit.0003
    salted the log (receipts issued before then recorded that one; verify_audit recomputes it from the row)."""
    if seq == 0:
        return digest == GENESIS_HASH
    return AuditEvent.objects.filter(Q(hash=digest) | Q(legacy_hash=digest), seq=seq).exists()


def audit_events_after(*, after: int, limit: int) -> list[dict]:
    """Up to `limit` events after sequence number `after`, in chain order, as public dicts (no personal data).

    `content_hash` is recomputed from the stored content, so a row rewritten behind the service's back shows a
    hash that no longer chains: outsiders who re-check the feed see the break too.
    """
    rows = (
        AuditEvent.objects.filter(seq__gt=after).order_by("seq")
        .values_list("seq", "at", "actor", "action", "object_type", "object_id", "before", "after", "salt",
                     "prev_hash", "hash")[:limit]
    )
    return [
        dict(zip(PUBLIC_FIELDS, (
            seq, canonical_time(at), action, object_type, object_id,
            content_hash(actor=actor, before=before, after=after_, salt=salt), prev_hash, digest), strict=True))
        for seq, at, actor, action, object_type, object_id, before, after_, salt, prev_hash, digest in rows
    ]


@dataclass(frozen=True)
class ObjectEvent:
    """One change of one object as the log records it: an event of its own, or a member of a bundle (`bundled`:
    then `seq`, `at` and `actor` are the bundle's, and the chain's hash covers the whole bundle)."""

    seq: int
    at: object
    actor: str
    action: str
    object_type: str
    object_id: str
    before: object
    after: object
    bundled: bool = False


def audit_events_for_objects(*, objects: list[tuple[str, object]]) -> list[ObjectEvent]:
    """Every change of these objects ((object type, id) pairs), from their own events and from the bundles of
    bulk imports that hold them, in chain order (a bundle's members in their order in it). The bundles are found
    through the objects' current rows (their bundle keys: one query per bundled object type), then every event
    is read in one query; a row that is gone shows only its own events."""
    wanted = {(object_type, str(object_id)) for object_type, object_id in objects}
    if not wanted:
        return []
    keys = _bundle_keys_of_rows(wanted)
    condition = Q()
    by_type: dict[str, set] = {}
    for object_type, object_id in wanted:
        by_type.setdefault(object_type, set()).add(object_id)
    for object_type, ids in by_type.items():
        condition |= Q(object_type=object_type, object_id__in=ids)
    bundle_ids: dict[str, set] = {}
    for bundled_by, key in keys:
        bundle_ids.setdefault(bundled_by, set()).add(key)
    for bundled_by, ids in bundle_ids.items():
        condition |= Q(object_type=bundled_by, object_id__in=ids, action=BUNDLE_ACTION)
    rows = (AuditEvent.objects.filter(condition).order_by("seq")
            .values_list("seq", "at", "actor", "action", "object_type", "object_id", "before", "after"))
    out = []
    for seq, at, actor, action, object_type, object_id, before, after in rows:
        if action == BUNDLE_ACTION:
            out.extend(ObjectEvent(seq, at, actor, *change, bundled=True) for change in members(after)
                       if (change.object_type, change.object_id) in wanted)
        elif (object_type, object_id) in wanted:
            out.append(ObjectEvent(seq, at, actor, action, object_type, object_id, before, after))
    return out


def audit_events_for_object(*, object_type: str, object_id) -> list[ObjectEvent]:
    """One object's changes in chain order, bundled ones included (`audit_events_for_objects`)."""
    return audit_events_for_objects(objects=[(object_type, object_id)])


def audit_bundles_holding(*, object_id) -> list[int]:
    """The sequence numbers of the bundles that hold a change of an object with this id, whatever its type (an
    identifier, a declaration, a work: every type a bulk import bundles), in chain order: what a search of the log
    by an object's id finds besides the object's own events.

    No document is searched: the object's bundle key comes from its row (the bundled types keep their rows, ended
    ones included) or, for a row that is gone, from its own events' snapshots; the bundles keyed on it are read
    through `audit_object_seq_idx` and kept when one of their members is the object. Five queries (a row query per
    bundled type, the own events, the bundles), each through an index, whatever the size of the log."""
    object_id = str(object_id).strip()
    types = [item.object_type for item in tracked() if item.bundled_by is not None]
    if not object_id or not types:
        return []
    keys = _bundle_keys_of_rows({(object_type, object_id) for object_type in types})
    own = Q()
    for object_type in types:
        own |= Q(object_type=object_type, object_id=object_id)
    for object_type, before, after in (AuditEvent.objects.filter(own).exclude(action=BUNDLE_ACTION)
                                       .values_list("object_type", "before", "after")):
        key = bundle_key(object_type, object_id, before, after)
        if key is not None:
            keys.add(key)
    if not keys:
        return []
    candidates = Q()
    for bundled_by, key in keys:
        candidates |= Q(object_type=bundled_by, object_id=key)
    rows = (AuditEvent.objects.filter(candidates, action=BUNDLE_ACTION).order_by("seq")
            .values_list("seq", "after"))
    return [seq for seq, after in rows
            if any(change.object_id == object_id and change.object_type in types for change in members(after))]


def _bundle_keys_of_rows(wanted: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The bundle keys of these objects, from their current rows (one query per bundled type)."""
    keys = set()
    by_type: dict[str, list] = {}
    for object_type, object_id in wanted:
        by_type.setdefault(object_type, []).append(object_id)
    for object_type, ids in by_type.items():
        item = tracked_type(object_type)
        if item is None or item.bundled_by is None:
            continue
        model = item.current_rows().model
        pk_field = model._meta.pk
        pks = []
        for object_id in ids:
            try:
                pks.append(pk_field.to_python(object_id))
            except Exception:  # noqa: BLE001 - an id that is not a valid key names no row
                continue
        for row in model._default_manager.filter(pk__in=pks):
            key = item.bundle_of(str(row.pk), item.snapshot(row))
            if key is not None:
                keys.add((item.bundled_by, str(key)))
    return keys


@dataclass(frozen=True)
class AuditProblem:
    where: str
    detail: str

    def __str__(self):
        return f"{self.where}: {self.detail}"


# A bundle holds about eight changes (a claims row's work, identifiers and declarations): where bundles are read,
# fewer rows are fetched at a time, so that a chunk's parsed documents take about as much memory as before.
BUNDLE_CHUNK_DIVISOR = 8


def _bundle_chunk(chunk: int) -> int:
    return max(1, chunk // BUNDLE_CHUNK_DIVISOR)


def _chain_problem(*, chunk: int) -> tuple[AuditProblem | None, int]:
    """Recompute the chain in sequence order; (the first broken event or None, the number of events checked)."""
    prev, legacy_prev, expected_seq = GENESIS_HASH, GENESIS_HASH, 1  # legacy_prev: the pre-salting chain
    events = (
        AuditEvent.objects.order_by("seq")
        .values_list("seq", "at", "actor", "action", "object_type", "object_id", "before", "after", "salt",
                     "prev_hash", "hash", "legacy_hash")
        .iterator(chunk_size=_bundle_chunk(chunk))
    )
    for seq, at, actor, action, object_type, object_id, before, after, salt, prev_hash, digest, legacy in events:
        if seq != expected_seq:
            return AuditProblem(f"event #{seq}", f"sequence gap: expected #{expected_seq}"), expected_seq - 1
        if prev_hash != prev:
            return AuditProblem(f"event #{seq}", "previous hash does not match the chain"), expected_seq - 1
        recomputed = event_hash(seq=seq, at=at, actor=actor, action=action, object_type=object_type,
                                object_id=object_id, before=before, after=after, salt=salt, prev_hash=prev_hash)
        if recomputed != digest:
            return AuditProblem(f"event #{seq}", "content does not match its hash (rewritten)"), expected_seq - 1
        if action == BUNDLE_ACTION:
            # A bundle is found through the object it is keyed on: one holding anything else would hide that
            # change from every reader that looks for it there.
            wrong = misfiled(object_type, object_id, after)
            if wrong is not None:
                return AuditProblem(f"event #{seq}", f"bundle of {object_type} {object_id}: {wrong}"), expected_seq - 1
        if legacy is not None:
            # The chain as it stood before salting, recomputed from the same rows: what older receipts recorded.
            recomputed = legacy_event_hash(seq=seq, at=at, actor=actor, action=action, object_type=object_type,
                                           object_id=object_id, before=before, after=after, prev_hash=legacy_prev)
            if recomputed != legacy:
                return (AuditProblem(f"event #{seq}", "its hash before salting does not recompute (rewritten)"),
                        expected_seq - 1)
        prev, legacy_prev, expected_seq = digest, legacy or digest, expected_seq + 1
    head = audit_head()
    if head["seq"] != expected_seq - 1 or head["hash"] != prev:
        return (AuditProblem("audit head", f"head #{head['seq']} does not match the last event #{expected_seq - 1}"),
                expected_seq - 1)
    return None, expected_seq - 1


def _chunks(iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _latest_after(item, objects: dict[str, str | None]) -> dict[str, object]:
    """{object id: `after` of its latest change} for these objects of one tracked type (those never recorded are
    absent), reading their own events and the bundles they may be in.

    `objects` maps each id to its bundle key (`Tracked.bundle_of` of its row's snapshot), or None when unknown (a
    row that is gone): then the key is read from the object's own events, and its bundles fetched in a second
    query. Bundles are found through their key's (object_type, object_id, seq) index like any event.
    """
    object_type = item.object_type
    latest: dict[str, tuple[int, object]] = {}
    known = {key for key in objects.values() if key is not None} if item.bundled_by else set()
    _fold_latest(latest, item, _events_of(object_type, list(objects), item.bundled_by, known), objects)
    if item.bundled_by:
        # Objects whose bundle key was not known: read it from their own events, then fetch those bundles.
        unknown = {object_id for object_id, key in objects.items() if key is None}
        found = set()
        for object_id in unknown:
            change = latest.get(object_id)
            if change is not None:
                key = bundle_key(object_type, object_id, None, change[1])
                if key is not None and key[0] == item.bundled_by and key[1] not in known:
                    found.add(key[1])
        if found:
            _fold_latest(latest, item, _events_of(object_type, [], item.bundled_by, found), objects)
    return {object_id: after for object_id, (_seq, after) in latest.items()}


def _events_of(object_type: str, object_ids: list[str], bundled_by: str | None, keys: set[str]):
    condition = Q(object_type=object_type, object_id__in=object_ids) if object_ids else Q(pk__in=[])
    if bundled_by and keys:
        condition |= Q(object_type=bundled_by, object_id__in=keys, action=BUNDLE_ACTION)
    return (AuditEvent.objects.filter(condition).order_by("seq")
            .values_list("seq", "action", "object_type", "object_id", "before", "after"))


def _fold_latest(latest: dict, item, rows, wanted) -> None:
    """Keep, per wanted object of `item`'s type, the change with the highest sequence number (a bundle's later
    member winning over an earlier one of the same bundle)."""
    object_type = item.object_type
    for seq, change in changes_of(rows):
        if change.object_type == object_type and change.object_id in wanted:
            held = latest.get(change.object_id)
            if held is None or held[0] <= seq:
                latest[change.object_id] = (seq, change.after)


def _row_problems(item, *, chunk: int) -> Iterator[AuditProblem]:
    """Every row of a tracked model against the `after` of its latest change (its own event or a bundle's).

    Rows are streamed in primary-key order and their events fetched one chunk at a time through the
    (object_type, object_id, seq) index, so memory stays flat however many rows and events there are.
    """
    model = item.current_rows().model
    if item.bundled_by:
        chunk = _bundle_chunk(chunk)  # each row may bring a bundle along
    rows = (item.rows() if item.rows else model._default_manager).order_by("pk").iterator(chunk_size=chunk)
    for batch in _chunks(rows, chunk):
        snapshots = {str(row.pk): item.snapshot(row) for row in batch}
        latest = _latest_after(item, {key: item.bundle_of(key, snap) for key, snap in snapshots.items()})
        for row in batch:
            key = str(row.pk)
            if key not in latest:
                yield AuditProblem(f"{item.object_type} {row.pk}", "row has no audit event")
            elif latest[key] != snapshots[key]:
                yield AuditProblem(f"{item.object_type} {row.pk}", "row differs from its latest audit event")


def _absent(item, object_ids: list[str]) -> list[str]:
    """Those of these ids whose row is gone (or that are not even valid keys)."""
    model = item.current_rows().model
    pk_field = model._meta.pk
    pks = {}
    for object_id in object_ids:
        try:
            pks[object_id] = pk_field.to_python(object_id)
        except Exception:  # noqa: BLE001 - an id that is not even a valid key names no row
            pks[object_id] = None
    present = {str(pk) for pk in model._default_manager.filter(
        pk__in=[pk for pk in pks.values() if pk is not None]).values_list("pk", flat=True)}
    return [object_id for object_id in object_ids if str(pks[object_id]) not in present]


def _missing_rows(item, *, chunk: int) -> Iterator[AuditProblem]:
    """Objects the log says exist whose row is gone: deleted behind the service's back (objects with events of
    their own here; those only ever in bundles in `_missing_bundled`)."""
    object_ids = (
        AuditEvent.objects.filter(object_type=item.object_type).exclude(action=BUNDLE_ACTION).order_by("object_id")
        .values_list("object_id", flat=True).distinct().iterator(chunk_size=chunk)
    )
    for batch in _chunks(object_ids, chunk):
        absent = _absent(item, batch)
        if not absent:
            continue
        for object_id, after in _latest_after(item, dict.fromkeys(absent)).items():
            if after is not None:  # a latest event with no `after` records a deletion
                yield AuditProblem(f"{item.object_type} {object_id}",
                                   "row is missing, but its latest audit event says it exists")


def _missing_bundled(*, chunk: int) -> Iterator[AuditProblem]:
    """Objects named in bundles whose row is gone: the bundles are streamed in chain order, and each chunk's
    members checked with one query per object type (and their latest change read only for the absent)."""
    bundles = (AuditEvent.objects.filter(action=BUNDLE_ACTION).order_by("seq")
               .values_list("object_type", "object_id", "after").iterator(chunk_size=_bundle_chunk(chunk)))
    for batch in _chunks(bundles, _bundle_chunk(chunk)):
        by_type: dict[str, dict[str, str]] = {}
        for _bundled_by, key, after in batch:
            for change in members(after):
                by_type.setdefault(change.object_type, {})[change.object_id] = key
        for object_type, objects in by_type.items():
            item = tracked_type(object_type)
            if item is None:
                continue
            absent = _absent(item, list(objects))
            if not absent:
                continue
            for object_id, after in _latest_after(item, {i: objects[i] for i in absent}).items():
                if after is not None:
                    yield AuditProblem(f"{object_type} {object_id}",
                                       "row is missing, but its latest audit event says it exists")


def _trigger_problems() -> list[AuditProblem]:
    """On PostgreSQL the log's append-only trigger must be there and enabled: without it nothing stops a rewrite."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgenabled FROM pg_trigger WHERE tgrelid = 'audit_auditevent'::regclass "
                       "AND tgname = 'audit_event_append_only'")
        row = cursor.fetchone()
    if row is None:
        return [AuditProblem("audit_auditevent", "the append-only trigger is missing")]
    if row[0] == "D":
        return [AuditProblem("audit_auditevent", "the append-only trigger is disabled")]
    return []


def audit_verify(*, chunk: int = 5000, max_problems: int = 100) -> list[AuditProblem]:
    """Recompute the chain, then check every row of every tracked model against its latest event.

    A broken chain is reported alone (its first broken event): rows cannot be judged against a rewritten log.
    """
    problem, _ = _chain_problem(chunk=chunk)
    if problem is not None:
        return [problem]
    problems: list[AuditProblem] = _trigger_problems()
    seen = set()  # an object in bundles and in events of its own is reported once
    checks = chain.from_iterable(chain(_row_problems(item, chunk=chunk), _missing_rows(item, chunk=chunk))
                                 for item in tracked())
    for problem in chain(checks, _missing_bundled(chunk=chunk)):
        if (problem.where, problem.detail) in seen:
            continue
        seen.add((problem.where, problem.detail))
        problems.append(problem)
        if len(problems) >= max_problems:
            return problems
    return problems


def audit_event_count() -> int:
    return AuditEvent.objects.count()
