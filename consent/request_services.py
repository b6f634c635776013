"""Permission requests (domain.md "Licences and permission requests"): an AI developer's organisation asks one
holder for a licence; the holder's users accept it (Kyodaku files the licences, with the terms they set, in the
same transaction) or decline it (with a reason); the developer may withdraw it while it is open.

Every state change is an audit event on object type `permission_request` (`permission_request.open`, `.accept`,
`.decline`, `.withdraw`): private content, committed to with a salt like a licence's (audit/chain.py), so the
public feed shows only the action, the request's id and a hash, never the organisation, holder or message.

Abuse limits per organisation (settings): `KYODAKU_MAX_OPEN_PERMISSION_REQUESTS` open at once (over it: 409
`too-many-open-requests`) and `KYODAKU_PERMISSION_REQUEST_RATE` filed per period (over it: 429 with Retry-After).
"""
import math
import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from audit.services import audit_record
from audit.snapshots import iso
from core.errors import Conflict, NotFound, TooManyRequests, ValidationFailed, field_error
from registry.identifiers import InvalidIdentifier, parse_identifier
from registry.models import Holder, Identifier, Organisation, Work
from registry.selectors import holder_for_filing

from .licence_services import _codes, licence_file
from .models import PermissionRequest, RequestState, Scope
from .vocabulary import (
    ANY_JURISDICTION,
    EU,
    EU_MEMBER_STATES,
    UnknownJurisdiction,
    UnknownPurpose,
    purpose_chain,
    validate_jurisdiction,
    validate_purpose,
)

__all__ = ["request_open", "request_accept", "request_decline", "request_withdraw", "request_snapshot",
           "parse_rate"]

MAX_WORKS = 1000
MAX_MESSAGE_CHARS = 5000
MAX_REASON_CHARS = 5000
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _utc(value: datetime | None) -> str | None:
    """A time as the row reads back (UTC), whatever zone it was given in."""
    return iso(value.astimezone(UTC)) if value is not None else None


def request_snapshot(x: PermissionRequest) -> dict:
    """What a request's audit events record (private, salted). `holder` is the holder's code; `licence` the first
    licence filed on accept (`licences` all of them: one per work, or one for the catalogue)."""
    # `.all()`, not `values_list`: verification prefetches both relations for a chunk of rows at once.
    licences = sorted(str(licence.pk) for licence in x.licences.all()) if x.pk else []
    return {"organisation": str(x.organisation_id), "holder": x.holder.code, "holder_id": str(x.holder_id),
            "api_key": x.api_key_prefix, "scope": x.scope,
            "works": sorted(str(work.pk) for work in x.works.all()),
            "purposes": list(x.purposes), "jurisdictions": list(x.jurisdictions),
            "effective_from": _utc(x.effective_from), "effective_until": _utc(x.effective_until),
            "message": x.message, "contact": x.contact, "state": x.state, "created_at": _utc(x.created_at),
            "decided_at": _utc(x.decided_at), "decided_by": x.decided_by_id, "reason": x.reason,
            "licence": licences[0] if licences else None, "licences": licences}


def parse_rate(rate) -> tuple[int, int] | None:
    """"20/hour" -> (20, 3600); None, "" or "none": no rate."""
    if not rate or str(rate).strip().lower() == "none":
        return None
    count, _, period = str(rate).partition("/")
    return int(count), _PERIODS[period.strip()[:1].lower()]


# ------------------------------------------------------------------------------------------------------ open

def _resolve_works(values, errors: list) -> list[Work]:
    """Works named by id or by a registered identifier (`scheme:value`, matched exactly as registered now).
    An unknown one is reported by position, saying no more than a public lookup would."""
    if not isinstance(values, list | tuple):
        errors.append(field_error("works", "invalid", gettext("Give a list of work ids or identifiers.")))
        return []
    if len(values) > MAX_WORKS:
        errors.append(field_error("works", "too-many",
                                  gettext("At most %(max)d works per request.") % {"max": MAX_WORKS}))
        return []
    ids, identifiers = {}, {}
    for index, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            errors.append(field_error(f"works[{index}]", "invalid", gettext("Give a work id or an identifier.")))
            continue
        try:
            ids[index] = uuid.UUID(value.strip())
            continue
        except ValueError:
            pass
        try:
            identifiers[index] = parse_identifier(value)
        except InvalidIdentifier as exc:
            errors.append(field_error(f"works[{index}]", "invalid-identifier", str(exc.detail)))
    by_id = Work.objects.select_related("holder").in_bulk(list(ids.values()))
    found: dict[int, Work] = {}
    for index, pk in ids.items():
        if pk in by_id:
            found[index] = by_id[pk]
        else:
            errors.append(field_error(f"works[{index}]", "not-found", gettext("No registered work with this id.")))
    if identifiers:
        rows = Identifier.objects.filter(valid_until__isnull=True, value__in={p.value for p in identifiers.values()},
                                         scheme__in={p.scheme for p in identifiers.values()}
                                         ).select_related("work__holder")
        by_identifier = {(row.scheme, row.value): row.work for row in rows}
        for index, parsed in identifiers.items():
            work = by_identifier.get((parsed.scheme, parsed.value))
            if work is None:
                errors.append(field_error(f"works[{index}]", "not-registered",
                                          gettext("%(id)s is not registered to any work.") % {"id": str(parsed)}))
            else:
                found[index] = work
    works = []
    for _, work in sorted(found.items()):
        if work not in works:
            works.append(work)
    return works


