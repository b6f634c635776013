"""Reads for the registry. Each selector owns its joins; callers never add their own."""
from django.db.models import Q, QuerySet
from django.utils import timezone

from .errors import NotAuthorizedForHolder, ReadOnlyRole
from .models import Dispute, Holder, Mandate, Membership, Work


def mandate_active_q(at, prefix: str = "") -> Q:
    return Q(**{f"{prefix}valid_from__lte": at}) & (
        Q(**{f"{prefix}valid_until__isnull": True}) | Q(**{f"{prefix}valid_until__gt": at})
    )


def is_operator(user) -> bool:
    """Operators are Django staff users; holder users are not staff (the admin site admits them as members)."""
    return user is not None and user.is_authenticated and user.is_active and user.is_staff


def user_membership(user) -> Membership | None:
    if user is None or not user.is_authenticated:
        return None
    try:
        return user.membership
    except Membership.DoesNotExist:
        return None


def holder_ids_visible_to(user, *, at=None) -> set | None:
    """The holders whose data `user` may see: their own and their active principals'. None means all (staff)."""
    if is_operator(user):
        return None
    membership = user_membership(user)
    if membership is None:
        return set()
    at = at or timezone.now()
    principals = Mandate.objects.filter(mandate_active_q(at), agent_id=membership.holder_id).values_list(
        "principal_id", flat=True
    )
    return {membership.holder_id, *principals}




def holder_for_filing(*, user, code: str, at=None) -> tuple[Holder, Holder | None]:
    """The holder `user` files for, and the collective filing under a mandate (None when filing as oneself).

    An unknown holder and one the user may not act for look the same: existence is not revealed.
    """
    at = at or timezone.now()
    holder = Holder.objects.filter(code=code).first() if isinstance(code, str) else None
    if holder is None:
        raise NotAuthorizedForHolder(f"No holder '{code}' that you may file for.")
    if is_operator(user):
        return holder, None
    membership = user_membership(user)
    if membership is None:
        raise NotAuthorizedForHolder(f"No holder '{code}' that you may file for.")
    if membership.holder_id == holder.id:
        agent = None
    elif Mandate.objects.filter(mandate_active_q(at), agent_id=membership.holder_id, principal=holder).exists():
        agent = membership.holder
    else:
        raise NotAuthorizedForHolder(f"No holder '{code}' that you may file for.")
    if not membership.can_write:
        raise ReadOnlyRole("Your role at this holder is read-only.")
    return holder, agent


def default_holder_code(user) -> str | None:
    membership = user_membership(user)
    return membership.holder.code if membership else None


def works_visible_to(user) -> QuerySet[Work]:
    ids = holder_ids_visible_to(user)
    qs = Work.objects.select_related("holder")
    return qs if ids is None else qs.filter(holder_id__in=ids)




def work_open_disputes(*, work_ids, at) -> set:
    """The ids among `work_ids` that have a dispute open at `at`. One query."""
    return set(
        Dispute.objects.filter(work_id__in=work_ids, opened_at__lte=at)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=at))
        .values_list("work_id", flat=True)
    )
