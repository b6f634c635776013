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


class Webhook(models.Model):
    """An AI developer's URL that receives the change feed's entries for one (purpose, jurisdiction), signed per
    Standard Webhooks. Owned by the API key that registered it."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    api_key = models.ForeignKey("keys.APIKey", on_delete=models.CASCADE, related_name="webhooks",
                                verbose_name=_("API key"))
    url = models.URLField(_("URL"), max_length=2000)
    purpose = models.CharField(_("purpose"), max_length=64)
    jurisdiction = models.CharField(_("jurisdiction"), max_length=8)
    secret = models.CharField(_("signing secret"), max_length=200,
                              help_text=_("Standard Webhooks secret (whsec_...); shown once, when registered."))
    cursor = models.BigIntegerField(_("change-feed cursor"), default=0,
                                    help_text=_("Changes up to here have been handed to a delivery."))
    active = models.BooleanField(_("active"), default=True)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_reason = models.TextField(_("why disabled"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        constraints = [
            models.CheckConstraint(condition=Q(active=True, disabled_at__isnull=True) | Q(active=False),
                                   name="sync_webhook_active_not_disabled"),
        ]

    def __str__(self):
        return f"{self.url} ({self.purpose}@{self.jurisdiction})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("failed")


class WebhookDelivery(models.Model):
    """One message: the feed entries after `after` up to `cursor`, the exact bytes sent, and every attempt's fate.
    A webhook has at most one pending delivery, so messages arrive in order."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries",
                                verbose_name=_("webhook"))
    after = models.BigIntegerField(_("after cursor"))
    cursor = models.BigIntegerField(_("up to cursor"))
    count = models.PositiveIntegerField(_("changes"))
    payload = models.TextField(_("payload"))
    status = models.CharField(_("status"), max_length=16, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    last_status = models.PositiveIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="sync_delivery_due_idx")]
        constraints = [
            models.UniqueConstraint(fields=["webhook"], condition=Q(status="pending"),
                                    name="sync_delivery_one_pending_per_webhook"),
        ]

    def __str__(self):
        return f"{self.message_id} ({self.status})"

    @property
    def message_id(self) -> str:
        return f"msg_{self.id.hex}"
