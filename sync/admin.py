"""Operators see snapshots and register webhooks for an API key here (the same service as the API); deliveries are
read-only. Holder users never see this app."""
from django import forms
from django.contrib import admin, messages
from django.db import models
from django.utils.translation import gettext_lazy as _

from consent.vocabulary import validate_jurisdiction, validate_purpose
from core.errors import DomainError
from registry.admin_base import OperatorOnlyAdmin
from registry.selectors import is_operator

from .models import Snapshot, Webhook, WebhookDelivery
from .webhooks import webhook_enable, webhook_register, webhook_target_validate


@admin.register(Snapshot)
class SnapshotAdmin(OperatorOnlyAdmin):
    list_display = ("purpose", "jurisdiction", "status", "cursor", "requested_at", "finished_at")
    list_filter = ("status", "purpose", "jurisdiction")
    readonly_fields = ("purpose", "jurisdiction", "status", "requested_at", "started_at", "finished_at", "cursor",
                       "files", "manifest", "error")


def _https_by_default(field, **kwargs):
    if isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")  # a webhook is https (docs/sync.md)
    return field.formfield(**kwargs)


class WebhookForm(forms.ModelForm):
    class Meta:
        model = Webhook
        fields = ["api_key", "url", "purpose", "jurisdiction"]
        formfield_callback = _https_by_default

    def clean(self):
        data = super().clean()
        checks = (("url", webhook_target_validate), ("purpose", validate_purpose),
                  ("jurisdiction", validate_jurisdiction))
        for name, check in checks:
            if data.get(name):
                try:
                    data[name] = check(data[name])
                except (DomainError, ValueError) as exc:
                    self.add_error(name, getattr(exc, "detail", str(exc)))
        return data


class DeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    can_delete = False
    fields = ("status", "after", "cursor", "count", "attempts", "created_at", "last_attempt_at", "last_status",
              "last_error", "delivered_at")
    readonly_fields = fields
    ordering = ("-created_at",)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Webhook)
class WebhookAdmin(OperatorOnlyAdmin):
    form = WebhookForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("url", "purpose", "jurisdiction", "api_key", "active", "created_at")
    list_filter = ("active", "purpose", "jurisdiction")
    actions = ["enable"]

    def get_inlines(self, request, obj):
        return [DeliveryInline] if obj is not None else []  # the delivery log, once there is a webhook

    def has_add_permission(self, request):
        return is_operator(request.user)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("api_key", "url", "purpose", "jurisdiction", "active", "cursor", "disabled_at", "disabled_reason",
                "created_at")

    def get_fields(self, request, obj=None):
        return ["api_key", "url", "purpose", "jurisdiction"] if obj is None else list(
            self.get_readonly_fields(request, obj))

    def save_model(self, request, obj, form, change):
        if change:
            return
        webhook, secret = webhook_register(api_key=obj.api_key, url=obj.url, purpose=obj.purpose,
                                           jurisdiction=obj.jurisdiction)
        obj.pk, obj._state = webhook.pk, webhook._state
        self.message_user(request, _("Signing secret (shown once, give it to the key's owner): %(secret)s")
                          % {"secret": secret}, messages.WARNING)

    @admin.action(description=_("Enable the selected webhooks again"))
    def enable(self, request, queryset):
        for webhook in queryset:
            webhook_enable(webhook=webhook)
