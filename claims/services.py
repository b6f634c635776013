"""Bulk claim submissions: accepting a file, and processing it in chunks (what the Celery task calls).

Processing is two passes over the stored file:

1. `reading.scan`: decoding, CSV structure, header, limits, row count and duplicate keys. Cheap (no database), and
   it finds every problem that fails the file as a whole *before anything is written*: a file broken half-way
   leaves no half import. (Staging everything and merging at the end would need the whole file's rows in a
   staging table and one long transaction holding the registry's write lock; the first pass costs a few seconds
   per million rows instead.)
2. Rows are validated one by one, then merged chunk by chunk (`merging`), each chunk one short transaction that
   also checkpoints the submission's counts; a retried task skips the rows already counted.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from audit.services import actor_label
from core.errors import DomainError, NotFound, ValidationFailed, field_error
from core.gc_policy import paced_for_bulk
from registry.models import Holder
from registry.notifications import disputes_opened_notify
from registry.selectors import default_holder_code, holder_for_filing, holders_user_files_for

from . import copying, merging, planner, reading, validation, writing
from .models import FINAL_STATUSES, RowError, Status, Submission
from .notifications import submission_failed_notify
from .validation import VALUE_ECHO_MAX, FilingRights, RowProblem, validate_row
from .writing import SubmissionBusy

logger = logging.getLogger(__name__)

ALSO = _("Also:")
REPORT_FULL = _("(message not stored: the error report reached its size limit)")


class FileTooLarge(DomainError):
    status = 413
    code = "file-too-large"
    title = "File too large"


class QueueUnavailable(DomainError):
    status = 503
    code = "queue-unavailable"
    title = "Service unavailable"


def limits() -> reading.Limits:
    return reading.Limits(max_bytes=settings.KYODAKU_CLAIMS_MAX_FILE_BYTES, max_rows=settings.KYODAKU_CLAIMS_MAX_ROWS,
                          max_field_chars=settings.KYODAKU_CLAIMS_MAX_FIELD_CHARS,
                          max_columns=settings.KYODAKU_CLAIMS_MAX_COLUMNS)


class TooManySubmissions(DomainError):
    status = 429
    code = "too-many-submissions"
    title = "Too many submissions"


def refuse_oversize(size: int | None) -> None:
    """FileTooLarge when `size` (bytes, None when unknown) is over KYODAKU_CLAIMS_MAX_FILE_BYTES."""
    cap = settings.KYODAKU_CLAIMS_MAX_FILE_BYTES
    if size is not None and size > cap:
        raise FileTooLarge(f"The file is {size:,} bytes, over the limit of {cap:,} bytes.",
                           errors=[field_error("file", "file-too-large", f"At most {cap:,} bytes.")])


def claims_submission_admit(*, user, holder_code: str | None, size: int | None) -> tuple[Holder, Holder | None]:
    """Everything that refuses a submission before its file is read: who files for whom, the role, the holder's
    queue, and the size when the client announced it. Returns (holder, filing agent or None).

    Views call it before they touch the request body (api.md: refused only for a missing file, a file over the
    size limit, or a holder the submitter may not file for; and here a read-only role and a full queue)."""
    if user is None:
        holder = Holder.objects.filter(code=holder_code).first() if holder_code else None
        if holder is None:
            raise NotFound(f"No holder '{holder_code}'.")
        agent = None
    else:
        code = holder_code or default_holder_code(user)
        if not code:
            raise ValidationFailed("Name the holder the file is submitted as.", errors=[
                field_error("holder", "missing-value", "You belong to no holder; name one.")])
        holder, agent = holder_for_filing(user=user, code=code)
    refuse_oversize(size)
    quota = settings.KYODAKU_CLAIMS_MAX_QUEUED_PER_HOLDER
    if user is not None and Submission.objects.filter(
            holder=holder, status__in=(Status.QUEUED, Status.RUNNING))[:quota].count() >= quota:
        raise TooManySubmissions(
            f"{holder.code} already has {quota} submissions waiting or running; submit this file when one of "
            f"them has finished.")
    return holder, agent


def claims_submission_create(*, user, file, holder_code: str | None = None, dry_run: bool = False) -> Submission:
    """Store the file and queue its processing (after commit). Returns the queued submission.

    `user` None means a trusted caller (the `import_claims` command) acting as `holder_code`. Refused here only:
    no file, a file over the size limit, a holder the user may not file for (404, existence not revealed), a
    read-only role (403), a holder whose queue is full (429). Every other problem with the file is reported by
    the submission itself. The error report's messages are in the language active now (the submitter's).
    """
    holder, agent = claims_submission_admit(user=user, holder_code=holder_code, size=None)
    if file is None:
        raise ValidationFailed("A claims submission needs a file.",
                               errors=[field_error("file", "missing-value", "Attach the CSV file as `file`.")])
    size = file.size
    refuse_oversize(size)
    name = (getattr(file, "name", "") or "claims.csv").rsplit("/", 1)[-1][:200]
    with transaction.atomic():
        submission = Submission(holder=holder, agent=agent, dry_run=bool(dry_run), original_name=name,
                                size_bytes=size or 0, language=translation.get_language() or settings.LANGUAGE_CODE,
                                submitted_by=user if getattr(user, "is_authenticated", False) else None)
        submission.file.save(name, file, save=False)
        submission.save()
        transaction.on_commit(partial(_dispatch, submission.pk))
    return submission


def _dispatch(submission_id) -> None:
    from kombu.exceptions import OperationalError

    from .tasks import claims_submission_process_task

    try:
        claims_submission_process_task.apply_async(args=[str(submission_id)], retry=False)
    except (OperationalError, ConnectionError, OSError) as exc:
        # A submission nobody will ever process must not stay queued: take it back, file and all.
        submission = Submission.objects.filter(pk=submission_id).first()
        if submission is not None:
            if submission.file:
                submission.file.delete(save=False)
            submission.delete()
        logger.warning("claims submission %s refused: broker unavailable (%s)", submission_id, exc)
        raise QueueUnavailable("The processing queue is unavailable right now; the file was not accepted. "
                               "Try again in a few minutes.") from exc


@contextmanager
def _run_lock(submission: Submission) -> Iterator[bool]:
    """A session advisory lock on PostgreSQL: released by the server when a worker dies, so a retry can resume."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = submission.pk.int & 0x7FFF_FFFF_FFFF_FFFF
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [0x6B79, key & 0x7FFF_FFFF])
        got = cursor.fetchone()[0]
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [0x6B79, key & 0x7FFF_FFFF])


