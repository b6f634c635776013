from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from uuid_utils.compat import uuid7

from registry.models import Holder, Work

ALL_PURPOSES = "*"


class Regime(models.TextChoices):
    PRIOR_PERMISSION = "prior-permission", _("prior permission")
    OPT_OUT = "opt-out", _("opt-out")


class Jurisdiction(models.Model):
    """An ISO 3166-1 alpha-2 code, a region (`EU`) or `*`. Only jurisdictions with rules or a region need a row."""

    code = models.CharField(_("code"), max_length=3, primary_key=True)
    name = models.CharField(_("name"), max_length=200)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="members",
                               verbose_name=_("region"))

    class Meta:
        ordering = ["code"]
        verbose_name = _("jurisdiction")
        verbose_name_plural = _("jurisdictions")

    def __str__(self):
        from .labels import jurisdiction_label

        return jurisdiction_label(self.code, self.name)


class Rule(models.Model):
    """The regime for a (jurisdiction, purpose or all purposes) pair.

    Versioned: a change ends one row and starts another, so old answers keep the rule that applied then.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    jurisdiction = models.ForeignKey(Jurisdiction, on_delete=models.PROTECT, related_name="rules",
                                     verbose_name=_("jurisdiction"))
    purpose = models.CharField(_("purpose"), max_length=32, default=ALL_PURPOSES,
                               help_text=_("A purpose code, or * for all purposes."))
    regime = models.CharField(_("regime"), max_length=16, choices=Regime.choices)
    basis = models.TextField(_("legal basis"))
    valid_from = models.DateTimeField(_("valid from"), default=timezone.now)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)

    class Meta:
        ordering = ["jurisdiction_id", "purpose", "valid_from"]
        verbose_name = _("rule")
        verbose_name_plural = _("rules")
        constraints = [
            models.UniqueConstraint(fields=["jurisdiction", "purpose"], condition=Q(valid_until__isnull=True),
                                    name="rule_one_current_per_pair"),
            models.CheckConstraint(condition=Q(regime__in=Regime.values), name="rule_regime_valid"),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=F("valid_from")),
                name="rule_period_valid",
            ),
        ]

    def __str__(self):
        purpose = gettext("all purposes") if self.purpose == ALL_PURPOSES else self.purpose
        return f"{self.jurisdiction_id} / {purpose}: {self.get_regime_display()}"


class Scope(models.TextChoices):
    WORK = "work", _("one work")
    CATALOGUE = "catalogue", _("the whole catalogue")


class Consent(models.TextChoices):
    GRANT = "grant", _("grant")
    RESERVE = "reserve", _("reserve")


# ---- "current" and "in force at T": the one definition of each ------------------------------------------------
#
# A declaration is *current* while nobody has superseded or revoked it (the database keeps at most one current
# declaration per slot). It is *in force at T* when it had been recorded by T, its effective period covers T, and it
# had been neither superseded nor revoked by T (domain.md, "Deciding"). Three forms of the same rule, kept together
# and compared by tests/consent/test_in_force.py: the ORM's (`in_force_at_q`, `DeclarationQuerySet.in_force_at`;
# `current_q`, `DeclarationQuerySet.current`), the raw SQL (`in_force_at_sql` of the lookup path; `current_sql` of
# the claims planner) and the engine's (engine.DeclarationFact.in_force_at, which
# reads a fact whose `ended_at` is the earlier of the supersession and the revocation).

def current_q(prefix: str = "") -> Q:
    """Declarations neither superseded nor revoked. `prefix` reaches them through a relation (`"declarations__"`)."""
    return Q(**{f"{prefix}superseded_at__isnull": True, f"{prefix}revoked_at__isnull": True})


def in_force_at_q(at, prefix: str = "") -> Q:
    """Declarations in force at `at`. `prefix` reaches them through a relation (`"declarations__"`)."""
    return (
        Q(**{f"{prefix}recorded_at__lte": at, f"{prefix}effective_from__lte": at})
        & (Q(**{f"{prefix}superseded_at__isnull": True}) | Q(**{f"{prefix}superseded_at__gt": at}))
        & (Q(**{f"{prefix}revoked_at__isnull": True}) | Q(**{f"{prefix}revoked_at__gt": at}))
        & (Q(**{f"{prefix}effective_until__isnull": True}) | Q(**{f"{prefix}effective_until__gt": at}))
    )


def current_sql(alias: str = "d") -> str:
    """The SQL condition for current declaration rows `alias` (`current_q`'s; the claims planner's statements,
    claims/reads.py)."""
    return f"{alias}.superseded_at IS NULL AND {alias}.revoked_at IS NULL"


def in_force_at_sql(alias: str = "d", at: str = "%(at)s") -> str:
    """The SQL condition for declaration rows `alias` in force at the parameter `at` (the lookup path's
    statements, consent/lookup/sql.py)."""
    d = alias
    return (f"{d}.recorded_at <= {at} AND {d}.effective_from <= {at}"
            f" AND ({d}.superseded_at IS NULL OR {d}.superseded_at > {at})"
            f" AND ({d}.revoked_at IS NULL OR {d}.revoked_at > {at})"
            f" AND ({d}.effective_until IS NULL OR {d}.effective_until > {at})")


class DeclarationQuerySet(models.QuerySet):
    def current(self):
        """Neither superseded nor revoked: the one live declaration of each slot."""
        return self.filter(current_q())

    def in_force_at(self, at):
        """In force at `at` (see `in_force_at_q`)."""
        return self.filter(in_force_at_q(at))


class Declaration(models.Model):
    """One append-only statement by a holder. Only `superseded_*` and `revoked_*` are ever set, once, afterwards.

    Its slot is (holder, scope, work, purpose, jurisdiction); the database keeps at most one current declaration
    per slot (two partial unique constraints, because a catalogue declaration has no work).
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    # The holder, work and collective keys are checked per statement by core.keychecks (migration 0008): a
    # foreign-key constraint would check each inserted row on its own, three lookups per declaration.
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="declarations",
                               verbose_name=_("holder"), db_constraint=False)
    scope = models.CharField(_("scope"), max_length=10, choices=Scope.choices)
    work = models.ForeignKey(Work, on_delete=models.PROTECT, null=True, blank=True, related_name="declarations",
                             verbose_name=_("work"), db_index=False, db_constraint=False)  # declaration_work_idx
    purpose = models.CharField(_("purpose"), max_length=32)
    jurisdiction = models.CharField(_("jurisdiction"), max_length=3)
    consent = models.CharField(_("consent"), max_length=8, choices=Consent.choices)
    license_url = models.URLField(_("licence URL"), max_length=2000, blank=True)
    conditions = models.TextField(_("conditions"), blank=True)
    effective_from = models.DateTimeField(_("effective from"))
    effective_until = models.DateTimeField(_("effective until"), null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    # Who filed or revoked is read with the declaration, never searched by: no full index on these three keys (a
    # bulk import would maintain them for millions of rows). Deleting a user or a holder is not a registry operation;
    # but where one is deleted, PROTECT (Django) and the key guard (core.keychecks) look for declarations filed by
    # it as a collective: a partial index (the rows with one, declaration_filed_by_agent_idx) spares them a scan.
    # The two user references have no foreign-key constraint in the database either: checking one costs a lookup
    # per inserted row (a tenth of a bulk import's database time), and what it would guard is kept by Django,
    # which nulls them when a user is deleted (on_delete=SET_NULL; the append-only trigger allows that).
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="+", verbose_name=_("filed by"), db_index=False, db_constraint=False)
    filed_by_agent = models.ForeignKey(Holder, on_delete=models.PROTECT, null=True, blank=True,
                                       related_name="declarations_filed_as_agent",
                                       verbose_name=_("filed by collective"), db_index=False, db_constraint=False)
    superseded_at = models.DateTimeField(_("superseded at"), null=True, blank=True)
    # One declaration supersedes at most one (declaration_superseded_by_unique, over the rows that have one: the
    # current ones, most of the table, add no index entry). Its key is checked per statement (core.keychecks,
    # migration 0011), not by a constraint that queues a deferred check for every inserted row, NULL or not.
    superseded_by = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="supersedes", verbose_name=_("superseded by"),
                                      db_index=False, db_constraint=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("revoked by"), db_index=False, db_constraint=False)

    objects = DeclarationQuerySet.as_manager()

    class Meta:
        ordering = ["-recorded_at"]
        verbose_name = _("declaration")
        verbose_name_plural = _("declarations")
        constraints = [
            models.UniqueConstraint(
                fields=["holder", "work", "purpose", "jurisdiction"],
                condition=Q(scope="work", superseded_at__isnull=True, revoked_at__isnull=True),
                name="declaration_one_current_per_work_slot",
            ),
            models.UniqueConstraint(
                fields=["holder", "purpose", "jurisdiction"],
                condition=Q(scope="catalogue", superseded_at__isnull=True, revoked_at__isnull=True),
                name="declaration_one_current_per_catalogue_slot",
            ),
            models.UniqueConstraint(fields=["superseded_by"], condition=Q(superseded_by__isnull=False),
                                    name="declaration_superseded_by_unique"),
            models.CheckConstraint(
                condition=(Q(scope="work") & Q(work__isnull=False)) | (Q(scope="catalogue") & Q(work__isnull=True)),
                name="declaration_scope_matches_work",
            ),
            models.CheckConstraint(condition=Q(consent__in=Consent.values), name="declaration_consent_valid"),
            models.CheckConstraint(
                condition=Q(effective_until__isnull=True) | Q(effective_until__gt=F("effective_from")),
                name="declaration_effective_period_valid",
            ),
            models.CheckConstraint(
                condition=Q(superseded_at__isnull=True) | Q(superseded_at__gte=F("recorded_at")),
                name="declaration_superseded_after_recorded",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_at__gte=F("recorded_at")),
                name="declaration_revoked_after_recorded",
            ),
        ]
        indexes = [
            models.Index(fields=["work", "recorded_at"], name="declaration_work_idx"),
            models.Index(fields=["holder", "recorded_at"], condition=Q(scope="catalogue"),
                         name="declaration_catalogue_idx"),
            models.Index(fields=["filed_by_agent"], condition=Q(filed_by_agent__isnull=False),
                         name="declaration_filed_by_agent_idx"),
        ]

    def __str__(self):
        # What the admin's messages, titles and recent actions name: the statement, then what it covers (the
        # work's title only when it is already loaded: a name must not cost a query).
        if self.scope == Scope.CATALOGUE:
            target = gettext("the whole catalogue")
        elif Declaration.work.is_cached(self) and self.work is not None:
            target = str(self.work)
        else:
            target = gettext("work %(id)s") % {"id": str(self.work_id)[:8]}
        return f"{self.get_consent_display()} {self.purpose} @ {self.jurisdiction}: {target}"

    @property
    def ended_at(self):
        if self.superseded_at and self.revoked_at:
            return min(self.superseded_at, self.revoked_at)
        return self.superseded_at or self.revoked_at

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None and self.revoked_at is None


