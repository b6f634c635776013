"""Licences in the admin (domain.md "Licences and permission requests"): a holder's users list and read the
licences of their holder (and mandated principals'), current and past; editors and admins file new ones (naming
the licensee by its organisation code) and revoke them; operators see all. Filing and revoking are
consent.licence_services, as over the API; a licence is never edited (a new one supersedes it) nor deleted."""
from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from registry.admin import mark_saved
from registry.admin_base import (
    ScopedAdmin,
    apply_domain_error,
    holders_for_filing,
    may_write,
    request_membership,
    revoke_each,
    visible_holder_ids,
)
from registry.models import Organisation, Work
from registry.selectors import holder_for_filing

from .labels import PURPOSE_CHOICES
from .licence_services import licence_file, licence_revoke, licence_validate
from .models import Licence


class LicenceStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("current", _("current")), ("superseded", _("superseded")), ("revoked", _("revoked")))

    def queryset(self, request, queryset):
        value = self.value()
        if value == "current":
            return queryset.filter(superseded_at__isnull=True, revoked_at__isnull=True)
        if value == "superseded":
            return queryset.filter(superseded_at__isnull=False)
        if value == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class LicenceForm(forms.ModelForm):
    licensee_code = forms.SlugField(label=_("licensee"), max_length=64, help_text=_(
        "The organisation's code, as the developer gives it to you (e.g. mirai-ai)."))
    purposes = forms.MultipleChoiceField(label=_("purposes"), choices=PURPOSE_CHOICES,
                                         widget=forms.CheckboxSelectMultiple)
    jurisdictions = forms.CharField(label=_("jurisdictions"), max_length=1000, initial="*",
                                    help_text=_("Codes separated by spaces (JP, EU, *)."))
    license_url = forms.URLField(label=_("licence URL"), max_length=2000, required=False, assume_scheme="https",
                                 help_text=_("Where the licence's terms are written."))

    class Meta:
        model = Licence
        fields = ("holder", "scope", "work", "license_url", "conditions", "effective_from", "effective_until")
        labels = {"holder": _("holder"), "work": _("work")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "effective_from" in self.fields:  # the add form; a licence's own page is read-only
            self.fields["effective_from"].required = False
            self.fields["effective_from"].help_text = _("Empty: from now.")

    def clean(self):
        data = super().clean()
        licensee = Organisation.objects.filter(code=data.get("licensee_code") or "").first()
        if data.get("licensee_code") and licensee is None:
            self.add_error("licensee_code", gettext("No organisation with this code."))
        data["licensee"] = licensee
        holder = data.get("holder")
        if holder is None or self.errors:
            return data
        try:
            data["purposes"], data["jurisdictions"] = licence_validate(
                holder=holder, licensee=licensee, scope=data.get("scope", ""), work=data.get("work"),
                purposes=list(data.get("purposes") or []), jurisdictions=(data.get("jurisdictions") or "").split(),
                effective_from=data.get("effective_from"), effective_until=data.get("effective_until"))
        except DomainError as exc:
            apply_domain_error(self, exc, field_map={"licensee": "licensee_code"})
        return data


@admin.register(Licence)
class LicenceAdmin(ScopedAdmin):
    audit_object_type = "licence"
    form = LicenceForm
    list_display = ("recorded_at", "licensee", "holder", "target", "purpose_list", "jurisdiction_list",
                    "effective_from", "effective_until", "state")
    list_select_related = ("holder", "licensee", "work")
    list_filter = (LicenceStateFilter, "scope")
    search_fields = ("licensee__name", "licensee__code", "work__title", "work__work_ref", "holder__code")
    ordering = ("-recorded_at",)
    actions = ("revoke_licences",)
    record_fields = ("holder", "licensee", "scope", "work", "purpose_list", "jurisdiction_list", "license_url",
                     "conditions", "effective_from", "effective_until", "recorded_at", "filed_by", "state",
                     "superseded_at", "superseded_by_link", "revoked_at")

    def get_list_display(self, request):
        ids = visible_holder_ids(request)
        if ids is not None and len(ids) == 1:  # one holder's own licences: its name on every row says nothing
            return tuple(name for name in self.list_display if name != "holder")
        return self.list_display

    @admin.display(description=_("work"), ordering="work__title")
    def target(self, obj):
        return obj.work.title if obj.work_id else gettext("(whole catalogue)")

    @admin.display(description=_("purposes"))
    def purpose_list(self, obj):
        return ", ".join(obj.purposes)

    @admin.display(description=_("jurisdictions"))
    def jurisdiction_list(self, obj):
        return ", ".join(obj.jurisdictions)

    @admin.display(description=_("state"))
    def state(self, obj):
        if obj.revoked_at:
            return gettext("revoked")
        if obj.superseded_at:
            return gettext("superseded")
        return gettext("current")

    @admin.display(description=_("superseded by"))
    def superseded_by_link(self, obj):
        if not obj.superseded_by_id:
            return "–"
        url = reverse("admin:consent_licence_change", args=[obj.superseded_by_id])
        return format_html('<a href="{}">{}</a>', url, obj.superseded_by_id)

    # ---- rights: filed and revoked, never edited --------------------------------------------------------------
    def has_change_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request):
        return may_write(request)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("holder", "licensee_code", "scope", "work", "purposes", "jurisdictions", "license_url",
                    "conditions", "effective_from", "effective_until")
        return self.record_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.record_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "holder":
            kwargs["queryset"] = holders_for_filing(request)
            membership = request_membership(request)
            if membership is not None:
                kwargs["initial"] = membership.holder_id
        if db_field.name == "work":
            ids = visible_holder_ids(request)
            kwargs["queryset"] = Work.objects.all() if ids is None else Work.objects.filter(holder_id__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # ---- filing ----------------------------------------------------------------------------------------------
    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        holder, _agent = holder_for_filing(user=request.user, code=data["holder"].code)
        licence = licence_file(
            holder=holder, licensee=data["licensee"], scope=data["scope"], work=data.get("work"),
            purposes=data["purposes"], jurisdictions=data["jurisdictions"], license_url=data.get("license_url", ""),
            conditions=data.get("conditions", ""), effective_from=data.get("effective_from"),
            effective_until=data.get("effective_until"), actor=request.user)
        mark_saved(obj, licence)

    def log_addition(self, request, obj, message):
        return None  # the audit log records the filing

    @admin.action(description=_("Revoke the selected licences"), permissions=["revoke"])
    def revoke_licences(self, request, queryset):
        revoke_each(
            self, request, queryset.select_related("holder"),
            revoke=lambda licence: licence_revoke(licence=licence, actor=request.user),
            revoked_message=lambda n: ngettext("%(count)d licence revoked.", "%(count)d licences revoked.",
                                               n) % {"count": n},
            skipped_message=lambda n: ngettext(
                "%(count)d licence was skipped: it is no longer in force.",
                "%(count)d licences were skipped: they are no longer in force.", n) % {"count": n})
