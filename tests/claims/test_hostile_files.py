"""Issue 12 items 7, 8, 9 and 13: small hostile files cannot knock the worker over, leave half an import behind,
or grow the error report without bound; line numbers are the rows a spreadsheet shows."""
import io
import time
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claims import reading
from claims import services as claims_services
from claims.models import RowError, Submission
from claims.services import TooManySubmissions, claims_submission_create, claims_submission_process
from claims.validation import FilingRights, validate_row
from registry.models import Work

from .conftest import errors_of
from .helpers import csv_text

pytestmark = pytest.mark.django_db
LIMITS = reading.Limits(max_bytes=10**9, max_rows=10**6, max_field_chars=10_000)


def _scan(data: bytes):
    return reading.scan(lambda: io.BytesIO(data), size=len(data), limits=LIMITS)


def _peak_bytes(call) -> int:
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


# ------------------------------------------------------------------------------------- item 7: wide rows

def test_a_header_of_a_million_columns_fails_at_once_in_bounded_memory():
    data = ("holder,work_ref," + ",".join(f"c{i}" for i in range(1_000_000)) + "\n").encode()
    started = time.monotonic()
    with pytest.raises(reading.FileProblem, match="more than 100 columns"):
        _scan(data)
    assert time.monotonic() - started < 5


def test_a_data_row_of_two_million_cells_fails_before_the_cells_exist():
    """One 6 MB row of 2,000,000 cells made about 100 MB of Python strings when csv.reader split it."""
    data = b"holder,work_ref,title\n" + b"ab," * 2_000_000 + b"\n"

    def scan():
        with pytest.raises(reading.FileProblem, match="more than 100 columns"):
            _scan(data)

    assert _peak_bytes(scan) < 40 * 1024 * 1024


def test_quoted_commas_do_not_count_as_columns():
    title = '"' + "," * 500 + '"'
    data = f"holder,work_ref,title\nstudio-kaze,KZ-1,{title}\n".encode()
    scan = _scan(data)
    [(_line, cells)] = list(reading.data_rows(lambda: io.BytesIO(data), scan))
    assert cells[2] == "," * 500


def test_a_file_without_line_breaks_is_refused_without_reading_it_as_one_string():
    data = b"holder,work_ref,title\n" + b"x" * (6 * 1024 * 1024)

    def scan():
        with pytest.raises(reading.FileProblem, match="longer than"):
            _scan(data)

    assert _peak_bytes(scan) < 60 * 1024 * 1024


def test_the_column_limit_is_a_setting(studio_kaze, submit, settings):
    settings.KYODAKU_CLAIMS_MAX_COLUMNS = 3
    submission = submit(studio_kaze, csv_text("holder,work_ref,title,kind", "studio-kaze,KZ-1,T,film"))
    assert submission.status == "failed" and "3 columns" in submission.error
    assert not Work.objects.exists()


class WorkerKilled(BaseException):
    """What the service sees of a worker process that dies mid-task: nothing after this point runs."""


def test_a_file_that_kills_its_worker_fails_the_submission_instead_of_being_redelivered_forever(
        studio_kaze, monkeypatch, django_capture_on_commit_callbacks, settings):
    settings.KYODAKU_CLAIMS_MAX_STALLED_RUNS = 3
    upload = SimpleUploadedFile("claims.csv", csv_text("holder,work_ref,title", "studio-kaze,KZ-1,T").encode())
    with django_capture_on_commit_callbacks(execute=False):
        submission = claims_submission_create(user=studio_kaze.user, file=upload)

    def die(submission):
        raise WorkerKilled

    monkeypatch.setattr(claims_services, "_process", die)
    for _delivery in range(3):  # the broker delivers the task again each time its worker dies
        with pytest.raises(WorkerKilled):
            claims_submission_process(submission_id=submission.pk)
    submission = claims_submission_process(submission_id=submission.pk)
    assert submission.status == "failed"
    assert "stopped 3 times" in submission.error


def test_runs_that_make_progress_are_not_counted_as_stalled(studio_kaze, submit, settings):
    settings.KYODAKU_CLAIMS_MAX_STALLED_RUNS = 1
    submission = submit(studio_kaze, csv_text("holder,work_ref,title", "studio-kaze,KZ-1,T"))
    assert submission.status == "done" and submission.stalled_runs == 1


# ------------------------------------------------------------------------------- item 8: dates out of range

@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+09:00", "9999-12-31T23:00:00-09:00", "0001-01-01",
                                   "1899-12-31", "9999-12-31"])
