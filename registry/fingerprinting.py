"""Fingerprinting a work from files its holder uploads (issue 16 item 2, docs/match.md "Fingerprints from files").

`fingerprint_job_create` stores the upload (the default storage) and queues `registry.fingerprint_job`; the task
calls `fingerprint_job_run`, which computes sha256, iscc, phash and pdq with `registry.fingerprints` and attaches
them to the work through `work_register` (so a code registered to another holder's work opens a dispute, and every
addition is audited) in the same transaction as the job's state: the job is done with every code attached, or
failed with none. The stored file is then deleted, unless the holder asked to keep it (a failed job's file is
always deleted: it could not be read, so there is nothing to keep it for).
"""
from __future__ import annotations

import logging
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from audit.services import audit_record
from core.errors import DomainError, ValidationFailed, field_error

from .fingerprints import ContentError, codes_for_bytes
from .models import FingerprintJob, Work
from .selectors import holder_for_filing
from .services import work_register

logger = logging.getLogger(__name__)

SCHEMES = ("sha256", "iscc", "phash", "pdq")


class FileTooLarge(DomainError):
    status = 413
    code = "file-too-large"
    title = "File too large"


def fingerprint_file_too_large(size: int) -> FileTooLarge | None:
    cap = settings.KYODAKU_FINGERPRINT_MAX_FILE_BYTES
    if size > cap:
        return FileTooLarge(gettext("The file is %(size)s bytes; at most %(cap)s bytes are fingerprinted.")
                            % {"size": f"{size:,}", "cap": f"{cap:,}"})
    return None


def fingerprint_job_create(*, work: Work, user, upload, keep: bool = False) -> FingerprintJob:
    """Store `upload` for `work` and queue its fingerprinting. The user must be able to file for the work's holder
    (a read-only role is refused); the caller has already checked that the work is visible to them."""
    holder_for_filing(user=user, code=work.holder.code)
    if upload is None:
        raise ValidationFailed(gettext("Send a file to fingerprint."),
                               errors=[field_error("file", "required", gettext("Send a file to fingerprint."))])
    too_large = fingerprint_file_too_large(upload.size)
    if too_large:
        raise too_large
    if not upload.size:
        raise ValidationFailed(gettext("The file is empty."),
                               errors=[field_error("file", "empty", gettext("The file is empty."))])
    with transaction.atomic():
        job = FingerprintJob(work=work, holder_id=work.holder_id, uploaded_by=user, keep=bool(keep),
                             file_name=(getattr(upload, "name", "") or "")[:255], file_size=upload.size)
        # Stored under the job's id, never the client's name (nor its extension, which proves nothing).
        job.file.save(str(job.pk), upload, save=False)
        job.save()
        audit_record(actor=user, action="fingerprint.upload", object_type="fingerprint_job", object_id=job.pk,
                     after={"work": str(work.pk), "file_name": job.file_name, "file_size": job.file_size,
                            "keep": job.keep})
        transaction.on_commit(partial(_dispatch, job.pk))
    return job


def _dispatch(job_id) -> None:
    from .tasks import fingerprint_job_task

    try:
        fingerprint_job_task.apply_async(args=[str(job_id)], retry=False)
    except Exception:  # the broker is down: the job stays queued (the holder sees it so)
        logger.exception("could not queue fingerprint job %s", job_id)


def _read(job: FingerprintJob) -> bytes:
    cap = settings.KYODAKU_FINGERPRINT_MAX_FILE_BYTES
    with job.file.open("rb") as handle:
        data = handle.read(cap + 1)
    if len(data) > cap:
        raise ContentError(gettext("The file is over the limit of %(cap)s bytes.") % {"cap": f"{cap:,}"})
    return data


def _delete_file(job: FingerprintJob) -> None:
    if job.file:
        job.file.delete(save=False)
        FingerprintJob.objects.filter(pk=job.pk).update(file="")


def fingerprint_job_run(*, job_id) -> FingerprintJob | None:
    """Compute the file's codes and attach them to the work: all in one transaction with the job's new state.

    Idempotent: a job no longer queued is left alone (a redelivered task changes nothing)."""
    with transaction.atomic():
        job = (FingerprintJob.objects.select_for_update(of=("self",))
               .select_related("work__holder", "uploaded_by").filter(pk=job_id).first())
        if job is None or job.state != FingerprintJob.State.QUEUED:
            return job
        try:
            if not job.file:
                raise ContentError(gettext("The uploaded file is no longer stored."))
            codes = codes_for_bytes(_read(job), max_pixels=settings.KYODAKU_MATCH_MAX_PIXELS)
            with transaction.atomic():  # a refusal below rolls back every identifier, not the job's state
                registration = work_register(
                    holder=job.work.holder, work_ref=job.work.work_ref,
                    identifiers=[f"{scheme}:{codes[scheme]}" for scheme in SCHEMES if scheme in codes],
                    actor=job.uploaded_by,
                    evidence=gettext("Fingerprinted from the uploaded file %(name)s.") % {"name": job.file_name})
        except ContentError as exc:
            job.state, job.error = FingerprintJob.State.FAILED, exc.detail
        except ValidationFailed as exc:
            job.state, job.error = FingerprintJob.State.FAILED, exc.detail
        else:
            job.state, job.codes, job.disputes_opened = (FingerprintJob.State.DONE, codes,
                                                         registration.disputes_opened)
        job.finished_at = timezone.now()
        job.save(update_fields=["state", "error", "codes", "disputes_opened", "finished_at"])
        audit_record(actor=job.uploaded_by, action=f"fingerprint.{job.state}", object_type="fingerprint_job",
                     object_id=job.pk, after={"state": job.state, "codes": job.codes, "error": job.error})
    if job.state == FingerprintJob.State.FAILED or not job.keep:
        _delete_file(job)
    return job


def fingerprint_job_fail(*, job_id, reason: str) -> None:
    """Mark a job failed (an internal error or a time limit), with none of its codes attached, and drop its file."""
    with transaction.atomic():
        job = FingerprintJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state != FingerprintJob.State.QUEUED:
            return
        job.state, job.error, job.finished_at = FingerprintJob.State.FAILED, reason, timezone.now()
        job.save(update_fields=["state", "error", "finished_at"])
    _delete_file(job)
