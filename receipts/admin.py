"""Operators see the published signing keys here; keys are created and retired by `manage.py rotate_signing_key`
(or the KYODAKU_SIGNING_KEY setting), never edited: a changed public key would orphan every receipt it signed."""
from django.contrib import admin

from registry.admin_base import OperatorOnlyAdmin

from .models import SigningKey


@admin.register(SigningKey)
class SigningKeyAdmin(OperatorOnlyAdmin):
    list_display = ("kid", "status", "created_at", "retired_at")
    list_filter = ("status",)
    readonly_fields = ("kid", "public_jwk", "status", "created_at", "retired_at")
    ordering = ("-created_at",)
