"""Reads of domain control. `verified_domains_at` is the lookup path's: one query for a whole batch."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q, QuerySet

from registry.identifiers import domain_chain
from registry.selectors import holder_ids_visible_to

from .models import DomainClaim, DomainVerification


def _in_force_at(at: datetime) -> Q:
    return Q(verified_at__lte=at) & (Q(ended_at__isnull=True) | Q(ended_at__gt=at))


def verified_domains_at(*, holder_ids: Iterable, hosts: Iterable[str], at: datetime) -> set[tuple[str, str]]:
    """(holder id as text, domain) for every verification in force at `at` of one of `holder_ids` on one of
    `hosts` or a parent domain. One query."""
    holder_ids = {str(h) for h in holder_ids}
    domains = {d for host in hosts for d in domain_chain(host)}
    if not holder_ids or not domains:
        return set()
    rows = (DomainVerification.objects.filter(_in_force_at(at), holder_id__in=holder_ids, domain__in=domains)
            .values_list("holder_id", "domain"))
    return {(str(holder), domain) for holder, domain in rows}


def host_verified(verified: set[tuple[str, str]], holder_id, host: str) -> bool:
    """Whether `holder_id` controls `host` (or a parent domain), given `verified_domains_at`'s answer."""
    holder_id = str(holder_id)
    return any((holder_id, domain) in verified for domain in domain_chain(host))


def domain_verified_at(*, holder_id, host: str, at: datetime) -> bool:
    return host_verified(verified_domains_at(holder_ids=[holder_id], hosts=[host], at=at), holder_id, host)


def domain_claims_visible_to(*, user) -> QuerySet[DomainClaim]:
    """The domain claims of the holders `user` may see (all for operators)."""
    ids = holder_ids_visible_to(user)
    qs = DomainClaim.objects.select_related("holder")
    return qs if ids is None else qs.filter(holder_id__in=ids)


def domain_claim_verification(claim: DomainClaim, *, at: datetime) -> DomainVerification | None:
    return claim.verifications.filter(_in_force_at(at)).order_by("-verified_at").first()


def domain_claims_to_recheck(*, checked_before: datetime) -> QuerySet[DomainClaim]:
    """Claims whose last automatic check is older than `checked_before` (or that were never checked), except
    those verified by an operator (they are not re-checked automatically)."""
    operator_verified = DomainVerification.objects.filter(ended_at__isnull=True, method="operator").values("claim_id")
    return (DomainClaim.objects.filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lt=checked_before))
            .exclude(pk__in=operator_verified))


def signals_claim_for(*, domains: Iterable[str], user, at: datetime) -> DomainClaim | None:
    """The verified claim (at `at`) on the first of `domains` whose signals `user` may read: their own holders'
    (operators: any), else one whose holder made the signals public. None: nothing to show (a 404)."""
    domains = list(domains)
    verified = DomainVerification.objects.filter(_in_force_at(at)).values("claim_id")
    claims = list(DomainClaim.objects.filter(domain__in=domains, pk__in=verified).select_related("holder"))
    if not claims:
        return None
    visible = holder_ids_visible_to(user) if user is not None and user.is_authenticated else set()
    order = {domain: i for i, domain in enumerate(domains)}
    for claim in sorted(claims, key=lambda c: (order[c.domain], not c.signals_public)):
        if visible is None or claim.holder_id in visible or claim.signals_public:
            return claim
    return None
