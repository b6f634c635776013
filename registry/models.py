from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Substr
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from uuid_utils.compat import uuid7


class HolderKind(models.TextChoices):
    STUDIO = "studio", _("studio")
    PUBLISHER = "publisher", _("publisher")
    LABEL = "label", _("label")
    COLLECTIVE = "collective", _("collective")
    INDIVIDUAL = "individual", _("individual")


class Holder(models.Model):
    """A rights holder: a studio, publisher, label, collective or individual creator."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    code = models.SlugField(_("code"), max_length=64, unique=True, allow_unicode=False,
                            help_text=_("Lower-case slug used in CSV files, commands and ref: identifiers."))
    name = models.CharField(_("name"), max_length=300)
    kind = models.CharField(_("kind"), max_length=16, choices=HolderKind.choices)
    country = models.CharField(_("country"), max_length=2, blank=True)
    licensing_url = models.URLField(_("licensing URL"), max_length=2000, blank=True)
    verified = models.BooleanField(_("verified"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("holder")
        verbose_name_plural = _("holders")
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[a-z0-9][a-z0-9-]*$"), name="holder_code_is_slug"),
            models.CheckConstraint(condition=Q(kind__in=HolderKind.values), name="holder_kind_valid"),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"


class Role(models.TextChoices):
    ADMIN = "admin", _("admin")
    EDITOR = "editor", _("editor")
    VIEWER = "viewer", _("viewer")


class Membership(models.Model):
    """A user's place at a holder. A user belongs to one holder; the role decides what they may change."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership",
                                verbose_name=_("user"))
    holder = models.ForeignKey(Holder, on_delete=models.CASCADE, related_name="memberships",
                               verbose_name=_("holder"))
    role = models.CharField(_("role"), max_length=8, choices=Role.choices, default=Role.EDITOR)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid")]

    def __str__(self):
        return f"{self.user} @ {self.holder.code} ({self.get_role_display()})"

    @property
    def can_write(self) -> bool:
        return self.role in (Role.ADMIN, Role.EDITOR)