def test_studio_kaze_date_out_of_range_is_a_row_error_and_the_rest_is_kept(studio_kaze, submit, settings, value):
    settings.KYODAKU_CLAIMS_CHUNK_ROWS = 1  # the bad row comes after a chunk was committed
    text = csv_text("holder,work_ref,title,purpose,consent,effective_from",
                    "studio-kaze,KZ-1,One,train-ai,reserve,2026-01-01",
                    f"studio-kaze,KZ-2,Two,train-ai,reserve,{value}",
                    "studio-kaze,KZ-3,Three,train-ai,reserve,")
    submission = submit(studio_kaze, text)
    assert submission.status == "done-with-errors", submission.error
    assert errors_of(submission) == [(3, "effective_from", "invalid-date")]
    assert set(Work.objects.values_list("work_ref", flat=True)) == {"KZ-1", "KZ-3"}


COLUMNS = ["holder", "work_ref", "title", "original_title", "kind", "identifiers", "purpose", "jurisdiction",
           "consent", "scope", "effective_from", "effective_until", "license_url", "conditions"]
RIGHTS = FilingRights(holders={"studio-kaze": ("00000000-0000-0000-0000-000000000001", None)})


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.one_of(
    st.text(max_size=30),
    st.sampled_from(["0001-01-01T00:00:00+09:00", "9999-12-31T23:59:59-12:00", "2026/4/1", "2026/04/01 9:00",
                     "train-ai", "映画", "許諾", "isbn:9784991234156", "http://[::1", "https://ex.com/%ff",
                     "*", "EU;JP", "catalogue", "studio-kaze", "10.1000/x", "9" * 40]),
), min_size=0, max_size=16))
def test_validating_any_row_never_raises(cells):
    """No cell can make validation raise: a bad value is a row error, never a failed file half-way."""
    result = validate_row(2, cells, COLUMNS, RIGHTS, 10_000)
    assert isinstance(result, list) or result.line == 2


# ------------------------------------------------------------------------- item 9: stored report is bounded

def test_studio_kaze_row_of_many_bad_identifiers_stores_a_bounded_message(studio_kaze, submit):
    identifiers = ";".join(f"isbn:{i}" for i in range(900))
    submission = submit(studio_kaze, csv_text("holder,work_ref,title,identifiers",
                                              f"studio-kaze,KZ-1,T,{identifiers}"))
    error = RowError.objects.get(submission=submission)
    assert error.code == "invalid-identifier"
    assert len(error.message) <= claims_services.MESSAGE_MAX and len(error.value) <= 200


def test_studio_kaze_file_of_bad_rows_stores_a_bounded_report(studio_kaze, submit, settings):
    settings.KYODAKU_CLAIMS_MAX_REPORT_CHARS = 500
    settings.KYODAKU_CLAIMS_CHUNK_ROWS = 7
    rows = [f"studio-kaze,KZ-{i},T,not-a-kind-{'x' * 150}" for i in range(40)]
    submission = submit(studio_kaze, csv_text("holder,work_ref,title,kind", *rows))
    assert submission.rows_failed == 40
    stored = list(RowError.objects.filter(submission=submission).order_by("line"))
    assert len(stored) == 40  # one line per rejected row, always
    total = sum(len(e.message) + len(e.value) for e in stored)
    assert total <= 500 + claims_services.MESSAGE_MAX + 200 + 40 * len(str(claims_services.REPORT_FULL))
    assert stored[-1].message == str(claims_services.REPORT_FULL) and stored[-1].code == "invalid-kind"
    assert Submission.objects.get(pk=submission.pk).report_chars >= 500


def test_studio_kaze_queue_is_bounded_per_holder(studio_kaze, hoshi_pub, settings,
                                                 django_capture_on_commit_callbacks):
    settings.KYODAKU_CLAIMS_MAX_QUEUED_PER_HOLDER = 2

    def upload():
        return SimpleUploadedFile("c.csv", b"holder,work_ref,title\nstudio-kaze,KZ-1,T\n")

    with django_capture_on_commit_callbacks(execute=False):
        claims_submission_create(user=studio_kaze.user, file=upload())
        claims_submission_create(user=studio_kaze.user, file=upload())
        with pytest.raises(TooManySubmissions) as refused:
            claims_submission_create(user=studio_kaze.user, file=upload())
        assert refused.value.status == 429
        # Another holder's queue is its own.
        claims_submission_create(user=hoshi_pub.user, file=SimpleUploadedFile(
            "c.csv", b"holder,work_ref,title\nhoshi-pub,HP-1,T\n"))
    assert Submission.objects.count() == 3


# -------------------------------------------------------------------------------- item 13: spreadsheet rows

def test_studio_kaze_error_after_a_multi_line_cell_names_the_spreadsheet_row(studio_kaze, submit):
    text = ('holder,work_ref,title,kind\n'
            'studio-kaze,KZ-1,"first line\nsecond line\nthird line",film\n'
            '\n'
            'studio-kaze,KZ-2,Two,not-a-kind\n')
    submission = submit(studio_kaze, text)
    # Header row 1, KZ-1 row 2 (three lines in one cell), the blank row 3, KZ-2 row 4.
    assert errors_of(submission) == [(4, "kind", "invalid-kind")]