def _validate_contact(contact, organisation: Organisation, errors: list) -> str:
    contact = (contact or "").strip() if isinstance(contact, str | type(None)) else None
    if contact is None:
        errors.append(field_error("contact", "invalid", gettext("Enter a valid e-mail address.")))
        return ""
    contact = contact or organisation.contact_email
    if not contact:
        errors.append(field_error("contact", "missing-value",
                                  gettext("Give an e-mail address for the holder's answer.")))
        return ""
    try:
        validate_email(contact)
    except DjangoValidationError:
        errors.append(field_error("contact", "invalid", gettext("Enter a valid e-mail address.")))
    return contact


def _check_limits(organisation: Organisation, at: datetime) -> None:
    cap = settings.KYODAKU_MAX_OPEN_PERMISSION_REQUESTS
    mine = PermissionRequest.objects.filter(organisation=organisation)
    if cap and mine.filter(state=RequestState.OPEN).count() >= cap:
        raise Conflict(gettext("Your organisation has %(cap)d open permission requests, the most allowed at once; "
                               "withdraw some or wait for answers.") % {"cap": cap},
                       code="too-many-open-requests")
    rate = parse_rate(settings.KYODAKU_PERMISSION_REQUEST_RATE)
    if rate is None:
        return
    count, seconds = rate
    window = list(mine.filter(created_at__gt=at - timedelta(seconds=seconds))
                  .order_by("-created_at").values_list("created_at", flat=True)[:count])
    if len(window) >= count:
        retry = math.ceil((window[-1] + timedelta(seconds=seconds) - at).total_seconds())
        raise TooManyRequests(gettext("Your organisation filed %(count)d permission requests in the last "
                                      "%(seconds)d seconds, the most allowed.") % {"count": count, "seconds": seconds},
                              retry_after=retry)


def request_open(*, organisation: Organisation, holder: str | None = None, works=(), purposes, jurisdictions=("*",),
                 effective_from: datetime | None = None, effective_until: datetime | None = None, message: str = "",
                 contact: str = "", api_key_prefix: str = "", language: str = "en",
                 at: datetime | None = None) -> PermissionRequest:
    """Open a request from `organisation` to one holder: named by `holder` (its code), or by its `works` (ids or
    identifiers; all of one holder, else 400 `several-holders`). No works: the holder's whole catalogue."""
    at = at or timezone.now()
    errors: list[dict] = []
    target = None
    if holder not in (None, ""):
        target = Holder.objects.filter(code=holder).first() if isinstance(holder, str) else None
        if target is None:
            errors.append(field_error("holder", "not-found", gettext("No such holder.")))
    resolved = _resolve_works(list(works or []) if not isinstance(works, str) else [works], errors)
    holders = {work.holder_id: work.holder for work in resolved}
    if len(holders) > 1:
        errors.append(field_error("works", "several-holders", gettext(
            "The works belong to several holders (%(codes)s): send one request per holder.")
            % {"codes": ", ".join(sorted(h.code for h in holders.values()))}))
    elif holders:
        owner = next(iter(holders.values()))
        if target is not None and owner.pk != target.pk:
            errors.append(field_error("works", "not-this-holder",
                                      gettext("These works are not %(code)s's.") % {"code": target.code}))
        target = target or owner
    if target is None and holder in (None, "") and not resolved and not any(e["field"].startswith("works")
                                                                            for e in errors):
        errors.append(field_error("holder", "missing-value", gettext("Name the holder or its works.")))
    purposes = _codes(purposes, "purposes", validate_purpose, UnknownPurpose, "unknown-purpose", errors)
    jurisdictions = _codes(jurisdictions, "jurisdictions", validate_jurisdiction, UnknownJurisdiction,
                           "unknown-jurisdiction", errors)
    if effective_from and effective_until and effective_until <= effective_from:
        errors.append(field_error("effective_until", "invalid-date",
                                  gettext("effective_until must be after effective_from.")))
    elif effective_until and effective_until <= at:
        errors.append(field_error("effective_until", "invalid-date", gettext("effective_until is in the past.")))
    message = message or ""
    if not isinstance(message, str) or len(message) > MAX_MESSAGE_CHARS:
        errors.append(field_error("message", "too-long", gettext("At most %(max)d characters.")
                                  % {"max": MAX_MESSAGE_CHARS}))
    contact = _validate_contact(contact, organisation, errors)
    if errors:
        raise ValidationFailed(gettext("The permission request is not valid."), errors=errors)
    with transaction.atomic():
        # One organisation's requests are counted one at a time, so parallel requests cannot pass the caps together.
        Organisation.objects.select_for_update().filter(pk=organisation.pk).first()
        _check_limits(organisation, at)
        request = PermissionRequest.objects.create(
            organisation=organisation, api_key_prefix=api_key_prefix or "", holder=target,
            scope=Scope.WORK if resolved else Scope.CATALOGUE, purposes=purposes, jurisdictions=jurisdictions,
            effective_from=effective_from, effective_until=effective_until, message=message, contact=contact,
            language=language if language in dict(settings.LANGUAGES) else "en", created_at=at)
        request.works.set(resolved)
        audit_record(actor=_key_actor(request), action="permission_request.open", object_type="permission_request",
                     object_id=request.pk, after=request_snapshot(request), at=at)
        transaction.on_commit(lambda: _notify("opened", request.pk))
    return request


