"""The registry in the admin: holders, their users, mandates, works with their identifiers, disputes.

Every save goes through registry.services; the forms run the services' own checks first so that errors appear on
the field. Consent-related parts of the work page (answers, declarations, the consent-state filter) are added by
consent/admin.py, which extends WorkAdmin: the registry does not import the consent app.

Over the ~400-line guide (docs/architecture.md): one section per model (holders, users, mandates, works with
identifiers, disputes), each short and calling registry.services / registry.selectors; kept as one module, the
layout Django's admin autodiscovery expects, rather than a package of five small files.
"""
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model, password_validation
from django.db.models import Count, Prefetch
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.formats import localize
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.selectors import audit_events_for_objects
from core.errors import DomainError

from .admin_base import (
    EstimatedCountPaginator,
    ReadOnlyForHoldersAdmin,
    ScopedAdmin,
    holders_for_filing,
    may_look,
    may_write,
    request_membership,
    visible_holder_ids,
)
from .admin_fingerprints import WorkFingerprintsMixin
from .models import Dispute, DisputeResolution, Holder, Identifier, Mandate, Membership, Role, Work
from .selectors import holder_for_filing, is_operator, works_search
from .services import (
    dispute_resolve,
    dispute_withdraw,
    holder_create,
    holder_update,
    holder_user_set,
    identifier_remove,
    identifiers_parse,
    mandate_create,
    mandate_end,
    work_register,
)


def mark_saved(obj, saved) -> None:
    """Point the admin's unsaved form instance at the row the service wrote, for the redirect and the log."""
    obj.pk = saved.pk
    obj._state.adding = False
    obj._state.db = saved._state.db


# ---- holders ------------------------------------------------------------------------------------------------
@admin.register(Holder)
class HolderAdmin(ReadOnlyForHoldersAdmin):
    holder_path = "pk"
    audit_object_type = "holder"
    list_display = ("code", "name", "kind", "country", "verified", "work_count")
    list_filter = ("kind", "verified", "country")
    search_fields = ("code", "name")
    fields = ("code", "name", "kind", "country", "licensing_url", "verified")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_work_count=Count("works"))

    @admin.display(description=_("works"), ordering="_work_count")
    def work_count(self, obj):
        return obj._work_count

    def get_readonly_fields(self, request, obj=None):
        return ("code",) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in ("name", "kind", "country", "licensing_url", "verified")}
        if change:
            holder_update(holder=Holder.objects.get(pk=obj.pk), actor=request.user, **data)
        else:
            mark_saved(obj, holder_create(code=form.cleaned_data["code"], actor=request.user, **data))


# ---- holder users -------------------------------------------------------------------------------------------
class HolderUserAddForm(forms.ModelForm):
    username = forms.CharField(label=_("username"), max_length=150)
    email = forms.EmailField(label=_("email address"), required=False)
    password1 = forms.CharField(label=_("password"), strip=False, widget=forms.PasswordInput,
                                help_text=password_validation.password_validators_help_text_html())
    password2 = forms.CharField(label=_("password (again)"), strip=False, widget=forms.PasswordInput)

    class Meta:
        model = Membership
        fields = ("holder", "role")

    def clean_username(self):
        username = self.cleaned_data["username"]
        existing = get_user_model().objects.filter(username=username).first()
        if existing is not None:
            raise forms.ValidationError(_("A user with that username already exists."))
        return username

    def clean(self):
        data = super().clean()
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", _("The two passwords differ."))
        elif data.get("password1"):
            user = get_user_model()(username=data.get("username", ""), email=data.get("email", ""))
            try:
                password_validation.validate_password(data["password1"], user)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


