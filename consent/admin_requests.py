"""The holder's inbox of permission requests (domain.md "Licences and permission requests"): holder users see the
requests to their holder (and mandated principals'), operators all; editors and admins accept (a form with the
terms, the narrowing fields prefilled from the request) or decline (a reason); viewers only look. Accepting and
declining are consent.request_services, as over the API."""
from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from registry.admin_base import ScopedAdmin, apply_domain_error, may_write, visible_holder_ids
from registry.models import Work

from .labels import PURPOSE_CHOICES
from .models import PermissionRequest, RequestState
from .request_services import request_accept, request_decline


class AcceptForm(forms.Form):
    license_url = forms.URLField(label=_("licence URL"), max_length=2000, required=False, assume_scheme="https",
                                 help_text=_("Where the licence's terms are written."))
    conditions = forms.CharField(label=_("conditions"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    purposes = forms.MultipleChoiceField(label=_("purposes"), choices=PURPOSE_CHOICES,
                                         widget=forms.CheckboxSelectMultiple,
                                         help_text=_("You may narrow what was asked, not widen it."))
    jurisdictions = forms.CharField(label=_("jurisdictions"), max_length=1000,
                                    help_text=_("Codes separated by spaces (JP, EU, *): as asked or fewer."))
    works = forms.ModelMultipleChoiceField(label=_("works"), queryset=Work.objects.none(), required=False,
                                           widget=forms.CheckboxSelectMultiple,
                                           help_text=_("Leave all unticked on a catalogue request to license the "
                                                       "whole catalogue."))
    effective_from = forms.DateTimeField(label=_("effective from"), required=False,
                                         help_text=_("Empty: from now."))
    effective_until = forms.DateTimeField(label=_("effective until"), required=False)

    def __init__(self, *args, request_obj: PermissionRequest, **kwargs):
        super().__init__(*args, **kwargs)
        asked = list(request_obj.works.all())
        if asked:
            self.fields["works"].queryset = Work.objects.filter(pk__in=[w.pk for w in asked])
        else:
            self.fields["works"].queryset = Work.objects.filter(holder=request_obj.holder).order_by("work_ref")
        if not self.is_bound:
            self.initial.update(purposes=list(request_obj.purposes),
                                jurisdictions=" ".join(request_obj.jurisdictions),
                                works=[w.pk for w in asked], effective_from=request_obj.effective_from,
                                effective_until=request_obj.effective_until)


class DeclineForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4}),
                             help_text=_("The developer reads it."))


class RequestStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return RequestState.choices

    def queryset(self, request, queryset):
        return queryset.filter(state=self.value()) if self.value() else queryset


