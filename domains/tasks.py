"""Celery entry points for domain control: one claim's check, and the periodic sweep (Celery beat)."""
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import DomainClaim
from .selectors import domain_claims_to_recheck
from .services import domain_claim_check


@shared_task(name="domains.tasks.domain_claim_check", acks_late=True, ignore_result=True)
def domain_claim_check_task(claim_id: str) -> None:
    """Idempotent: the service records a verification only if none is open, and ends only an open one."""
    claim = DomainClaim.objects.filter(pk=claim_id).first()
    if claim is not None:
        domain_claim_check(claim=claim)


@shared_task(name="domains.tasks.domain_claims_recheck", ignore_result=True)
def domain_claims_recheck() -> int:
    """Queue a check of every claim not checked for KYODAKU_DOMAIN_RECHECK_HOURS (operator-verified ones aside)."""
    due = timezone.now() - timedelta(hours=settings.KYODAKU_DOMAIN_RECHECK_HOURS)
    ids = [str(pk) for pk in domain_claims_to_recheck(checked_before=due).values_list("pk", flat=True)]
    for claim_id in ids:
        transaction.on_commit(lambda claim_id=claim_id: domain_claim_check_task.delay(claim_id))
    return len(ids)
