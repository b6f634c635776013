"""Reads of snapshots for monitoring (the metrics endpoint, api/metrics.py)."""
from django.db.models import Max

from .models import Snapshot, SnapshotStatus


def snapshots_newest_ready() -> list[tuple[str, str, object]]:
    """(purpose, jurisdiction, finished_at of the newest ready snapshot) for every pair that has one; one query
    (sync_snapshot_latest_idx)."""
    return list(Snapshot.objects.filter(status=SnapshotStatus.READY, finished_at__isnull=False)
                .values_list("purpose", "jurisdiction").annotate(newest=Max("finished_at"))
                .values_list("purpose", "jurisdiction", "newest").order_by("purpose", "jurisdiction"))
