"""Writes to the registry: holders, users, mandates, works, identifiers, disputes. Each change is audited."""
import re
from dataclasses import dataclass, field
from datetime import datetime

import pycountry
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from audit.services import PendingEvent, audit_record, audit_record_many
from core.errors import Conflict, ValidationFailed, field_error

from .audit_tracking import (
    dispute_snapshot,
    holder_snapshot,
    identifier_snapshot,
    mandate_snapshot,
    work_snapshot,
)
from .identifier_messages import translate_identifier_problem
from .identifiers import InvalidIdentifier, ParsedIdentifier, parse_identifier
from .models import (
    CLAIM_SETTLED,
    Dispute,
    DisputeResolution,
    Holder,
    HolderKind,
    Identifier,
    Mandate,
    Membership,
    Role,
    Work,
    WorkKind,
)
from .notifications import dispute_notify
from .rules import (
    DOMAIN_NOT_VERIFIED,
    Claim,
    dispute_refusal,
    dispute_stands,
    identifier_claim,
    work_apply_filing,
    work_text_too_long,
)
from .selectors import holder_for_filing
from .web_control import controls, verified_pairs

HOLDER_CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def holder_create(*, code: str, name: str, kind: str, country: str = "", licensing_url: str = "",
                  verified: bool = False, actor=None) -> Holder:
    errors = []
    if not code or not HOLDER_CODE_RE.match(code) or len(code) > 64:
        errors.append(field_error("code", "invalid",
                                  gettext("A holder code is a lower-case slug: a-z, 0-9 and hyphens.")))
    if not name:
        errors.append(field_error("name", "missing-value", gettext("A holder needs a name.")))
    if kind not in HolderKind.values:
        errors.append(field_error("kind", "invalid-choice",
                                  gettext("Kind must be one of %(choices)s.")
                                  % {"choices": ", ".join(HolderKind.values)}))
    country = (country or "").upper()
    if country and pycountry.countries.get(alpha_2=country) is None:
        errors.append(field_error("country", "invalid",
                                  gettext("'%(country)s' is not an ISO 3166-1 alpha-2 country code.")
                                  % {"country": country}))
    if errors:
        raise ValidationFailed(gettext("The holder is not valid."), errors=errors)
    with transaction.atomic():
        if Holder.objects.filter(code=code).exists():
            raise Conflict(gettext("A holder with code '%(code)s' already exists.") % {"code": code})
        holder = Holder.objects.create(code=code, name=name, kind=kind, country=country,
                                       licensing_url=licensing_url or "", verified=verified)
        audit_record(actor=actor, action="holder.create", object_type="holder", object_id=holder.pk,
                     after=holder_snapshot(holder))
    return holder


