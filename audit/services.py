"""Writing the audit log. Every service that changes registry data calls these inside its transaction.

Two ways in, one chain: `audit_record_many` for the services' handful of events (model instances returned), and
`audit_record_bulk` for bulk imports (millions of events; on PostgreSQL a `COPY`, with no model instances).
Both hash through `_chained`, so there is one implementation of the chain's layout (`audit.chain`).
"""
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from functools import lru_cache
from hashlib import sha256
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from core.pgcopy import copy_cell, copy_cell_bytes

from .bundles import bundled
from .chain import canonical_json, canonical_json_bytes, canonical_time, salts
from .models import AuditEvent, AuditHead


class PendingEvent(NamedTuple):
    action: str
    object_type: str
    object_id: str
    before: Any = None
    after: Any = None


def audit_bundled(events: Sequence[PendingEvent]) -> list[PendingEvent]:
    """A bulk write's events with each work's changes in one `bundle` event (`audit.bundles`): what bulk imports
    hand to `audit_bulk_prepare` / `audit_record_bulk`."""
    return bundled(events, make=PendingEvent._make)


def actor_label(user) -> str:
    """What the log says about who acted: a stable user id, never a name or an e-mail address."""
    if user is None or not getattr(user, "is_authenticated", False):
        return "system"
    return f"user:{user.pk}"


def audit_head_lock() -> AuditHead:
    """Take the chain head's row lock (every audited writer does, so writers serialise) and return the head."""
    AuditHead.objects.get_or_create(id=1)
    return AuditHead.objects.select_for_update().get(id=1)


@lru_cache(maxsize=256)
def _name_json(name: str) -> str:
    """Actions and object types: a few dozen names, serialised millions of times in a bulk import."""
    return canonical_json(name)


def _chained(events: Sequence[PendingEvent], *, actor: str, at: datetime, seq: int, prev: str) -> Iterator[tuple]:
    """Number and hash events after (seq, prev), exactly as `audit.chain.event_hash` does.

    Yields (seq, event, before JSON or None, after JSON or None, salt, prev_hash, hash): plain tuples, as this runs
    millions of times in a bulk import. Each `before`/`after` is serialised once, as UTF-8 bytes, for the stored
    text and for the hash alike: the content hash covers canonical {"actor", "after", "before", "salt"}, whose
    keys sort in that order, so it is assembled from the parts. Each event gets its own random salt
    (`audit.chain.salts`).
    """
    at_json = canonical_json(canonical_time(at))
    content_start = f'{{"actor":{canonical_json(actor)},"after":'.encode()
    fresh = salts(len(events))
    join = b"".join
    for event in events:
        seq += 1
        action, object_type, object_id, before, after = event
        before = None if before is None else canonical_json_bytes(before)
        after = None if after is None else canonical_json_bytes(after)
        salt = next(fresh)
        content = sha256(join((content_start, after or b"null", b',"before":', before or b"null", b',"salt":"',
                               salt.encode(), b'"}'))).hexdigest()
        digest = sha256(
            f'{{"action":{_name_json(action)},"at":{at_json},"content_hash":"{content}",'
            f'"object_id":{canonical_json(str(object_id))},"object_type":{_name_json(object_type)},'
            f'"prev_hash":"{prev}","seq":{seq}}}'.encode()).hexdigest()
        yield seq, event, before, after, salt, prev, digest
        prev = digest


def audit_record_many(*, actor, events: Iterable[PendingEvent], at=None) -> list[AuditEvent]:
    """Append events to the chain in one locked step; returns them in chain order."""
    events = list(events)
    if not events:
        return []
    label = actor if isinstance(actor, str) else actor_label(actor)
    with transaction.atomic():
        head = audit_head_lock()
        at = at or timezone.now()
        rows = [
            AuditEvent(seq=seq, at=at, actor=label, action=event.action, object_type=event.object_type,
                       object_id=str(event.object_id), before=event.before, after=event.after, salt=salt,
                       prev_hash=prev, hash=digest)
            for seq, event, _, _, salt, prev, digest in _chained(events, actor=label, at=at, seq=head.seq,
                                                                 prev=head.hash)
        ]
        AuditEvent.objects.bulk_create(rows, batch_size=2000)
        AuditHead.objects.filter(id=1).update(seq=rows[-1].seq, hash=rows[-1].hash)
    return rows


