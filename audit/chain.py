"""Pure hashing of audit events: canonical JSON, SHA-256, each hash covering the previous one.

An event's hash is built in two layers so that anyone can re-check the chain from the public feed alone
(`GET /api/v1/audit/events`) without seeing personal data:

    content_hash = SHA-256(canonical {"actor", "after", "before", "salt"})    (private part, committed to)
    hash         = SHA-256(canonical {"seq", "at", "action", "object_type", "object_id",
                                      "content_hash", "prev_hash"})           (public part)

`salt` is 32 random hex digits drawn for each event and kept private (it is never in the public feed): without
it, anyone could recover private facts (a mandate, a dispute's claimant, a role) by hashing guesses until one
matched a published `content_hash`. With it the content hash is a commitment: it reveals nothing, yet binds the
event to its content, and an auditor with database access opens it by recomputing it from the row.

Events written before salts existed were re-chained by migration `audit.0003` (docs/evidence.md); each keeps
the hash it had then as `legacy_hash`, recomputable with `legacy_content_hash`.

Canonical JSON: keys sorted, no insignificant whitespace, UTF-8 (not ASCII-escaped): exactly what
`json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes. orjson writes the same
bytes for the values audit events hold (strings, integers, booleans, null, lists and objects with string keys;
a property test pins it) ten times faster; what it cannot write the same way (integers beyond 64 bits, non-string
keys, other types) goes through `json` itself. Audit snapshots hold no floats (times are ISO strings); a float
would be written as orjson writes it (`1e16`, where `json` writes `1e+16`). `at` is written in UTC as
`YYYY-MM-DDTHH:MM:SS.ffffffZ` (always six fractional digits), exactly as the public feed shows it.
"""
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson

GENESIS_HASH = "0" * 64


_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _json_only(value):
    raise TypeError(type(value).__name__)  # sends the whole value to `json`, which owns every other case


def canonical_json(value) -> str:
    try:
        return orjson.dumps(value, default=_json_only, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError: a type, key or integer it would write differently
        pass
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_json_bytes(value) -> bytes:
    """`canonical_json` as the UTF-8 bytes that are hashed and stored, without the round trip through `str`: a
    bulk import's bundles are kilobytes of mostly non-ASCII text (a decode and two encodes of each cost a third as
    much as the JSON itself)."""
    try:
        return orjson.dumps(value, default=_json_only, option=_ORJSON_OPTIONS)
    except TypeError:
        pass
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_time(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("audit times are timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


SALT_BYTES = 16


def new_salt() -> str:
    return secrets.token_hex(SALT_BYTES)


SALT_BLOCK = 1024  # salts drawn per call to the operating system's generator in `salts()`


def salts(block: int = SALT_BLOCK) -> Iterator[str]:
    """Endless fresh salts, as `new_salt` draws them (the operating system's CSPRNG, `os.urandom`, which is what
    `secrets` reads), `block` at a time (at most SALT_BLOCK): one system call per 1,024 events of a bulk import
    instead of one per event (measured in docs/performance.md). Every salt is used once."""
    width, block = 2 * SALT_BYTES, max(1, min(block, SALT_BLOCK))
    while True:
        drawn = os.urandom(SALT_BYTES * block).hex()
        for start in range(0, len(drawn), width):
            yield drawn[start:start + width]


def content_hash(*, actor: str, before, after, salt: str) -> str:
    return _sha256(canonical_json({"actor": actor, "before": before, "after": after, "salt": salt}))


def legacy_content_hash(*, actor: str, before, after) -> str:
    """The unsalted content hash of events written before migration audit.0003 (guessable: never published now)."""
    return _sha256(canonical_json({"actor": actor, "before": before, "after": after}))


def public_event_hash(*, seq: int, at: str, action: str, object_type: str, object_id: str, content_hash: str,
                      prev_hash: str) -> str:
    """The chain hash from public fields only (`at` already in canonical form)."""
    return _sha256(canonical_json({
        "seq": seq, "at": at, "action": action, "object_type": object_type, "object_id": object_id,
        "content_hash": content_hash, "prev_hash": prev_hash,
    }))


def event_hash(*, seq: int, at: datetime, actor: str, action: str, object_type: str, object_id: str,
               before, after, salt: str, prev_hash: str) -> str:
    return public_event_hash(
        seq=seq, at=canonical_time(at), action=action, object_type=object_type, object_id=object_id,
        content_hash=content_hash(actor=actor, before=before, after=after, salt=salt), prev_hash=prev_hash,
    )


def legacy_event_hash(*, seq: int, at: datetime, actor: str, action: str, object_type: str, object_id: str,
                      before, after, prev_hash: str) -> str:
    """An event's hash as written before salting (`legacy_content_hash`): kept only to re-check `legacy_hash`."""
    return public_event_hash(
        seq=seq, at=canonical_time(at), action=action, object_type=object_type, object_id=object_id,
        content_hash=legacy_content_hash(actor=actor, before=before, after=after), prev_hash=prev_hash,
    )