@admin.register(PermissionRequest)
class PermissionRequestAdmin(ScopedAdmin):
    audit_object_type = "permission_request"
    list_display = ("created_at", "organisation", "holder", "asked_works", "purpose_list", "jurisdiction_list",
                    "state_badge")
    list_filter = (RequestStateFilter,)
    list_select_related = ("organisation", "holder")
    search_fields = ("organisation__name", "message")
    ordering = ("-created_at",)
    fields = ("state", "organisation", "holder", "scope", "asked_works", "purpose_list", "jurisdiction_list",
              "effective_from", "effective_until", "message", "contact", "created_at", "decided_at", "reason",
              "licence_list")
    readonly_fields = fields
    change_form_template = "admin/consent/permissionrequest/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organisation", "holder").prefetch_related(
            "works", "licences")

    def get_list_display(self, request):
        ids = visible_holder_ids(request)
        if ids is not None and len(ids) == 1:  # one holder's own inbox: its name on every row says nothing
            return tuple(name for name in self.list_display if name != "holder")
        return self.list_display

    # A request is answered through Accept and Decline, never edited or added here.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def may_decide(self, request, obj) -> bool:
        return obj.state == RequestState.OPEN and may_write(request) and self.in_scope(request, obj)

    @admin.display(description=_("works"))
    def asked_works(self, obj):
        works = list(obj.works.all())
        if not works:
            return gettext("the whole catalogue")
        return format_html_join(", ", "{} ({})", ((w.title or w.work_ref, w.work_ref) for w in works))

    @admin.display(description=_("purposes"))
    def purpose_list(self, obj):
        return ", ".join(obj.purposes)

    @admin.display(description=_("jurisdictions"))
    def jurisdiction_list(self, obj):
        return ", ".join(obj.jurisdictions)

    @admin.display(description=_("state"), ordering="state")
    def state_badge(self, obj):
        return format_html('<span class="request-state request-state-{}">{}</span>', obj.state,
                           obj.get_state_display())

    @admin.display(description=_("licences"))
    def licence_list(self, obj):
        licences = list(obj.licences.all())
        if not licences:
            return "—"
        return format_html_join(mark_safe("<br>"), "{} ({}; {}; {})", (
            (lic.pk, lic.get_scope_display(), ", ".join(lic.purposes), ", ".join(lic.jurisdictions))
            for lic in licences))

    # ---- the inbox: open count in the title ------------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        open_count = self.get_queryset(request).filter(state=RequestState.OPEN).count()
        context = {"title": gettext("Permission requests (%(count)d open)") % {"count": open_count},
                   "open_count": open_count, **(extra_context or {})}
        return super().changelist_view(request, context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, admin.utils.unquote(object_id))
        context = {"may_decide": self.may_decide(request, obj),
                   "accept_url": reverse("admin:consent_permissionrequest_accept", args=[obj.pk]),
                   "decline_url": reverse("admin:consent_permissionrequest_decline", args=[obj.pk]),
                   **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    # ---- accept and decline ----------------------------------------------------------------------------------
    def get_urls(self):
        return [path("<path:object_id>/accept/", self.admin_site.admin_view(self.accept_view),
                     name="consent_permissionrequest_accept"),
                path("<path:object_id>/decline/", self.admin_site.admin_view(self.decline_view),
                     name="consent_permissionrequest_decline"),
                *super().get_urls()]

    def _decidable(self, request, object_id) -> PermissionRequest:
        obj = self.get_object(request, admin.utils.unquote(object_id))
        if not self.may_decide(request, obj):
            raise Http404(_("Not found."))
        return obj

    def _page(self, request, obj, form, title: str, template: str):
        context = {**self.admin_site.each_context(request), "title": title, "form": form, "original": obj,
                   "opts": self.model._meta, "asked_works": self.asked_works(obj),
                   "change_url": reverse("admin:consent_permissionrequest_change", args=[obj.pk])}
        return TemplateResponse(request, template, context)

    def accept_view(self, request, object_id):
        obj = self._decidable(request, object_id)
        form = AcceptForm(request.POST or None, request_obj=obj)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                request_accept(request=obj, actor=request.user, license_url=data["license_url"],
                               conditions=data["conditions"], purposes=list(data["purposes"]),
                               jurisdictions=data["jurisdictions"].split(), works=list(data["works"]),
                               effective_from=data["effective_from"], effective_until=data["effective_until"])
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                self.message_user(request, gettext("The request is accepted and the licence is filed; the "
                                                   "developer is told by e-mail."), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:consent_permissionrequest_change", args=[obj.pk]))
        return self._page(request, obj, form, gettext("Accept the permission request"),
                          "admin/consent/permissionrequest/accept.html")

    def decline_view(self, request, object_id):
        obj = self._decidable(request, object_id)
        form = DeclineForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                request_decline(request=obj, actor=request.user, reason=form.cleaned_data["reason"])
            except DomainError as exc:
                apply_domain_error(form, exc)
            else:
                self.message_user(request, gettext("The request is declined; the developer is told by e-mail."),
                                  messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:consent_permissionrequest_change", args=[obj.pk]))
        return self._page(request, obj, form, gettext("Decline the permission request"),
                          "admin/consent/permissionrequest/decline.html")
