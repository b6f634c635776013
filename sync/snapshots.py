"""Snapshots (sync.md, "Snapshots and filters"): every registered key's answer for one (purpose, jurisdiction) as
gzip JSON lines, a filter of the keys whose outcome differs from the regime's, and a signed manifest.

A build reads in one REPEATABLE READ transaction (PostgreSQL), so the answers, the audit head it names as its
`cursor`, and the rules all describe the same moment: a client holding the snapshot plus every change after its
cursor has the API's answers. Identifiers stream from a server-side cursor in chunks; each chunk is answered by
the batch lookup itself (consent.lookup.lookup_many: the one implementation of an answer), written out, and
dropped, so memory stays flat whatever the number of keys.
"""
import gzip
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import orjson
import rfc8785
from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import IntegrityError, connections, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from audit.selectors import audit_head
from consent.engine import decide
from consent.lookup import iso_z, lookup_many
from consent.rulebook import rulebook
from consent.vocabulary import validate_jurisdiction, validate_purpose
from core.db import replica_reads
from receipts.services import receipt_signer
from registry.models import Identifier

from .filters import bloom_build
from .models import Snapshot, SnapshotStatus

logger = logging.getLogger(__name__)

MANIFEST_TYPE = "kyodaku-snapshot+jwt"
ANSWERS, FILTER = "answers", "filter"
FILE_NAMES = {ANSWERS: "answers.jsonl.gz", FILTER: "filter.bloom"}
CONTENT_TYPES = {ANSWERS: "application/gzip", FILTER: "application/octet-stream"}


def snapshot_storage():
    return storages["snapshots"]


# ------------------------------------------------------------------------------------------------- requesting

def snapshot_latest(*, purpose: str, jurisdiction: str) -> Snapshot | None:
    return (Snapshot.objects.filter(purpose=purpose, jurisdiction=jurisdiction, status=SnapshotStatus.READY)
            .order_by("-finished_at").first())


def snapshot_request(*, purpose: str, jurisdiction: str) -> Snapshot | None:
    """The newest ready snapshot of the pair, or None while the first is built. Queues a build when there is none
    or the newest is older than KYODAKU_SNAPSHOT_MAX_AGE (one build per pair at a time: a database constraint)."""
    purpose, jurisdiction = validate_purpose(purpose), validate_jurisdiction(jurisdiction)
    latest = snapshot_latest(purpose=purpose, jurisdiction=jurisdiction)
    stale = timezone.now() - timedelta(seconds=settings.KYODAKU_SNAPSHOT_MAX_AGE)
    if latest is None or latest.finished_at < stale:
        snapshot_queue(purpose=purpose, jurisdiction=jurisdiction)
        if latest is None:  # with eager tasks (no broker) the build has run by now
            latest = snapshot_latest(purpose=purpose, jurisdiction=jurisdiction)
    return latest


def snapshot_queue(*, purpose: str, jurisdiction: str) -> Snapshot:
    """Queue a build of the pair unless one is queued or under way; dispatched after commit."""
    from .tasks import snapshot_build_task

    _fail_abandoned(purpose=purpose, jurisdiction=jurisdiction)
    try:
        with transaction.atomic():
            snapshot = Snapshot.objects.create(purpose=purpose, jurisdiction=jurisdiction)
    except IntegrityError:
        return Snapshot.objects.get(purpose=purpose, jurisdiction=jurisdiction,
                                    status__in=[SnapshotStatus.QUEUED, SnapshotStatus.BUILDING])
    transaction.on_commit(lambda: snapshot_build_task.delay(str(snapshot.pk)))
    return snapshot


def _fail_abandoned(*, purpose: str, jurisdiction: str) -> None:
    """A build queued or started longer ago than a task may run was lost (a worker killed, a broker emptied):
    mark it failed, so that it does not hold the pair's one build slot forever."""
    limit = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    Snapshot.objects.filter(purpose=purpose, jurisdiction=jurisdiction, status=SnapshotStatus.BUILDING,
                            started_at__lt=limit).update(
        status=SnapshotStatus.FAILED, finished_at=timezone.now(), error="abandoned: the build never finished")
    Snapshot.objects.filter(purpose=purpose, jurisdiction=jurisdiction, status=SnapshotStatus.QUEUED,
                            requested_at__lt=limit).update(
        status=SnapshotStatus.FAILED, finished_at=timezone.now(), error="abandoned: the build never started")


