"""Writing planned chunks of a claims submission: each chunk one transaction with its checkpoint.

Two writers with one contract (`submit`, `in_flight`, `close`):

- `InlineWriter` plans each chunk under the audit head's lock and writes it, in the caller's thread. Used for dry
  runs, SQLite, and when the caller already holds a transaction (a test's, say).
- `ThreadedWriter` writes on a second database connection in a thread of its own, so that PostgreSQL ingests
  chunk N while Python reads, validates and plans chunk N+1 (on two cores each side has one to itself; written
  in turn, either waits for the other). Chunk N+1 is then planned before chunk N is committed, reading N's
  effects from N's plan (`merging.plan_chunk(pending=...)`).

Planning ahead is optimistic, and checked where it counts: under the audit head's lock, which every audited
writer takes. A chunk planned ahead is written only if the chain head is exactly where its plan expects it
(where the previous chunk left it, or where it was when the plan read the registry). Anything else written to
the registry in between moved the head, so the plan may be stale: the chunk is then planned again under the
lock, and so is the next one (its plan read this one's stale plan).
"""
from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import F
from django.utils import timezone, translation

from audit.selectors import audit_head
from audit.services import actor_label, audit_head_lock

from . import copying, merging
from .models import RowError, Submission

logger = logging.getLogger(__name__)


class SubmissionBusy(Exception):
    """Another live worker is processing this submission right now."""


class PlanStale(Exception):
    """A chunk planned by claims.planner's process cannot be written as planned: the chain head moved."""


@dataclass
class Chunk:
    lines: int  # data lines the chunk covers: the checkpoint moves on by this many
    done_before: int  # the checkpoint this chunk follows (compare-and-set)
    valid: list | None  # validation.ClaimRow; None when planned in claims.planner's process (rows kept there)
    rejected: list  # a list of validation.RowProblem per rejected row
    plan: merging.ChunkPlan | merging.PlanSummary | None = None  # planned ahead; None: plan under the lock
    prepared: copying.Prepared | None = None  # the plan's COPY text and audit batch
    head: tuple | None = None  # the chain head (seq, hash) the plan read; None: where the previous chunk left it


@dataclass
class WriterState:
    """What one file's writer carries from chunk to chunk (the thread's, the in-process loop's, claims.services')."""

    report_chars: int = 0  # characters of rejected rows' messages and values stored so far (Submission's)
    head: tuple | None = None  # where the last chunk written left the chain head
    replanned: bool = False  # the last chunk written was planned again under the lock
    chunks_replanned: int = 0


def write_chunk(submission: Submission, chunk: Chunk, state: WriterState, make_error) -> None:
    """Plan (unless planned ahead and still valid), write, record rejected rows and move the checkpoint."""
    user = submission.submitted_by
    filed_by_id = user.pk if user is not None else None
    with transaction.atomic():
        head = None
        if not submission.dry_run:
            if connection.vendor == "postgresql":
                # Safe without waiting for the WAL flush: the checkpoint commits with the rows, so a crash that
                # loses this transaction loses both, and the retried task redoes the chunk.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            locked = audit_head_lock()
            head = (locked.seq, locked.hash)
        plan, prepared = chunk.plan, chunk.prepared
        expected = state.head if chunk.head is None else chunk.head
        replanned = False
        if plan is None or state.replanned or head != expected:
            if chunk.valid is None:
                # Planned in another process (claims.planner), which keeps the rows: the caller plans again.
                raise PlanStale(str(submission.pk))
            replanned = plan is not None
            plan, prepared = merging.plan_chunk(chunk.valid, at=timezone.now(), filed_by_id=filed_by_id), None
        if not submission.dry_run:
            copying.write_plan(plan, actor_label=actor_label(user), prepared=prepared)
            head = head_now()
        rejected = chunk.rejected + [[error] for error in plan.rejected]
        report_chars = state.report_chars
        rows = []
        for errors in rejected:
            row = make_error(submission, errors, report_chars)
            report_chars += len(row.message) + len(row.value)
            rows.append(row)
        RowError.objects.bulk_create(rows, batch_size=1000)
        updated = Submission.objects.filter(pk=submission.pk, rows_done=chunk.done_before).update(
            rows_done=F("rows_done") + chunk.lines, rows_ok=F("rows_ok") + plan.rows_ok,
            rows_failed=F("rows_failed") + len(rejected), works_created=F("works_created") + plan.works_created,
            works_updated=F("works_updated") + plan.works_updated,
            declarations_created=F("declarations_created") + plan.declarations_created,
            disputes_opened=F("disputes_opened") + plan.disputes_opened, report_chars=report_chars,
        )
        if updated != 1:
            # Another run checkpointed these rows meanwhile: roll this chunk back rather than count it twice.
            raise SubmissionBusy(str(submission.pk))
    if replanned:
        logger.info("claims submission %s: the chunk after row %s planned again (the registry changed meanwhile)",
                    submission.pk, chunk.done_before)
        state.chunks_replanned += 1
    state.replanned = replanned
    state.head = head
    state.report_chars = report_chars


