"""Domain control (interop.md, "Domain control"): a holder's claim on a domain, and the history of when control was
shown. Lookups read the history, so an answer for a past T uses the verification state at T."""
import secrets

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from uuid_utils.compat import uuid7

from registry.models import Holder


def new_token() -> str:
    return secrets.token_urlsafe(24)


class DomainClaim(models.Model):
    """A holder asks to show control of `domain` (and so of its sub-domains)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="domain_claims",
                               verbose_name=_("holder"))
    domain = models.CharField(_("domain"), max_length=253, help_text=_("Lower-case IDNA host name."))
    token = models.CharField(_("token"), max_length=64, unique=True, default=new_token, editable=False)
    signals_public = models.BooleanField(
        _("signals public"), default=False,
        help_text=_("Serve this domain's robots.txt fragment, tdmrep.json and headers to anyone (else only to the "
                    "holder's users)."))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    last_checked_at = models.DateTimeField(_("last checked at"), null=True, blank=True, editable=False)
    last_check = models.CharField(_("last check"), max_length=500, blank=True, editable=False,
                                  help_text=_("What the last automatic check found."))

    class Meta:
        ordering = ["domain"]
        verbose_name = _("domain")
        verbose_name_plural = _("domains")
        constraints = [
            models.UniqueConstraint(fields=["holder", "domain"], name="domain_claim_once_per_holder"),
            models.CheckConstraint(condition=Q(domain__regex=r"^[a-z0-9.-]+$"), name="domain_claim_domain_is_idna"),
        ]

    def __str__(self):
        return self.domain

    @property
    def dns_record(self) -> str:
        return f"_kyodaku.{self.domain}"

    @property
    def dns_value(self) -> str:
        return f"kyodaku-verification={self.token}"

    @property
    def well_known_url(self) -> str:
        return f"https://{self.domain}/.well-known/kyodaku-verification.txt"


class VerificationMethod(models.TextChoices):
    DNS = "dns", _("DNS TXT record")
    WELL_KNOWN = "well-known", _("well-known file over HTTPS")
    OPERATOR = "operator", _("operator (other evidence)")


class DomainVerification(models.Model):
    """One period during which a holder had verified control of a domain. Rows are never deleted; a period ends
    (ended_at) when a re-check fails or an operator withdraws it. At most one period per claim is open."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    claim = models.ForeignKey(DomainClaim, on_delete=models.PROTECT, related_name="verifications")
    # Copied from the claim for the lookup path: "did holder H control host h (or a parent) at T" is one index scan.
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="+")
    domain = models.CharField(max_length=253)
    method = models.CharField(_("method"), max_length=16, choices=VerificationMethod.choices)
    note = models.TextField(_("note"), blank=True)
    verified_at = models.DateTimeField(_("verified at"), default=timezone.now)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    ended_reason = models.CharField(_("ended because"), max_length=500, blank=True)
    recorded_by = models.CharField(_("recorded by"), max_length=200, blank=True)

    class Meta:
        ordering = ["-verified_at"]
        verbose_name = _("domain verification")
        verbose_name_plural = _("domain verifications")
        indexes = [models.Index(fields=["domain", "holder"], name="domain_verification_lookup")]
        constraints = [
            models.UniqueConstraint(fields=["claim"], condition=Q(ended_at__isnull=True),
                                    name="domain_verification_one_open_per_claim"),
            models.CheckConstraint(condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("verified_at")),
                                   name="domain_verification_ends_after_it_starts"),
            models.CheckConstraint(condition=Q(method__in=VerificationMethod.values),
                                   name="domain_verification_method_valid"),
        ]

    def __str__(self):
        return f"{self.domain} ({self.method}, {self.verified_at:%Y-%m-%d})"