@admin.register(Membership)
class HolderUserAdmin(ScopedAdmin):
    """Users of rights holders. Operators add them for any holder; a holder's admins add their own colleagues."""

    audit_object_type = "membership"
    list_display = ("user", "holder", "role", "is_active")
    list_filter = ("role",)
    list_select_related = ("user", "holder")
    search_fields = ("user__username", "user__email", "holder__code")

    def scope_queryset(self, request, queryset):
        if is_operator(request.user):
            return queryset
        membership = request_membership(request)
        # Colleagues only: a collective does not manage its principals' users.
        return queryset.filter(holder_id=membership.holder_id) if membership else queryset.none()

    def in_scope(self, request, obj):
        if is_operator(request.user):
            return True
        membership = request_membership(request)
        return membership is not None and obj.holder_id == membership.holder_id

    def _manages_users(self, request):
        membership = request_membership(request)
        return is_operator(request.user) or (membership is not None and membership.role == Role.ADMIN)

    def has_add_permission(self, request):
        return self._manages_users(request)

    def has_change_permission(self, request, obj=None):
        return self._manages_users(request) and (obj is None or self.in_scope(request, obj))

    @admin.display(description=_("active"), boolean=True)
    def is_active(self, obj):
        return obj.user.is_active

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = HolderUserAddForm
            kwargs["fields"] = ("holder", "username", "email", "role", "password1", "password2")
        else:
            kwargs["fields"] = ("role",)
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ("holder", "username", "email", "role", "password1", "password2")})]
        return [(None, {"fields": ("user", "holder", "role")})]

    def get_readonly_fields(self, request, obj=None):
        return ("user", "holder") if obj is not None else ()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "holder" and not is_operator(request.user):
            membership = request_membership(request)
            kwargs["queryset"] = Holder.objects.filter(pk=membership.holder_id if membership else None)
            kwargs["initial"] = membership.holder_id if membership else None
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            user = holder_user_set(holder=obj.holder, username=obj.user.username, role=form.cleaned_data["role"],
                                   actor=request.user)
        else:
            data = form.cleaned_data
            user = holder_user_set(holder=data["holder"], username=data["username"], role=data["role"],
                                   email=data.get("email", ""), password=data["password1"], actor=request.user)
        membership = Membership.objects.select_related("user", "holder").get(user=user)
        obj.user, obj.holder, obj.role = membership.user, membership.holder, membership.role
        mark_saved(obj, membership)


# ---- mandates -----------------------------------------------------------------------------------------------
class MandateForm(forms.ModelForm):
    class Meta:
        model = Mandate
        fields = ("agent", "principal", "valid_from", "valid_until")


@admin.register(Mandate)
class MandateAdmin(ReadOnlyForHoldersAdmin):
    """Operators create and end mandates; a collective sees its principals, a principal sees who acts for it."""

    holder_paths_for_visibility = ("agent", "principal")
    audit_object_type = "mandate"
    form = MandateForm
    list_display = ("agent", "principal", "valid_from", "valid_until")
    list_select_related = ("agent", "principal")
    list_filter = ("valid_until",)
    search_fields = ("agent__code", "principal__code", "agent__name", "principal__name")
    actions = ("end_mandates",)

    def get_readonly_fields(self, request, obj=None):
        return ("agent", "principal", "valid_from", "valid_until") if obj is not None else ()

    def has_change_permission(self, request, obj=None):
        # A mandate is created and ended, never edited; the change list's action needs "change" rights.
        return is_operator(request.user) and obj is None

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "agent":
            kwargs["queryset"] = Holder.objects.filter(kind="collective")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        mandate = mandate_create(agent=data["agent"], principal=data["principal"], valid_from=data["valid_from"],
                                 valid_until=data.get("valid_until"), actor=request.user)
        mark_saved(obj, mandate)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)

        class ServiceCheckedForm(form_class):
            def clean(self):
                data = super().clean()
                agent, principal = data.get("agent"), data.get("principal")
                if agent and principal and agent.pk == principal.pk:
                    self.add_error("principal", _("A holder cannot hold a mandate for itself."))
                return data

        return ServiceCheckedForm

    @admin.action(description=_("End the selected mandates now"), permissions=["change"])
    def end_mandates(self, request, queryset):
        ended = 0
        for mandate in queryset:
            mandate_end(mandate=mandate, actor=request.user)
            ended += 1
        self.message_user(request, gettext("%(count)d mandate(s) ended.") % {"count": ended})


