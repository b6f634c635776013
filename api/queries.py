"""Read helpers of the HTTP face: the querysets the works and declarations endpoints page through.

They start from the registry's visibility selectors (works_visible_to, holder_ids_visible_to) and only add the
filters of the query string and the joins the output needs.
"""
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from consent.models import Declaration, Scope
from registry.models import Identifier, Work
from registry.selectors import holder_ids_visible_to, works_visible_to


def _current_identifiers() -> Prefetch:
    return Prefetch("identifiers", queryset=Identifier.objects.filter(valid_until__isnull=True).order_by(
        "scheme", "value"), to_attr="current_identifiers")


def works_for(*, user, api_key) -> QuerySet[Work]:
    """API keys read every registered work; users see their holder's and their mandated principals'."""
    qs = Work.objects.select_related("holder") if api_key is not None else works_visible_to(user)
    return qs.select_related("filed_by_agent").prefetch_related(_current_identifiers())


def work_for_output(pk) -> Work:
    return Work.objects.select_related("holder", "filed_by_agent").prefetch_related(_current_identifiers()).get(pk=pk)


def works_filter(qs: QuerySet[Work], *, q: str = "", identifier=None, holder: str = "") -> QuerySet[Work]:
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(original_title__icontains=q) | Q(work_ref=q))
    if identifier is not None:
        qs = qs.filter(identifiers__scheme=identifier.scheme, identifiers__value=identifier.value,
                       identifiers__valid_until__isnull=True)
    if holder:
        qs = qs.filter(holder__code=holder)
    return qs


def work_with_declarations(work: Work) -> Work:
    """Attach the declarations in force now that cover `work`: its own and its holder's catalogue ones."""
    now = timezone.now()
    work.declarations_in_force = list(
        Declaration.objects.filter(
            Q(scope=Scope.WORK, work_id=work.pk) | Q(scope=Scope.CATALOGUE, holder_id=work.holder_id),
            superseded_at__isnull=True, revoked_at__isnull=True, recorded_at__lte=now, effective_from__lte=now,
        )
        .filter(Q(effective_until__isnull=True) | Q(effective_until__gt=now))
        .select_related("holder", "filed_by_agent")
        .order_by("scope", "purpose", "jurisdiction")
    )
    return work


def declarations_for(*, user) -> QuerySet[Declaration]:
    ids = holder_ids_visible_to(user)
    qs = Declaration.objects.select_related("holder", "filed_by_agent")
    return qs if ids is None else qs.filter(holder_id__in=ids)
