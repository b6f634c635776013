"""Snapshots of every registered key's answer for one (purpose, jurisdiction), built by a Celery task."""
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from uuid_utils.compat import uuid7


class SnapshotStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    BUILDING = "building", _("building")
    READY = "ready", _("ready")
    FAILED = "failed", _("failed")


class Snapshot(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    purpose = models.CharField(_("purpose"), max_length=64)
    jurisdiction = models.CharField(_("jurisdiction"), max_length=8)
    status = models.CharField(_("status"), max_length=16, choices=SnapshotStatus.choices,
                              default=SnapshotStatus.QUEUED)
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    cursor = models.BigIntegerField(_("change-feed cursor"), null=True, blank=True,
                                    help_text=_("The audit sequence number the snapshot reflects."))
    files = models.JSONField(_("files"), default=list, blank=True,
                             help_text=_("name, storage path, sha256, bytes, count (and the filter's parameters)."))
    manifest = models.TextField(_("signed manifest"), blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-requested_at"]
        verbose_name = _("snapshot")
        verbose_name_plural = _("snapshots")
        indexes = [models.Index(fields=["purpose", "jurisdiction", "status", "-finished_at"],
                                name="sync_snapshot_latest_idx")]
        constraints = [
            # At most one build queued or under way per pair: a burst of first requests starts one build.
            models.UniqueConstraint(fields=["purpose", "jurisdiction"],
                                    condition=Q(status__in=["queued", "building"]),
                                    name="sync_snapshot_one_build_per_pair"),
            models.CheckConstraint(condition=Q(status="ready", cursor__isnull=False) | ~Q(status="ready"),
                                   name="sync_snapshot_ready_has_cursor"),
        ]

    def __str__(self):
        return f"snapshot {self.purpose}@{self.jurisdiction} ({self.status})"
