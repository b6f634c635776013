"""Planning ahead (claims.writing.ThreadedWriter): chunk N+1 is planned while chunk N is still being written.

Each scenario runs through both writers on PostgreSQL with committed transactions (a second connection sees
nothing of a test's open transaction), one row per chunk so that every row is planned against the row before it
still in flight: identifiers moved, disputes repeated and catalogue slots superseded across chunk boundaries.
Both writers must leave the same registry, and a chain that verifies.
"""
import threading

import pytest

from audit.models import AuditHead
from audit.selectors import audit_verify
from claims import copying, merging, planner, services, validation, writing
from consent.models import Declaration
from consent.services import declaration_file
from registry.models import Dispute, Identifier, Work
from registry.services import work_register

from .helpers import csv_text, isbn13

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HEADER = "holder,work_ref,title,kind,identifiers,purpose,jurisdiction,consent,scope"


@pytest.fixture(params=["inline", "threaded", "process"])
def writer_kind(request, monkeypatch, settings):
    """Inline, the writer's thread, or planned in a second process (claims.planner) and written by this one."""
    settings.KYODAKU_CLAIMS_CHUNK_ROWS = 1
    started = []
    if request.param == "process":
        settings.KYODAKU_CLAIMS_PLANNER_PROCESS_MIN_ROWS = 1
        real = planner.PlanningProcess
        monkeypatch.setattr(planner, "PlanningProcess", lambda *a: started.append(1) or real(*a))
    else:
        settings.KYODAKU_CLAIMS_PLANNER_PROCESS_MIN_ROWS = None
        chosen = {"inline": writing.InlineWriter, "threaded": writing.ThreadedWriter}[request.param]
        monkeypatch.setattr(services, "_writer", lambda submission, make_error=None: chosen(
            submission, make_error or services._row_error))
    yield request.param
    assert bool(started) == (request.param == "process")


