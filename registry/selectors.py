"""Reads for the registry. Each selector owns its joins; callers never add their own."""
from django.db import connections
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from core.errors import NotAuthorizedForHolder, ReadOnlyRole

from .lookups import pg_array_literal
from .models import Dispute, Holder, Identifier, Mandate, Membership, Work


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
        raise NotAuthorizedForHolder(gettext("No holder '%(code)s' that you may file for.") % {"code": code})
    if is_operator(user):
        return holder, None
    membership = user_membership(user)
    if membership is None:
        raise NotAuthorizedForHolder(gettext("No holder '%(code)s' that you may file for.") % {"code": code})
    if membership.holder_id == holder.id:
        agent = None
    elif Mandate.objects.filter(mandate_active_q(at), agent_id=membership.holder_id, principal=holder).exists():
        agent = membership.holder
    else:
        raise NotAuthorizedForHolder(gettext("No holder '%(code)s' that you may file for.") % {"code": code})
    if not membership.can_write:
        raise ReadOnlyRole(gettext("Your role at this holder is read-only."))
    return holder, agent


def holders_user_files_for(*, user, acting_as: Holder, at=None) -> dict[str, tuple[str, str | None]]:
    """Holder code -> (holder id, filing agent id or None): whom a bulk submission made by `user` as `acting_as`
    may file rows for, as of `at`.

    Rights are the submitting user's own and never transitive: a user of holder H (with a role that writes) files
    for H and for the principals H itself holds an active mandate for, never for a principal's principals. A
    submission made as a principal P by a collective's user therefore names P or the collective's other principals
    (each with the collective as agent) and the collective itself, nothing that P's own mandates reach. `user` None
    (the operators' `import_claims --as CODE`) and operators act as `acting_as` with that holder's own rights.
    Asked again per chunk, so a mandate that ended or a role that was lowered stops the rows that follow.
    """
    at = at or timezone.now()
    if user is None or is_operator(user):
        own = acting_as
    else:
        # Read afresh (not the user's cached membership): a role lowered since the upload counts now.
        membership = Membership.objects.select_related("holder").filter(user_id=user.pk, user__is_active=True).first()
        if membership is None or not membership.can_write:
            return {}
        own = membership.holder
    rights = {own.code: (str(own.pk), None)}
    for principal_id, code in Mandate.objects.filter(mandate_active_q(at), agent_id=own.pk).values_list(
            "principal_id", "principal__code"):
        rights.setdefault(code, (str(principal_id), str(own.pk)))
    return rights


def default_holder_code(user) -> str | None:
    membership = user_membership(user)
    return membership.holder.code if membership else None


def works_visible_to(user) -> QuerySet[Work]:
    ids = holder_ids_visible_to(user)
    qs = Work.objects.select_related("holder")
    return qs if ids is None else qs.filter(holder_id__in=ids)


def _current_identifiers() -> Prefetch:
    return Prefetch("identifiers", queryset=Identifier.objects.filter(valid_until__isnull=True).order_by(
        "scheme", "value"), to_attr="current_identifiers")


def works_readable(*, user, api_key=None) -> QuerySet[Work]:
    """The works a reader may see, with their holder, filing agent and `current_identifiers`.

    Any API key reads every registered work; users see their holder's and their mandated principals'.
    """
    qs = Work.objects.select_related("holder") if api_key is not None else works_visible_to(user)
    return qs.select_related("filed_by_agent").prefetch_related(_current_identifiers())


def works_filter(*, works: QuerySet[Work], q: str = "", identifier=None, holder: str = "") -> QuerySet[Work]:
    """`works` narrowed to a search: words of the title or original title (or an exact work_ref), one current
    identifier (a parsed `scheme:value`), one holder code. Empty criteria filter nothing."""
    if q:
        works = works.filter(Q(title__icontains=q) | Q(original_title__icontains=q) | Q(work_ref=q))
    if identifier is not None:
        works = works.filter(identifiers__scheme=identifier.scheme, identifiers__value=identifier.value,
                             identifiers__valid_until__isnull=True)
    if holder:
        works = works.filter(holder__code=holder)
    return works


def work_get(*, pk) -> Work:
    """One work with its holder, filing agent and `current_identifiers` (raises Work.DoesNotExist)."""
    return Work.objects.select_related("holder", "filed_by_agent").prefetch_related(_current_identifiers()).get(pk=pk)


# On PostgreSQL the batch's ids go as one array parameter (see lookups.AnyOf) and come back as text.
_OPEN_DISPUTES_SQL = (
    "SELECT DISTINCT x.work_id::text FROM registry_dispute x WHERE x.work_id = ANY(%(works)s::uuid[]) "
    "AND x.opened_at <= %(at)s AND (x.resolved_at IS NULL OR x.resolved_at > %(at)s)"
)


def work_open_disputes(*, work_ids, at) -> set[str]:
    """The ids among `work_ids` (UUIDs or their text) that have a dispute open at `at`, as text. One query (none
    for no ids), whatever the number of ids: consent's batch decision path asks it for up to 10,000 at once."""
    if not work_ids:
        return set()
    connection = connections["default"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_OPEN_DISPUTES_SQL, {"works": pg_array_literal(work_ids), "at": at})
            return {row[0] for row in cursor.fetchall()}
    return {str(pk) for pk in (
        Dispute.objects.filter(work_id__any_of=work_ids, opened_at__lte=at)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=at))
        .order_by()
        .values_list("work_id", flat=True)
    )}


def disputes_needing_attention(*, holder_ids, limit: int = 20) -> dict[str, list[Dispute]]:
    """Open disputes for a holder's admin index: those about its works (it must answer them) and those it opened.

    `holder_ids` None (operators): every open dispute, under "about". Two queries at most, `limit` rows each.
    """
    open_disputes = Dispute.objects.filter(resolved_at__isnull=True).select_related(
        "work", "holder", "claimant").order_by("-opened_at")
    if holder_ids is None:
        return {"about": list(open_disputes[:limit]), "claimed": []}
    return {"about": list(open_disputes.filter(holder_id__in=holder_ids)[:limit]),
            "claimed": list(open_disputes.filter(claimant_id__in=holder_ids)[:limit])}


def works_search(*, works: QuerySet[Work], term: str) -> QuerySet[Work]:
    """`works` narrowed to a search term as the admin's search box takes it: an identifier (with or without its
    scheme, e.g. an ISBN) finds the work that holds it now, `ref:<holder>/<work_ref>` the work so named; anything
    else matches titles (either one, any part, any case) or a work_ref exactly. An empty term filters nothing."""
    from .identifiers import InvalidIdentifier, infer_scheme, parse_identifier

    term = term.strip()
    if not term:
        return works
    if ":" in term or infer_scheme(term):
        try:
            parsed = parse_identifier(term)
        except InvalidIdentifier:
            parsed = None
        if parsed is not None and parsed.scheme == "ref":
            code, _sep, work_ref = parsed.value.partition("/")
            return works.filter(holder__code=code, work_ref=work_ref)
        if parsed is not None:
            return works.filter(identifiers__scheme=parsed.scheme, identifiers__value=parsed.value,
                                identifiers__valid_until__isnull=True)
    return works.filter(Q(title__icontains=term) | Q(original_title__icontains=term) | Q(work_ref=term))