class Mandate(models.Model):
    """A collective (agent) may act for a principal holder during [valid_from, valid_until)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    agent = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="mandates_held",
                              verbose_name=_("collective (agent)"))
    principal = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="mandates_given",
                                  verbose_name=_("principal"))
    valid_from = models.DateTimeField(_("valid from"), default=timezone.now)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["agent__code", "principal__code"]
        verbose_name = _("mandate")
        verbose_name_plural = _("mandates")
        constraints = [
            models.CheckConstraint(condition=~Q(agent=models.F("principal")), name="mandate_agent_is_not_principal"),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gt=models.F("valid_from")),
                name="mandate_period_valid",
            ),
        ]

    def __str__(self):
        return f"{self.agent.code} → {self.principal.code}"


class WorkKind(models.TextChoices):
    FILM = "film", _("film")
    SERIES = "series", _("series")
    EPISODE = "episode", _("episode")
    IMAGE = "image", _("image")
    ILLUSTRATION = "illustration", _("illustration")
    MANGA = "manga", _("manga")
    BOOK = "book", _("book")
    MUSIC = "music", _("music")
    RECORDING = "recording", _("recording")
    TEXT = "text", _("text")
    GAME = "game", _("game")
    WEBSITE = "website", _("website")
    OTHER = "other", _("other")


class Work(models.Model):
    """A work belongs to exactly one holder; (holder, work_ref) is the key for idempotent re-filing."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # Indexed by (holder, work_ref) and (holder, created_at); a third index on holder alone would only cost writes.
    # No foreign-key constraints on the two holder keys: core.keychecks checks them once per statement (a
    # bulk import's COPY) instead of once per row, from migration 0010.
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="works", verbose_name=_("holder"),
                               db_index=False, db_constraint=False)
    work_ref = models.CharField(_("catalogue number"), max_length=200)
    title = models.CharField(_("title"), max_length=1000)
    original_title = models.CharField(_("original title"), max_length=1000, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=WorkKind.choices, default=WorkKind.OTHER)
    # Indexed only where set (work_filed_by_agent_idx): nothing reads works by filing collective, but deleting a
    # holder looks for works it filed as a collective (PROTECT, and the key guard of core.keychecks).
    filed_by_agent = models.ForeignKey(Holder, on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="works_filed_as_agent", verbose_name=_("filed by collective"),
                                       db_index=False, db_constraint=False)
    created_at = models.DateTimeField(_("registered at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["holder__code", "work_ref"]
        verbose_name = _("work")
        verbose_name_plural = _("works")
        constraints = [
            models.UniqueConstraint(fields=["holder", "work_ref"], name="work_ref_unique_per_holder"),
            models.CheckConstraint(condition=Q(kind__in=WorkKind.values), name="work_kind_valid"),
            models.CheckConstraint(condition=~Q(work_ref=""), name="work_ref_not_empty"),
        ]
        indexes = [
            models.Index(fields=["holder", "created_at"], name="work_holder_created_idx"),
            # ref: lookups fetch a batch's catalogue numbers across holders, then keep the (code, work_ref) pairs
            models.Index(fields=["work_ref"], name="work_ref_idx"),
            models.Index(fields=["filed_by_agent"], condition=Q(filed_by_agent__isnull=False),
                         name="work_filed_by_agent_idx"),
        ]

    def __str__(self):
        return f"{self.title} [{self.work_ref}]"


# Multi-index hashing for perceptual hashes (docs/match.md): each phash / pdq value is cut into 16-bit bands (four
# hex digits) and each band has its own partial expression index, so a near match is found by exact band look-ups
# (any value within Hamming distance d < number of bands shares at least one band with the query: pigeonhole)
# and never by scanning every fingerprint. Expression indexes cover every write path (services, disputes, the
# CSV COPY) without a second table to keep in step. consent.matching's SQL repeats these expressions exactly.
FINGERPRINT_BANDS = {"phash": 4, "pdq": 16}
BAND_HEX_DIGITS = 4


def _band_indexes():
    return [
        models.Index(Substr("value", 1 + BAND_HEX_DIGITS * band, BAND_HEX_DIGITS),
                     name=f"identifier_{scheme}_b{band}_idx", condition=Q(scheme=scheme))
        for scheme, bands in FINGERPRINT_BANDS.items() for band in range(bands)
    ]


class Identifier(models.Model):
    """A normalised (scheme, value) attached to a work for [valid_from, valid_until).

    Rows are never deleted: a transfer ends one row and starts another, so a lookup as of any past time resolves
    to the work that held the identifier then. At most one current row per (scheme, value) in the registry.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # Checked per statement by core.keychecks (migration 0010), not by a per-row foreign-key constraint.
    work = models.ForeignKey(Work, on_delete=models.PROTECT, related_name="identifiers", verbose_name=_("work"),
                             db_index=False, db_constraint=False)  # identifier_work_idx
    scheme = models.CharField(_("scheme"), max_length=16)
    value = models.CharField(_("value"), max_length=2048)
    # Host of url / url-prefix / domain identifiers, so that prefix and domain matches are index look-ups.
    host = models.CharField(max_length=255, null=True, blank=True)
    valid_from = models.DateTimeField(_("registered at"), default=timezone.now)
    valid_until = models.DateTimeField(_("removed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("identifier")
        verbose_name_plural = _("identifiers")
        constraints = [
            models.UniqueConstraint(fields=["scheme", "value"], condition=Q(valid_until__isnull=True),
                                    name="identifier_current_unique"),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="identifier_period_valid",
            ),
        ]
        indexes = [
            # Ended rows only: the current row of a (scheme, value) is in identifier_current_unique, so a first
            # import writes one (scheme, value) entry per identifier, not two. Readers of every row valid at a
            # time take each kind through its own index (consent.lookup.sql `identifiers_valid_at`).
            models.Index(fields=["scheme", "value"], condition=Q(valid_until__isnull=False),
                         name="identifier_history_idx"),
            models.Index(fields=["host"], condition=Q(scheme="url-prefix"), name="identifier_prefix_host_idx"),
            models.Index(fields=["work"], name="identifier_work_idx"),
            *_band_indexes(),
        ]

    def __str__(self):
        return f"{self.scheme}:{self.value}"


class DisputeResolution(models.TextChoices):
    KEPT = "kept", _("kept by the current holder")
    TRANSFERRED = "transferred", _("transferred to the claimant")
    WITHDRAWN = "withdrawn", _("withdrawn by the claimant")


# A dispute closed this way ends the claim: filing the same claim again (a CSV re-submitted) opens no new one.
CLAIM_SETTLED = (DisputeResolution.KEPT, DisputeResolution.WITHDRAWN)


class Dispute(models.Model):
    """A claim on an identifier already registered to another holder's work. While open, that work is denied."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    scheme = models.CharField(_("scheme"), max_length=16)
    value = models.CharField(_("value"), max_length=2048)
    work = models.ForeignKey(Work, on_delete=models.PROTECT, related_name="disputes", verbose_name=_("work"),
                             help_text=_("The work that holds the identifier."))
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="disputes_as_holder",
                               verbose_name=_("current holder"))
    claimant = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="disputes_as_claimant",
                                 verbose_name=_("claimant"))
    claimant_work = models.ForeignKey(Work, on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="claimed_disputes", verbose_name=_("claimant's work"))
    evidence = models.TextField(_("evidence"), blank=True)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolution = models.CharField(_("resolution"), max_length=16, choices=DisputeResolution.choices, blank=True)
    resolution_note = models.TextField(_("resolution note"), blank=True)

    class Meta:
        ordering = ["-opened_at"]
        verbose_name = _("dispute")
        verbose_name_plural = _("disputes")
        constraints = [
            models.UniqueConstraint(fields=["scheme", "value", "claimant"], condition=Q(resolved_at__isnull=True),
                                    name="dispute_one_open_per_claim"),
            models.CheckConstraint(condition=~Q(claimant=models.F("holder")), name="dispute_claimant_is_not_holder"),
            models.CheckConstraint(
                condition=(Q(resolved_at__isnull=True) & Q(resolution=""))
                | (Q(resolved_at__isnull=False) & Q(resolution__in=DisputeResolution.values)),
                name="dispute_resolution_consistent",
            ),
        ]
        indexes = [models.Index(fields=["work", "opened_at"], name="dispute_work_opened_idx")]

    def __str__(self):
        return gettext("%(identifier)s (claimed by %(claimant)s from %(holder)s)") % {
            "identifier": f"{self.scheme}:{self.value}", "claimant": self.claimant.code, "holder": self.holder.code}

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class Organisation(models.Model):
    """An AI developer's organisation: every API key belongs to one, and licences name one as their licensee
    (domain.md, "Licences and permission requests"). Several keys of one organisation share its licences."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    name = models.CharField(_("name"), max_length=200, unique=True)
    code = models.SlugField(_("code"), max_length=64, unique=True, blank=True, help_text=_(
        "The organisation's public handle: what a holder names as a licence's licensee. Made from the name when "
        "left empty."))
    contact_email = models.EmailField(_("contact e-mail"), blank=True,
                                      help_text=_("Where decisions on the organisation's permission requests go."))
    # Agreed when a key is issued (default: no): rights holders' dashboards then name the organisation among
    # those asking about their works; otherwise they read "an AI developer".
    name_shown_to_holders = models.BooleanField(
        _("name shown to rights holders"), default=False,
        help_text=_("The organisation agreed that rights holders see its name in their lookup statistics."))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if not self.code:
            self.code = organisation_code_for(self.name, exclude_pk=self.pk)
        super().save(*args, **kwargs)


def organisation_code_for(name: str, *, exclude_pk=None) -> str:
    """A free handle made from `name`: its ASCII slug (`org` when nothing is left, e.g. a Japanese name), with
    `-2`, `-3`, … when taken."""
    from django.utils.text import slugify

    base = (slugify(name)[:56].strip("-") or "org")
    taken = set(Organisation.objects.exclude(pk=exclude_pk).filter(code__startswith=base)
                .values_list("code", flat=True))
    code, n = base, 1
    while code in taken:
        n += 1
        code = f"{base}-{n}"
    return code


class NotificationPreference(models.Model):
    """Which notices a user of a holder is e-mailed, and in which language (docs/admin.md "Notifications"). No row:
    every notice, in Japanese and English in one message (the default before a user chooses)."""

    class Language(models.TextChoices):
        BOTH = "", _("Japanese and English")
        JA = "ja", _("Japanese")
        EN = "en", _("English")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="notification_preference", verbose_name=_("user"))
    language = models.CharField(_("language of the e-mails"), max_length=2, choices=Language.choices, blank=True,
                                default=Language.BOTH)
    disputes = models.BooleanField(_("disputes opened, resolved or withdrawn"), default=True)
    submissions = models.BooleanField(_("claims uploads that failed or rejected rows"), default=True)
    domains = models.BooleanField(_("domain verifications that failed or lapsed"), default=True)
    mandates = models.BooleanField(_("mandates about to expire"), default=True)

    TOPICS = ("disputes", "submissions", "domains", "mandates")

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")

    def __str__(self):
        return str(self.user)


class FingerprintJob(models.Model):
    """A file a holder uploaded for its work to be fingerprinted (match.md): the task computes sha256, iscc,
    phash and pdq and attaches them to the work, all or none; the file is deleted after unless `keep`."""

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    work = models.ForeignKey(Work, on_delete=models.CASCADE, related_name="fingerprint_jobs", verbose_name=_("work"))
    holder = models.ForeignKey(Holder, on_delete=models.CASCADE, related_name="fingerprint_jobs",
                               verbose_name=_("holder"))
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+", verbose_name=_("uploaded by"))
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.QUEUED)
    error = models.TextField(_("error"), blank=True, default="")
    codes = models.JSONField(_("codes"), default=dict, blank=True)
    keep = models.BooleanField(_("keep the file"), default=False)
    file = models.FileField(_("file"), upload_to="fingerprints/%Y/%m/", blank=True, max_length=300)
    file_name = models.CharField(_("file name"), max_length=255, blank=True, default="")
    file_size = models.BigIntegerField(_("file size"), default=0)
    disputes_opened = models.PositiveIntegerField(_("disputes opened"), default=0)
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("fingerprint upload")
        verbose_name_plural = _("fingerprint uploads")
        indexes = [models.Index(fields=["holder", "-created_at"], name="fpjob_holder_created")]
        constraints = [
            models.CheckConstraint(condition=models.Q(state__in=["queued", "done", "failed"]),
                                   name="fpjob_state_valid"),
            models.CheckConstraint(condition=~models.Q(state="failed") | ~models.Q(error=""),
                                   name="fpjob_failed_has_error"),
        ]

    def __str__(self):
        return f"{self.file_name or self.pk} ({self.get_state_display()})"
