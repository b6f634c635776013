"""Writes of domain control: claims, checks, operator verification, withdrawal (interop.md, "Domain control").
Every change of verification state is an audit event."""
from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from audit.services import actor_label, audit_record
from core.errors import Conflict, ValidationFailed, field_error
from registry.identifiers import InvalidIdentifier, normalise

from . import checker
from .models import DomainClaim, DomainVerification, VerificationMethod

SYSTEM_ACTOR = "system:domain-check"


def _actor(actor) -> str:
    """A user (the admin) or a label such as "command:verify_domain"."""
    return actor if isinstance(actor, str) else actor_label(actor)


def domain_normalise(domain: str) -> str:
    """A domain as stored (lower-case IDNA, not a public suffix), else ValidationFailed."""
    try:
        return normalise("domain", (domain or "").strip().removeprefix("domain:"))
    except InvalidIdentifier as exc:
        raise ValidationFailed(f"{domain!r} is not a domain: {exc}",
                               errors=[field_error("domain", "invalid-domain", str(exc))]) from None


def _snapshot(verification: DomainVerification) -> dict:
    return {"holder": str(verification.holder_id), "domain": verification.domain, "method": verification.method,
            "verified_at": verification.verified_at.isoformat(),
            "ended_at": verification.ended_at.isoformat() if verification.ended_at else None}


def domain_claim_create(*, holder, domain: str, actor=None) -> tuple[DomainClaim, bool]:
    """The holder's claim on `domain` (created with a fresh token if new). Returns (claim, created)."""
    domain = domain_normalise(domain)
    with transaction.atomic():
        claim, created = DomainClaim.objects.get_or_create(holder=holder, domain=domain)
        if created:
            audit_record(actor=_actor(actor) if actor else SYSTEM_ACTOR, action="domain.claim",
                         object_type="domain_claim", object_id=claim.pk,
                         after={"holder": str(holder.pk), "domain": domain})
    return claim, created


def _open(claim: DomainClaim) -> DomainVerification | None:
    return claim.verifications.filter(ended_at__isnull=True).first()


def _verify(claim: DomainClaim, *, method: str, note: str, actor: str, at: datetime) -> DomainVerification:
    verification = DomainVerification.objects.create(
        claim=claim, holder_id=claim.holder_id, domain=claim.domain, method=method, note=note, verified_at=at,
        recorded_by=actor)
    audit_record(actor=actor, action="domain.verify", object_type="domain_verification", object_id=verification.pk,
                 after=_snapshot(verification), at=at)
    return verification


def _end(verification: DomainVerification, *, reason: str, actor: str, at: datetime) -> None:
    before = _snapshot(verification)
    verification.ended_at = at
    verification.ended_reason = reason[:500]
    verification.save(update_fields=["ended_at", "ended_reason"])
    audit_record(actor=actor, action="domain.verification-end", object_type="domain_verification",
                 object_id=verification.pk, before=before, after=_snapshot(verification), at=at)


def domain_claim_check(*, claim: DomainClaim, at: datetime | None = None) -> checker.CheckResult:
    """Look for the token (DNS, then the well-known file) and record what was found: a new verification when
    control is shown, the end of an automatic one when it no longer is. Operator verifications are not checked."""
    result = checker.control_check(claim.domain, claim.token)  # outside the transaction: network time
    at = at or timezone.now()
    with transaction.atomic():
        claim = DomainClaim.objects.select_for_update().get(pk=claim.pk)
        claim.last_checked_at = at
        claim.last_check = result.detail[:500]
        claim.save(update_fields=["last_checked_at", "last_check"])
        current = _open(claim)
        if result.found and current is None:
            _verify(claim, method=result.method, note=result.detail, actor=SYSTEM_ACTOR, at=at)
        elif not result.found and current is not None and current.method != VerificationMethod.OPERATOR:
            _end(current, reason=f"re-check failed: {result.detail}", actor=SYSTEM_ACTOR, at=at)
    return result


def domain_verify_operator(*, claim: DomainClaim, note: str, actor, at: datetime | None = None
                           ) -> DomainVerification:
    """An operator records control shown by other evidence (`note` says which)."""
    note = (note or "").strip()
    if not note:
        raise ValidationFailed("Say what shows control (a note).", errors=[field_error("note", "required",
                                                                                          "Evidence note.")])
    at = at or timezone.now()
    with transaction.atomic():
        claim = DomainClaim.objects.select_for_update().get(pk=claim.pk)
        current = _open(claim)
        if current is not None:
            if current.method == VerificationMethod.OPERATOR:
                return current
            _end(current, reason="replaced by an operator's verification", actor=_actor(actor), at=at)
        return _verify(claim, method=VerificationMethod.OPERATOR, note=note, actor=_actor(actor), at=at)


def domain_verification_withdraw(*, claim: DomainClaim, reason: str, actor, at: datetime | None = None
                                 ) -> DomainVerification:
    """An operator withdraws the verification in force (any method)."""
    at = at or timezone.now()
    with transaction.atomic():
        claim = DomainClaim.objects.select_for_update().get(pk=claim.pk)
        current = _open(claim)
        if current is None:
            raise Conflict(f"{claim.domain} is not verified for {claim.holder.code}.")
        _end(current, reason=reason or "withdrawn by an operator", actor=_actor(actor), at=at)
    return current


def domain_signals_publish(*, claim: DomainClaim, public: bool, actor) -> DomainClaim:
    """Whether anyone (True) or only the holder's users may read this domain's signals."""
    with transaction.atomic():
        stored = DomainClaim.objects.select_for_update().get(pk=claim.pk)
        if stored.signals_public != public:
            DomainClaim.objects.filter(pk=claim.pk).update(signals_public=public)
            audit_record(actor=_actor(actor), action="domain.signals-public", object_type="domain_claim",
                         object_id=claim.pk, before={"signals_public": stored.signals_public},
                         after={"signals_public": public})
    claim.signals_public = public
    return claim
