"""API keys for AI developers: shown once, stored as a hash (djangorestframework-api-key), each with a rate limit."""
from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey


class APIKey(AbstractAPIKey):
    rate = models.CharField(
        _("rate limit"), max_length=32, blank=True,
        help_text=_("N/s, N/min, N/hour or none (no limit). Empty: the default from KYODAKU_API_KEY_DEFAULT_RATE."),
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
