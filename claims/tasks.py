"""Celery entry point for claim submissions: load by id, call the service, retry what can be retried."""
import logging

from celery import shared_task

from .services import SubmissionBusy, claims_submission_fail, claims_submission_process

logger = logging.getLogger(__name__)

MAX_RETRIES = 5


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None,
             name="claims.process_submission")
def claims_submission_process_task(self, submission_id: str) -> None:
    """Idempotent: the service's status guard and run lock make a duplicate or redelivered task harmless."""
    try:
        claims_submission_process(submission_id=submission_id)
    except SubmissionBusy:
        # Another live worker has it; look again later in case that worker dies without finishing.
        if self.request.is_eager:
            return
        raise self.retry(countdown=60) from None
    except Exception as exc:
        failures = getattr(self.request, "retries", 0)
        if self.request.is_eager or failures >= MAX_RETRIES:
            logger.exception("claims submission %s failed", submission_id)
            claims_submission_fail(
                submission_id=submission_id,
                reason=f"Processing stopped by an internal error ({exc.__class__.__name__}); rows counted so far "
                       f"were kept. Submit the file again to finish it (rows already filed change nothing).",
            )
            return
        raise self.retry(exc=exc, countdown=min(300, 10 * 2 ** failures)) from None
