"""What every Kyodaku model admin shares: holder scoping, role-based rights, domain errors and audit history.

Holder users have no Django permission rows. What they may do comes from their membership: they see the data of
their own holder and of the principals they hold an active mandate for; admins and editors change it, viewers
only look. Nobody deletes registry or consent rows: they are ended, revoked or superseded through the services.
Objects outside a user's scope are a 404, in every view, action and autocomplete, so their existence is not revealed.
"""
import json
from weakref import WeakKeyDictionary

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connection, models
from django.http import Http404, HttpResponseRedirect
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from audit.selectors import audit_events_for_object
from core.errors import DomainError

from .admin_history import readable_events
from .models import Holder
from .selectors import holder_ids_visible_to, is_operator, mandate_active_q, user_membership

# What the admin's permission checks read many times in one request, read once: {request: {name: value}}. Kept
# beside the request, not on it (nothing else may depend on it), and gone with the request.
_per_request: WeakKeyDictionary = WeakKeyDictionary()


def _once_per_request(request, name: str, read):
    memo = _per_request.get(request)
    if memo is None:
        memo = _per_request[request] = {}
    if name not in memo:
        memo[name] = read(request.user)
    return memo[name]


def request_membership(request):
    """The user's membership, looked up once per request (the site's permission check already loaded it)."""
    return _once_per_request(request, "membership", user_membership)


def visible_holder_ids(request) -> set | None:
    """Holders whose data the request's user may see; None for operators (everything). Once per request."""
    return _once_per_request(request, "visible_holder_ids", holder_ids_visible_to)


def may_write(request) -> bool:
    if is_operator(request.user):
        return True
    membership = request_membership(request)
    return membership is not None and membership.can_write


def may_look(request) -> bool:
    return is_operator(request.user) or request_membership(request) is not None


def holders_for_filing(request):
    """The holders the user may file works and declarations for: their own and their active principals'."""
    if is_operator(request.user):
        return Holder.objects.all()
    membership = request_membership(request)
    if membership is None or not membership.can_write:
        return Holder.objects.none()
    from django.db.models import Exists, OuterRef, Q
    from django.utils import timezone

    from .models import Mandate

    principal = Mandate.objects.filter(mandate_active_q(timezone.now()), agent_id=membership.holder_id,
                                       principal=OuterRef("pk"))
    return Holder.objects.filter(Q(pk=membership.holder_id) | Exists(principal))


def apply_domain_error(form: forms.BaseForm, exc: DomainError, *, field_map: dict | None = None) -> None:
    """Show a service's errors on the form's fields (or above the form when no field matches)."""
    field_map = field_map or {}
    if not exc.errors:
        form.add_error(None, exc.detail)
        return
    for error in exc.errors:
        name = field_map.get(error["field"], error["field"])
        form.add_error(name if name in form.fields else None, error["detail"])


def revoke_each(model_admin, request, objects, *, revoke, revoked_message, skipped_message) -> None:
    """The admin's "revoke the selected ..." action for append-only rows (declarations, licences).

    Each row still in force goes through its own service call, which checks the user's right to revoke that very
    row (a mandate may have ended since the list was drawn) and writes the audit event; a refusal is shown against
    the row and the others go on. Rows already superseded or revoked are skipped and counted, not an error.
    `revoked_message(n)` and `skipped_message(n)` give the summary in the user's language (ngettext at the caller,
    so each model keeps its own words).
    """
    revoked = skipped = 0
    for obj in objects:
        if obj.superseded_at is not None or obj.revoked_at is not None:
            skipped += 1
            continue
        try:
            revoke(obj)
        except DomainError as exc:
            model_admin.message_user(request, f"{obj}: {exc.detail}", messages.ERROR)
            continue
        revoked += 1
    if revoked:
        model_admin.message_user(request, revoked_message(revoked), messages.SUCCESS)
    if skipped:
        model_admin.message_user(request, skipped_message(skipped), messages.WARNING)


