"""Consent in the admin: declarations (filed, superseded and revoked through consent.services), jurisdiction rules,
and the consent parts of the work page (the answers an AI developer would get, the declaration history, the
consent-state filter).

Over the ~400-line guide (docs/architecture.md): the admin classes of one app's models stay together, each class
short and free of business rules (filing, revoking and the consent-state reads are consent.services and
consent.selectors); splitting them across modules would only scatter what one admin page shows.
"""
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from registry.admin import WorkAdmin, mark_saved
from registry.admin_base import (
    ScopedAdmin,
    apply_domain_error,
    holders_for_filing,
    may_look,
    request_membership,
    revoke_each,
    visible_holder_ids,
)
from registry.models import Work
from registry.selectors import holder_for_filing, is_operator, work_open_disputes

from .labels import (
    BASIS_NAMES,
    CONSENT_VERBS,
    OUTCOME_NAMES,
    PURPOSE_CHOICES,
    PURPOSE_NAMES,
    jurisdiction_label,
    jurisdiction_name,
    rule_basis_label,
    vocabulary_problem,
)
from .lookup import work_decisions
from .models import ALL_PURPOSES, Consent, Declaration, Jurisdiction, Regime, Rule, Scope, current_q
from .selectors import work_consents_in_force, work_declarations_in_force, works_in_consent_state
from .services import declaration_file, declaration_revoke, declaration_validate, rule_set
from .vocabulary import PURPOSES

# The jurisdictions a work's page answers for: Japan, the EU and the US (domain.md's key regimes), and everywhere
# else (`*`, the protective default and what a catalogue-wide "everywhere" declaration speaks to).
ANSWER_JURISDICTIONS = ("JP", "EU", "US", "*")



# ---- declarations -------------------------------------------------------------------------------------------
class DeclarationStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("current", _("current")), ("superseded", _("superseded")), ("revoked", _("revoked"))]

    def queryset(self, request, queryset):
        if self.value() == "current":
            return queryset.filter(current_q())
        if self.value() == "superseded":
            return queryset.filter(superseded_at__isnull=False)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


class PurposeFilter(admin.SimpleListFilter):
    """The fixed purpose tree, not a DISTINCT over every declaration."""

    title = _("purpose")
    parameter_name = "purpose"

    def lookups(self, request, model_admin):
        return [(code, PURPOSE_CHOICES[index][1]) for index, code in enumerate(PURPOSES)]

    def queryset(self, request, queryset):
        return queryset.filter(purpose=self.value()) if self.value() else queryset


class JurisdictionFilter(admin.SimpleListFilter):
    title = _("jurisdiction")
    parameter_name = "jurisdiction"

    def lookups(self, request, model_admin):
        return [(code, jurisdiction_label(code)) for code in (*ANSWER_JURISDICTIONS, "*")]

    def queryset(self, request, queryset):
        return queryset.filter(jurisdiction=self.value()) if self.value() else queryset


class DeclarationForm(forms.ModelForm):
    license_url = forms.URLField(label=_("licence URL"), max_length=2000, required=False, assume_scheme="https")
    purpose = forms.ChoiceField(label=_("purpose"), choices=PURPOSE_CHOICES)
    jurisdiction = forms.CharField(label=_("jurisdiction"), max_length=3, initial="*",
                                   help_text=_("An ISO 3166-1 alpha-2 country code (JP, FR, US…), EU, or * for "
                                               "everywhere."))

    class Meta:
        model = Declaration
        fields = ("holder", "scope", "work", "purpose", "jurisdiction", "consent", "license_url", "conditions",
                  "effective_from", "effective_until")
        labels = {"holder": _("holder"), "work": _("work")}  # the model's foreign keys have no translatable names

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "effective_from" in self.fields:
            self.fields["effective_from"].required = False
            self.fields["effective_from"].help_text = _("Empty: from now.")

    def clean(self):
        data = super().clean()
        instance = self.instance
        holder = data.get("holder", getattr(instance, "holder", None) if instance.holder_id else None)
        if holder is None or self.errors:
            return data
        slot = {name: data.get(name, getattr(instance, name)) for name in ("scope", "work", "purpose",
                                                                           "jurisdiction")}
        try:
            purpose, jurisdiction, consent = declaration_validate(
                holder=holder, consent=data.get("consent", ""), effective_from=data.get("effective_from"),
                effective_until=data.get("effective_until"), **slot)
        except DomainError as exc:
            apply_domain_error(self, exc)
            return data
        if "jurisdiction" in data:
            data["jurisdiction"] = jurisdiction
        return data


