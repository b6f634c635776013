"""The decision engine (domain.md, "Deciding").

Pure and free of Django: the caller loads the facts (rules, a work's declarations and its holder's catalogue
declarations, dispute state) and the engine answers "may purpose P be used in jurisdiction J at time T?".
It is on the hot path of batch checks, so facts are frozen slotted dataclasses, everything that depends only on the
vocabulary or the rule table is precomputed or cached, and a decision allocates little beyond its :class:`Answer`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .vocabulary import ANY_JURISDICTION, PURPOSES, UnknownPurpose, purpose_chain

__all__ = [
    "GRANT", "RESERVE", "WORK", "CATALOGUE", "PRIOR_PERMISSION", "OPT_OUT", "REGIMES", "ALLOWED", "DENIED",
    "GRANTED", "RESERVED", "DISPUTED", "PERMISSION_REQUIRED", "NOT_RESERVED", "LICENSED",
    "DeclarationFact", "LicenceFact", "RuleFact", "RuleBook", "Answer", "decide",
]  # fmt: skip

# consent
GRANT, RESERVE = "grant", "reserve"
# scope
WORK, CATALOGUE = "work", "catalogue"
# regimes
PRIOR_PERMISSION, OPT_OUT = "prior-permission", "opt-out"
REGIMES = (PRIOR_PERMISSION, OPT_OUT)
# outcomes
ALLOWED, DENIED = "allowed", "denied"
# bases
LICENSED = "licensed"  # a licence to the asking organisation (docs/licences.md)
GRANTED, RESERVED, DISPUTED, PERMISSION_REQUIRED, NOT_RESERVED = (
    "granted", "reserved", "disputed", "permission-required", "not-reserved",
)  # fmt: skip

# Specificity is folded into one small integer, lower = more specific / stronger:
#   scope * 32 + purpose distance * 8 + jurisdiction distance * 2 + (0 for reserve, 1 for grant)
# Purpose distance is at most len(longest chain) - 1 = 2 and jurisdiction distance at most 2, so the fields never
# overlap and integer order is exactly the lexicographic order of (scope, purpose, jurisdiction, consent).
_SCOPE_RANK = {WORK: 0, CATALOGUE: 32}
_CONSENT_RANK = {RESERVE: 0, GRANT: 1}
_PURPOSE_STEP, _JURISDICTION_STEP = 8, 2
assert max(map(len, map(purpose_chain, PURPOSES))) <= 3

# purpose -> {purpose or ancestor: distance}
_PURPOSE_DISTANCE: dict[str, dict[str, int]] = {
    p: {a: i * _PURPOSE_STEP for i, a in enumerate(purpose_chain(p))} for p in PURPOSES
}

# regime -> (outcome, basis) when no declaration decides
_REGIME_DECIDES = {PRIOR_PERMISSION: (DENIED, PERMISSION_REQUIRED), OPT_OUT: (ALLOWED, NOT_RESERVED)}


@dataclass(frozen=True, slots=True)
class DeclarationFact:
    id: object  # UUID, opaque to the engine
    scope: str  # WORK | CATALOGUE
    purpose: str
    jurisdiction: str  # a code, "EU" or "*"
    consent: str  # GRANT | RESERVE
    license_url: str | None
    recorded_at: datetime
    ended_at: datetime | None  # superseded or revoked at; None = still current
    effective_from: datetime
    effective_until: datetime | None
    conditions: str | None = None  # the holder's terms, free text: shown with the answer, never decides it
    _rank: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            rank = _SCOPE_RANK[self.scope] + _CONSENT_RANK[self.consent]
        except (KeyError, TypeError):
            raise ValueError(f"bad declaration fact: scope={self.scope!r}, consent={self.consent!r}") from None
        object.__setattr__(self, "_rank", rank)

    def in_force_at(self, t: datetime) -> bool:
        return (
            self.recorded_at <= t
            and (self.ended_at is None or t < self.ended_at)
            and self.effective_from <= t
            and (self.effective_until is None or t < self.effective_until)
        )


@dataclass(frozen=True, slots=True)
class LicenceFact:
    """A licence to the asking organisation: only ever given to the engine for that organisation's own requests."""

    id: object
    scope: str  # WORK | CATALOGUE
    purposes: tuple[str, ...]
    jurisdictions: tuple[str, ...]  # codes, "EU" or "*"
    license_url: str | None
    recorded_at: datetime
    ended_at: datetime | None  # superseded or revoked at
    effective_from: datetime
    effective_until: datetime | None

    def in_force_at(self, t: datetime) -> bool:
        return (
            self.recorded_at <= t
            and (self.ended_at is None or t < self.ended_at)
            and self.effective_from <= t
            and (self.effective_until is None or t < self.effective_until)
        )