# ---------------------------------------------------------------------------------------------------- decide

def _locked_open(request: PermissionRequest) -> PermissionRequest:
    request = PermissionRequest.objects.select_for_update(of=("self",)).select_related("holder").get(pk=request.pk)
    if request.state != RequestState.OPEN:
        raise Conflict(gettext("This request is no longer open (it is %(state)s).")
                       % {"state": request.get_state_display()}, code="request-not-open")
    return request


def _purpose_covered(purpose: str, asked) -> bool:
    return any(code in asked for code in purpose_chain(purpose))


def _jurisdiction_covered(code: str, asked) -> bool:
    return (ANY_JURISDICTION in asked or code in asked
            or (code in EU_MEMBER_STATES and EU in asked))


def _narrowed(request: PermissionRequest, *, purposes, jurisdictions, works, effective_from, effective_until,
              at: datetime) -> tuple[list, list, list[Work], datetime, datetime | None]:
    """The accepted scope: each given part must lie within what was asked (narrowing); widening is refused with
    `widens-request`, naming what lies outside."""
    errors: list[dict] = []
    widens = "widens-request"
    if purposes is None:
        purposes = list(request.purposes)
    else:
        purposes = _codes(purposes, "purposes", validate_purpose, UnknownPurpose, "unknown-purpose", errors)
        outside = [p for p in purposes if not _purpose_covered(p, request.purposes)]
        if outside:
            errors.append(field_error("purposes", widens, gettext(
                "Not asked for: %(codes)s. You may narrow a request, not widen it.") % {"codes": ", ".join(outside)}))
    if jurisdictions is None:
        jurisdictions = list(request.jurisdictions)
    else:
        jurisdictions = _codes(jurisdictions, "jurisdictions", validate_jurisdiction, UnknownJurisdiction,
                               "unknown-jurisdiction", errors)
        outside = [j for j in jurisdictions if not _jurisdiction_covered(j, request.jurisdictions)]
        if outside:
            errors.append(field_error("jurisdictions", widens, gettext(
                "Not asked for: %(codes)s. You may narrow a request, not widen it.") % {"codes": ", ".join(outside)}))
    asked_works = list(request.works.all())
    if works is None:
        chosen = asked_works
    else:
        wanted = {str(getattr(w, "pk", w)) for w in works}
        pool = {str(w.pk): w for w in asked_works} if request.scope == Scope.WORK else {
            str(w.pk): w for w in Work.objects.filter(holder=request.holder, pk__in=[
                pk for pk in wanted if _is_uuid(pk)])}
        outside = sorted(wanted - set(pool))
        if outside:
            errors.append(field_error("works", widens, gettext(
                "Not asked for: %(ids)s. You may narrow a request, not widen it.") % {"ids": ", ".join(outside)}))
        chosen = [pool[pk] for pk in sorted(wanted & set(pool))]
        if request.scope == Scope.WORK and not chosen and not outside:
            errors.append(field_error("works", "missing-value", gettext("Keep at least one of the asked works.")))
    start = effective_from or request.effective_from or at
    until = effective_until if effective_until is not None else request.effective_until
    if request.effective_from and start < request.effective_from:
        errors.append(field_error("effective_from", widens,
                                  gettext("Starts before the asked period. You may narrow a request, not widen it.")))
    if request.effective_until and (until is None or until > request.effective_until):
        errors.append(field_error("effective_until", widens,
                                  gettext("Ends after the asked period. You may narrow a request, not widen it.")))
    if until is not None and until <= start:
        errors.append(field_error("effective_until", "invalid-date",
                                  gettext("effective_until must be after effective_from.")))
    if errors:
        raise ValidationFailed(gettext("The acceptance is not valid."), errors=errors)
    return purposes, jurisdictions, chosen, start, until


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def request_accept(*, request: PermissionRequest, actor, license_url: str = "", conditions: str = "",
                   purposes=None, jurisdictions=None, works=None, effective_from: datetime | None = None,
                   effective_until: datetime | None = None, at: datetime | None = None) -> PermissionRequest:
    """Accept an open request: file the licence(s) with the holder's terms, in one transaction with the decision.

    `purposes`, `jurisdictions`, `works` and the period default to the request's and may only narrow it. Works
    asked (or, for a catalogue request, chosen by the holder) get one work licence each; a catalogue request
    accepted without naming works gets one catalogue licence. `actor` must be one who may file for the holder."""
    at = at or timezone.now()
    holder_for_filing(user=actor, code=request.holder.code)
    with transaction.atomic():
        request = _locked_open(request)
        purposes, jurisdictions, chosen, start, until = _narrowed(
            request, purposes=purposes, jurisdictions=jurisdictions, works=works, effective_from=effective_from,
            effective_until=effective_until, at=at)
        common = dict(holder=request.holder, licensee=request.organisation, purposes=purposes,
                      jurisdictions=jurisdictions, license_url=license_url or "", conditions=conditions or "",
                      effective_from=start, effective_until=until, actor=actor, at=at)
        if chosen:
            licences = [licence_file(scope=Scope.WORK, work=work, **common) for work in chosen]
        else:
            licences = [licence_file(scope=Scope.CATALOGUE, work=None, **common)]
        before = request_snapshot(request)
        request.state = RequestState.ACCEPTED
        request.decided_at = at
        request.decided_by = actor if getattr(actor, "is_authenticated", False) else None
        request.save(update_fields=["state", "decided_at", "decided_by"])
        request.licences.set(licences)
        audit_record(actor=actor, action="permission_request.accept", object_type="permission_request",
                     object_id=request.pk, before=before, after=request_snapshot(request), at=at)
        transaction.on_commit(lambda: _notify("accepted", request.pk))
    return request


