"""Reads of claim submissions: who may see one, its status object (api.md), and its error report as CSV."""
from __future__ import annotations

import codecs
import uuid
from collections.abc import Iterator

from core.errors import NotFound
from registry.selectors import is_operator, user_membership

from .models import RowError, Submission

# api.md's five machine-readable columns, then the row's own work_ref and title (claims-csv.md).
ERRORS_CSV_HEADER = ("line", "column", "code", "message", "value", "work_ref", "title")
# A cell starting with one of these is a formula (or becomes one) in spreadsheet software.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def claims_submission_get_for_user(*, user, submission_id) -> Submission:
    """The submission if `user` may see it: a user of its holder or of the collective that filed it, or an operator.

    Anything else, including an id that does not exist or is not a UUID, is NotFound (existence is not revealed).
    """
    try:
        key = uuid.UUID(str(submission_id))
    except ValueError:
        raise NotFound("No such claims submission.") from None
    submission = Submission.objects.select_related("holder").filter(pk=key).first()
    if submission is not None and not is_operator(user):
        membership = user_membership(user)
        if membership is None or membership.holder_id not in (submission.holder_id, submission.agent_id):
            submission = None
    if submission is None:
        raise NotFound("No such claims submission.")
    return submission


def claims_submission_status(*, submission: Submission, errors_url: str | None) -> dict:
    """The status object of `GET /api/v1/claims/{id}` (api.md), for the API, the command and the admin alike."""
    return {
        "status": submission.status,
        "rows_total": submission.rows_total,
        "rows_done": submission.rows_done,
        "rows_ok": submission.rows_ok,
        "rows_failed": submission.rows_failed,
        "works_created": submission.works_created,
        "works_updated": submission.works_updated,
        "declarations_created": submission.declarations_created,
        "disputes_opened": submission.disputes_opened,
        "error": submission.error or None,
        "errors_url": errors_url,
    }


def spreadsheet_safe(value) -> str:
    """Neutralise a cell that a spreadsheet would read as a formula, by prefixing an apostrophe (OWASP's advice)."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


class _Echo:
    def write(self, value):
        return value


def claims_errors_csv_content_type(*, submission: Submission) -> str:
    """`text/csv` with the charset the report is written in (see claims_errors_csv)."""
    return f"text/csv; charset={_report_encoding(submission)[1]}"


def _report_encoding(submission: Submission) -> tuple[str, str]:
    """(Python codec, IANA charset). Spreadsheet software in Japan opens a CSV without a byte-order mark as CP932:
    the report is CP932 when the upload was, else UTF-8 with a byte-order mark (claims-csv.md)."""
    if submission.encoding == "cp932":
        return "cp932", "Windows-31J"
    return "utf-8", "utf-8"


def claims_errors_csv(*, submission: Submission, chunk_size: int = 2000) -> Iterator[bytes]:
    """errors.csv as bytes, streamed: the header, then one line per rejected row in line order, with the row's
    work_ref and title as submitted. Never a formula. Encoded as spreadsheet software reads it (_report_encoding);
    a character the encoding cannot hold (none, when the upload was in it) becomes `?` rather than failing."""
    import csv

    codec = _report_encoding(submission)[0]
    writer = csv.writer(_Echo())
    if codec == "utf-8":
        yield codecs.BOM_UTF8
    yield writer.writerow(ERRORS_CSV_HEADER).encode(codec)
    rows = RowError.objects.filter(submission=submission).order_by("line").values_list(
        "line", "column", "code", "message", "value", "work_ref", "title")
    for line, *cells in rows.iterator(chunk_size=chunk_size):
        text = writer.writerow([line, *(spreadsheet_safe(cell) for cell in cells)])
        yield text.encode(codec, errors="replace")


def submissions_import_totals() -> dict:
    """Import figures for the metrics endpoint (api/metrics.py), in three queries: rows and processing seconds of
    every finished import (dry runs left out), the rate of the most recent one, and how many wait or run."""
    from django.db.models import Count, DurationField, ExpressionWrapper, F, Sum
    from django.db.models.functions import Coalesce

    from .models import FINAL_STATUSES, Status

    finished = Submission.objects.filter(dry_run=False, status__in=FINAL_STATUSES, started_at__isnull=False,
                                         finished_at__isnull=False)
    took = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    sums = finished.aggregate(rows=Coalesce(Sum("rows_done"), 0), took=Sum(took))
    last = finished.order_by("-finished_at").values_list("rows_done", "started_at", "finished_at").first()
    last_rate = 0.0
    if last is not None:
        seconds = (last[2] - last[1]).total_seconds()
        last_rate = last[0] / seconds if seconds > 0 else 0.0
    pending = dict.fromkeys((Status.QUEUED.value, Status.RUNNING.value), 0)
    for status, count in (Submission.objects.filter(status__in=pending).values_list("status")
                          .annotate(n=Count("pk")).values_list("status", "n").order_by()):
        pending[status] = count
    return {"rows": sums["rows"], "seconds": sums["took"].total_seconds() if sums["took"] else 0.0,
            "last_rows_per_second": last_rate, "pending": pending}