@dataclass(frozen=True, slots=True)
class RuleFact:
    jurisdiction: str  # a code, "EU" or "*"
    purpose: str | None  # None = all purposes
    regime: str  # PRIOR_PERMISSION | OPT_OUT
    basis: str  # citation of the legal basis
    valid_from: datetime  # the rule applies to answers for T when valid_from <= T < valid_until
    valid_until: datetime | None

    def valid_at(self, t: datetime) -> bool:
        return self.valid_from <= t and (self.valid_until is None or t < self.valid_until)


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: str  # ALLOWED | DENIED
    basis: str  # GRANTED | RESERVED | DISPUTED | PERMISSION_REQUIRED | NOT_RESERVED
    regime: str  # the regime of rule (J, P) at T, whatever decided
    rule: RuleFact
    declaration: DeclarationFact | None
    license_url: str | None
    grant_ignored: bool = False  # a grant would have decided, but grants did not count (interop.md)
    licence: LicenceFact | None = None  # the deciding licence (basis LICENSED)


class RuleBook:
    """The jurisdiction rules (all versions) and the jurisdiction -> region map, indexed for lookup."""

    __slots__ = ("_versions", "_parents", "_chains", "_distances", "_lookup")

    def __init__(self, rules: Iterable[RuleFact], parents: Mapping[str, str]):
        versions: dict[tuple[str, str | None], list[RuleFact]] = {}
        for rule in rules:
            if rule.regime not in _REGIME_DECIDES:
                raise ValueError(f"rule {rule!r}: unknown regime {rule.regime!r}")
            if rule.purpose is not None and rule.purpose not in PURPOSES:
                raise UnknownPurpose(f"rule {rule!r}: unknown purpose {rule.purpose!r}")
            versions.setdefault((rule.jurisdiction, rule.purpose), []).append(rule)
        # Newest version first, so that if an operator's versions ever overlap the latest one wins.
        self._versions = {k: tuple(sorted(v, key=lambda r: r.valid_from, reverse=True)) for k, v in versions.items()}
        self._parents = dict(parents)
        self._chains: dict[str, tuple[str, ...]] = {}
        self._distances: dict[str, dict[str, int]] = {}
        self._lookup: dict[tuple[str, str], tuple[tuple[RuleFact, ...], ...]] = {}

    def jurisdiction_chain(self, j: str) -> tuple[str, ...]:
        """(J, its region if any, "*"), without duplicates; ("*",) for "*"."""
        chain = self._chains.get(j)
        if chain is None:
            steps = [j]
            region = self._parents.get(j)
            if region is not None and region not in steps:
                steps.append(region)
            if ANY_JURISDICTION not in steps:
                steps.append(ANY_JURISDICTION)
            chain = self._chains[j] = tuple(steps)
        return chain

    def jurisdiction_distances(self, j: str) -> dict[str, int]:
        """{code: position in J's chain} (scaled for the engine's rank); cached."""
        distances = self._distances.get(j)
        if distances is None:
            distances = self._distances[j] = {
                code: i * _JURISDICTION_STEP for i, code in enumerate(self.jurisdiction_chain(j))
            }
        return distances

    def rule_for(self, jurisdiction: str, purpose: str, as_of: datetime) -> RuleFact:
        """The rule (J, P) at ``as_of``: walk J's chain; at each step P's chain, then all purposes."""
        key = (jurisdiction, purpose)
        candidates = self._lookup.get(key)
        if candidates is None:
            purposes = (*purpose_chain(purpose), None)  # raises UnknownPurpose
            candidates = tuple(
                self._versions[(j, p)]
                for j in self.jurisdiction_chain(jurisdiction)
                for p in purposes
                if (j, p) in self._versions
            )
            self._lookup[key] = candidates
        for versions in candidates:
            for rule in versions:
                if rule.valid_from <= as_of and (rule.valid_until is None or as_of < rule.valid_until):
                    return rule
        raise LookupError(f"no rule for jurisdiction {jurisdiction!r}, purpose {purpose!r} at {as_of.isoformat()}")


def _prefer(new: DeclarationFact, old: DeclarationFact) -> bool:
    """Tie-break between equally specific declarations with the same consent, which a consistent registry never
    holds in force together (they share a slot).  Deterministic so the answer cannot depend on input order."""
    if new.recorded_at != old.recorded_at:
        return new.recorded_at > old.recorded_at
    return str(new.id) > str(old.id)


