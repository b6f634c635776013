"""Holder-facing reads of consent: declarations as holders and operators list them.

The decision path (deciding for ids) is consent.lookup; the rule book is consent.rulebook.
"""
from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from registry.models import Dispute, Work
from registry.selectors import holder_ids_visible_to

from .models import Consent, Declaration, Licence, PermissionRequest, Scope

__all__ = [
    "declarations_visible_to", "declarations_filter", "work_declarations_in_force", "works_in_consent_state",
    "work_consents_in_force", "CONSENT_STATES", "permission_requests_visible_to", "licences_visible_to",
]


def declarations_visible_to(*, user, api_key=None) -> QuerySet[Declaration]:
    """Every declaration, current and past, of the holders `user` may see (their own and their mandated
    principals'; all for operators), with its holder and filing agent. An API key reads every declaration: the
    ids in lookup answers and receipts must be checkable (the view shows it only the public fields)."""
    if api_key is not None:
        return Declaration.objects.select_related("holder")
    ids = holder_ids_visible_to(user)
    qs = Declaration.objects.select_related("holder", "filed_by_agent")
    return qs if ids is None else qs.filter(holder_id__in=ids)


def declarations_filter(*, declarations: QuerySet[Declaration], holder: str = "",
                        work=None) -> QuerySet[Declaration]:
    """`declarations` narrowed to one holder code and one work id (its own declarations). Empty criteria filter
    nothing."""
    if holder:
        declarations = declarations.filter(holder__code=holder)
    if work:
        declarations = declarations.filter(work_id=work)
    return declarations


def work_declarations_in_force(*, work: Work) -> list[Declaration]:
    """The declarations in force now that cover `work`: its own and its holder's catalogue ones, with their holder
    and filing agent, ordered by scope, purpose and jurisdiction. One query."""
    now = timezone.now()
    return list(
        Declaration.objects.filter(
            Q(scope=Scope.WORK, work_id=work.pk) | Q(scope=Scope.CATALOGUE, holder_id=work.holder_id),
        )
        .in_force_at(now)
        .select_related("holder", "filed_by_agent")
        .order_by("scope", "purpose", "jurisdiction")
    )


# The consent states the admin's works list filters by: what a work's own declarations in force say.
CONSENT_STATES = ("reserved", "granted", "none", "disputed")


def works_in_consent_state(*, works: QuerySet[Work], state: str, at: datetime) -> QuerySet[Work]:
    """`works` narrowed to one of CONSENT_STATES at `at`: a reservation of its own in force, a grant of its own in
    force, no declaration of its own in force, or a dispute open (catalogue declarations apply on top; the work
    page shows them). An unknown state filters nothing."""
    in_force = Declaration.objects.in_force_at(at).filter(work=OuterRef("pk"))
    if state == "reserved":
        return works.filter(Exists(in_force.filter(consent=Consent.RESERVE)))
    if state == "granted":
        return works.filter(Exists(in_force.filter(consent=Consent.GRANT)))
    if state == "none":
        return works.filter(~Exists(in_force))
    if state == "disputed":
        return works.filter(Exists(Dispute.objects.filter(work=OuterRef("pk"), resolved_at__isnull=True)))
    return works


def work_consents_in_force(*, work_ids: list, at: datetime) -> set[tuple]:
    """{(work_id, consent)} of the works' own declarations in force at `at`: one query for a page of works (not
    EXISTS columns, which PostgreSQL would answer by hashing every declaration in the registry for a page of 50)."""
    return set(Declaration.objects.in_force_at(at).filter(work_id__in=work_ids)
               .values_list("work_id", "consent").distinct())


def permission_requests_visible_to(*, user=None, organisation_id=None) -> QuerySet:
    """Permission requests a reader may see, with what their answers show: an API key's organisation sees its own
    (`organisation_id`); a holder's user those to their holder and its mandated principals; operators all.
    Anyone else sees none (404 for a single one, never 403)."""
    qs = (PermissionRequest.objects.select_related("holder", "organisation")
          .prefetch_related(Prefetch("works", queryset=Work.objects.order_by("work_ref", "id")),
                            Prefetch("licences", queryset=Licence.objects.order_by("id"))))
    if organisation_id is not None:
        return qs.filter(organisation_id=organisation_id)
    if user is None or not user.is_authenticated:
        return qs.none()
    ids = holder_ids_visible_to(user)
    return qs if ids is None else qs.filter(holder_id__in=ids)


def licences_visible_to(*, user=None, organisation_id=None) -> QuerySet[Licence]:
    """Licences a reader may see, current and past (superseded and revoked ones too), newest first: an API key's
    organisation sees those naming it as licensee (`organisation_id`); a holder's user those of their holder and
    its mandated principals; operators all. Anyone else sees none (404 for a single one, never 403)."""
    qs = Licence.objects.select_related("holder", "licensee", "work").order_by("-recorded_at", "-id")
    if organisation_id is not None:
        return qs.filter(licensee_id=organisation_id)
    if user is None or not user.is_authenticated:
        return qs.none()
    ids = holder_ids_visible_to(user)
    return qs if ids is None else qs.filter(holder_id__in=ids)
