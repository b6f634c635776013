"""Celery entry point for fingerprinting uploaded files: load by id, call the service."""
import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from .fingerprinting import fingerprint_job_fail, fingerprint_job_run

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, soft_time_limit=120, time_limit=150,
             name="registry.fingerprint_job")
def fingerprint_job_task(self, job_id: str) -> None:
    """Idempotent: a job no longer queued is left alone. Any unexpected error fails the job (nothing attached)."""
    try:
        fingerprint_job_run(job_id=job_id)
    except SoftTimeLimitExceeded:
        fingerprint_job_fail(job_id=job_id, reason="Fingerprinting took longer than 120 seconds and was stopped.")
    except Exception as exc:
        logger.exception("fingerprint job %s failed", job_id)
        fingerprint_job_fail(job_id=job_id, reason=f"Fingerprinting stopped by an internal error "
                                                   f"({exc.__class__.__name__}); upload the file again.")
