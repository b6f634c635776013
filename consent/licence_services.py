"""Writes of licences (domain.md "Licences and permission requests"): filing, superseding, revoking. Audited like
declarations, as private facts: the public audit feed carries only a salted commitment to their content."""
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from audit.services import PendingEvent, audit_record, audit_record_many
from core.errors import Conflict, ValidationFailed, field_error
from registry.models import Holder, Organisation, Work
from registry.selectors import holder_for_filing

from .audit_tracking import licence_snapshot
from .labels import vocabulary_problem
from .models import Licence, Scope
from .vocabulary import UnknownJurisdiction, UnknownPurpose, validate_jurisdiction, validate_purpose

__all__ = ["licence_validate", "licence_file", "licence_revoke"]


def _codes(values, field: str, validate, unknown, code: str, errors: list) -> list[str]:
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list | tuple) or not values:
        errors.append(field_error(field, "missing-value", gettext("Give at least one.")))
        return []
    canonical = []
    for value in values:
        try:
            value = validate(value)
        except unknown as exc:
            errors.append(field_error(field, code, vocabulary_problem(exc, value)))
            continue
        if value not in canonical:
            canonical.append(value)
    return sorted(canonical)


def licence_validate(*, holder: Holder, licensee, scope: str, work: Work | None, purposes, jurisdictions,
                     effective_from: datetime | None, effective_until: datetime | None) -> tuple[list, list]:
    """Check a licence's fields; returns (purposes, jurisdictions) canonical, or raises with every error."""
    errors = []
    if not isinstance(licensee, Organisation):
        errors.append(field_error("licensee", "not-found", gettext("No such organisation.")))
    if scope not in Scope.values:
        errors.append(field_error("scope", "invalid-scope", gettext("Scope must be 'work' or 'catalogue'.")))
    elif scope == Scope.WORK and work is None:
        errors.append(field_error("work", "missing-value", gettext("A work-scope licence names its work.")))
    elif scope == Scope.CATALOGUE and work is not None:
        errors.append(field_error("work", "invalid-scope",
                                  gettext("A catalogue licence covers every work; name none.")))
    if work is not None and work.holder_id != holder.pk:
        errors.append(field_error("work", "not-found", gettext("No such work of this holder.")))
    purposes = _codes(purposes, "purposes", validate_purpose, UnknownPurpose, "unknown-purpose", errors)
    jurisdictions = _codes(jurisdictions, "jurisdictions", validate_jurisdiction, UnknownJurisdiction,
                           "unknown-jurisdiction", errors)
    if effective_from and effective_until and effective_until <= effective_from:
        errors.append(field_error("effective_until", "invalid-date",
                                  gettext("effective_until must be after effective_from.")))
    if errors:
        raise ValidationFailed(gettext("The licence is not valid."), errors=errors)
    return purposes, jurisdictions


def licence_file(*, holder: Holder, licensee: Organisation, scope: str = Scope.WORK, work: Work | None = None,
                 purposes, jurisdictions=("*",), license_url: str = "", conditions: str = "",
                 effective_from: datetime | None = None, effective_until: datetime | None = None,
                 actor=None, at: datetime | None = None) -> Licence:
    """File a licence from `holder` to `licensee`; a current licence in the same slot (holder, licensee, scope,
    work) is superseded. A user `actor` must be one who may file for the holder (registry.selectors)."""
    if getattr(actor, "is_authenticated", False):
        holder_for_filing(user=actor, code=holder.code)
    purposes, jurisdictions = licence_validate(
        holder=holder, licensee=licensee, scope=scope, work=work, purposes=purposes, jurisdictions=jurisdictions,
        effective_from=effective_from, effective_until=effective_until)
    at = at or timezone.now()
    with transaction.atomic():
        current = (Licence.objects.select_for_update().current()
                   .filter(holder=holder, licensee=licensee, scope=scope, work=work).first())
        events, before = [], None
        if current is not None:
            before = licence_snapshot(current)
            current.superseded_at = at
            current.save(update_fields=["superseded_at"])
        licence = Licence.objects.create(
            holder=holder, licensee=licensee, scope=scope, work=work, purposes=purposes, jurisdictions=jurisdictions,
            license_url=license_url or "", conditions=conditions or "", effective_from=effective_from or at,
            effective_until=effective_until, recorded_at=at,
            filed_by=actor if getattr(actor, "is_authenticated", False) else None)
        events.append(PendingEvent("licence.file", "licence", str(licence.pk), None, licence_snapshot(licence)))
        if current is not None:
            current.superseded_by = licence
            current.save(update_fields=["superseded_by"])
            events.append(PendingEvent("licence.supersede", "licence", str(current.pk), before,
                                       licence_snapshot(current)))
        audit_record_many(actor=actor, events=events, at=at)
    return licence


def licence_revoke(*, licence: Licence, actor=None, at: datetime | None = None) -> Licence:
    """Revoke a licence in force; it stays in the history with `revoked_at`."""
    if getattr(actor, "is_authenticated", False):
        holder_for_filing(user=actor, code=licence.holder.code)
    at = at or timezone.now()
    with transaction.atomic():
        licence = Licence.objects.select_for_update().get(pk=licence.pk)
        if licence.superseded_at is not None:
            raise Conflict(gettext("This licence was superseded; revoke the one in force instead."))
        if licence.revoked_at is not None:
            raise Conflict(gettext("This licence is already revoked."))
        before = licence_snapshot(licence)
        licence.revoked_at = at
        licence.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="licence.revoke", object_type="licence", object_id=licence.pk,
                     before=before, after=licence_snapshot(licence), at=at)
    return licence