def request_decline(*, request: PermissionRequest, actor, reason: str, at: datetime | None = None
                    ) -> PermissionRequest:
    """Decline an open request with a reason the developer will read."""
    at = at or timezone.now()
    holder_for_filing(user=actor, code=request.holder.code)
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        raise ValidationFailed(gettext("Say why the request is declined."),
                               errors=[field_error("reason", "missing-value", gettext("Give a reason."))])
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationFailed(gettext("The reason is too long."), errors=[field_error(
            "reason", "too-long", gettext("At most %(max)d characters.") % {"max": MAX_REASON_CHARS})])
    with transaction.atomic():
        request = _locked_open(request)
        before = request_snapshot(request)
        request.state, request.decided_at, request.reason = RequestState.DECLINED, at, reason
        request.decided_by = actor if getattr(actor, "is_authenticated", False) else None
        request.save(update_fields=["state", "decided_at", "decided_by", "reason"])
        audit_record(actor=actor, action="permission_request.decline", object_type="permission_request",
                     object_id=request.pk, before=before, after=request_snapshot(request), at=at)
        transaction.on_commit(lambda: _notify("declined", request.pk))
    return request


def request_withdraw(*, request: PermissionRequest, organisation: Organisation, api_key_prefix: str = "",
                     at: datetime | None = None) -> PermissionRequest:
    """The asking organisation withdraws its open request (another organisation's: not found)."""
    at = at or timezone.now()
    if request.organisation_id != organisation.pk:
        raise NotFound(gettext("No such permission request."))
    with transaction.atomic():
        request = _locked_open(request)
        before = request_snapshot(request)
        request.state, request.decided_at = RequestState.WITHDRAWN, at
        request.save(update_fields=["state", "decided_at"])
        actor = f"api-key:{api_key_prefix}" if api_key_prefix else _key_actor(request)
        audit_record(actor=actor, action="permission_request.withdraw", object_type="permission_request",
                     object_id=request.pk, before=before, after=request_snapshot(request), at=at)
        transaction.on_commit(lambda: _notify("withdrawn", request.pk))
    return request


def _key_actor(request: PermissionRequest) -> str:
    """The developer's side in the (private) audit actor: the key by its prefix, never a person."""
    return f"api-key:{request.api_key_prefix}" if request.api_key_prefix else "system"


def _notify(event: str, pk) -> None:
    from .request_notifications import request_notify

    request_notify(request=PermissionRequest.objects.get(pk=pk), event=event)
