"""Bulk claim submissions: a CSV file, its processing state and counts, and the rows it rejected."""
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from uuid_utils.compat import uuid7

from registry.models import Holder


class Status(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    DONE_WITH_ERRORS = "done-with-errors", _("done with errors")
    FAILED = "failed", _("failed")


FINAL_STATUSES = (Status.DONE, Status.DONE_WITH_ERRORS, Status.FAILED)


class Submission(models.Model):
    """One uploaded claims file. Counts are checkpointed after each chunk, so a retried task resumes exactly."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="claim_submissions",
                               help_text=_("The holder the file is submitted as; only its users see it."))
    agent = models.ForeignKey(Holder, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                              help_text=_("The collective submitting under a mandate for the holder, if any."))
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="claim_submissions")
    file = models.FileField(_("file"), upload_to="claims/%Y/%m/", max_length=500, blank=True)
    original_name = models.CharField(_("file name"), max_length=255, blank=True)
    size_bytes = models.BigIntegerField(_("size in bytes"), default=0)
    dry_run = models.BooleanField(_("dry run"), default=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    encoding = models.CharField(_("encoding"), max_length=16, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True,
                                help_text=_("The submitter's language: the error report's messages are in it."))
    error = models.TextField(_("error"), blank=True)
    rows_total = models.BigIntegerField(null=True, blank=True)
    rows_done = models.BigIntegerField(default=0)
    rows_ok = models.BigIntegerField(default=0)
    rows_failed = models.BigIntegerField(default=0)
    works_created = models.BigIntegerField(default=0)
    works_updated = models.BigIntegerField(default=0)
    declarations_created = models.BigIntegerField(default=0)
    disputes_opened = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(_("submitted at"), default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # Runs started since the checkpoint last moved, and the checkpoint they started from: a file that stops its
    # worker every time (out of memory, say) fails after a few runs instead of being redelivered forever.
    stalled_runs = models.PositiveSmallIntegerField(default=0)
    stalled_at_row = models.BigIntegerField(default=0)
    # Characters of message and value stored for the rejected rows so far (bounded by a setting).
    report_chars = models.BigIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("claims submission")
        verbose_name_plural = _("claims submissions")
        constraints = [
            models.CheckConstraint(condition=Q(status__in=Status.values), name="claims_submission_status_valid"),
            models.CheckConstraint(condition=Q(rows_done=F("rows_ok") + F("rows_failed")),
                                   name="claims_submission_rows_add_up"),
            models.CheckConstraint(condition=~Q(status="failed") | ~Q(error=""),
                                   name="claims_submission_failed_has_reason"),
        ]
        indexes = [models.Index(fields=["holder", "created_at"], name="claims_sub_holder_created_idx")]

    def __str__(self):
        return gettext("%(name)s: %(status)s") % {"name": self.original_name or self.pk,
                                                   "status": self.get_status_display()}


class RowError(models.Model):
    """One rejected row of a submission: what errors.csv lists, in line order."""

    id = models.BigAutoField(primary_key=True)
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="row_errors")
    line = models.BigIntegerField(_("line"))
    column = models.CharField(_("column"), max_length=64, blank=True)
    code = models.CharField(_("code"), max_length=32)
    message = models.TextField(_("message"))
    value = models.TextField(_("value"), blank=True)
    # The row's own work_ref and title as submitted, so a person finds the row in the spreadsheet.
    work_ref = models.CharField(_("work_ref"), max_length=200, blank=True)
    title = models.CharField(_("title"), max_length=200, blank=True)

    class Meta:
        ordering = ["submission", "line"]
        verbose_name = _("rejected row")
        verbose_name_plural = _("rejected rows")
        constraints = [
            models.UniqueConstraint(fields=["submission", "line"], name="claims_row_error_one_per_line"),
        ]

    def __str__(self):
        return f"line {self.line}: {self.code}"
