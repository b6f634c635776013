"""Planning a claims import in a second process, so that its Python runs beside the writer's, not under one GIL.

`ThreadedWriter` (claims.writing) already overlaps planning with writing, but both are threads of the worker's one
process: the planner's Python (reading, validating, planning, bundling, hashing, the `COPY` text; about 115
CPU-seconds per million rows on a quiet machine) holds the GIL that the writer thread needs between its database
calls, so PostgreSQL waits for the GIL each time, and the planner is interrupted every switch interval. Here the
planning side runs in a child process of its own (`python -m claims.planner`), started by the worker with
`subprocess` (not `multiprocessing`: a Celery prefork child is daemonic and may not have `multiprocessing`
children), with its own database connection, reading the stored file from the first row not yet counted. The
worker's process only writes: it receives each chunk prepared (its `COPY` text, hashed audit batch, rejected rows
and the plan's counts and updates, `merging.PlanSummary`) and writes it with `writing.write_chunk`, as before.

The same guarantees, the same way:

- *What a plan reads.* A chunk is planned against the registry plus the previous chunk's plan (`pending`), which
  may not be committed yet; every chunk before that one is (the child waits for the worker's word that it is
  before planning the next, so at most one chunk is being written while one is planned, and memory stays flat).
  The writer writes a chunk only where the audit chain head is exactly where its plan expects it; if anything
  else was written to the registry meanwhile (`writing.PlanStale`), the worker stops the child and finishes the file
  in-process from the checkpoint, planning again under the lock (`services._process_rows`).
- *Idempotent and resumable.* The child writes nothing; each chunk is one transaction of the worker's with its
  checkpoint, as before. If the worker dies, the child finds its pipe closed at its next message and exits; the
  redelivered task starts from the checkpoint.
- *Nothing written for a broken file.* The worker's scan of the whole file comes first, as before; the child
  gets the scan (columns, duplicates) and does not scan again.
- *Rejected rows* are the child's `RowProblem`s, stored by the worker (errors.csv), in the submitter's language.

Used for real imports on PostgreSQL of at least `KYODAKU_CLAIMS_PLANNER_PROCESS_MIN_ROWS` rows left to do
(starting a Python with Django costs about a second); dry runs and smaller files plan in the worker's process.
Off by default (-1): on the project's 2-core machine the thread was faster end to end (docs/performance.md,
"planning in a second process"); the setting is there for machines with cores to spare and for that comparison.
"""
from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
# Settings the child needs as the worker has them (a test's overrides included); the rest come from the module.
_PASSED_SETTINGS = ("MEDIA_ROOT", "STORAGES", "LANGUAGE_CODE", "TIME_ZONE", "USE_TZ")
_STOP_WAIT_S = 10


class PlannerFailed(Exception):
    """The planning process stopped without saying why (killed, or out of memory)."""


def uses_process(submission, rows_left: int) -> bool:
    """Plan in a second process? Real imports on PostgreSQL, outside a caller's transaction, of enough rows."""
    minimum = settings.KYODAKU_CLAIMS_PLANNER_PROCESS_MIN_ROWS
    return (minimum is not None and minimum >= 0 and rows_left >= max(minimum, 1) and not submission.dry_run
            and connection.vendor == "postgresql" and not connection.in_atomic_block)


