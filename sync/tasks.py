"""Celery entry points of the sync app: load by id, call one service."""
import logging

from celery import shared_task

from .snapshots import snapshot_build, snapshot_fail, snapshots_refresh
from .webhooks import webhook_delivery_attempt, webhooks_dispatch

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, name="sync.snapshot_build")
def snapshot_build_task(snapshot_id: str) -> None:
    """Idempotent: the service's compare-and-set (queued -> building) makes a duplicate delivery harmless."""
    try:
        snapshot_build(snapshot_id=snapshot_id)
    except Exception as exc:
        logger.exception("snapshot %s failed", snapshot_id)
        snapshot_fail(snapshot_id=snapshot_id, reason=f"The build stopped with an internal error "
                                                     f"({exc.__class__.__name__}); the next request queues another.")


@shared_task(name="sync.snapshots_refresh")
def snapshots_refresh_task() -> int:
    """Beat: rebuild every configured or asked-for pair whose newest snapshot is too old."""
    return len(snapshots_refresh())


@shared_task(name="sync.webhooks_dispatch")
def webhooks_dispatch_task() -> int:
    """Beat (every KYODAKU_WEBHOOK_DISPATCH_SECONDS): make each webhook's next message, send every due attempt."""
    due = webhooks_dispatch()
    for delivery_id in due:
        webhook_deliver_task.delay(delivery_id)
    return len(due)


@shared_task(acks_late=True, reject_on_worker_lost=True, name="sync.webhook_deliver")
def webhook_deliver_task(delivery_id: str) -> None:
    """One attempt; idempotent (the service claims the attempt with a compare-and-set on its due time)."""
    webhook_delivery_attempt(delivery_id=delivery_id)