@admin.register(Declaration)
class DeclarationAdmin(ScopedAdmin):
    """Declarations are append-only: "changing" one files a new one that supersedes it; revoking is an action."""

    audit_object_type = "declaration"
    form = DeclarationForm
    list_display = ("target", "holder_code", "purpose", "jurisdiction", "consent", "effective_from",
                    "effective_until", "recorded_at", "state")
    list_select_related = ("holder", "work")
    list_filter = (DeclarationStateFilter, "consent", "scope", PurposeFilter, JurisdictionFilter)
    search_fields = ("work__title", "work__work_ref", "holder__code")
    autocomplete_fields = ("work",)
    actions = ("revoke_declarations",)
    slot_fields = ("holder", "scope", "work", "purpose", "jurisdiction")
    statement_fields = ("consent", "license_url", "conditions", "effective_from", "effective_until")
    record_fields = ("recorded_at", "filed_by", "filed_by_agent", "superseded_at", "superseded_by_link",
                     "revoked_at", "revoked_by", "slot_history")
    change_form_template = "admin/consent/declaration/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("work")  # the declaration's name shows its work

    @admin.display(description=_("work"), ordering="work__title")
    def target(self, obj):
        return obj.work.title if obj.work_id else gettext("(whole catalogue)")

    @admin.display(description=_("holder"), ordering="holder__code")
    def holder_code(self, obj):
        return obj.holder.code

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
        url = reverse("admin:consent_declaration_change", args=[obj.superseded_by_id])
        return format_html('<a href="{}">{}</a>', url, obj.superseded_by_id)

    @admin.display(description=_("history of this slot"))
    def slot_history(self, obj):
        rows = Declaration.objects.filter(holder_id=obj.holder_id, scope=obj.scope, work_id=obj.work_id,
                                          purpose=obj.purpose, jurisdiction=obj.jurisdiction).order_by("recorded_at")
        items = format_html_join(
            "", '<li><a href="{}">{}</a>: {} ({}){}</li>',
            ((reverse("admin:consent_declaration_change", args=[row.pk]),
              timezone.localtime(row.recorded_at).strftime("%Y-%m-%d %H:%M:%S %Z"), row.get_consent_display(),
              self.state(row), " ◀" if row.pk == obj.pk else "") for row in rows))
        return format_html('<ol class="slot-history">{}</ol>', items)

    # ---- rights ----------------------------------------------------------------------------------------------
    def has_change_permission(self, request, obj=None):
        # Only the current declaration of a slot can be superseded (or revoked); history is read-only.
        return super().has_change_permission(request, obj) and (obj is None or obj.is_current)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": self.slot_fields}), (_("Statement"), {"fields": self.statement_fields})]
        return [(_("Slot"), {"fields": self.slot_fields}), (_("Statement"), {"fields": self.statement_fields}),
                (_("Record"), {"fields": self.record_fields})]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if not self.has_change_permission(request, obj):
            return (*self.slot_fields, *self.statement_fields, *self.record_fields)
        return (*self.slot_fields, *self.record_fields)

    def get_autocomplete_fields(self, request):
        return self.autocomplete_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "holder":
            kwargs["queryset"] = holders_for_filing(request)
            membership = request_membership(request)
            if membership is not None:
                kwargs["initial"] = membership.holder_id
        if db_field.name == "work":
            # The form's own check, not just the autocomplete's: a posted id outside the scope is not a choice.
            ids = visible_holder_ids(request)
            kwargs["queryset"] = Work.objects.all() if ids is None else Work.objects.filter(holder_id__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # ---- filing ----------------------------------------------------------------------------------------------
    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        holder, agent = holder_for_filing(user=request.user, code=obj.holder.code)
        declaration, created = declaration_file(
            holder=holder, scope=obj.scope, work=obj.work if obj.work_id else None, purpose=obj.purpose,
            jurisdiction=obj.jurisdiction, consent=data["consent"], license_url=data.get("license_url", ""),
            conditions=data.get("conditions", ""), effective_from=data.get("effective_from"),
            effective_until=data.get("effective_until"), actor=request.user, agent=agent)
        mark_saved(obj, declaration)
        # Said here, where the service's answer is known (the response hooks below only see `obj`).
        if not created:
            self.message_user(request, gettext("Nothing changed: this statement is already in force.") if change
                              else gettext("This statement is already in force; nothing was filed."), messages.INFO)
        elif change:
            self.message_user(request, gettext("A new declaration was filed; it supersedes the previous one, "
                                               "which stays in the history."), messages.SUCCESS)

    def response_change(self, request, obj):
        # `obj` now points at the declaration in force (the new one, or the unchanged one): show it.
        return HttpResponseRedirect(reverse("admin:consent_declaration_change", args=[obj.pk]))

    def log_change(self, request, obj, message):
        return None  # the audit log records the filing; Django's log would name the old row

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "supersede_notice": object_id is not None}
        return super().changeform_view(request, object_id, form_url, extra_context)

    @admin.action(description=_("Revoke the selected declarations"), permissions=["change"])
    def revoke_declarations(self, request, queryset):
        revoke_each(
            self, request, queryset.select_related("holder"),
            revoke=lambda declaration: declaration_revoke(declaration=declaration, actor=request.user),
            revoked_message=lambda n: ngettext("%(count)d declaration revoked.", "%(count)d declarations revoked.",
                                               n) % {"count": n},
            skipped_message=lambda n: ngettext(
                "%(count)d declaration was skipped: it is no longer in force.",
                "%(count)d declarations were skipped: they are no longer in force.", n) % {"count": n})