class PlanningProcess:
    """The worker's side: start the child, receive its chunks, tell it each time one is committed."""

    def __init__(self, submission, scan, done: int):
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        # The module the worker was started with (under override_settings, `settings` no longer names one).
        module = os.environ.get("DJANGO_SETTINGS_MODULE") or settings.SETTINGS_MODULE
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": module}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "claims.planner", str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w), cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._to = Connection(to_child_w, readable=False)
        self._from = Connection(from_child_r, writable=False)
        self._to.send({
            "settings": {name: getattr(settings, name) for name in dir(settings)
                         if name.startswith("KYODAKU_") or name in _PASSED_SETTINGS},
            "database": dict(connection.settings_dict),
            "submission": str(submission.pk), "done": done, "scan": scan,
        })

    def chunks(self):
        """Each chunk the child prepared, in file order; raises the child's error if it had one."""
        while True:
            try:
                kind, payload = self._from.recv()
            except (EOFError, OSError) as exc:
                raise PlannerFailed(f"the planning process ended (exit status {self._process.poll()})") from exc
            if kind == "chunk":
                yield payload
            elif kind == "error":
                raise payload
            else:
                return

    def committed(self) -> None:
        """The last chunk received is committed: the child may plan the one after the next."""
        try:
            self._to.send("committed")
        except OSError as exc:
            raise PlannerFailed(f"the planning process ended (exit status {self._process.poll()})") from exc

    def close(self) -> None:
        """Stop the child (at once when it is not done: it writes nothing) and wait for it."""
        for end in (self._to, self._from):
            end.close()
        if self._process.poll() is None:
            try:
                self._process.wait(timeout=_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self.close()


def _plan_all(submission, scan, done: int, to_parent: Connection, from_parent: Connection) -> None:
    """The child's loop: read, validate, plan and prepare each chunk, as `services._process_rows` does in-process."""
    from django.utils import timezone

    from audit.services import actor_label

    from . import copying, merging, reading, services, writing

    max_field_chars = settings.KYODAKU_CLAIMS_MAX_FIELD_CHARS
    chunk_rows = max(1, settings.KYODAKU_CLAIMS_CHUNK_ROWS)
    user = submission.submitted_by
    filed_by_id, actor = (user.pk if user is not None else None), actor_label(user)
    sent = committed = 0
    previous = previous_head = None

    def send(lines: list) -> None:
        nonlocal sent, committed, previous, previous_head, done
        valid, rejected = services._validate_lines(lines, scan, services._filing_rights(submission), max_field_chars)
        # Every chunk before the one sent last must be committed before this one reads the registry.
        while committed < sent - 1:
            if from_parent.recv() != "committed":
                raise EOFError
            committed += 1
        head = writing.head_now() if previous is None else previous_head
        plan = merging.plan_chunk(valid, at=timezone.now(), filed_by_id=filed_by_id, pending=previous)
        prepared = copying.prepare_plan(plan, actor_label=actor, after_seq=head[0], after_hash=head[1])
        to_parent.send(("chunk", writing.Chunk(lines=len(lines), done_before=done, valid=None, rejected=rejected,
                                               plan=plan.summary(), prepared=prepared, head=head)))
        previous, previous_head = plan, (prepared.audit.seq, prepared.audit.hash)
        sent += 1
        done += len(lines)

    seen, lines = 0, []
    for line, cells in reading.data_rows(services._opener(submission), scan):
        seen += 1
        if seen <= done:
            continue  # counted by an earlier run
        lines.append((line, cells))
        if len(lines) >= chunk_rows:
            send(lines)
            lines = []
    if lines:
        send(lines)


def main(read_fd: int, write_fd: int) -> None:
    """The child: set up Django as the worker has it, plan every chunk, send each; exit when the worker goes."""
    from_parent, to_parent = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    try:
        start = from_parent.recv()
    except EOFError:
        return
    import django

    django.setup()
    from django.db import connections
    from django.utils import translation

    from core.gc_policy import paced_for_bulk

    from .models import Submission

    for name, value in start["settings"].items():
        setattr(settings, name, value)
    connections["default"].settings_dict.update(start["database"])
    try:
        submission = Submission.objects.select_related("submitted_by", "holder").get(pk=start["submission"])
        with translation.override(submission.language or settings.LANGUAGE_CODE), paced_for_bulk():
            _plan_all(submission, start["scan"], start["done"], to_parent, from_parent)
        to_parent.send(("end", None))
        while True:  # the worker's last words ("committed") until it closes the pipe: then exit
            from_parent.recv()
    except (EOFError, BrokenPipeError):
        return  # the worker stopped listening (it failed, or died): nothing to say to anyone
    except BaseException as exc:  # noqa: BLE001 - handed to the worker, which raises it
        try:
            pickle.dumps(exc)
        except Exception:  # noqa: BLE001 - an exception that does not pickle is sent as its text
            exc = PlannerFailed(f"{exc.__class__.__name__}: {exc}")
        try:
            to_parent.send(("error", exc))
        except (BrokenPipeError, OSError):
            return
    finally:
        connections.close_all()


if __name__ == "__main__":
    # Through the module's own name: exceptions pickled here must be unpickled as `claims.planner.X` by the worker.
    from claims.planner import main as _main

    _main(int(sys.argv[1]), int(sys.argv[2]))
