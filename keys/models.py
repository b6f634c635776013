"""API keys for AI developers (djangorestframework-api-key, each with a rate limit) and holders' users' API tokens:
both shown once and stored only as a hash."""
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey

from consent.vocabulary import PURPOSES
from registry.models import Organisation


class APIKey(AbstractAPIKey):
    # The AI developer's organisation the key belongs to: its licences decide its lookups (docs/licences.md).
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="api_keys",
                                     verbose_name=_("organisation"))
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


class HolderToken(models.Model):
    """An API token of a rights holder's user (`Authorization: Token <token>`). Like an API key it is shown once and
    kept only as a SHA-256 hash: a token is 256 random bits, so a fast hash is enough (nothing to brute-force) and
    lets authentication find it by its hash with one indexed query. It expires; rotation issues a new one and
    revokes the user's others."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="holder_tokens",
                             verbose_name=_("user"))
    name = models.CharField(_("name"), max_length=100, blank=True, help_text=_("What the token is for."))
    prefix = models.CharField(_("prefix"), max_length=8, editable=False,
                              help_text=_("The token's first characters, to recognise it; not secret."))
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("holder API token")
        verbose_name_plural = _("holder API tokens")
        ordering = ("-created",)
        constraints = [
            models.CheckConstraint(condition=models.Q(expires_at__gt=models.F("created")),
                                   name="holder_token_expires_after_creation"),
        ]

    def __str__(self):
        return f"{self.prefix}… ({self.user})"

    def usable_at(self, when) -> bool:
        return self.revoked_at is None and self.expires_at > when and self.user.is_active