def holder_update(*, holder: Holder, actor=None, **changes) -> Holder:
    allowed = {"name", "kind", "country", "licensing_url", "verified"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(
            gettext("Cannot change %(fields)s of a holder.") % {"fields": ", ".join(sorted(unknown))})
    with transaction.atomic():
        before = holder_snapshot(holder)
        for key, value in changes.items():
            setattr(holder, key, value)
        holder.full_clean(exclude=["code"])
        holder.save()
        after = holder_snapshot(holder)
        if after != before:
            audit_record(actor=actor, action="holder.update", object_type="holder", object_id=holder.pk,
                         before=before, after=after)
    return holder


def holder_user_set(*, holder: Holder, username: str, role: str = Role.EDITOR, email: str = "",
                    password: str | None = None, actor=None):
    """Set a user of `holder` with `role`: created if new, re-attached, or their role changed (the admin's role
    edits); they can log into the web admin with the role's rights."""
    if role not in Role.values:
        raise ValidationFailed(gettext("Role must be one of %(choices)s.") % {"choices": ", ".join(Role.values)})
    User = get_user_model()
    with transaction.atomic():
        user, created = User.objects.get_or_create(username=username, defaults={"email": email})
        if password:
            user.set_password(password)
        elif created:
            user.set_unusable_password()
        if email:
            user.email = email
        user.save()
        membership = Membership.objects.filter(user=user).first()
        if membership and membership.holder_id != holder.id:
            raise Conflict(gettext("User '%(username)s' already belongs to another holder.") % {"username": username})
        if membership is None:
            membership = Membership.objects.create(user=user, holder=holder, role=role)
        elif membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
        audit_record(actor=actor, action="membership.set", object_type="membership", object_id=membership.pk,
                     after={"holder": str(holder.pk), "user": user.pk, "role": role})
    return user


def mandate_create(*, agent: Holder, principal: Holder, valid_from: datetime | None = None,
                   valid_until: datetime | None = None, actor=None) -> Mandate:
    if agent.kind != HolderKind.COLLECTIVE:
        raise ValidationFailed(gettext("Only a collective can hold a mandate; '%(code)s' is a %(kind)s.") % {
            "code": agent.code, "kind": agent.kind})
    if agent.pk == principal.pk:
        raise ValidationFailed(gettext("A holder cannot hold a mandate for itself."))
    valid_from = valid_from or timezone.now()
    if valid_until is not None and valid_until <= valid_from:
        raise ValidationFailed(gettext("A mandate must end after it starts."))
    with transaction.atomic():
        mandate = Mandate.objects.create(agent=agent, principal=principal, valid_from=valid_from,
                                         valid_until=valid_until)
        audit_record(actor=actor, action="mandate.create", object_type="mandate", object_id=mandate.pk,
                     after=mandate_snapshot(mandate))
    return mandate


def mandate_end(*, mandate: Mandate, at: datetime | None = None, actor=None) -> Mandate:
    at = at or timezone.now()
    with transaction.atomic():
        before = mandate_snapshot(mandate)
        if mandate.valid_until is None or mandate.valid_until > at:
            mandate.valid_until = max(at, mandate.valid_from)
            mandate.save(update_fields=["valid_until"])
            audit_record(actor=actor, action="mandate.end", object_type="mandate", object_id=mandate.pk,
                         before=before, after=mandate_snapshot(mandate))
    return mandate


def identifiers_parse(values, *, field_name: str = "identifiers") -> list[ParsedIdentifier]:
    """Parse and normalise every identifier; all problems are reported together, each with its position."""
    parsed, errors = [], []
    for index, text in enumerate(values or []):
        try:
            item = text if isinstance(text, ParsedIdentifier) else parse_identifier(text)
        except InvalidIdentifier as exc:
            shown = text if not isinstance(text, str) or len(text) <= 80 else text[:77] + "..."
            errors.append(field_error(f"{field_name}[{index}]", "invalid-identifier",
                                      f"{shown!r}: {translate_identifier_problem(exc.detail)}"))
            continue
        if item.scheme == "ref":
            errors.append(field_error(f"{field_name}[{index}]", "invalid-identifier",
                                      gettext("ref: identifiers are derived from the holder code and work_ref, "
                                              "not filed.")))
            continue
        if item not in parsed:
            parsed.append(item)
    if errors:
        raise ValidationFailed(gettext("Some identifiers are not valid."), errors=errors)
    return parsed


@dataclass
class WorkRegistration:
    work: Work
    created: bool
    updated: bool = False
    identifiers_added: list[Identifier] = field(default_factory=list)
    disputes: list[Dispute] = field(default_factory=list)  # every open dispute this filing stands behind
    disputes_opened: int = 0


def work_register(*, holder: Holder, work_ref: str, title: str | None = None, kind: str | None = None,
                  original_title: str | None = None, identifiers=(), actor=None, agent: Holder | None = None,
                  evidence: str = "", at: datetime | None = None) -> WorkRegistration:
    """Register a work, or update the holder's work with that `work_ref` (the key for idempotent re-filing).

    Identifiers are added, never silently moved between holders: one registered to another holder's work opens
    a dispute instead (once per claim).
    """
    work_ref = (work_ref or "").strip()
    errors = []
    if not work_ref:
        errors.append(field_error("work_ref", "missing-value",
                                  gettext("A work needs its catalogue number (work_ref).")))
    if kind is not None and kind not in WorkKind.values:
        errors.append(field_error("kind", "invalid-kind",
                                  gettext("Kind must be one of %(choices)s.")
                                  % {"choices": ", ".join(WorkKind.values)}))
    for name, limit in work_text_too_long({"work_ref": work_ref, "title": title, "original_title": original_title}):
        errors.append(field_error(name, "field-too-long", gettext("At most %(limit)d characters.") % {"limit": limit}))
    try:
        parsed = identifiers_parse(identifiers)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(gettext("The work is not valid."), errors=errors)

    at = at or timezone.now()
    with transaction.atomic():
        work = Work.objects.select_for_update().filter(holder=holder, work_ref=work_ref).first()
        events: list[PendingEvent] = []
        if work is None:
            if not title:
                raise ValidationFailed(gettext("A new work needs a title."),
                                       errors=[field_error("title", "missing-value",
                                                           gettext("A new work needs a title."))])
            work = Work.objects.create(holder=holder, work_ref=work_ref, title=title, kind=kind or WorkKind.OTHER,
                                       original_title=original_title or "", filed_by_agent=agent,
                                       created_at=at, updated_at=at)
            result = WorkRegistration(work=work, created=True)
            events.append(PendingEvent("work.register", "work", str(work.pk), None, work_snapshot(work)))
        else:
            result = WorkRegistration(work=work, created=False)
            before = work_snapshot(work)
            work_apply_filing(work, title=title, kind=kind, original_title=original_title)
            after = work_snapshot(work)
            if after != before:
                work.updated_at = at
                work.save()
                result.updated = True
                events.append(PendingEvent("work.update", "work", str(work.pk), before, after))
        _attach_identifiers(work=work, parsed=parsed, result=result, events=events, evidence=evidence, at=at)
        audit_record_many(actor=actor, events=events, at=at)
    return result


def _attach_identifiers(*, work: Work, parsed, result: WorkRegistration, events: list, evidence: str, at) -> None:
    if not parsed:
        return
    current = {
        (i.scheme, i.value): i
        for i in Identifier.objects.select_related("work")
        .filter(valid_until__isnull=True, scheme__in={p.scheme for p in parsed}, value__in={p.value for p in parsed})
    }
    for item in parsed:
        existing = current.get((item.scheme, item.value))
        claim = identifier_claim(held_by_work=existing and existing.work_id,
                                 held_by_holder=existing and existing.work.holder_id, work_id=work.pk,
                                 holder_id=work.holder_id)
        if claim is Claim.HELD:
            continue
        if claim is Claim.DISPUTE:
            dispute, opened = dispute_open(scheme=item.scheme, value=item.value, work=existing.work,
                                           claimant=work.holder, claimant_work=work, evidence=evidence,
                                           events=events, at=at)
            if dispute is not None:
                result.disputes.append(dispute)
                result.disputes_opened += int(opened)
            continue
        if claim is Claim.MOVE:
            # The holder moves its own identifier from one of its works to another.
            before = identifier_snapshot(existing)
            existing.valid_until = at
            existing.save(update_fields=["valid_until"])
            events.append(PendingEvent("identifier.end", "identifier", str(existing.pk), before,
                                       identifier_snapshot(existing)))
        row = Identifier.objects.create(work=work, scheme=item.scheme, value=item.value, host=item.host,
                                        valid_from=at)
        result.identifiers_added.append(row)
        events.append(PendingEvent("identifier.add", "identifier", str(row.pk), None, identifier_snapshot(row)))


def identifier_remove(*, identifier: Identifier, actor=None, at: datetime | None = None) -> Identifier:
    """End an identifier's registration (the row stays, so past answers are unchanged)."""
    at = at or timezone.now()
    with transaction.atomic():
        identifier = Identifier.objects.select_for_update().get(pk=identifier.pk)
        if identifier.valid_until is not None:
            return identifier
        before = identifier_snapshot(identifier)
        identifier.valid_until = at
        identifier.save(update_fields=["valid_until"])
        audit_record(actor=actor, action="identifier.end", object_type="identifier", object_id=identifier.pk,
                     before=before, after=identifier_snapshot(identifier), at=at)
    return identifier


def dispute_open(*, scheme: str, value: str, work: Work, claimant: Holder, claimant_work: Work | None,
                 evidence: str = "", events: list | None = None, at=None) -> tuple[Dispute | None, bool]:
    """Open a dispute over an identifier held by another holder's work. The same claim again opens nothing.

    Returns (the open dispute, whether it was opened now); (None, False) when operators already kept the
    identifier with its holder against this same claimant.
    """
    at = at or timezone.now()
    open_now = Dispute.objects.filter(scheme=scheme, value=value, claimant=claimant,
                                      resolved_at__isnull=True).first()
    existing = open_now or Dispute.objects.filter(scheme=scheme, value=value, claimant=claimant,
                                                  work=work).order_by("-opened_at").first()
    if dispute_stands(existing, CLAIM_SETTLED, open_now=open_now):
        return (existing if existing.resolved_at is None else None), False
    _dispute_check(scheme=scheme, value=value, holder_id=work.holder_id, claimant=claimant, at=at)
    dispute = Dispute.objects.create(scheme=scheme, value=value, work=work, holder_id=work.holder_id,
                                     claimant=claimant, claimant_work=claimant_work, evidence=evidence or "",
                                     opened_at=at)
    event = PendingEvent("dispute.open", "dispute", str(dispute.pk), None, dispute_snapshot(dispute))
    if events is None:
        audit_record_many(actor="system", events=[event], at=at)
    else:
        events.append(event)
    transaction.on_commit(lambda: dispute_notify(dispute=dispute, event="opened"))
    return dispute, True


def _dispute_check(*, scheme: str, value: str, holder_id, claimant: Holder, at) -> None:
    """Refuse (409) a dispute `registry.rules.dispute_refusal` says must not open."""
    host = _host_of(scheme, value)
    verified = verified_pairs(holder_ids=[holder_id, claimant.pk], hosts=[host], at=at) if host else set()
    cap = settings.KYODAKU_MAX_OPEN_DISPUTES_PER_CLAIMANT
    open_now = Dispute.objects.filter(claimant=claimant, resolved_at__isnull=True).count() if cap else 0
    refusal = dispute_refusal(scheme=scheme, holder_verified=controls(verified, holder_id, host),
                              claimant_verified=controls(verified, claimant.pk, host),
                              claimant_open_disputes=open_now, cap=cap)
    if refusal == DOMAIN_NOT_VERIFIED:
        raise Conflict(gettext("%(id)s is held by a holder with verified control of %(host)s; verify control of "
                               "the domain before disputing it.") % {"id": f"{scheme}:{value}", "host": host},
                       code=refusal)
    if refusal is not None:
        raise Conflict(gettext("%(code)s already has %(count)d disputes open, the most allowed at once; wait for "
                               "them to be resolved before disputing %(id)s.")
                       % {"code": claimant.code, "count": open_now, "id": f"{scheme}:{value}"}, code=refusal)


def dispute_resolve(*, dispute: Dispute, resolution: str, note: str = "", actor=None, at=None) -> Dispute:
    """Operators keep the identifier with its holder or transfer it to the claimant's work."""
    if resolution not in (DisputeResolution.KEPT, DisputeResolution.TRANSFERRED):  # withdrawing is the claimant's
        raise ValidationFailed(gettext("Resolution must be one of %(choices)s.") % {"choices": "kept, transferred"})
    at = at or timezone.now()
    with transaction.atomic():
        dispute = Dispute.objects.select_for_update().get(pk=dispute.pk)
        if dispute.resolved_at is not None:
            raise Conflict(gettext("This dispute is already resolved."))
        if resolution == DisputeResolution.TRANSFERRED and dispute.claimant_work_id is None:
            raise ValidationFailed(gettext("The claimant has no work to transfer the identifier to."))
        before = dispute_snapshot(dispute)
        events = []
        if resolution == DisputeResolution.TRANSFERRED:
            current = Identifier.objects.select_for_update().filter(
                scheme=dispute.scheme, value=dispute.value, valid_until__isnull=True).first()
            if current is not None:
                ended_before = identifier_snapshot(current)
                current.valid_until = at
                current.save(update_fields=["valid_until"])
                events.append(PendingEvent("identifier.end", "identifier", str(current.pk), ended_before,
                                           identifier_snapshot(current)))
            row = Identifier.objects.create(work_id=dispute.claimant_work_id, scheme=dispute.scheme,
                                            value=dispute.value, host=_host_of(dispute.scheme, dispute.value),
                                            valid_from=at)
            events.append(PendingEvent("identifier.add", "identifier", str(row.pk), None, identifier_snapshot(row)))
        dispute.resolved_at = at
        dispute.resolution = resolution
        dispute.resolution_note = note or ""
        dispute.save(update_fields=["resolved_at", "resolution", "resolution_note"])
        events.insert(0, PendingEvent("dispute.resolve", "dispute", str(dispute.pk), before,
                                      dispute_snapshot(dispute)))
        audit_record_many(actor=actor, events=events, at=at)
        transaction.on_commit(lambda: dispute_notify(dispute=dispute, event="resolved"))
    return dispute


def dispute_withdraw(*, dispute: Dispute, actor, note: str = "", at=None) -> Dispute:
    """The claimant gives up its claim: the dispute closes at once and the work's answers are no longer denied.

    Only users who may file for the claimant (its editors and admins, or a collective's under a mandate) and
    operators withdraw; anyone else is told the dispute does not exist, as for any object outside their scope.
    """
    holder_for_filing(user=actor, code=dispute.claimant.code)
    at = at or timezone.now()
    with transaction.atomic():
        dispute = Dispute.objects.select_for_update().select_related("claimant", "holder").get(pk=dispute.pk)
        if dispute.resolved_at is not None:
            raise Conflict(gettext("This dispute is already closed."))
        before = dispute_snapshot(dispute)
        dispute.resolved_at = at
        dispute.resolution = DisputeResolution.WITHDRAWN
        dispute.resolution_note = note or ""
        dispute.save(update_fields=["resolved_at", "resolution", "resolution_note"])
        audit_record(actor=actor, action="dispute.withdraw", object_type="dispute", object_id=dispute.pk,
                     before=before, after=dispute_snapshot(dispute), at=at)
        transaction.on_commit(lambda: dispute_notify(dispute=dispute, event="withdrawn"))
    return dispute


def _host_of(scheme: str, value: str) -> str | None:
    return parse_identifier(f"{scheme}:{value}").host
