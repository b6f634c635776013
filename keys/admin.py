"""Operators issue and revoke API keys and holders' API tokens here: each is shown once, in a message after saving;
only its hash is kept."""
from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey as LibraryAPIKey

from core.errors import DomainError
from registry.models import Organisation
from registry.selectors import is_operator

from .models import APIKey, HolderToken
from .services import (
    MAX_TOKEN_DAYS,
    api_key_create,
    api_key_default_jurisdiction_validate,
    api_key_default_purpose_validate,
    api_key_rate_validate,
    api_key_revoke,
    api_key_update,
    holder_token_create,
    holder_token_revoke,
)

# The library registers its own (unused) model; keys live in ours, which adds the rate limit.
if admin.site.is_registered(LibraryAPIKey):
    admin.site.unregister(LibraryAPIKey)


class OperatorManaged:
    """Operators are staff users, with or without Django's per-user permission rows (Kyodaku grants none); holder
    users never see these pages. Nothing here is deleted: keys and tokens are revoked (so that the services forget a
    key's cached record), organisations kept."""

    def has_module_permission(self, request):
        return is_operator(request.user)

    def has_view_permission(self, request, obj=None):
        return is_operator(request.user)

    def has_add_permission(self, request):
        return is_operator(request.user)

    def has_change_permission(self, request, obj=None):
        return is_operator(request.user)

    def has_delete_permission(self, request, obj=None):
        return False


class APIKeyForm(forms.ModelForm):
    organisation_name = forms.CharField(
        label=_("organisation"), max_length=200, required=False,
        help_text=_("The AI developer's organisation (created when new). Its licences decide the key's lookups; "
                    "fixed once the key is issued. Empty: an organisation named like the key."))
    name_shown_to_holders = forms.BooleanField(
        label=_("name shown to rights holders"), required=False,
        help_text=_("The organisation agreed that rights holders see its name in their lookup statistics. "
                    "Unticked: they read “an AI developer”."))

    class Meta:
        model = APIKey
        fields = ["name", "rate", "default_purpose", "default_jurisdiction", "expiry_date", "revoked"]

    @staticmethod
    def _checked(validate, value):
        try:
            return validate(value)
        except DomainError as exc:
            raise forms.ValidationError(exc.detail) from None

    def clean_rate(self):
        return self._checked(api_key_rate_validate, self.cleaned_data.get("rate"))

    def clean_default_purpose(self):
        return self._checked(api_key_default_purpose_validate, self.cleaned_data.get("default_purpose"))

    def clean_default_jurisdiction(self):
        return self._checked(api_key_default_jurisdiction_validate, self.cleaned_data.get("default_jurisdiction"))


@admin.register(APIKey)
class KeyAdmin(OperatorManaged, APIKeyModelAdmin):
    form = APIKeyForm
    list_display = ("prefix", "name", "organisation", "rate", "default_purpose", "default_jurisdiction", "created",
                    "expiry_date", "_has_expired", "revoked")
    list_filter = ("revoked", "created")
    list_select_related = ("organisation",)
    actions = ["revoke_keys"]

    def get_readonly_fields(self, request, obj=None):
        # A key's organisation is fixed once issued: its licences decided its answers (and receipts name it).
        readonly = tuple(super().get_readonly_fields(request, obj))
        return (*readonly, "organisation") if obj is not None else readonly

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f not in ("organisation", "organisation_name")]
        fields.insert(1, "organisation" if obj is not None else "organisation_name")
        if obj is None:
            fields.insert(2, "name_shown_to_holders")
        return fields

    def save_model(self, request, obj, form, change):
        if not change:
            created, plain = api_key_create(name=obj.name, rate=obj.rate, expiry_date=obj.expiry_date,
                                            default_purpose=obj.default_purpose,
                                            default_jurisdiction=obj.default_jurisdiction,
                                            organisation=form.cleaned_data.get("organisation_name") or None,
                                            name_shown_to_holders=form.cleaned_data.get("name_shown_to_holders",
                                                                                         False))
            for name in ("pk", "prefix", "hashed_key", "created", "organisation"):
                setattr(obj, name, getattr(created, name))
            obj._state.adding = False
            self.message_user(
                request,
                _("The API key for %(name)s is: %(key)s. Store it somewhere safe: it will not be shown again.")
                % {"name": obj.name, "key": plain},
                messages.WARNING,
            )
            return
        if "revoked" in form.changed_data and obj.revoked:
            obj.revoked = False  # the service sets it, under a lock
            api_key_revoke(api_key=obj)
            obj.revoked = True
        update = [f for f in ("name", "rate", "expiry_date", "default_purpose", "default_jurisdiction")
                  if f in form.changed_data]
        if update:
            api_key_update(api_key=obj, **{f: getattr(obj, f) for f in update})

    @admin.action(description=_("Revoke the selected API keys"))
    def revoke_keys(self, request, queryset):
        count = 0
        for api_key in queryset.filter(revoked=False):
            api_key_revoke(api_key=api_key)
            count += 1
        self.message_user(request, _("%(count)d API key(s) revoked.") % {"count": count})