def head_now() -> tuple:
    """The chain head as (seq, hash), as committed now or as this transaction sees it."""
    head = audit_head()
    return head["seq"], head["hash"]


class InlineWriter:
    plans_ahead = False

    def __init__(self, submission: Submission, make_error):
        self._submission, self._make_error = submission, make_error
        self._state = WriterState(report_chars=submission.report_chars)

    def in_flight(self) -> Chunk | None:
        return None

    def submit(self, chunk: Chunk) -> None:
        write_chunk(self._submission, chunk, self._state, self._make_error)

    def close(self) -> int:
        return self._state.chunks_replanned

    def abort(self) -> None:
        pass


class ThreadedWriter:
    """Writes one chunk at a time on its own thread and connection; `submit` waits for the previous chunk."""

    plans_ahead = True
    _STOP = object()
    # The writer thread runs Python only between two database calls, but each time it must wait for the GIL,
    # which the planning thread holds for up to sys.getswitchinterval() (5 ms by default): enough to leave
    # PostgreSQL idle for a fifth of the run. 0.5 ms while writing (measured: 26 s -> 21 s per 100,000 rows).
    SWITCH_INTERVAL = 0.0005

    def __init__(self, submission: Submission, make_error):
        self._submission, self._make_error = submission, make_error
        self._state = WriterState(report_chars=submission.report_chars)
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, self.SWITCH_INTERVAL))
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._next: object | None = None  # a Chunk handed over, or _STOP
        self._in_flight: Chunk | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"claims-writer-{submission.pk}", daemon=True)
        self._thread.start()

    def in_flight(self) -> Chunk | None:
        """The chunk being written now, if any (its plan may not be committed yet)."""
        with self._lock:
            return self._in_flight

    def submit(self, chunk: Chunk) -> None:
        with self._ready:
            self._ready.wait_for(lambda: self._in_flight is None or self._error is not None)
            self._raise_error()
            self._in_flight = self._next = chunk
            self._ready.notify_all()

    def close(self) -> int:
        """Wait for the last chunk; re-raise the writer's error if it had one. Returns chunks planned again."""
        self._stop()
        self._raise_error()
        return self._state.chunks_replanned

    def abort(self) -> None:
        """Stop after the chunk being written (used when the caller fails); its error, if any, is dropped."""
        self._stop()

    def _stop(self) -> None:
        with self._ready:
            self._ready.wait_for(lambda: self._in_flight is None or self._error is not None)
            self._next = self._STOP
            self._ready.notify_all()
        self._thread.join()
        sys.setswitchinterval(self._switch_interval)

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        # Messages of rows rejected while planning are in the submitter's language (activation is per thread).
        translation.activate(self._submission.language or settings.LANGUAGE_CODE)
        try:
            while True:
                with self._ready:
                    self._ready.wait_for(lambda: self._next is not None)
                    chunk, self._next = self._next, None
                if chunk is self._STOP:
                    return
                try:
                    write_chunk(self._submission, chunk, self._state, self._make_error)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, which raises it
                    with self._ready:
                        self._error, self._in_flight = exc, None
                        self._ready.notify_all()
                    return
                with self._ready:
                    self._in_flight = None
                    self._ready.notify_all()
        finally:
            connections.close_all()  # this thread's own connections