def snapshots_refresh() -> list[Snapshot]:
    """Queue a build of every pair that is configured (KYODAKU_SNAPSHOT_PAIRS) or was ever asked for, and whose
    newest snapshot is older than KYODAKU_SNAPSHOT_MAX_AGE (the beat task)."""
    pairs = set(Snapshot.objects.values_list("purpose", "jurisdiction").distinct())
    for pair in settings.KYODAKU_SNAPSHOT_PAIRS:
        purpose, _, jurisdiction = pair.partition("/")
        pairs.add((validate_purpose(purpose), validate_jurisdiction(jurisdiction)))
    stale = timezone.now() - timedelta(seconds=settings.KYODAKU_SNAPSHOT_MAX_AGE)
    queued = []
    for purpose, jurisdiction in sorted(pairs):
        latest = snapshot_latest(purpose=purpose, jurisdiction=jurisdiction)
        if latest is None or latest.finished_at < stale:
            queued.append(snapshot_queue(purpose=purpose, jurisdiction=jurisdiction))
    return queued


# --------------------------------------------------------------------------------------------------- building

@contextmanager
def _one_moment():
    """One transaction that sees a single moment: REPEATABLE READ, read only, on PostgreSQL. With read replicas
    (DATABASE_REPLICA_URLS) on one replica within KYODAKU_REPLICA_MAX_LAG of the primary, its lag measured now,
    else on the primary (core.db.replica_reads): every read of the block (the audit head, the rule book, the
    identifiers, the lookups) goes to that one database inside that one transaction, so the answers and the cursor
    still describe one moment, the replica's. Yields the alias read. (Inside an outer transaction, as in tests,
    that transaction already fixes what is seen.)"""
    with replica_reads(fresh=True) as alias:
        connection = connections[alias]
        outermost = not connection.in_atomic_block
        with transaction.atomic(using=alias):
            if outermost and connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield alias


def _registered_keys(at: datetime) -> Iterator[list[str]]:
    """Every identifier key registered at `at`, in chunks, from a server-side cursor (never all in memory)."""
    rows = (Identifier.objects.filter(valid_from__lte=at, work__created_at__lte=at)
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=at))
            .order_by("scheme", "value").values_list("scheme", "value")
            .iterator(chunk_size=settings.KYODAKU_SNAPSHOT_CHUNK))
    chunk: list[str] = []
    for scheme, value in rows:
        chunk.append(f"{scheme}:{value}")
        if len(chunk) >= settings.KYODAKU_SNAPSHOT_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def answer_line(result: dict) -> dict:
    """One line of `answers`: the key and the lookup answer's decision fields."""
    declaration = result["declaration"]
    return {"key": result["identifier"], "outcome": result["outcome"], "basis": result["basis"],
            "holder": result["holder"]["code"] if result["holder"] else None,
            "declaration": declaration["id"] if declaration else None,
            "license_url": result["license_url"], "disputed": result["disputed"]}