def claims_submission_process(*, submission_id) -> Submission | None:
    """Process a submission to its end; safe to call again (after a crash, or twice): it resumes or does nothing.

    Status guard and compare-and-set: queued -> running claims it; a submission already `running` is one whose
    worker died (the broker redelivered the task), resumed from its checkpoint under the run lock.
    Raises SubmissionBusy when another live worker holds that lock.
    """
    now = timezone.now()
    claimed = Submission.objects.filter(pk=submission_id, status=Status.QUEUED).update(status=Status.RUNNING,
                                                                                      started_at=now)
    submission = Submission.objects.filter(pk=submission_id).first()
    if submission is None or submission.status in FINAL_STATUSES:
        return submission
    if not claimed:
        logger.info("claims submission %s: resuming after %s rows", submission_id, submission.rows_done)
    with _run_lock(submission) as got:
        if not got:
            raise SubmissionBusy(str(submission_id))
        submission.refresh_from_db()
        if submission.status in FINAL_STATUSES:
            return submission
        if _stalled(submission):
            return submission
        with translation.override(submission.language or settings.LANGUAGE_CODE):
            try:
                _process(submission)
            except reading.FileProblem as problem:
                _finish(submission, Status.FAILED, error=str(problem))
    submission.refresh_from_db()
    return submission


def _stalled(submission: Submission) -> bool:
    """Count this run; fail the submission when runs keep starting from the same checkpoint.

    With `acks_late` a task whose worker dies is delivered again, so a file that kills its worker (memory, a
    crash in a library) would take down every worker in turn, forever. A run that starts where the previous one
    started made no progress; after KYODAKU_CLAIMS_MAX_STALLED_RUNS such runs the submission fails instead."""
    stalled = submission.stalled_runs + 1 if submission.stalled_at_row == submission.rows_done else 1
    Submission.objects.filter(pk=submission.pk).update(stalled_runs=stalled, stalled_at_row=submission.rows_done)
    limit = settings.KYODAKU_CLAIMS_MAX_STALLED_RUNS
    if stalled <= limit:
        return False
    logger.error("claims submission %s: %s runs stopped at row %s; failing it", submission.pk, stalled - 1,
                 submission.rows_done)
    _finish(submission, Status.FAILED, error=(
        f"Processing stopped {limit} times after {submission.rows_done:,} rows without getting further (the "
        f"worker was stopped each time, for instance out of memory); the rest of the file was not processed."))
    submission.refresh_from_db()
    return True


def claims_submission_fail(*, submission_id, reason: str) -> None:
    """Mark a submission failed (the task's last resort after its retries)."""
    submission = Submission.objects.filter(pk=submission_id).exclude(status__in=FINAL_STATUSES).first()
    if submission is not None:
        _finish(submission, Status.FAILED, error=reason)