# ---- works and identifiers ----------------------------------------------------------------------------------
class IdentifierInlineForm(forms.ModelForm):
    """A new row takes `scheme:value`, normalised by the registry; a current row can only be removed (ended)."""

    text = forms.CharField(label=_("identifier"), required=False, max_length=2100,
                           help_text=_("scheme:value, e.g. isbn:978-4-9901661-3-7, doi:10.1234/x, url:https://…"))
    end = forms.BooleanField(label=_("remove"), required=False,
                             help_text=_("Ends the registration; the history keeps it."))

    class Meta:
        model = Identifier
        fields = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.parsed = None
        if not self.instance._state.adding:
            self.fields["text"].initial = str(self.instance)
            self.fields["text"].disabled = True
        else:
            self.fields["end"].disabled = True

    def clean(self):
        data = super().clean()
        text = (data.get("text") or "").strip()
        if self.instance._state.adding and text:
            try:
                self.parsed = identifiers_parse([text])[0]
            except DomainError as exc:
                self.add_error("text", exc.errors[0]["detail"] if exc.errors else exc.detail)
        return data


class IdentifierInline(admin.TabularInline):
    model = Identifier
    form = IdentifierInlineForm
    fields = ("text", "registered_at", "end")
    readonly_fields = ("registered_at",)
    extra = 1
    verbose_name = _("identifier")
    verbose_name_plural = _("identifiers (current)")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(valid_until__isnull=True).order_by("scheme", "value")

    def get_fields(self, request, obj=None):
        return self.fields if may_write(request) else ("identifier", "registered_at")

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if may_write(request) else ("identifier", "registered_at")

    @admin.display(description=_("identifier"))
    def identifier(self, obj):
        return str(obj)

    @admin.display(description=_("registered at"))
    def registered_at(self, obj):
        return "" if obj is None or obj._state.adding else localize(localtime(obj.valid_from))

    # The work page has already checked that the work is in the user's scope.
    def has_view_permission(self, request, obj=None):
        return may_look(request)

    def has_add_permission(self, request, obj=None):
        return may_write(request)

    def has_change_permission(self, request, obj=None):
        return may_write(request)

    def has_delete_permission(self, request, obj=None):
        return False


class WorkForm(forms.ModelForm):
    class Meta:
        model = Work
        fields = ("holder", "work_ref", "title", "original_title", "kind")
        labels = {"holder": _("holder")}  # the model's foreign key has no translatable name


class WorkAdmin(WorkFingerprintsMixin, ScopedAdmin):
    audit_object_type = "work"
    form = WorkForm
    list_display = ("title", "original_title", "work_ref", "holder_code", "kind", "identifier_list")
    list_filter = ("kind",)
    list_select_related = ("holder",)
    # Searching is done by get_search_results: identifiers exactly (normalised), titles in either language.
    search_fields = ("title", "original_title", "work_ref")
    search_help_text = _("A title (in either language), a catalogue number, or an identifier such as "
                         "isbn:978-4-9901661-3-7.")
    # (holder, work_ref) is unique, so this is a total order an index serves.
    ordering = ("holder_id", "work_ref")
    paginator = EstimatedCountPaginator
    inlines = [IdentifierInline]
    readonly_fields = ("created_at", "updated_at", "filed_by_agent")

    def get_queryset(self, request):
        current = Identifier.objects.filter(valid_until__isnull=True).order_by("scheme", "value")
        return super().get_queryset(request).prefetch_related(
            Prefetch("identifiers", queryset=current, to_attr="current_identifiers"))

    @admin.display(description=_("holder"), ordering="holder__code")
    def holder_code(self, obj):
        return obj.holder.code

    @admin.display(description=_("holder"))
    def owner(self, obj):
        return str(obj.holder)

    @admin.display(description=_("identifiers"))
    def identifier_list(self, obj):
        items = getattr(obj, "current_identifiers", None) or []
        # One safe string: a safe string plus a plain one is plain again, and the page showed "<code>".
        return format_html("{}{}", format_html_join(", ", "<code>{}</code>", ((str(i),) for i in items[:3])),
                           " …" if len(items) > 3 else "")

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ("holder", "work_ref", "title", "original_title", "kind")})]
        return [(None, {"fields": ("owner", "work_ref", "title", "original_title", "kind")}),
                (_("Registration"), {"fields": ("created_at", "updated_at", "filed_by_agent"),
                                     "classes": ("collapse",)})]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ("owner", "work_ref", *self.readonly_fields)
        return ()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "holder":
            kwargs["queryset"] = holders_for_filing(request)
            membership = request_membership(request)
            if membership is not None:
                kwargs["initial"] = membership.holder_id
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_search_results(self, request, queryset, search_term):
        return works_search(works=queryset, term=search_term), False

    def audit_events(self, obj) -> list:
        # The work's own changes and those of every identifier it has held, in chain order (bundled ones too).
        identifiers = Identifier.objects.filter(work=obj).values_list("pk", flat=True)
        return audit_events_for_objects(objects=[("work", obj.pk), *(("identifier", pk) for pk in identifiers)])

    # ---- saving through the services -------------------------------------------------------------------------
    def _filing(self, request, holder):
        """(holder, agent): refuses a holder the user may not file for (a 404 to them) or a read-only role."""
        return holder_for_filing(user=request.user, code=holder.code)

    def save_model(self, request, obj, form, change):
        holder = Holder.objects.get(pk=obj.holder_id)
        holder, agent = self._filing(request, holder)
        data = form.cleaned_data
        registration = work_register(holder=holder, work_ref=obj.work_ref, title=data.get("title"),
                                     kind=data.get("kind"), original_title=data.get("original_title", ""),
                                     actor=request.user, agent=agent)
        mark_saved(obj, registration.work)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Identifier:
            return super().save_formset(request, form, formset, change)
        work = form.instance
        holder, agent = self._filing(request, work.holder)
        # Django's change message reads these; the audit log is the record that matters.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        added = []
        for row in formset.forms:
            if not row.has_changed() or not hasattr(row, "cleaned_data"):
                continue
            if row.instance._state.adding:
                if row.parsed is not None:
                    added.append(row.parsed)
            elif row.cleaned_data.get("end"):
                identifier_remove(identifier=row.instance, actor=request.user)
                self.message_user(request, gettext("Identifier %(identifier)s removed.")
                                  % {"identifier": row.instance}, messages.INFO)
        if not added:
            return
        registration = work_register(holder=holder, work_ref=work.work_ref, identifiers=added,
                                     actor=request.user, agent=agent)
        for dispute in registration.disputes:
            self.message_user(
                request,
                gettext("The identifier %(identifier)s is registered to another holder's work: a dispute is open, "
                        "and operators will decide who holds it.")
                % {"identifier": f"{dispute.scheme}:{dispute.value}"},
                messages.WARNING)