class EstimatedCountPaginator(Paginator):
    """Exact counts for small results; PostgreSQL's planner estimate once a result is large.

    Counting a million rows exactly costs a full scan on every list page; the planner's estimate costs nothing,
    and beyond a few thousand rows nobody pages to the end. Below `exact_below` the count is exact.
    """

    exact_below = 20_000

    @cached_property
    def count(self):
        queryset = self.object_list
        if connection.vendor == "postgresql" and hasattr(queryset, "query"):
            sql, params = queryset.order_by().values("pk").query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
                plan = cursor.fetchone()[0]
            if isinstance(plan, str):
                plan = json.loads(plan)
            estimate = int(plan[0]["Plan"]["Plan Rows"])
            if estimate >= self.exact_below:
                return estimate
        return super().count


class ScopedAdmin(admin.ModelAdmin):
    """A model admin whose rows belong to a holder (through `holder_path`)."""

    holder_path = "holder"  # ORM path from the model to the holder that owns a row
    holder_paths_for_visibility: tuple = ()  # defaults to (holder_path,); disputes add the claimant
    audit_object_type: str | None = None
    object_history_template = "admin/kyodaku/object_history.html"
    show_full_result_count = False  # one COUNT on a filtered list, not two
    list_per_page = 50
    paginator = EstimatedCountPaginator

    # ---- scope -----------------------------------------------------------------------------------------------
    def _visibility_paths(self):
        return self.holder_paths_for_visibility or (self.holder_path,)

    def scope_queryset(self, request, queryset):
        ids = visible_holder_ids(request)
        if ids is None:
            return queryset
        from django.db.models import Q

        condition = Q()
        for path in self._visibility_paths():
            condition |= Q(**{f"{path}__in": ids})
        return queryset.filter(condition)

    def get_queryset(self, request):
        return self.scope_queryset(request, super().get_queryset(request))

    def object_holder_ids(self, obj) -> set:
        ids = set()
        for path in self._visibility_paths():
            if path == "pk":
                ids.add(obj.pk)
                continue
            target = obj
            parts = path.split("__")
            for part in parts[:-1]:
                target = getattr(target, part)
            ids.add(getattr(target, f"{parts[-1]}_id"))
        return ids

    def in_scope(self, request, obj) -> bool:
        ids = visible_holder_ids(request)
        return ids is None or bool(self.object_holder_ids(obj) & ids)

    def get_object(self, request, object_id, from_field=None):
        # Django redirects to the index with "doesn't exist" for a missing object; a 404 reveals nothing more
        # about another holder's object than about one that never existed.
        obj = super().get_object(request, object_id, from_field)
        if obj is None or not self.in_scope(request, obj):
            raise Http404(_("Not found."))
        return obj

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("assume_scheme", "https")  # Django 6's default, and what licensing pages use
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    # ---- rights from the role --------------------------------------------------------------------------------
    def has_module_permission(self, request):
        return may_look(request)

    def has_view_permission(self, request, obj=None):
        return may_look(request) and (obj is None or self.in_scope(request, obj))

    def has_add_permission(self, request):
        return may_write(request)

    def has_change_permission(self, request, obj=None):
        return may_write(request) and (obj is None or self.in_scope(request, obj))

    def has_delete_permission(self, request, obj=None):
        return False  # ended, revoked or superseded through the services; never deleted

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # ---- services raise domain errors ------------------------------------------------------------------------
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Forms validate with the services' own checks first; an error the service still raises (a race with
        # another filing) rolls the whole save back and is shown as a message instead of a server error.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            if exc.status == 404:
                raise Http404(exc.detail) from exc
            self.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    # ---- history: the audit log, not Django's own log --------------------------------------------------------
    def audit_events(self, obj) -> list:
        if not self.audit_object_type:
            return []
        return audit_events_for_object(object_type=self.audit_object_type, object_id=obj.pk)

    def history_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, admin.utils.unquote(object_id))
        context = {"audit_events": readable_events(self.audit_events(obj)), **(extra_context or {})}
        return super().history_view(request, object_id, extra_context=context)


class ReadOnlyForHoldersAdmin(ScopedAdmin):
    """Rows only operators change (holders, mandates, rules); holder users may look at those in their scope."""

    def has_add_permission(self, request):
        return is_operator(request.user)

    def has_change_permission(self, request, obj=None):
        return is_operator(request.user)


class OperatorOnlyAdmin(admin.ModelAdmin):
    """Registry staff's tools: invisible to holder users."""

    def has_module_permission(self, request):
        return is_operator(request.user)

    def has_view_permission(self, request, obj=None):
        return is_operator(request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
