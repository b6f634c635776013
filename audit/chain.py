"""Pure hashing of audit events: canonical JSON, SHA-256, each hash covering the previous one.

An event's hash is built in two layers so that anyone can re-check the chain from the public feed alone
(`GET /api/v1/audit/events`) without seeing personal data:

    content_hash = SHA-256(canonical {"actor", "before", "after"})            (private part, committed to)
    hash         = SHA-256(canonical {"seq", "at", "action", "object_type", "object_id",
                                      "content_hash", "prev_hash"})           (public part)

Canonical JSON: keys sorted, no insignificant whitespace, UTF-8 (not ASCII-escaped). `at` is written in UTC as
`YYYY-MM-DDTHH:MM:SS.ffffffZ` (always six fractional digits), exactly as the public feed shows it.
"""
import hashlib
import json
from datetime import UTC, datetime

GENESIS_HASH = "0" * 64


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_time(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("audit times are timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content_hash(*, actor: str, before, after) -> str:
    return _sha256(canonical_json({"actor": actor, "before": before, "after": after}))


def public_event_hash(*, seq: int, at: str, action: str, object_type: str, object_id: str, content_hash: str,
                      prev_hash: str) -> str:
    """The chain hash from public fields only (`at` already in canonical form)."""
    return _sha256(canonical_json({
        "seq": seq, "at": at, "action": action, "object_type": object_type, "object_id": object_id,
        "content_hash": content_hash, "prev_hash": prev_hash,
    }))


def event_hash(*, seq: int, at: datetime, actor: str, action: str, object_type: str, object_id: str,
               before, after, prev_hash: str) -> str:
    return public_event_hash(
        seq=seq, at=canonical_time(at), action=action, object_type=object_type, object_id=object_id,
        content_hash=content_hash(actor=actor, before=before, after=after), prev_hash=prev_hash,
    )
