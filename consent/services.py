"""Writes of consent: filing, superseding and revoking declarations; versioning jurisdiction rules. All audited."""
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from audit.services import PendingEvent, audit_record, audit_record_many
from core.errors import Conflict, ValidationFailed, field_error
from registry.models import Holder, Work
from registry.selectors import holder_for_filing

from .audit_tracking import declaration_snapshot, rule_snapshot
from .labels import vocabulary_problem
from .models import ALL_PURPOSES, Declaration, Jurisdiction, Regime, Rule, Scope
from .rules import consent_canonical, same_statement
from .vocabulary import UnknownJurisdiction, UnknownPurpose, validate_jurisdiction, validate_purpose


def declaration_validate(*, holder: Holder, scope: str, work: Work | None, purpose: str, jurisdiction: str,
                         consent: str, effective_from: datetime | None, effective_until: datetime | None):
    """Check a declaration's fields; returns (purpose, jurisdiction, consent) canonical, or raises with every error."""
    errors = []
    if scope not in Scope.values:
        errors.append(field_error("scope", "invalid-scope", gettext("Scope must be 'work' or 'catalogue'.")))
    elif scope == Scope.WORK and work is None:
        errors.append(field_error("work", "missing-value", gettext("A work-scope declaration names its work.")))
    elif scope == Scope.CATALOGUE and work is not None:
        errors.append(field_error("work", "invalid-scope",
                                  gettext("A catalogue declaration covers every work; name none.")))
    if work is not None and work.holder_id != holder.pk:
        errors.append(field_error("work", "not-found", gettext("No such work of this holder.")))
    try:
        purpose = validate_purpose(purpose)
    except UnknownPurpose as exc:
        errors.append(field_error("purpose", "unknown-purpose", vocabulary_problem(exc, purpose)))
    try:
        jurisdiction = validate_jurisdiction(jurisdiction)
    except UnknownJurisdiction as exc:
        errors.append(field_error("jurisdiction", "unknown-jurisdiction", vocabulary_problem(exc, jurisdiction)))
    canonical_consent = consent_canonical(consent)
    if canonical_consent is None:
        errors.append(field_error("consent", "invalid-consent", gettext("Consent must be 'grant' or 'reserve'.")))
    if effective_from and effective_until and effective_until <= effective_from:
        errors.append(field_error("effective_until", "invalid-date",
                                  gettext("effective_until must be after effective_from.")))
    if errors:
        raise ValidationFailed(gettext("The declaration is not valid."), errors=errors)
    return purpose, jurisdiction, canonical_consent


def declaration_file(*, holder: Holder, scope: str = Scope.WORK, work: Work | None = None, purpose: str,
                     jurisdiction: str = "*", consent: str, license_url: str = "", conditions: str = "",
                     effective_from: datetime | None = None, effective_until: datetime | None = None,
                     actor=None, agent: Holder | None = None, at: datetime | None = None
                     ) -> tuple[Declaration, bool]:
    """File a declaration into its slot. Returns (declaration, created).

    An identical statement to the one in force changes nothing (created is False); any other supersedes it.
    """
    purpose, jurisdiction, consent = declaration_validate(
        holder=holder, scope=scope, work=work, purpose=purpose, jurisdiction=jurisdiction, consent=consent,
        effective_from=effective_from, effective_until=effective_until)
    license_url, conditions = license_url or "", conditions or ""
    at = at or timezone.now()
    with transaction.atomic():
        current = (
            Declaration.objects.select_for_update().current()
            .filter(holder=holder, scope=scope, work=work, purpose=purpose, jurisdiction=jurisdiction)
            .first()
        )
        if current is not None and same_statement(
            current, consent=consent, license_url=license_url, conditions=conditions,
            effective_from=effective_from, effective_until=effective_until, at=at,
        ):
            return current, False
        events = []
        if current is not None:
            before = declaration_snapshot(current)
            current.superseded_at = at
            current.save(update_fields=["superseded_at"])
        declaration = Declaration.objects.create(
            holder=holder, scope=scope, work=work, purpose=purpose, jurisdiction=jurisdiction, consent=consent,
            license_url=license_url, conditions=conditions, effective_from=effective_from or at,
            effective_until=effective_until, recorded_at=at,
            filed_by=actor if getattr(actor, "is_authenticated", False) else None, filed_by_agent=agent,
        )
        events.append(PendingEvent("declaration.file", "declaration", str(declaration.pk), None,
                                   declaration_snapshot(declaration)))
        if current is not None:
            current.superseded_by = declaration
            current.save(update_fields=["superseded_by"])
            events.append(PendingEvent("declaration.supersede", "declaration", str(current.pk), before,
                                       declaration_snapshot(current)))
        audit_record_many(actor=actor, events=events, at=at)
    return declaration, True


