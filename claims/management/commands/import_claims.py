"""manage.py import_claims FILE --as CODE [--wait] [--dry-run] [--json]"""
import json
import time
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from claims.models import FINAL_STATUSES, Status, Submission
from claims.selectors import claims_submission_status
from claims.services import claims_submission_create
from core.errors import DomainError


class Command(BaseCommand):
    help = ("Submit a claims CSV (claims-csv.md) as holder CODE. With --wait, process it (or wait for the worker) "
            "and print its final state; exit code 0 for done and done-with-errors, 1 for failed.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the CSV file.")
        parser.add_argument("--as", dest="holder", required=True, metavar="CODE",
                            help="The holder the file is submitted as.")
        parser.add_argument("--wait", action="store_true", help="Wait until the submission is finished.")
        parser.add_argument("--dry-run", action="store_true", help="Validate and count every row; write nothing.")
        parser.add_argument("--json", action="store_true",
                            help="Print the status object of GET /api/v1/claims/{id} as JSON on the last line.")
        parser.add_argument("--poll", type=float, default=1.0, help="Seconds between checks while waiting.")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            with path.open("rb") as handle:
                submission = claims_submission_create(user=None, file=File(handle, name=path.name),
                                                      holder_code=options["holder"], dry_run=options["dry_run"])
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        if options["wait"]:
            while True:
                submission.refresh_from_db()
                if submission.status in FINAL_STATUSES:
                    break
                time.sleep(options["poll"])
        submission.refresh_from_db()
        errors_path = reverse("claims-errors", kwargs={"id": submission.pk})
        state = claims_submission_status(submission=submission,
                                         errors_url=settings.KYODAKU_BASE_URL.rstrip("/") + errors_path)
        if options["json"]:
            self.stdout.write(json.dumps(state))
        else:
            self.stdout.write(_summary(submission))
        if submission.status == Status.FAILED:
            raise SystemExit(1)


def _summary(submission: Submission) -> str:
    kind = "Dry run of submission" if submission.dry_run else "Submission"
    lines = [f"{kind} {submission.pk}: {submission.status}"]
    if submission.status == Status.FAILED:
        lines.append(f"  {submission.error}")
    elif submission.rows_total is not None:
        lines.append(f"  rows: {submission.rows_total} total, {submission.rows_done} done, {submission.rows_ok} ok, "
                     f"{submission.rows_failed} rejected")
        if submission.dry_run:  # nothing was written: say what a real run would do
            lines.append(f"  works: {submission.works_created} would be created, {submission.works_updated} would "
                         f"be updated; declarations that would be created: {submission.declarations_created}; "
                         f"disputes that would be opened: {submission.disputes_opened}")
        else:
            lines.append(f"  works: {submission.works_created} created, {submission.works_updated} updated; "
                         f"declarations created: {submission.declarations_created}; "
                         f"disputes opened: {submission.disputes_opened}")
    if submission.rows_failed:
        lines.append("  rejected rows: GET /api/v1/claims/{id}/errors.csv".replace("{id}", str(submission.pk)))
    return "\n".join(lines)
