from django.db import models
from django.utils.translation import gettext_lazy as _

from .fields import CanonicalJSONField


class AuditEvent(models.Model):
    """One append-only, hash-chained record of a change. `hash` covers every field and the previous hash.

    Its sequence number is the key: events are written millions at a time by bulk imports, so the table carries
    only the indexes something reads through (the key, and each object's history). A `hash` is not declared unique:
    each one covers its predecessor, and `verify_audit` recomputes them all.
    """

    seq = models.BigIntegerField(_("sequence"), primary_key=True)
    at = models.DateTimeField(_("time"))
    actor = models.CharField(_("actor"), max_length=200)
    action = models.CharField(_("action"), max_length=64)
    object_type = models.CharField(_("object type"), max_length=64)
    object_id = models.CharField(_("object id"), max_length=64)
    before = CanonicalJSONField(_("before"), null=True, blank=True)
    after = CanonicalJSONField(_("after"), null=True, blank=True)
    # Private: the random salt of this event's content commitment (audit.chain); never in the public feed.
    salt = models.CharField(_("salt"), max_length=32, default="")
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64)
    # The hash this event had before migration audit.0003 salted the log (null for events written since): what
    # receipts issued before then recorded. verify_audit recomputes it from the row.
    legacy_hash = models.CharField(_("hash before salting"), max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["object_type", "object_id", "seq"], name="audit_object_seq_idx")]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self):
        return f"#{self.seq} {self.action} {self.object_type}:{self.object_id}"


class AuditHead(models.Model):
    """A single row holding the chain's head; locking it serialises writers so the chain never forks."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_head_single_row")]

    def __str__(self):
        return f"audit head #{self.seq}"