@pytest.fixture
def process(studio_kaze, settings, tmp_path):
    """Submit rows as studio-kaze; tasks run eagerly, so the submission is processed at once (and committed: the
    test is transactional)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from claims.services import claims_submission_create

    settings.MEDIA_ROOT = tmp_path / "media"

    def _process(*rows):
        upload = SimpleUploadedFile("claims.csv", csv_text(HEADER, *rows).encode(), content_type="text/csv")
        submission = claims_submission_create(user=studio_kaze.user, file=upload)
        submission.refresh_from_db()
        return submission

    return _process


def test_studio_kaze_rows_planned_against_the_chunk_still_in_flight(writer_kind, studio_kaze, hoshi_pub, process,
                                                                    monkeypatch):
    # The reader rejects a slot filed twice in one file (`duplicate-row`, claims-csv.md); the writer must still
    # plan a chunk that files into a slot the chunk in flight files into, so the scan's duplicate check is off here.
    monkeypatch.setattr(validation, "statement_key", lambda cells, columns: None)
    work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Hoshi", identifiers=[f"isbn:{isbn13(50)}"])
    submission = process(
        f"studio-kaze,KZ-1,One,film,isbn:{isbn13(1)},train-ai,JP,reserve,work",
        f"studio-kaze,KZ-2,Two,film,isbn:{isbn13(1)};isbn:{isbn13(50)},,,,work",  # moves KZ-1's isbn; a dispute
        f"studio-kaze,KZ-3,Three,film,isbn:{isbn13(1)};isbn:{isbn13(50)},,,,work",  # moves it again; same claim
        "studio-kaze,,,,,tdm,EU,reserve,catalogue",
        "studio-kaze,,,,,tdm,EU,grant,catalogue",  # supersedes the row before, still in flight
        "studio-kaze,,,,,tdm,EU,grant,catalogue",  # identical to the one in force: nothing
    )
    assert submission.status == "done", submission.error
    assert (submission.rows_ok, submission.works_created, submission.declarations_created,
            submission.disputes_opened) == (6, 3, 3, 1)
    held = Identifier.objects.filter(value=isbn13(1)).order_by("valid_from")
    assert [i.work.work_ref for i in held] == ["KZ-1", "KZ-2", "KZ-3"]
    assert [i.valid_until is None for i in held] == [False, False, True]
    # KZ-3 repeats studio-kaze's claim on Hoshi's isbn, filed by the chunk before it: no second dispute.
    assert list(Dispute.objects.values_list("claimant_work__work_ref", flat=True)) == ["KZ-2"]
    catalogue = Declaration.objects.filter(holder=studio_kaze.holder, scope="catalogue").order_by("recorded_at")
    assert [(d.consent, d.superseded_at is None) for d in catalogue] == [("reserve", False), ("grant", True)]
    assert catalogue[0].superseded_by == catalogue[1]
    assert audit_verify() == []


def test_studio_kaze_same_file_twice_through_the_threaded_writer_creates_nothing(writer_kind, studio_kaze, process):
    rows = [f"studio-kaze,KZ-{i},Title {i},book,isbn:{isbn13(i)},train-ai;search,JP;EU,reserve,work"
            for i in range(6)]
    first = process(*rows)
    tables = (Work.objects.count(), Identifier.objects.count(), Declaration.objects.count())
    second = process(*rows)
    assert (first.works_created, first.declarations_created) == (6, 24)
    assert (second.works_created, second.works_updated, second.declarations_created) == (0, 0, 0)
    assert (Work.objects.count(), Identifier.objects.count(), Declaration.objects.count()) == tables
    assert audit_verify() == []


def test_studio_kaze_plan_made_ahead_is_redone_when_someone_else_wrote_in_between(
        monkeypatch, settings, studio_kaze, process, caplog):
    """While chunk 2 is planned ahead, a web user files into the very slot chunk 3 files into. The writer sees
    the chain head moved, plans chunks again under the lock, and the user's declaration is superseded properly
    (not left as a second current declaration in the slot, which the database would refuse anyway)."""
    settings.KYODAKU_CLAIMS_CHUNK_ROWS = 1
    monkeypatch.setattr(services, "_writer", lambda s, make_error=None: writing.ThreadedWriter(
        s, make_error or services._row_error))
    work = work_register(holder=studio_kaze.holder, work_ref="KZ-9", title="Nine").work
    real_plan = merging.plan_chunk
    calls = []

    def plan_and_interfere(rows, **kwargs):
        calls.append(kwargs.get("pending") is not None)
        if len(calls) == 2:
            # Another connection, committed at once: what a web request does meanwhile.
            thread = threading.Thread(target=_file_elsewhere, args=(studio_kaze.holder, work))
            thread.start()
            thread.join()
        return real_plan(rows, **kwargs)

    monkeypatch.setattr(merging, "plan_chunk", plan_and_interfere)
    with caplog.at_level("INFO", logger="claims"):
        submission = process(*_stale_plan_rows())
    assert submission.status == "done", submission.error
    assert submission.rows_ok == 3 and submission.works_created == 2
    assert "planned again" in caplog.text
    _assert_user_grant_superseded_by_the_file(work)


def _stale_plan_rows() -> tuple[str, ...]:
    """Two new works, then the file's reservation into the slot the web user files a grant into meanwhile."""
    return (f"studio-kaze,KZ-1,One,film,isbn:{isbn13(1)},,,,work",
            f"studio-kaze,KZ-2,Two,film,isbn:{isbn13(2)},,,,work",
            "studio-kaze,KZ-9,,,,train-ai,JP,reserve,work")


def _assert_user_grant_superseded_by_the_file(work) -> None:
    """The user's grant, filed before the file's chunk was written, is superseded by the file's reservation, and
    the audit chain counts every event once."""
    in_slot = Declaration.objects.filter(work=work, purpose="train-ai", jurisdiction="JP").order_by("recorded_at")
    assert [(d.consent, d.superseded_at is None) for d in in_slot] == [("grant", False), ("reserve", True)]
    assert AuditHead.objects.get().seq == _events()
    assert audit_verify() == []


def _file_elsewhere(holder, work):
    from django.db import connection

    try:
        declaration_file(holder=holder, work=work, purpose="train-ai", jurisdiction="JP", consent="grant")
    finally:
        connection.close()


def _events() -> int:
    from audit.models import AuditEvent

    return AuditEvent.objects.count()


def test_writer_error_fails_the_submission_and_keeps_earlier_chunks(monkeypatch, settings, studio_kaze, process):
    """A failure while chunk 2 is written on the writer's thread (here: the database refuses it) reaches the task,
    which fails the submission with a reason; chunk 1 stays committed with its checkpoint, so resubmitting the
    file finishes it."""
    settings.KYODAKU_CLAIMS_CHUNK_ROWS = 1
    monkeypatch.setattr(services, "_writer", lambda s, make_error=None: writing.ThreadedWriter(
        s, make_error or services._row_error))
    real_write = copying.write_plan
    writes = []

    def failing_second(plan, **kwargs):
        writes.append(1)
        if len(writes) == 2:
            raise RuntimeError("database refused the chunk")
        return real_write(plan, **kwargs)

    monkeypatch.setattr(copying, "write_plan", failing_second)
    submission = process(
        f"studio-kaze,KZ-1,One,film,isbn:{isbn13(1)},,,,work",
        f"studio-kaze,KZ-2,Two,film,isbn:{isbn13(2)},,,,work",
        f"studio-kaze,KZ-3,Three,film,isbn:{isbn13(3)},,,,work",
    )
    assert submission.status == "failed"
    assert "internal error (RuntimeError)" in submission.error
    assert submission.rows_done == 1 and submission.works_created == 1
    assert list(Work.objects.values_list("work_ref", flat=True)) == ["KZ-1"]
    assert audit_verify() == []


