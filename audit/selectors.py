"""Reading and verifying the audit log."""
from dataclasses import dataclass

from .chain import GENESIS_HASH, event_hash
from .models import AuditEvent, AuditHead
from .snapshots import tracked

PUBLIC_FIELDS = ("seq", "at", "action", "object_type", "object_id", "prev_hash", "hash")


def audit_head() -> dict:
    head = AuditHead.objects.filter(id=1).values("seq", "hash").first()
    return head or {"seq": 0, "hash": GENESIS_HASH}


def audit_events_after(*, after: int, limit: int):
    return AuditEvent.objects.filter(seq__gt=after).order_by("seq").only(*PUBLIC_FIELDS)[:limit]


def audit_events_for_object(*, object_type: str, object_id) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_type=object_type, object_id=str(object_id)).order_by("seq"))


@dataclass(frozen=True)
class AuditProblem:
    where: str
    detail: str

    def __str__(self):
        return f"{self.where}: {self.detail}"


def audit_verify(*, chunk: int = 5000) -> list[AuditProblem]:
    """Recompute the chain, then check every tracked current row against its latest event. First problems first."""
    problems: list[AuditProblem] = []
    prev, expected_seq = GENESIS_HASH, 1
    latest_after: dict[tuple[str, str], object] = {}
    tracked_types = {t.object_type for t in tracked()}
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk):
        if event.seq != expected_seq:
            problems.append(AuditProblem(f"event #{event.seq}", f"sequence gap: expected #{expected_seq}"))
            return problems
        if event.prev_hash != prev:
            problems.append(AuditProblem(f"event #{event.seq}", "previous hash does not match the chain"))
            return problems
        digest = event_hash(
            seq=event.seq, at=event.at, actor=event.actor, action=event.action, object_type=event.object_type,
            object_id=event.object_id, before=event.before, after=event.after, prev_hash=event.prev_hash,
        )
        if digest != event.hash:
            problems.append(AuditProblem(f"event #{event.seq}", "content does not match its hash (rewritten)"))
            return problems
        if event.object_type in tracked_types:
            latest_after[(event.object_type, event.object_id)] = event.after
        prev, expected_seq = event.hash, expected_seq + 1
    head = audit_head()
    if head["seq"] != expected_seq - 1 or head["hash"] != prev:
        problems.append(AuditProblem("audit head", "does not match the last event"))
    for item in tracked():
        for row in item.current_rows().iterator(chunk_size=chunk):
            key = (item.object_type, str(row.pk))
            if key not in latest_after:
                problems.append(AuditProblem(f"{item.object_type} {row.pk}", "row has no audit event"))
            elif latest_after[key] != item.snapshot(row):
                problems.append(AuditProblem(f"{item.object_type} {row.pk}", "row differs from its latest audit event"))
    return problems