def audit_record(*, actor, action: str, object_type: str, object_id, before=None, after=None, at=None) -> AuditEvent:
    return audit_record_many(
        actor=actor,
        events=[PendingEvent(action=action, object_type=object_type, object_id=str(object_id),
                             before=before, after=after)],
        at=at,
    )[0]


class AuditBatch(NamedTuple):
    """Events numbered and hashed after a given chain head, ready to `COPY` (PostgreSQL's text format)."""

    after_seq: int
    after_hash: str
    seq: int  # the head once written
    hash: str
    count: int
    text: bytes


def audit_bulk_prepare(*, actor: str, events: Sequence[PendingEvent], at: datetime, after_seq: int,
                       after_hash: str) -> AuditBatch:
    """Number and hash events as if the chain head were (after_seq, after_hash). Reads and writes nothing, so it
    can run ahead of the write; `audit_bulk_write` refuses it unless the head is still there."""
    at_cell, actor_cell = at.isoformat(), copy_cell(actor)
    # Built as the UTF-8 bytes that are sent, line by line: a list of lines joined at the end would hold the
    # batch three times over (lines, joined text, encoded bytes).
    text = bytearray()
    seq, digest, count = after_seq, after_hash, 0
    for seq, event, before, after, salt, prev, digest in _chained(events, actor=actor, at=at, seq=after_seq,
                                                                 prev=after_hash):
        text += (f"{seq}\t{at_cell}\t{actor_cell}\t{_copy_name(event.action)}\t{_copy_name(event.object_type)}\t"
                 f"{copy_cell(str(event.object_id))}\t").encode()
        text += copy_cell_bytes(before)
        text += b"\t"
        text += copy_cell_bytes(after)
        text += f"\t{salt}\t{prev}\t{digest}\n".encode()
        count += 1
    return AuditBatch(after_seq, after_hash, seq, digest, count, bytes(text))


class HeadMoved(Exception):
    """The chain head is no longer where a prepared batch was hashed from."""


def audit_bulk_write(batch: AuditBatch) -> None:
    """Append a prepared batch (PostgreSQL), inside the caller's transaction, which holds the head lock."""
    head = audit_head_lock()
    if (head.seq, head.hash) != (batch.after_seq, batch.after_hash):
        raise HeadMoved(f"head #{head.seq}, batch prepared after #{batch.after_seq}")
    if not batch.count:
        return
    with connection.cursor() as cursor, cursor.copy(
            'COPY "audit_auditevent" ("seq", "at", "actor", "action", "object_type", "object_id", "before", "after", '
            '"salt", "prev_hash", "hash") FROM STDIN') as copy:
        copy.write(batch.text)
    AuditHead.objects.filter(id=1).update(seq=batch.seq, hash=batch.hash)


def audit_record_bulk(*, actor: str, events: Sequence[PendingEvent], at: datetime) -> int:
    """Append many events at once (bulk imports); returns how many. Must run inside the caller's transaction.

    On PostgreSQL the rows go in with one `COPY` of the very canonical text that was hashed; elsewhere through
    `audit_record_many`.
    """
    if not events:
        return 0
    if connection.vendor != "postgresql":
        return len(audit_record_many(actor=actor, events=events, at=at))
    head = audit_head_lock()
    batch = audit_bulk_prepare(actor=actor, events=events, at=at, after_seq=head.seq, after_hash=head.hash)
    audit_bulk_write(batch)
    return batch.count


@lru_cache(maxsize=256)
def _copy_name(name: str) -> str:
    return copy_cell(name)