def _opener(submission: Submission):
    def open_binary():
        return submission.file.storage.open(submission.file.name, "rb")
    return open_binary


def _filing_rights(submission: Submission) -> FilingRights:
    """Whom the rows may name, asked now (for every chunk): the submitting user's own rights, never transitive.

    A submission made as a principal under a mandate (`agent` set) names that principal alone: it is the
    principal's submission, which the principal's users see."""
    rights = holders_user_files_for(user=submission.submitted_by, acting_as=submission.holder)
    if submission.agent_id is not None:
        code = submission.holder.code
        rights = {code: rights[code]} if code in rights else {}
    return FilingRights(holders=rights)


def _writer(submission: Submission, make_error=None):
    """Plan ahead on a second connection where it can pay: a real import on PostgreSQL, outside any transaction
    of the caller's (a thread's connection would not see that transaction's rows)."""
    make_error = make_error or _row_error
    if submission.dry_run or connection.vendor != "postgresql" or connection.in_atomic_block:
        return writing.InlineWriter(submission, make_error)
    return writing.ThreadedWriter(submission, make_error)


def _process(submission: Submission) -> None:
    with paced_for_bulk():
        _process_rows(submission)


def _process_rows(submission: Submission) -> None:
    if not submission.file:
        raise reading.FileProblem(translation.gettext("The file is no longer stored; submit it again."))
    opener = _opener(submission)
    scan = reading.scan(opener, size=submission.file.size, limits=limits(), key_of=validation.statement_key)
    Submission.objects.filter(pk=submission.pk).update(rows_total=scan.rows_total, encoding=scan.encoding)
    make_error = partial(_row_error, spellings=scan.spellings) if scan.spellings else None
    if planner.uses_process(submission, scan.rows_total - submission.rows_done):
        try:
            _write_from_planner(submission, scan, make_error)
        except writing.PlanStale:
            # The registry changed while the child planned ahead: the rest of the file is planned here, again
            # under the lock where needed, from the last checkpoint.
            logger.info("claims submission %s: the registry changed during the import; planning in-process from "
                        "here", submission.pk)
            submission.refresh_from_db()
            _write_in_process(submission, scan, make_error)
    else:
        _write_in_process(submission, scan, make_error)
    submission.refresh_from_db()
    if not submission.dry_run and (submission.works_created or submission.works_updated
                                   or submission.declarations_created or submission.disputes_opened):
        copying.analyze_written_tables()
    _finish(submission, Status.DONE_WITH_ERRORS if submission.rows_failed else Status.DONE)
    if submission.disputes_opened and not submission.dry_run:
        # Both holders are told (domain.md "Disputes"): one summary per holder whose works were claimed.
        disputes_opened_notify(claimant_id=submission.holder_id, since=submission.started_at)


def _write_from_planner(submission: Submission, scan: reading.Scan, make_error) -> None:
    """Write the chunks that claims.planner's process reads, validates, plans and prepares (its docstring)."""
    process = planner.PlanningProcess(submission, scan, submission.rows_done)
    state = writing.WriterState(report_chars=submission.report_chars)
    try:
        for chunk in process.chunks():
            writing.write_chunk(submission, chunk, state, make_error or _row_error)
            process.committed()
    except BaseException:
        process.kill()
        raise
    process.close()


def _write_in_process(submission: Submission, scan: reading.Scan, make_error) -> None:
    """Read, validate and plan here; write through `_writer` (on its own thread where that can pay)."""
    opener = _opener(submission)
    max_field_chars = settings.KYODAKU_CLAIMS_MAX_FIELD_CHARS
    chunk_rows = max(1, settings.KYODAKU_CLAIMS_CHUNK_ROWS)
    done = submission.rows_done
    seen = 0
    lines: list = []
    writer = _writer(submission, make_error)
    try:
        for line, cells in reading.data_rows(opener, scan):
            seen += 1
            if seen <= done:
                continue  # counted by an earlier run of this task
            lines.append((line, cells))
            if len(lines) >= chunk_rows:
                writer.submit(_chunk(submission, lines, scan, max_field_chars, done, writer))
                done += len(lines)
                lines = []
        if lines:
            writer.submit(_chunk(submission, lines, scan, max_field_chars, done, writer))
    except BaseException:
        writer.abort()
        raise
    replanned = writer.close()
    if replanned:
        logger.info("claims submission %s: %s chunks planned again", submission.pk, replanned)


def _chunk(submission: Submission, lines, scan: reading.Scan, max_field_chars: int, done_before: int,
           writer) -> writing.Chunk:
    """Validate a chunk's rows and, when the writer takes plans made ahead, plan it now."""
    valid, rejected = _validate_lines(lines, scan, _filing_rights(submission), max_field_chars)
    chunk = writing.Chunk(lines=len(lines), done_before=done_before, valid=valid, rejected=rejected)
    if writer.plans_ahead:
        _plan_ahead(submission, chunk, writer)
    return chunk