def declaration_revoke(*, declaration: Declaration, actor=None, at: datetime | None = None) -> Declaration:
    """Revoke the declaration in force; it stays in the history with `revoked_at`.

    A user `actor` must be one who may file for the declaration's holder (its own editors and admins, a collective
    with an active mandate, operators): anyone else gets the errors of registry.selectors.holder_for_filing (NotFound
    for a holder they may not see, ReadOnlyRole for a viewer) before anything is looked at. System callers (no
    user) are not checked."""
    if getattr(actor, "is_authenticated", False):
        holder_for_filing(user=actor, code=declaration.holder.code)
    at = at or timezone.now()
    with transaction.atomic():
        declaration = Declaration.objects.select_for_update().get(pk=declaration.pk)
        if declaration.superseded_at is not None:
            raise Conflict(gettext("This declaration was superseded; revoke the one in force instead."))
        if declaration.revoked_at is not None:
            raise Conflict(gettext("This declaration is already revoked."))
        before = declaration_snapshot(declaration)
        declaration.revoked_at = at
        declaration.revoked_by = actor if getattr(actor, "is_authenticated", False) else None
        declaration.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(actor=actor, action="declaration.revoke", object_type="declaration",
                     object_id=declaration.pk, before=before, after=declaration_snapshot(declaration), at=at)
    return declaration


def rule_set(*, jurisdiction: str, purpose: str = ALL_PURPOSES, regime: str, basis: str, actor=None,
             at: datetime | None = None) -> Rule:
    """Set the regime for (jurisdiction, purpose): the current version ends, a new one starts.

    Old answers keep theirs."""
    if regime not in Regime.values:
        raise ValidationFailed(gettext("Regime must be one of %(choices)s.") % {"choices": ", ".join(Regime.values)})
    if purpose != ALL_PURPOSES:
        purpose = validate_purpose(purpose)
    if not basis:
        raise ValidationFailed(gettext("A rule carries the citation of its legal basis."))
    at = at or timezone.now()
    with transaction.atomic():
        juris = Jurisdiction.objects.filter(code=jurisdiction).first()
        if juris is None:
            code = validate_jurisdiction(jurisdiction)
            juris = jurisdiction_ensure(code=code)
        current = Rule.objects.select_for_update().filter(jurisdiction=juris, purpose=purpose,
                                                          valid_until__isnull=True).first()
        if current is not None and current.regime == regime and current.basis == basis:
            return current
        events = []
        if current is not None:
            before = rule_snapshot(current)
            current.valid_until = at
            current.save(update_fields=["valid_until"])
            events.append(PendingEvent("rule.end", "rule", str(current.pk), before, rule_snapshot(current)))
        rule = Rule.objects.create(jurisdiction=juris, purpose=purpose, regime=regime, basis=basis, valid_from=at)
        events.append(PendingEvent("rule.set", "rule", str(rule.pk), None, rule_snapshot(rule)))
        audit_record_many(actor=actor, events=events, at=at)
    return rule


def jurisdiction_ensure(*, code: str, name: str | None = None) -> Jurisdiction:
    import pycountry

    if name is None:
        country = pycountry.countries.get(alpha_2=code)
        name = country.name if country else code
    juris, _ = Jurisdiction.objects.get_or_create(code=code, defaults={"name": name})
    return juris