class HolderTokenForm(forms.ModelForm):
    days = forms.IntegerField(label=_("valid for (days)"), min_value=1, max_value=MAX_TOKEN_DAYS, required=False,
                              help_text=_("Empty: the default (KYODAKU_HOLDER_TOKEN_DAYS)."))
    rotate = forms.BooleanField(label=_("revoke the user's other tokens"), required=False)

    class Meta:
        model = HolderToken
        fields = ["user", "name"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "user" in self.fields:  # tokens are for holders' users
            self.fields["user"].queryset = self.fields["user"].queryset.filter(
                membership__isnull=False, is_active=True).order_by("username")


@admin.register(HolderToken)
class HolderTokenAdmin(OperatorManaged, admin.ModelAdmin):
    """Operators issue (shown once), rotate and revoke holders' users' API tokens; the holders' users themselves
    get theirs from an operator or `manage.py create_holder_token`. Only hashes are stored, so nothing here can show
    a token again."""

    form = HolderTokenForm
    list_display = ("prefix", "user", "holder", "name", "created", "expires_at", "revoked_at", "state")
    list_filter = ("revoked_at", "expires_at")
    search_fields = ("prefix", "user__username", "name")
    actions = ["revoke_tokens"]

    def has_change_permission(self, request, obj=None):
        return False  # a token is issued and revoked, never edited

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user__membership__holder")

    @admin.display(description=_("holder"))
    def holder(self, obj):
        membership = getattr(obj.user, "membership", None)
        return membership.holder.code if membership else "—"

    @admin.display(description=_("state"))
    def state(self, obj):
        if obj.revoked_at:
            return _("revoked")
        return _("valid") if obj.usable_at(timezone.now()) else _("expired")

    def save_model(self, request, obj, form, change):
        token, plain = holder_token_create(user=form.cleaned_data["user"], name=form.cleaned_data.get("name", ""),
                                           days=form.cleaned_data.get("days"),
                                           rotate=form.cleaned_data.get("rotate", False))
        obj.pk, obj.prefix, obj.created, obj.expires_at = token.pk, token.prefix, token.created, token.expires_at
        obj._state.adding = False
        self.message_user(
            request,
            _("The API token for %(user)s is: %(token)s. Store it somewhere safe: it will not be shown again.")
            % {"user": token.user.username, "token": plain},
            messages.WARNING,
        )

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke_tokens(self, request, queryset):
        count = 0
        for token in queryset.filter(revoked_at__isnull=True):
            holder_token_revoke(token=token)
            count += 1
        self.message_user(request, _("%(count)d token(s) revoked.") % {"count": count})


@admin.register(Organisation)
class OrganisationAdmin(OperatorManaged, admin.ModelAdmin):
    """AI developers' organisations (docs/licences.md): operators create them with their API keys; holders see
    only the names of those that asked them for permission, in their inbox."""

    list_display = ("name", "contact_email", "created_at")
    search_fields = ("name",)

