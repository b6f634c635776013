"""Periodic work of the consent app (Celery beat: config/settings/base.py CELERY_BEAT_SCHEDULE)."""
from celery import shared_task

from .usage import lookup_counts_flush


@shared_task(name="consent.tasks.lookup_counts_flush", ignore_result=True)
def lookup_counts_flush_task() -> dict[str, int]:
    """The lookup counters of today and yesterday into the daily tables (idempotent: consent.usage)."""
    return lookup_counts_flush()
