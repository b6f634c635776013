"""Kyodaku's admin site: operators (staff) and the users of rights holders work here.

Holder users are not staff. They are admitted because they belong to a holder (registry.models.Membership); what
they may see and change is decided per model admin from their holder and role (registry.admin_base), never from
Django's per-user permission rows.
"""
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from registry.selectors import is_operator, user_membership


class MemberAuthenticationForm(AdminAuthenticationForm):
    """Django's admin login admits staff only; Kyodaku's also admits active users who belong to a holder."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": _("Please enter the correct username and password of a registry or rights-holder "
                           "account. Both fields may be case-sensitive."),
    }

    def confirm_login_allowed(self, user):
        if not user.is_active or not (is_operator(user) or user_membership(user) is not None):
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login",
                                  params={"username": self.username_field.verbose_name})


class KyodakuAdminSite(admin.AdminSite):
    site_header = _("Kyodaku consent registry")
    site_title = _("Kyodaku")
    index_title = _("Consent registry")
    enable_nav_sidebar = True
    login_form = MemberAuthenticationForm
    site_url = None  # the admin is the site: no "View site" link back to itself

    def index(self, request, extra_context=None):
        # The needs-attention list: open disputes about the user's works, and those the user's holder opened.
        from config.attention import attention_items
        from config.dashboard import dashboard_context
        from consent.models import PermissionRequest, RequestState
        from registry.admin_base import visible_holder_ids
        from registry.selectors import disputes_needing_attention

        attention = disputes_needing_attention(holder_ids=visible_holder_ids(request)) \
            if self.has_permission(request) else {"about": [], "claimed": []}
        if self.has_permission(request):
            attention = {**attention, **attention_items(holder_ids=visible_holder_ids(request))}
        # The inbox's badge: permission requests waiting for the user's holder (all of them for operators).
        open_requests = 0
        if self.has_permission(request):
            ids = visible_holder_ids(request)
            waiting = PermissionRequest.objects.filter(state=RequestState.OPEN)
            open_requests = (waiting if ids is None else waiting.filter(holder_id__in=ids)).count()
        attention["open_requests"] = open_requests
        dashboard = dashboard_context(request) if self.has_permission(request) else {}
        return super().index(request, {"attention": attention, **dashboard, **(extra_context or {})})

    def get_urls(self):
        from django.urls import path

        from config.dashboard import dashboard_csv, notification_preferences_view, registry_export_csv
        from consent.admin_signals import signals_import_view

        urls = [path("signals/import/", self.admin_view(lambda request: signals_import_view(request, self)),
                     name="signals-import"),
                path("statistics/lookups.csv", self.admin_view(dashboard_csv), name="lookup-statistics-csv"),
                path("export/claims.csv", self.admin_view(registry_export_csv), name="registry-export-csv"),
                path("profile/notifications/",
                     self.admin_view(lambda request: notification_preferences_view(request, self)),
                     name="notification-preferences")]
        return urls + super().get_urls()

    def has_permission(self, request):
        user = request.user
        if not (user.is_authenticated and user.is_active):
            return False
        return is_operator(user) or user_membership(user) is not None
