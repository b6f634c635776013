"""Writing the audit log. Every service that changes registry data calls these inside its transaction."""
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from .chain import event_hash
from .models import AuditEvent, AuditHead


@dataclass(frozen=True)
class PendingEvent:
    action: str
    object_type: str
    object_id: str
    before: Any = None
    after: Any = None


def actor_label(user) -> str:
    """What the log says about who acted: a stable user id, never a name or an e-mail address."""
    if user is None or not getattr(user, "is_authenticated", False):
        return "system"
    return f"user:{user.pk}"


def _lock_head() -> AuditHead:
    head, _ = AuditHead.objects.get_or_create(id=1)
    return AuditHead.objects.select_for_update().get(id=1)


def audit_record_many(*, actor, events: Iterable[PendingEvent], at=None) -> list[AuditEvent]:
    """Append events to the chain in one locked step; returns them in chain order."""
    events = list(events)
    if not events:
        return []
    label = actor if isinstance(actor, str) else actor_label(actor)
    with transaction.atomic():
        head = _lock_head()
        at = at or timezone.now()
        seq, prev = head.seq, head.hash
        rows = []
        for event in events:
            seq += 1
            digest = event_hash(
                seq=seq, at=at, actor=label, action=event.action, object_type=event.object_type,
                object_id=str(event.object_id), before=event.before, after=event.after, prev_hash=prev,
            )
            rows.append(
                AuditEvent(
                    seq=seq, at=at, actor=label, action=event.action, object_type=event.object_type,
                    object_id=str(event.object_id), before=event.before, after=event.after,
                    prev_hash=prev, hash=digest,
                )
            )
            prev = digest
        AuditEvent.objects.bulk_create(rows, batch_size=2000)
        AuditHead.objects.filter(id=1).update(seq=seq, hash=prev)
    return rows


def audit_record(*, actor, action: str, object_type: str, object_id, before=None, after=None, at=None) -> AuditEvent:
    return audit_record_many(
        actor=actor,
        events=[PendingEvent(action=action, object_type=object_type, object_id=str(object_id),
                             before=before, after=after)],
        at=at,
    )[0]
