"""Domains in the admin: a holder's users claim a domain, see how to show control and when it was verified, and
read the signals Kyodaku writes for it; operators verify by other evidence or withdraw a verification."""
from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from registry.admin_base import ScopedAdmin, holders_for_filing
from registry.selectors import is_operator

from .models import DomainClaim, DomainVerification
from .selectors import domain_claim_verification
from .services import (
    domain_claim_create,
    domain_normalise,
    domain_signals_publish,
    domain_verification_withdraw,
    domain_verify_operator,
)
from .tasks import domain_claim_check_task


class DomainClaimForm(forms.ModelForm):
    operator_note = forms.CharField(
        label=_("Verify by operator: evidence"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Operators only: record control shown by other evidence (say which). Saved as a verification."))

    class Meta:
        model = DomainClaim
        fields = ["holder", "domain", "signals_public"]

    def clean_domain(self):
        try:
            return domain_normalise(self.cleaned_data.get("domain") or "")
        except DomainError as exc:
            raise forms.ValidationError(exc.errors[0]["detail"] if exc.errors else exc.detail) from None


class VerificationInline(admin.TabularInline):
    model = DomainVerification
    fk_name = "claim"
    extra = 0
    can_delete = False
    fields = ("method", "verified_at", "ended_at", "ended_reason", "note", "recorded_by")
    readonly_fields = fields
    verbose_name_plural = _("verification history")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DomainClaim)
class DomainClaimAdmin(ScopedAdmin):
    form = DomainClaimForm
    audit_object_type = "domain_claim"
    list_display = ("domain", "holder", "verified_now", "signals_public", "last_checked_at")
    list_filter = ("signals_public",)
    search_fields = ("domain",)
    inlines = [VerificationInline]
    actions = ["check_now", "withdraw_verification"]

    class Media:
        js = ["domains/signals.js"]  # the signals previews and copy buttons (no inline script: CSP)

    def get_readonly_fields(self, request, obj=None):
        fixed = ("how_to_verify", "verified_now", "last_checked_at", "last_check", "signals_links")
        return fixed + (("holder", "domain") if obj is not None else ())

    def get_fields(self, request, obj=None):
        fields = ["holder", "domain"] if obj is None else [
            "holder", "domain", "how_to_verify", "verified_now", "last_checked_at", "last_check", "signals_public",
            "signals_links"]
        if obj is not None and is_operator(request.user):
            fields.append("operator_note")
        return fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "holder":
            kwargs["queryset"] = holders_for_filing(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("verified now"), boolean=True)
    def verified_now(self, obj):
        return domain_claim_verification(obj, at=timezone.now()) is not None

    @admin.display(description=_("how to show control"))
    def how_to_verify(self, obj):
        return format_html(
            "{}<br><code>{}</code> TXT <code>{}</code><br>{}<br><code>{}</code> → <code>{}</code>",
            _("Either a DNS record:"), obj.dns_record, obj.dns_value, _("or a file over HTTPS:"),
            obj.well_known_url, obj.token)

    @admin.display(description=_("signals"))
    def signals_links(self, obj):
        """The files Kyodaku writes for this domain (jurisdiction EU), fetched from the signals API by the page
        (so the admin shows exactly what crawlers get), with a copy button and the lines explained."""
        if domain_claim_verification(obj, at=timezone.now()) is None:
            return _("Signals are written once control of the domain is verified.")
        base = f"/api/v1/signals/{obj.domain}"
        return format_html(
            '<p>{}</p>'
            '<h4>robots.txt (<a href="{}/robots.txt">{}</a>)</h4><pre data-kyodaku-signal="{}/robots.txt"></pre>'
            '<button type="button" class="button" data-kyodaku-copy>{}</button>'
            '<h4>/.well-known/tdmrep.json (<a href="{}/tdmrep.json">{}</a>)</h4>'
            '<pre data-kyodaku-signal="{}/tdmrep.json"></pre>'
            '<button type="button" class="button" data-kyodaku-copy>{}</button>'  # filled by domains/signals.js
            '<p><a href="{}?domain={}">{}</a></p>',
            _("Lines starting with # name the declarations each rule comes from. Content-Usage carries the IETF "
              "AI preferences (train-ai: training generative models; search; y allowed, n not), one rule per "
              "path, the most specific last; Content-Signal carries Cloudflare's Content Signals; tdmrep.json "
              "carries the TDM reservation (1: reserved) and where to ask for a licence. Only your own "
              "declarations are written, for the EU."),
            base, _("the file"), base, _("Copy"), base, _("the file"), base, _("Copy"),
            reverse("admin:signals-import"), obj.domain,
            _("Import the robots.txt, ai.txt or tdmrep.json this site already publishes"))

    def save_model(self, request, obj, form, change):
        if not change:
            claim, _created = domain_claim_create(holder=obj.holder, domain=obj.domain, actor=request.user)
            obj.pk, obj.token, obj.domain = claim.pk, claim.token, claim.domain
            obj._state.adding = False
            domain_claim_check_task.delay(str(claim.pk))
            return
        if "signals_public" in form.changed_data:
            domain_signals_publish(claim=obj, public=obj.signals_public, actor=request.user)
        note = form.cleaned_data.get("operator_note")
        if note and is_operator(request.user):
            domain_verify_operator(claim=obj, note=note, actor=request.user)

    @admin.action(description=_("Check control now (DNS TXT or well-known file)"))
    def check_now(self, request, queryset):
        for claim in queryset:
            domain_claim_check_task.delay(str(claim.pk))
        self.message_user(request, _("Checks queued: %(count)d.") % {"count": queryset.count()})

    @admin.action(description=_("Withdraw the verification (operators)"))
    def withdraw_verification(self, request, queryset):
        if not is_operator(request.user):
            self.message_user(request, _("Only operators withdraw verifications."), messages.ERROR)
            return
        done = 0
        for claim in queryset:
            try:
                domain_verification_withdraw(claim=claim, reason=f"withdrawn in the admin by user {request.user.pk}",
                                             actor=request.user)
                done += 1
            except DomainError as exc:
                self.message_user(request, exc.detail, messages.WARNING)
        self.message_user(request, _("Verifications withdrawn: %(count)d.") % {"count": done})
