"""Reading and verifying the audit log."""
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain

from django.db import connection
from django.db.models import Q

from .chain import GENESIS_HASH, canonical_time, content_hash, event_hash, legacy_event_hash
from .models import AuditEvent, AuditHead
from .snapshots import tracked

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


def audit_events_for_object(*, object_type: str, object_id) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_type=object_type, object_id=str(object_id)).order_by("seq"))


@dataclass(frozen=True)
class AuditProblem:
    where: str
    detail: str

    def __str__(self):
        return f"{self.where}: {self.detail}"


def _chain_problem(*, chunk: int) -> tuple[AuditProblem | None, int]:
    """Recompute the chain in sequence order; (the first broken event or None, the number of events checked)."""
    prev, legacy_prev, expected_seq = GENESIS_HASH, GENESIS_HASH, 1  # legacy_prev: the pre-salting chain
    events = (
        AuditEvent.objects.order_by("seq")
        .values_list("seq", "at", "actor", "action", "object_type", "object_id", "before", "after", "salt",
                     "prev_hash", "hash", "legacy_hash")
        .iterator(chunk_size=chunk)
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


def _latest_after(object_type: str, object_ids: list[str]) -> dict[str, object]:
    """{object id: `after` of its latest event} for these objects (those with no event are absent)."""
    latest: dict[str, object] = {}
    events = (
        AuditEvent.objects.filter(object_type=object_type, object_id__in=object_ids)
        .order_by("object_id", "seq").values_list("object_id", "after")
    )
    for object_id, after in events:
        latest[object_id] = after  # ascending seq: the last one written wins
    return latest


def _row_problems(item, *, chunk: int) -> Iterator[AuditProblem]:
    """Every row of a tracked model against the `after` of its latest event.

    Rows are streamed in primary-key order and their events fetched one chunk at a time through the
    (object_type, object_id, seq) index, so memory stays flat however many rows and events there are.
    """
    model = item.current_rows().model
    rows = (item.rows() if item.rows else model._default_manager).order_by("pk").iterator(chunk_size=chunk)
    for batch in _chunks(rows, chunk):
        latest = _latest_after(item.object_type, [str(row.pk) for row in batch])
        for row in batch:
            key = str(row.pk)
            if key not in latest:
                yield AuditProblem(f"{item.object_type} {row.pk}", "row has no audit event")
            elif latest[key] != item.snapshot(row):
                yield AuditProblem(f"{item.object_type} {row.pk}", "row differs from its latest audit event")


def _missing_rows(item, *, chunk: int) -> Iterator[AuditProblem]:
    """Objects the log says exist whose row is gone: deleted behind the service's back."""
    model = item.current_rows().model
    pk_field = model._meta.pk
    object_ids = (
        AuditEvent.objects.filter(object_type=item.object_type).order_by("object_id")
        .values_list("object_id", flat=True).distinct().iterator(chunk_size=chunk)
    )
    for batch in _chunks(object_ids, chunk):
        pks = {}
        for object_id in batch:
            try:
                pks[object_id] = pk_field.to_python(object_id)
            except Exception:  # noqa: BLE001 - an id that is not even a valid key names no row
                pks[object_id] = None
        present = {str(pk) for pk in model._default_manager.filter(
            pk__in=[pk for pk in pks.values() if pk is not None]).values_list("pk", flat=True)}
        absent = [object_id for object_id in batch if str(pks[object_id]) not in present]
        if not absent:
            continue
        for object_id, after in _latest_after(item.object_type, absent).items():
            if after is not None:  # a latest event with no `after` records a deletion
                yield AuditProblem(f"{item.object_type} {object_id}",
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
    for item in tracked():
        for problem in chain(_row_problems(item, chunk=chunk), _missing_rows(item, chunk=chunk)):
            problems.append(problem)
            if len(problems) >= max_problems:
                return problems
    return problems


def audit_event_count() -> int:
    return AuditEvent.objects.count()
