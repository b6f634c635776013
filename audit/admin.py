"""The audit log, read-only, for operators. Each object's own events are on its history page in the admin."""
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .chain import content_hash
from .models import AuditEvent
from .selectors import audit_bundles_holding


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("seq", "at", "actor", "action", "object_type", "object_id")
    list_filter = ("action", "object_type")
    search_fields = ("=object_id", "=actor")
    search_help_text = _("An object's id finds its own events and the bulk imports' bundles that hold a change of "
                         "it (an identifier's, a declaration's); or an actor.")
    ordering = ("-seq",)
    show_full_result_count = False
    # The salt and the opened commitment are for operators auditing the log (docs/evidence.md); never public.
    readonly_fields = ("seq", "at", "actor", "action", "object_type", "object_id", "before", "after", "salt",
                       "content_hash", "prev_hash", "hash", "legacy_hash")

    def get_search_results(self, request, queryset, search_term):
        # A bulk import records an identifier's or a declaration's change inside its work's bundle
        # (audit.bundles), whose object id is the work's: the bundles holding the searched id are added.
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        seqs = audit_bundles_holding(object_id=search_term) if search_term.strip() else []
        if seqs:
            found = found | queryset.filter(seq__in=seqs)
        return found, may_have_duplicates

    @admin.display(description=_("content hash (opened)"))
    def content_hash(self, obj):
        return content_hash(actor=obj.actor, before=obj.before, after=obj.after, salt=obj.salt)

    # Operators are staff; the audit app sits below the registry, so it asks Django's own flag directly.
    def _operator(self, request):
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request):
        return self._operator(request)

    def has_view_permission(self, request, obj=None):
        return self._operator(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