def _validate_lines(lines, scan: reading.Scan, rights: FilingRights, max_field_chars: int) -> tuple[list, list]:
    """(valid ClaimRows, a list of problems per rejected row), in file order."""
    valid, rejected = [], []
    for line, cells in lines:
        result = _duplicate(line, cells, scan) or validate_row(line, cells, scan.columns, rights, max_field_chars)
        if isinstance(result, list):
            rejected.append(result)
        else:
            valid.append(result)
    return valid, rejected


def _duplicate(line: int, cells, scan: reading.Scan) -> list | None:
    """`duplicate-row` when the same statement comes again later in the file (the later row wins)."""
    later = scan.duplicates.get(line)
    if later is None:
        return None
    work_ref = validation.cells_of(cells, scan.columns, "work_ref")
    message = _("The same statement (holder, work_ref, purpose and jurisdiction) comes again on line %(line)d; the "
                "later row wins.") % {"line": later}
    return [RowProblem(line, "work_ref", "duplicate-row", message, work_ref, work_ref,
                    validation.cells_of(cells, scan.columns, "title"))]


def _plan_ahead(submission: Submission, chunk: writing.Chunk, writer) -> None:
    """Plan and prepare now, against the registry plus the chunk still being written, if any. The writer checks
    that the chain head is still the one this plan read (see claims.writing)."""
    in_flight = writer.in_flight()
    if in_flight is None:
        head = chunk.head = writing.head_now()  # read before the plan reads the registry
    else:
        head = (in_flight.prepared.audit.seq, in_flight.prepared.audit.hash)
    user = submission.submitted_by
    chunk.plan = merging.plan_chunk(chunk.valid, at=timezone.now(), filed_by_id=user.pk if user is not None else None,
                                    pending=in_flight.plan if in_flight is not None else None)
    chunk.prepared = copying.prepare_plan(chunk.plan, actor_label=actor_label(user), after_seq=head[0],
                                          after_hash=head[1])


# What a rejected row may store: its message (the first problem, then the others named) and its value echo.
MESSAGE_MAX = 1000


def _row_error(submission: Submission, errors, report_chars: int = 0, spellings: dict | None = None) -> RowError:
    """One line per rejected row (api.md): its first problem, and the others named in the message; its column
    named as the header spells it (`spellings`, from the scan: api.md's "the column's name as in the header").

    Bounded per row (MESSAGE_MAX, VALUE_ECHO_MAX) and per submission: once the stored text reaches
    KYODAKU_CLAIMS_MAX_REPORT_CHARS, further rows keep line, column and code with a short message, so a file of
    bad rows cannot grow the database faster than a fixed amount per row."""
    first = errors[0]
    if spellings and first.column in spellings:
        first.column = spellings[first.column]
    if report_chars >= settings.KYODAKU_CLAIMS_MAX_REPORT_CHARS:
        return RowError(submission=submission, line=first.line, column=first.column, code=first.code,
                        message=str(REPORT_FULL), value="", work_ref=first.work_ref[:200], title=first.title[:200])
    message = first.message
    if len(errors) > 1:
        others = "; ".join(f"{e.column or 'row'}: {e.code} ({e.message})" for e in errors[1:])
        message = f"{message} {ALSO} {others}"
    if len(message) > MESSAGE_MAX:
        message = message[:MESSAGE_MAX - 1] + "…"
    return RowError(submission=submission, line=first.line, column=first.column, code=first.code,
                    message=message, value=(first.value or "")[:VALUE_ECHO_MAX], work_ref=first.work_ref[:200],
                    title=first.title[:200])


def _finish(submission: Submission, status: str, error: str = "") -> None:
    # Compare-and-set: a submission ends once, so a failure is announced once (a retried task that finds it
    # already ended changes nothing and mails nothing).
    ended = Submission.objects.filter(pk=submission.pk).exclude(status__in=FINAL_STATUSES).update(
        status=status, error=error[:2000], finished_at=timezone.now())
    if ended and status == Status.FAILED and not submission.dry_run:
        # At once, not in the next daily digest: nothing of the file was filed and the holder is waiting for it.
        transaction.on_commit(partial(submission_failed_notify, submission_id=submission.pk))
    if submission.file and not settings.KYODAKU_CLAIMS_KEEP_FILES:
        try:
            submission.file.delete(save=False)
        except OSError:
            logger.warning("claims submission %s: could not remove its file", submission.pk)
        Submission.objects.filter(pk=submission.pk).update(file="")
