"""Pure hashing of audit events: canonical JSON, SHA-256, each hash covering the previous one."""
import hashlib
import json
from datetime import datetime

GENESIS_HASH = "0" * 64


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(*, seq: int, at: datetime, actor: str, action: str, object_type: str, object_id: str,
               before, after, prev_hash: str) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "before": before,
            "after": after,
            "prev_hash": prev_hash,
        }
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()
