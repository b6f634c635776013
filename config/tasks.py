"""Celery tasks of the site itself (config/celery.py registers this module beside the apps' own)."""
from celery import shared_task


@shared_task(name="config.attention_digest", ignore_result=True)
def attention_digest_task() -> int:
    """Daily: failed uploads, lapsed domain verifications and mandates about to end, mailed (config.attention)."""
    from .attention import attention_digest_send

    return attention_digest_send()