def _write_answers(*, purpose: str, jurisdiction: str, at: datetime, default_outcome: str, answers_path: str,
                   flagged_path: str) -> tuple[int, int]:
    """Stream every registered key's answer into gzip JSON lines, and the keys to flag (one a line) beside it.
    Returns (answers, flagged)."""
    answers = flagged = 0
    with open(answers_path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out, \
            open(flagged_path, "w", encoding="utf-8") as flags:
        for keys in _registered_keys(at):
            for result in lookup_many(ids=keys, purpose=purpose, jurisdiction=jurisdiction, as_of=at):
                out.write(orjson.dumps(answer_line(result), option=orjson.OPT_SORT_KEYS) + b"\n")
                answers += 1
                if result["outcome"] != default_outcome:
                    flags.write(result["identifier"] + "\n")
                    flagged += 1
    return answers, flagged


def _flagged_keys(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            yield line.rstrip("\n")


def _digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _store(snapshot: Snapshot, name: str, path: str, count: int, extra: dict | None = None) -> dict:
    with open(path, "rb") as handle:
        stored = snapshot_storage().save(f"{snapshot.purpose}/{snapshot.jurisdiction}/{snapshot.pk}/"
                                         f"{FILE_NAMES[name]}", File(handle))
    return {"name": name, "path": stored, "sha256": _digest(path), "bytes": os.path.getsize(path), "count": count,
            **(extra or {})}


def file_url(snapshot: Snapshot, name: str) -> str:
    return settings.KYODAKU_BASE_URL.rstrip("/") + reverse("snapshot-file", args=[snapshot.pk, name])


def _manifest(snapshot: Snapshot, *, regime: str, head: dict, files: list[dict]) -> str:
    payload = {
        "purpose": snapshot.purpose, "jurisdiction": snapshot.jurisdiction, "regime": regime,
        "cursor": str(head["seq"]), "audit_head": {"seq": head["seq"], "hash": head["hash"]},
        "created_at": iso_z(snapshot.finished_at), "iat": int(snapshot.finished_at.timestamp()),
        "iss": settings.KYODAKU_BASE_URL,
        "files": [{k: v for k, v in f.items() if k != "path"} | {"url": file_url(snapshot, f["name"])}
                  for f in files],
    }
    return receipt_signer().sign(rfc8785.dumps(payload), typ=MANIFEST_TYPE)


def snapshot_build(*, snapshot_id) -> Snapshot | None:
    """Build a queued snapshot. Idempotent: only the caller that moves it from queued to building builds it."""
    if not Snapshot.objects.filter(pk=snapshot_id, status=SnapshotStatus.QUEUED).update(
            status=SnapshotStatus.BUILDING, started_at=timezone.now()):
        return None
    snapshot = Snapshot.objects.get(pk=snapshot_id)
    with tempfile.TemporaryDirectory(prefix="kyodaku-snapshot-") as work:
        answers_path, flagged_path, filter_path = (os.path.join(work, n) for n in ("answers", "flagged", "filter"))
        with _one_moment() as alias:
            head, at = audit_head(), timezone.now()
            default = decide(purpose=snapshot.purpose, jurisdiction=snapshot.jurisdiction, as_of=at,
                             rules=rulebook(), registered=False)
            answers, flagged = _write_answers(purpose=snapshot.purpose, jurisdiction=snapshot.jurisdiction, at=at,
                                              default_outcome=default.outcome, answers_path=answers_path,
                                              flagged_path=flagged_path)
        parameters = bloom_build(_flagged_keys(flagged_path), count=flagged,
                                 false_positive_rate=settings.KYODAKU_SNAPSHOT_FILTER_FPR, path=filter_path)
        files = [
            _store(snapshot, ANSWERS, answers_path, answers, {"format": "jsonl+gzip"}),
            _store(snapshot, FILTER, filter_path, flagged,
                   {**parameters, "flags": f"keys whose outcome is not {default.outcome}",
                    "default_outcome": default.outcome}),
        ]
    snapshot.finished_at = timezone.now()
    snapshot.cursor, snapshot.files = head["seq"], files
    snapshot.manifest = _manifest(snapshot, regime=default.regime, head=head, files=files)
    snapshot.status = SnapshotStatus.READY
    snapshot.save(update_fields=["finished_at", "cursor", "files", "manifest", "status"])
    logger.info("snapshot %s: %s answers, %s flagged, cursor %s, read from %s", snapshot.pk, answers, flagged,
                head["seq"], alias)
    return snapshot


def snapshot_fail(*, snapshot_id, reason: str) -> None:
    Snapshot.objects.filter(pk=snapshot_id, status__in=[SnapshotStatus.QUEUED, SnapshotStatus.BUILDING]).update(
        status=SnapshotStatus.FAILED, error=reason, finished_at=timezone.now())


def snapshot_file(*, snapshot_id, name: str) -> tuple[Snapshot, dict] | None:
    """A ready snapshot's file entry (name, path, sha256, bytes, ...), or None."""
    snapshot = Snapshot.objects.filter(pk=snapshot_id, status=SnapshotStatus.READY).first()
    if snapshot is None:
        return None
    entry = next((f for f in snapshot.files if f["name"] == name), None)
    return None if entry is None else (snapshot, entry)
