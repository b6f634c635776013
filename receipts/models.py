"""Public metadata of the receipt-signing keys. Private keys never live in the database (see receipts.keystore)."""
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class KeyStatus(models.TextChoices):
    ACTIVE = "active", _("active (signs new receipts)")
    RETIRED = "retired", _("retired (still published, so old receipts verify)")


class SigningKey(models.Model):
    """A published Ed25519 public key. `kid` is its RFC 7638 JWK thumbprint; at most one key is active."""

    kid = models.CharField(_("key id"), max_length=64, primary_key=True)
    public_jwk = models.JSONField(_("public key (JWK)"))
    status = models.CharField(_("status"), max_length=8, choices=KeyStatus.choices, default=KeyStatus.ACTIVE)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("signing key")
        verbose_name_plural = _("signing keys")
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="signing_key_one_active"),
            models.CheckConstraint(condition=Q(status__in=KeyStatus.values), name="signing_key_status_valid"),
            models.CheckConstraint(
                condition=(Q(status="active") & Q(retired_at__isnull=True))
                | (Q(status="retired") & Q(retired_at__isnull=False)),
                name="signing_key_retired_at_matches_status",
            ),
        ]

    def __str__(self):
        return f"{self.kid} ({self.status})"