# ---- rules and jurisdictions --------------------------------------------------------------------------------
class RuleForm(forms.ModelForm):
    jurisdiction_code = forms.CharField(label=_("jurisdiction"), max_length=3,
                                        help_text=_("ISO 3166-1 alpha-2, EU, or * (the default)."))
    purpose = forms.ChoiceField(label=_("purpose"), choices=[(ALL_PURPOSES, _("all purposes")), *PURPOSE_CHOICES])

    class Meta:
        model = Rule
        fields = ("purpose", "regime", "basis")


class ReferenceDataAdmin(admin.ModelAdmin):
    """Rules everyone signed in may read; only operators change them."""

    def has_module_permission(self, request):
        return may_look(request)

    def has_view_permission(self, request, obj=None):
        return may_look(request)

    def has_add_permission(self, request):
        return is_operator(request.user)

    def has_change_permission(self, request, obj=None):
        return is_operator(request.user)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Rule)
class RuleAdmin(ReferenceDataAdmin):
    """A rule is versioned: saving one ends the current version and starts a new one (consent.services.rule_set)."""

    list_display = ("jurisdiction", "purpose_label", "regime", "basis_label", "valid_from", "valid_until")
    list_filter = ("regime", "jurisdiction")
    list_select_related = ("jurisdiction",)
    form = RuleForm

    @admin.display(description=_("purpose"), ordering="purpose")
    def purpose_label(self, obj):
        return gettext("all purposes") if obj.purpose == ALL_PURPOSES else obj.purpose

    @admin.display(description=_("legal basis"))
    def basis_label(self, obj):
        return rule_basis_label(obj.basis)

    def has_change_permission(self, request, obj=None):
        return is_operator(request.user) and (obj is None or obj.valid_until is None)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("jurisdiction_code", "purpose", "regime", "basis")
        if not self.has_change_permission(request, obj):
            return ("jurisdiction", "purpose_label", "regime", "basis_label", "valid_from", "valid_until")
        return ("jurisdiction", "purpose_label", "regime", "basis", "valid_from", "valid_until")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if not self.has_change_permission(request, obj):
            return ("jurisdiction", "purpose_label", "regime", "basis_label", "valid_from", "valid_until")
        return ("jurisdiction", "purpose_label", "valid_from", "valid_until")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        jurisdiction = obj.jurisdiction_id if change else data["jurisdiction_code"]
        purpose = obj.purpose if change else data["purpose"]
        rule = rule_set(jurisdiction=jurisdiction, purpose=purpose, regime=data["regime"], basis=data["basis"],
                        actor=request.user)
        mark_saved(obj, rule)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)

        class ServiceCheckedForm(form_class):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                if change:  # the rule's pair is fixed; a new version changes only its regime and basis
                    self.fields.pop("jurisdiction_code", None)
                    self.fields.pop("purpose", None)

            def clean(self):
                data = super().clean()
                if data.get("regime") and data["regime"] not in Regime.values:
                    self.add_error("regime", _("Unknown regime."))
                if "jurisdiction_code" in self.fields and data.get("jurisdiction_code"):
                    from .vocabulary import UnknownJurisdiction, validate_jurisdiction

                    try:
                        data["jurisdiction_code"] = validate_jurisdiction(data["jurisdiction_code"])
                    except UnknownJurisdiction as exc:
                        self.add_error("jurisdiction_code", vocabulary_problem(exc, data["jurisdiction_code"]))
                return data

        return ServiceCheckedForm