def _best_licence(licences, purpose_distance: dict, jurisdiction_distance: dict, as_of: datetime):
    """The most specific licence in force at `as_of` covering P and J (ranked as declarations are), or None."""
    best, best_key = None, None
    for licence in licences:
        if not licence.in_force_at(as_of):
            continue
        pd = min((purpose_distance[p] for p in licence.purposes if p in purpose_distance), default=None)
        jd = min((jurisdiction_distance[j] for j in licence.jurisdictions if j in jurisdiction_distance), default=None)
        if pd is None or jd is None:
            continue
        key = (_SCOPE_RANK[licence.scope] + pd + jd, -licence.recorded_at.timestamp(), str(licence.id))
        if best_key is None or key < best_key:
            best, best_key = licence, key
    return best


def decide(
    *,
    purpose: str,
    jurisdiction: str,
    as_of: datetime,
    rules: RuleBook,
    registered: bool,
    disputed: bool = False,
    declarations: Sequence[DeclarationFact] = (),
    holder_license_url: str | None = None,
    grants_count: bool = True,
    licences: Sequence[LicenceFact] = (),
) -> Answer:
    """Decide whether ``purpose`` is allowed in ``jurisdiction`` at ``as_of`` (domain.md, "Deciding").

    ``purpose`` and ``jurisdiction`` must already be validated/canonical (see :mod:`consent.vocabulary`).
    ``declarations`` are all of the work's and its holder's catalogue declarations, in any order, unfiltered.
    ``grants_count`` False: grants are not candidates (a work matched through a web identifier whose holder had
    no verified control of its host at ``as_of``, interop.md); the answer says whether one would have decided.
    ``licences`` are the asking organisation's licences for the work and its holder's catalogue (none for a public
    answer): one in force that covers P and J decides before any declaration, after a dispute.
    """
    rule = rules.rule_for(jurisdiction, purpose, as_of)
    regime = rule.regime
    if not registered:
        outcome, basis = _REGIME_DECIDES[regime]
        return Answer(outcome, basis, regime, rule, None, None)
    if disputed:
        return Answer(DENIED, DISPUTED, regime, rule, None, holder_license_url)

    purpose_distance = _PURPOSE_DISTANCE[purpose]  # known: rule_for validated it
    jurisdiction_distance = rules.jurisdiction_distances(jurisdiction)
    if licences and grants_count:  # a licence through an unverified web identifier counts no more than a grant
        licence = _best_licence(licences, purpose_distance, jurisdiction_distance, as_of)
        if licence is not None:
            return Answer(ALLOWED, LICENSED, regime, rule, None, licence.license_url or holder_license_url,
                          licence=licence)
    best = None
    best_rank = 1 << 30
    for d in declarations:
        pd = purpose_distance.get(d.purpose)
        if pd is None:
            continue
        jd = jurisdiction_distance.get(d.jurisdiction)
        if jd is None:
            continue
        rank = d._rank + pd + jd
        if rank > best_rank:
            continue
        # in force at as_of (DeclarationFact.in_force_at, inlined)
        if d.recorded_at > as_of or d.effective_from > as_of:
            continue
        end = d.ended_at
        if end is not None and as_of >= end:
            continue
        end = d.effective_until
        if end is not None and as_of >= end:
            continue
        if rank < best_rank or _prefer(d, best):
            best, best_rank = d, rank

    grant_ignored = False
    if best is not None and best.consent == GRANT and not grants_count:
        grant_ignored = True
        best = _best_reservation(declarations, purpose_distance, jurisdiction_distance, as_of)
    if best is None:
        outcome, basis = _REGIME_DECIDES[regime]
        return Answer(outcome, basis, regime, rule, None, holder_license_url, grant_ignored)
    license_url = best.license_url or holder_license_url
    if best.consent == GRANT:
        return Answer(ALLOWED, GRANTED, regime, rule, best, license_url)
    return Answer(DENIED, RESERVED, regime, rule, best, license_url, grant_ignored)


def _best_reservation(declarations, purpose_distance, jurisdiction_distance, as_of) -> DeclarationFact | None:
    """The most specific reservation in force at `as_of` (grants skipped as if absent). Only on the rare path
    where an unverified web grant would have decided, so plainly written."""
    best, best_rank = None, 1 << 30
    for d in declarations:
        if d.consent != RESERVE or not d.in_force_at(as_of):
            continue
        pd, jd = purpose_distance.get(d.purpose), jurisdiction_distance.get(d.jurisdiction)
        if pd is None or jd is None:
            continue
        rank = d._rank + pd + jd
        if rank < best_rank or (rank == best_rank and _prefer(d, best)):
            best, best_rank = d, rank
    return best
