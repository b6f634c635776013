"""Helpers for claims tests: submit bytes as a persona and process them eagerly through the real service."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from claims.models import RowError
from claims.selectors import claims_errors_csv
from claims.services import claims_submission_create, claims_submission_process

HEADER = "holder,work_ref,title,original_title,kind,identifiers,purpose,jurisdiction,consent,scope"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def submit(django_capture_on_commit_callbacks):
    """submit(persona_or_user, data: bytes|str, holder_code=None, dry_run=False) -> processed Submission."""

    def _submit(who, data, *, holder_code=None, dry_run=False, name="claims.csv", user=None):
        if isinstance(data, str):
            data = data.encode("utf-8")
        upload = SimpleUploadedFile(name, data, content_type="text/csv")
        actor = user if user is not None else getattr(who, "user", who)
        with django_capture_on_commit_callbacks(execute=True):
            submission = claims_submission_create(user=actor, file=upload, holder_code=holder_code, dry_run=dry_run)
        submission.refresh_from_db()
        return submission

    return _submit


def errors_of(submission) -> list[tuple]:
    return list(RowError.objects.filter(submission=submission).order_by("line").values_list("line", "column", "code"))


def errors_csv_text(submission) -> str:
    """The report as text, without its byte-order mark, and only api.md's five columns (the row's work_ref and
    title follow them; tests/claims/test_errors_report.py reads those)."""
    import csv
    import io

    data = b"".join(claims_errors_csv(submission=submission))
    text = data.decode("cp932" if submission.encoding == "cp932" else "utf-8-sig")
    out = io.StringIO()
    csv.writer(out).writerows(row[:5] for row in csv.reader(io.StringIO(text)))
    return out.getvalue()


def process_again(submission):
    return claims_submission_process(submission_id=submission.pk)
