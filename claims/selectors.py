"""Reads of claim submissions: who may see one, its status object (api.md), and its error report as CSV."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

from registry.errors import NotFound
from registry.selectors import is_operator, user_membership

from .models import RowError, Submission

STATUS_FIELDS = ("status", "rows_total", "rows_done", "rows_ok", "rows_failed", "works_created", "works_updated",
                 "declarations_created", "disputes_opened", "error", "errors_url")
ERRORS_CSV_HEADER = ("line", "column", "code", "message", "value")
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


def claims_errors_csv(*, submission: Submission, chunk_size: int = 2000) -> Iterator[str]:
    """errors.csv, streamed: the header, then one line per rejected row in line order. Never a formula."""
    import csv

    writer = csv.writer(_Echo())
    yield writer.writerow(ERRORS_CSV_HEADER)
    rows = RowError.objects.filter(submission=submission).order_by("line").values_list(
        "line", "column", "code", "message", "value")
    for line, column, code, message, value in rows.iterator(chunk_size=chunk_size):
        yield writer.writerow([line, spreadsheet_safe(column), spreadsheet_safe(code), spreadsheet_safe(message),
                               spreadsheet_safe(value)])