class LicenceQuerySet(models.QuerySet):
    def current(self):
        """Neither superseded nor revoked: the one live licence of each slot."""
        return self.filter(current_q())

    def in_force_at(self, at):
        """In force at `at`: the same rule as a declaration's (`in_force_at_q`)."""
        return self.filter(in_force_at_q(at))


class Licence(models.Model):
    """A grant from a holder to ONE named organisation (domain.md, "Licences and permission requests"): private to
    the two of them, append-only like a declaration (only `superseded_*` and `revoked_*` are set, once).

    Its slot is (holder, licensee, scope, work): filing into a slot with a current licence supersedes it. It covers
    `purposes` (each with its descendants) in `jurisdictions` (each with its members when a region, or `*`).
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="licences", verbose_name=_("holder"))
    licensee = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT, related_name="licences",
                                 verbose_name=_("licensee"))
    scope = models.CharField(_("scope"), max_length=10, choices=Scope.choices)
    work = models.ForeignKey(Work, on_delete=models.PROTECT, null=True, blank=True, related_name="licences",
                             verbose_name=_("work"))
    purposes = models.JSONField(_("purposes"))
    jurisdictions = models.JSONField(_("jurisdictions"))
    license_url = models.URLField(_("licence URL"), max_length=2000, blank=True)
    conditions = models.TextField(_("conditions"), blank=True)
    effective_from = models.DateTimeField(_("effective from"))
    effective_until = models.DateTimeField(_("effective until"), null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="+", verbose_name=_("filed by"), db_constraint=False)
    superseded_at = models.DateTimeField(_("superseded at"), null=True, blank=True)
    superseded_by = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True,
                                         related_name="supersedes", verbose_name=_("superseded by"))
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    objects = LicenceQuerySet.as_manager()

    class Meta:
        ordering = ["-recorded_at"]
        verbose_name = _("licence")
        verbose_name_plural = _("licences")
        indexes = [models.Index(fields=["licensee", "holder"], name="licence_licensee_holder_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["holder", "licensee", "work"],
                condition=Q(scope="work", superseded_at__isnull=True, revoked_at__isnull=True),
                name="licence_one_current_per_work_slot"),
            models.UniqueConstraint(
                fields=["holder", "licensee"],
                condition=Q(scope="catalogue", superseded_at__isnull=True, revoked_at__isnull=True),
                name="licence_one_current_per_catalogue_slot"),
            models.CheckConstraint(
                condition=(Q(scope="work") & Q(work__isnull=False)) | (Q(scope="catalogue") & Q(work__isnull=True)),
                name="licence_scope_matches_work"),
            models.CheckConstraint(
                condition=Q(effective_until__isnull=True) | Q(effective_until__gt=F("effective_from")),
                name="licence_effective_period_valid"),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_at__gte=F("recorded_at")),
                name="licence_revoked_after_recorded"),
        ]

    def __str__(self):
        return f"{self.holder_id} → {self.licensee_id} ({self.scope})"


class RequestState(models.TextChoices):
    OPEN = "open", _("open")
    ACCEPTED = "accepted", _("accepted")
    DECLINED = "declined", _("declined")
    WITHDRAWN = "withdrawn", _("withdrawn")


class PermissionRequest(models.Model):
    """An AI developer's organisation asking ONE holder for a licence (domain.md, "Licences and permission
    requests"): for some of its works (`works`) or, with none named, its whole catalogue (`scope`), for purposes,
    jurisdictions and a period. The holder's users accept it (Kyodaku files the licences, `licences`) or decline it
    (`reason`); the developer may withdraw it while it is open. Private to the two parties.

    The key that filed it is kept by its prefix (`api_key_prefix`, a receipt's `sub`): the keys app sits above
    consent in the import layers, so consent does not point at its table.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    organisation = models.ForeignKey("registry.Organisation", on_delete=models.PROTECT,
                                     related_name="permission_requests", verbose_name=_("organisation"))
    api_key_prefix = models.CharField(_("API key"), max_length=64, blank=True,
                                      help_text=_("The prefix of the API key that filed the request."))
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="permission_requests",
                               verbose_name=_("holder"))
    scope = models.CharField(_("scope"), max_length=10, choices=Scope.choices)
    works = models.ManyToManyField(Work, blank=True, related_name="permission_requests", verbose_name=_("works"))
    purposes = models.JSONField(_("purposes"))
    jurisdictions = models.JSONField(_("jurisdictions"))
    effective_from = models.DateTimeField(_("effective from"), null=True, blank=True,
                                          help_text=_("Empty: from the time it is accepted."))
    effective_until = models.DateTimeField(_("effective until"), null=True, blank=True)
    message = models.TextField(_("message"), blank=True)
    contact = models.EmailField(_("contact e-mail"), max_length=254)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default="en",
                                help_text=_("The language the decision is mailed to the contact in."))
    state = models.CharField(_("state"), max_length=10, choices=RequestState.choices, default=RequestState.OPEN)
    created_at = models.DateTimeField(_("requested at"), default=timezone.now, editable=False)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name=_("decided by"), db_constraint=False)
    reason = models.TextField(_("reason"), blank=True)
    licences = models.ManyToManyField(Licence, blank=True, related_name="permission_requests",
                                      verbose_name=_("licences"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("permission request")
        verbose_name_plural = _("permission requests")
        indexes = [
            models.Index(fields=["organisation", "-created_at"], name="permreq_org_created_idx"),
            models.Index(fields=["holder", "state", "-created_at"], name="permreq_holder_state_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=RequestState.values), name="permreq_state_valid"),
            models.CheckConstraint(condition=Q(scope__in=Scope.values), name="permreq_scope_valid"),
            models.CheckConstraint(
                condition=(Q(state="open") & Q(decided_at__isnull=True) & Q(decided_by__isnull=True) & Q(reason=""))
                | (Q(state="declined") & Q(decided_at__isnull=False) & ~Q(reason=""))
                | (Q(state__in=["accepted", "withdrawn"]) & Q(decided_at__isnull=False) & Q(reason="")),
                name="permreq_state_matches_decision"),
            models.CheckConstraint(condition=Q(decided_at__isnull=True) | Q(decided_at__gte=F("created_at")),
                                   name="permreq_decided_after_created"),
            models.CheckConstraint(
                condition=Q(effective_until__isnull=True) | Q(effective_from__isnull=True)
                | Q(effective_until__gt=F("effective_from")),
                name="permreq_effective_period_valid"),
            models.CheckConstraint(condition=~Q(contact=""), name="permreq_contact_given"),
        ]

    def __str__(self):
        return f"{self.organisation} → {self.holder.code} ({self.created_at:%Y-%m-%d})"


class LookupCount(models.Model):
    """How many answers a (work, purpose, jurisdiction, outcome) got on one UTC day from AI developers' API keys
    (single, batch and Spawning-compatible lookups). Written only by `consent.usage.lookup_counts_flush` from the
    counters the lookup path keeps in Redis (never a database write per lookup); a row holds the day's running
    total, so flushing again is harmless. `pointed_to_licence`: a denied answer that carried a licensing URL."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField(_("day"))
    holder = models.ForeignKey(Holder, on_delete=models.CASCADE, related_name="+", verbose_name=_("holder"))
    work = models.ForeignKey(Work, on_delete=models.CASCADE, related_name="+", verbose_name=_("work"))
    purpose = models.CharField(_("purpose"), max_length=32)
    jurisdiction = models.CharField(_("jurisdiction"), max_length=8)
    outcome = models.CharField(_("outcome"), max_length=16)
    pointed_to_licence = models.BooleanField(_("pointed to the licensing URL"), default=False)
    count = models.PositiveBigIntegerField(_("lookups"), default=0)

    class Meta:
        verbose_name = _("lookup count")
        verbose_name_plural = _("lookup counts")
        constraints = [models.UniqueConstraint(
            fields=["holder", "day", "work", "purpose", "jurisdiction", "outcome", "pointed_to_licence"],
            name="lookup_count_one_row_per_key")]
        indexes = [models.Index(fields=["day"], name="lookup_count_day_idx")]

    def __str__(self):
        return f"{self.day} {self.work_id} {self.purpose} {self.jurisdiction} {self.outcome}: {self.count}"


class LookupOrganisationCount(models.Model):
    """How many answers about a holder's works one AI developer's organisation got on one UTC day, per outcome.
    Holders see the organisation's name only when it agreed (`Organisation.name_shown_to_holders`)."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField(_("day"))
    holder = models.ForeignKey(Holder, on_delete=models.CASCADE, related_name="+", verbose_name=_("holder"))
    organisation = models.ForeignKey("registry.Organisation", on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organisation"))
    outcome = models.CharField(_("outcome"), max_length=16)
    count = models.PositiveBigIntegerField(_("lookups"), default=0)

    class Meta:
        verbose_name = _("lookup count by organisation")
        verbose_name_plural = _("lookup counts by organisation")
        constraints = [models.UniqueConstraint(fields=["holder", "day", "organisation", "outcome"],
                                               name="lookup_org_count_one_row_per_key")]
        indexes = [models.Index(fields=["day"], name="lookup_org_count_day_idx")]

    def __str__(self):
        return f"{self.day} {self.organisation_id} {self.outcome}: {self.count}"