def test_both_writers_write_one_bundle_per_work_and_chunk(writer_kind, studio_kaze, process, settings):
    """The writer thread sends the audit batch prepared ahead (claims.copying.prepare_plan): bundled alike."""
    from audit.bundles import BUNDLE_ACTION
    from audit.models import AuditEvent

    settings.KYODAKU_CLAIMS_CHUNK_ROWS = 2
    start = AuditHead.objects.get().seq
    submission = process(f"studio-kaze,KZ-1,One,film,isbn:{isbn13(1)};isbn:{isbn13(2)},train-ai;tdm,JP,reserve,work",
                         f"studio-kaze,KZ-2,Two,film,isbn:{isbn13(3)},train-ai,JP,grant,work",
                         "studio-kaze,KZ-1,One,film,,search,JP,grant,work")  # the next chunk: KZ-1 again
    assert submission.status == "done"
    events = AuditEvent.objects.filter(seq__gt=start).order_by("seq")
    assert [(e.action, len(e.after) if e.action == BUNDLE_ACTION else e.action) for e in events] == [
        ("bundle", 5), ("bundle", 3), ("declaration.file", "declaration.file")]
    assert audit_verify() == []


@pytest.fixture
def planned_in_a_process(settings):
    settings.KYODAKU_CLAIMS_CHUNK_ROWS = 1
    settings.KYODAKU_CLAIMS_PLANNER_PROCESS_MIN_ROWS = 1


def test_studio_kaze_chunk_planned_in_the_child_is_redone_here_when_someone_else_wrote_in_between(
        planned_in_a_process, monkeypatch, studio_kaze, process, caplog):
    """As above, with the rows planned in claims.planner's process: the web user's filing lands after chunk 1 is
    written and before chunk 2 (planned by the child against chunk 1) is. The chunk is not written as planned: the
    child is stopped and the rest of the file is planned in this process from the checkpoint, the user's
    declaration superseded properly."""
    work = work_register(holder=studio_kaze.holder, work_ref="KZ-9", title="Nine").work
    real_chunks = planner.PlanningProcess.chunks

    def chunks_and_interfere(self):
        for number, chunk in enumerate(real_chunks(self), start=1):
            if number == 2:
                thread = threading.Thread(target=_file_elsewhere, args=(studio_kaze.holder, work))
                thread.start()
                thread.join()
            yield chunk

    monkeypatch.setattr(planner.PlanningProcess, "chunks", chunks_and_interfere)
    with caplog.at_level("INFO", logger="claims"):
        submission = process(*_stale_plan_rows())
    assert submission.status == "done", submission.error
    assert (submission.rows_done, submission.rows_ok, submission.works_created) == (3, 3, 2)
    assert "planning in-process from here" in caplog.text
    _assert_user_grant_superseded_by_the_file(work)


def test_planning_process_killed_fails_the_submission_and_keeps_the_chunks_written(
        planned_in_a_process, monkeypatch, studio_kaze, process):
    """The planning process dies (killed, out of memory) after chunk 1 reached this process: chunk 1 is written
    and counted, nothing after it, and the task's failure path says so (a retried task resumes from there)."""
    real_chunks = planner.PlanningProcess.chunks

    def chunks_then_kill(self):
        for number, chunk in enumerate(real_chunks(self), start=1):
            if number == 1:
                self._process.kill()
                self._process.wait()
            yield chunk

    monkeypatch.setattr(planner.PlanningProcess, "chunks", chunks_then_kill)
    submission = process(*[f"studio-kaze,KZ-{i},T{i},film,isbn:{isbn13(i)},,,,work" for i in range(1, 5)])
    assert submission.status == "failed"
    assert "internal error (PlannerFailed)" in submission.error
    assert 1 <= submission.rows_done < 4
    assert Work.objects.count() == submission.works_created == submission.rows_done
    assert audit_verify() == []