admin.site.register(Work, WorkAdmin)


# ---- disputes -----------------------------------------------------------------------------------------------
class DisputeResolveForm(forms.ModelForm):
    resolution = forms.ChoiceField(label=_("resolution"), widget=forms.RadioSelect, choices=[
        (DisputeResolution.KEPT, DisputeResolution.KEPT.label),
        (DisputeResolution.TRANSFERRED, DisputeResolution.TRANSFERRED.label)])  # withdrawing is the claimant's

    class Meta:
        model = Dispute
        fields = ("resolution", "resolution_note")

    def clean(self):
        data = super().clean()
        if data.get("resolution") == DisputeResolution.TRANSFERRED and self.instance.claimant_work_id is None:
            self.add_error("resolution", _("The claimant has no work to transfer the identifier to."))
        return data


@admin.register(Dispute)
class DisputeAdmin(ScopedAdmin):
    """Holders see disputes about their works and those they opened; operators resolve them (keep or transfer);
    the claimant may withdraw its own (a button on the page and a list action)."""

    holder_paths_for_visibility = ("holder", "claimant")
    audit_object_type = "dispute"
    list_display = ("identifier", "work_shown", "holder_shown", "claimant_shown", "opened_at", "status")
    list_select_related = ("work", "holder", "claimant")
    list_filter = ("resolution", "opened_at")
    search_fields = ("value",)
    fields = ("identifier", "work_shown", "holder_shown", "claimant_shown", "claimant_work_shown", "evidence",
              "opened_at", "status", "resolved_at", "resolution", "resolution_note")
    readonly_fields = ("identifier", "work_shown", "holder_shown", "claimant_shown", "claimant_work_shown",
                       "evidence", "opened_at", "status", "resolved_at")
    actions = ("withdraw_disputes",)
    change_form_template = "admin/registry/dispute/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("claimant_work")

    @admin.display(description=_("identifier"))
    def identifier(self, obj):
        return f"{obj.scheme}:{obj.value}"

    @admin.display(description=_("status"))
    def status(self, obj):
        return obj.get_resolution_display() if obj.resolution else gettext("open")

    def get_object(self, request, object_id, from_field=None):
        dispute = super().get_object(request, object_id, from_field)
        dispute._viewer_holder_ids = visible_holder_ids(request)  # for the work columns below
        return dispute

    @staticmethod
    def _shown(dispute, obj, holder_id, url_name):
        """A work or holder by name; a link only for those who may open it (the other side of a dispute gets the
        name, not a link that would answer 404). The list shows names only."""
        if obj is None:
            return "–"
        if not hasattr(dispute, "_viewer_holder_ids"):
            return str(obj)
        ids = dispute._viewer_holder_ids
        if ids is not None and holder_id not in ids:
            return str(obj)
        return format_html('<a href="{}">{}</a>', reverse(url_name, args=[obj.pk]), obj)

    def _work_shown(self, dispute, work):
        return self._shown(dispute, work, work.holder_id if work else None, "admin:registry_work_change")

    @admin.display(description=_("current holder"), ordering="holder__code")
    def holder_shown(self, obj):
        return self._shown(obj, obj.holder, obj.holder_id, "admin:registry_holder_change")

    @admin.display(description=_("claimant"), ordering="claimant__code")
    def claimant_shown(self, obj):
        return self._shown(obj, obj.claimant, obj.claimant_id, "admin:registry_holder_change")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and self.has_change_permission(request, obj):
            return self.readonly_fields
        return self.fields

    @admin.display(description=_("work"))
    def work_shown(self, obj):
        return self._work_shown(obj, obj.work)

    @admin.display(description=_("claimant's work"))
    def claimant_work_shown(self, obj):
        return self._work_shown(obj, obj.claimant_work if obj.claimant_work_id else None)

    def has_add_permission(self, request):
        return False  # disputes open when a claim names another holder's identifier

    def has_change_permission(self, request, obj=None):
        return is_operator(request.user) and (obj is None or obj.is_open)

    def has_withdraw_permission(self, request, obj=None):
        if is_operator(request.user):
            return obj is None or obj.is_open
        membership = request_membership(request)
        if membership is None or not membership.can_write:
            return False
        return obj is None or (obj.is_open and obj.claimant_id in (visible_holder_ids(request) or ()))

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None and self.has_change_permission(request, obj):
            kwargs["form"] = DisputeResolveForm
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        dispute_resolve(dispute=obj, resolution=data["resolution"], note=data.get("resolution_note", ""),
                        actor=request.user)

    # ---- withdrawing: the claimant's own act ----------------------------------------------------------------
    def get_urls(self):
        return [path("<path:object_id>/withdraw/", self.admin_site.admin_view(self.withdraw_view),
                     name="registry_dispute_withdraw"), *super().get_urls()]

    def withdraw_view(self, request, object_id):
        dispute = self.get_object(request, admin.utils.unquote(object_id))
        if request.method != "POST" or not self.has_withdraw_permission(request, dispute):
            raise Http404(_("Not found."))
        self._withdraw(request, dispute)
        return HttpResponseRedirect(reverse("admin:registry_dispute_change", args=[dispute.pk]))

    def _withdraw(self, request, dispute) -> bool:
        try:
            dispute_withdraw(dispute=dispute, actor=request.user, note=request.POST.get("note", ""))
        except DomainError as exc:
            self.message_user(request, f"{dispute}: {exc.detail}", messages.ERROR)
            return False
        self.message_user(request, gettext("The dispute over %(identifier)s is withdrawn; the work's answers no "
                                           "longer say it is disputed.")
                          % {"identifier": f"{dispute.scheme}:{dispute.value}"}, messages.SUCCESS)
        return True

    @admin.action(description=_("Withdraw the selected disputes (your own claims)"), permissions=["withdraw"])
    def withdraw_disputes(self, request, queryset):
        for dispute in queryset.select_related("claimant", "holder"):
            if self.has_withdraw_permission(request, dispute):
                self._withdraw(request, dispute)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        dispute = self.get_object(request, admin.utils.unquote(object_id))
        context = {"may_withdraw": self.has_withdraw_permission(request, dispute),
                   "withdraw_url": reverse("admin:registry_dispute_withdraw", args=[dispute.pk]),
                   **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)