@admin.register(Jurisdiction)
class JurisdictionAdmin(ReferenceDataAdmin):
    list_display = ("code", "local_name", "parent")
    search_fields = ("code", "name")
    fields = ("code", "local_name", "parent")
    readonly_fields = ("local_name",)

    @admin.display(description=_("name"), ordering="name")
    def local_name(self, obj):
        return jurisdiction_name(obj.code, obj.name)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# ---- the work page, with consent ----------------------------------------------------------------------------
class ConsentStateFilter(admin.SimpleListFilter):
    """What the work's own declarations in force say (catalogue declarations apply on top)."""

    title = _("consent state")
    parameter_name = "consent"

    def lookups(self, request, model_admin):
        return [("reserved", _("has a reservation in force")), ("granted", _("has a grant in force")),
                ("none", _("no declaration of its own")), ("disputed", _("disputed"))]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return works_in_consent_state(works=queryset, state=self.value(), at=timezone.now())


class DeclarationHistoryInline(admin.TabularInline):
    """Every declaration of the work, current and past: the history is visible and read-only."""

    model = Declaration
    fk_name = "work"
    fields = ("link", "purpose", "jurisdiction", "consent", "effective_from", "effective_until", "recorded_at",
              "state")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = _("declaration")
    verbose_name_plural = _("declarations of this work (history included)")

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-recorded_at")

    @admin.display(description=_("declaration"))
    def link(self, obj):
        url = reverse("admin:consent_declaration_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, str(obj.pk)[:8])

    @admin.display(description=_("state"))
    def state(self, obj):
        return DeclarationAdmin.state(None, obj)

    def has_view_permission(self, request, obj=None):
        return may_look(request)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def answer_cell(jurisdiction: str, answer: dict) -> dict:
    """One cell of the work page's answers: the outcome, why, and what decided it (the work's own declaration,
    a catalogue-wide one, linked, or the jurisdiction's rule when no declaration applies)."""
    declaration = answer.get("declaration") or None
    regime = answer.get("regime")
    if declaration:
        scope_label = gettext("this work's declaration") if declaration["scope"] == Scope.WORK else gettext(
            "catalogue-wide declaration")
        decided_by = f"{scope_label}: {CONSENT_VERBS[declaration['consent']]} {declaration['purpose']} @ " \
                     f"{declaration['jurisdiction']}"
    elif answer["basis"] == "disputed":
        decided_by = gettext("an open dispute about the work")
    else:
        decided_by = gettext("the rule (%(regime)s)") % {"regime": Regime(regime).label if regime else "–"}
    return {
        "jurisdiction": jurisdiction,
        "outcome": answer["outcome"],
        "outcome_label": OUTCOME_NAMES.get(answer["outcome"], answer["outcome"]),
        "basis": answer["basis"],
        "basis_label": BASIS_NAMES.get(answer["basis"], answer["basis"]),
        "regime": regime,
        "decided_by": decided_by,
        "decided_scope": declaration["scope"] if declaration else ("dispute" if answer["basis"] == "disputed"
                                                                   else "rule"),
        "declaration_url": reverse("admin:consent_declaration_change", args=[declaration["id"]])
        if declaration else None,
    }


class WorkChangeList(ChangeList):
    """Adds each listed work's consent state with two queries for the page (not per row, and not as EXISTS
    columns, which PostgreSQL would answer by hashing every declaration in the registry for a page of 50)."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = list(self.result_list)
        ids = [work.pk for work in self.result_list]
        now = timezone.now()
        states = work_consents_in_force(work_ids=ids, at=now)
        disputed = work_open_disputes(work_ids=ids, at=now) if ids else set()
        for work in self.result_list:
            work._reserved = (work.pk, Consent.RESERVE) in states
            work._granted = (work.pk, Consent.GRANT) in states
            work._disputed = str(work.pk) in disputed  # work_open_disputes answers ids as text


class WorkWithConsentAdmin(WorkAdmin):
    list_display = (*WorkAdmin.list_display, "consent_state")
    list_filter = (*WorkAdmin.list_filter, ConsentStateFilter)
    inlines = [*WorkAdmin.inlines, DeclarationHistoryInline]
    change_form_template = "admin/registry/work/change_form.html"

    def get_changelist(self, request, **kwargs):
        return WorkChangeList

    @admin.display(description=_("consent"))
    def consent_state(self, obj):
        parts = []
        if getattr(obj, "_disputed", False):
            parts.append(gettext("disputed"))
        if getattr(obj, "_reserved", False):
            parts.append(gettext("reserved"))
        if getattr(obj, "_granted", False):
            parts.append(gettext("granted"))
        return ", ".join(parts) or "–"

    def answers(self, work) -> list[dict]:
        decisions = work_decisions(work=work, purposes=list(PURPOSES), jurisdictions=list(ANSWER_JURISDICTIONS))
        rows = []
        for purpose in PURPOSES:
            cells = [answer_cell(jurisdiction, decisions[(purpose, jurisdiction)])
                     for jurisdiction in ANSWER_JURISDICTIONS]
            rows.append({"purpose": purpose, "purpose_label": PURPOSE_NAMES[purpose], "cells": cells})
        return rows

    def change_view(self, request, object_id, form_url="", extra_context=None):
        work = self.get_object(request, admin.utils.unquote(object_id))
        try:
            answers = self.answers(work)
        except DomainError as exc:  # e.g. no rule for a jurisdiction: the page still opens, and says why
            answers = None
            self.message_user(request, exc.detail, messages.WARNING)
        catalogue = [d for d in work_declarations_in_force(work=work) if d.scope == Scope.CATALOGUE]
        context = {
            "answers": answers,
            "answer_jurisdictions": [(code, jurisdiction_name(code)) for code in ANSWER_JURISDICTIONS],
            "catalogue_declarations": catalogue,
            "file_declaration_url": reverse("admin:consent_declaration_add") + f"?holder={work.holder_id}"
            f"&scope={Scope.WORK}&work={work.pk}",
            "may_file": self.has_change_permission(request, work),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)


admin.site.unregister(Work)
admin.site.register(Work, WorkWithConsentAdmin)

# The licence admin and the permission-request inbox register themselves.
from . import admin_licences, admin_requests  # noqa: E402,F401
