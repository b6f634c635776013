"""API keys for AI developers: shown once, stored as a hash (djangorestframework-api-key), each with a rate limit."""
from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey

from consent.vocabulary import PURPOSES


class APIKey(AbstractAPIKey):
    rate = models.CharField(
        _("rate limit"), max_length=32, blank=True,
        help_text=_("N/s, N/min, N/hour or none (no limit). Empty: the default from KYODAKU_API_KEY_DEFAULT_RATE."),
    )

    # The Spawning-compatible endpoint (interop.md) carries no purpose or jurisdiction in datadiligence's requests:
    # the key supplies them.
    default_purpose = models.CharField(
        _("default purpose"), max_length=16, blank=True,
        help_text=_("Purpose asked about by the Spawning-compatible endpoint when the request names none. "
                    "Empty: train-ai."),
    )
    default_jurisdiction = models.CharField(
        _("default jurisdiction"), max_length=8, blank=True,
        help_text=_("Jurisdiction asked about by the Spawning-compatible endpoint when the request names none "
                    "(ISO 3166-1 alpha-2, EU or *). Empty: the request must name one."),
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(default_purpose__in=["", *PURPOSES]), name="api_key_default_purpose_known"),
        ]
