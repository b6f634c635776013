"""Operators issue and revoke API keys here: the key is shown once, in a message after saving; only its hash is kept."""
from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey as LibraryAPIKey

from registry.errors import DomainError
from registry.selectors import is_operator

from .models import APIKey
from .services import (
    api_key_create,
    api_key_default_jurisdiction_validate,
    api_key_default_purpose_validate,
    api_key_rate_validate,
    api_key_revoke,
    api_key_update,
)

# The library registers its own (unused) model; keys live in ours, which adds the rate limit.
if admin.site.is_registered(LibraryAPIKey):
    admin.site.unregister(LibraryAPIKey)


class APIKeyForm(forms.ModelForm):
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
class KeyAdmin(APIKeyModelAdmin):
    form = APIKeyForm
    list_display = ("prefix", "name", "rate", "default_purpose", "default_jurisdiction", "created", "expiry_date",
                    "_has_expired", "revoked")
    list_filter = ("revoked", "created")
    actions = ["revoke_keys"]

    # Operators are staff users, with or without Django's per-user permission rows (Kyodaku grants none);
    # holder users never see keys. A key is revoked, not deleted, so that the services forget its cached record.
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

    def save_model(self, request, obj, form, change):
        if not change:
            created, plain = api_key_create(name=obj.name, rate=obj.rate, expiry_date=obj.expiry_date,
                                            default_purpose=obj.default_purpose,
                                            default_jurisdiction=obj.default_jurisdiction)
            for name in ("pk", "prefix", "hashed_key", "created"):
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
