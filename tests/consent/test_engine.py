"""The decision engine against domain.md, "Deciding" (and the rule lookup of "Regimes and jurisdictions").

The table of named cases reads one rule of the spec each; the hypothesis properties prove the four invariants.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent import engine
from consent.engine import (
    ALLOWED,
    CATALOGUE,
    DENIED,
    DISPUTED,
    GRANT,
    GRANTED,
    NOT_RESERVED,
    OPT_OUT,
    PERMISSION_REQUIRED,
    PRIOR_PERMISSION,
    RESERVE,
    RESERVED,
    WORK,
    Answer,
    DeclarationFact,
    RuleBook,
    RuleFact,
    decide,
)
from consent.vocabulary import EU_MEMBER_STATES, PURPOSES, UnknownPurpose, purpose_chain

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
T = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)  # the default "as of" of the table
EARLIER = T - timedelta(days=30)
SECOND = timedelta(seconds=1)

HOLDER_LICENSE = "https://holder.example/licensing"
DECL_LICENSE = "https://holder.example/licence/ai-training"
CATALOGUE_LICENSE = "https://holder.example/licence/catalogue"

# domain.md, "Regimes and jurisdictions": the seeded rule table.
RULE_ANY = RuleFact("*", None, PRIOR_PERMISSION, "protective default", EPOCH, None)
RULE_JP = RuleFact("JP", None, PRIOR_PERMISSION, "prior permission generally required (CODA, 2025-10-28)", EPOCH, None)
RULE_EU = RuleFact("EU", None, OPT_OUT, "Directive (EU) 2019/790 Art. 4(3)", EPOCH, None)
RULE_GB = RuleFact("GB", None, OPT_OUT, "reservation honoured as industry practice", EPOCH, None)
RULE_US = RuleFact("US", None, OPT_OUT, "reservation honoured as industry practice", EPOCH, None)
SEED_RULES = (RULE_ANY, RULE_JP, RULE_EU, RULE_GB, RULE_US)
PARENTS = {code: "EU" for code in EU_MEMBER_STATES}
SEED = RuleBook(SEED_RULES, PARENTS)


def rulebook(*extra: RuleFact, without: tuple[RuleFact, ...] = ()) -> RuleBook:
    return RuleBook([r for r in SEED_RULES if r not in without] + list(extra), PARENTS)


# Rule versions and purpose-specific rules for the rule-lookup cases.
CUTOVER = datetime(2025, 1, 1, tzinfo=UTC)
JP_OLD = RuleFact("JP", None, OPT_OUT, "JP old version", EPOCH, CUTOVER)
JP_NEW = RuleFact("JP", None, PRIOR_PERMISSION, "JP new version", CUTOVER, None)
VERSIONED = rulebook(JP_OLD, JP_NEW, without=(RULE_JP,))
EXPIRED = rulebook(JP_OLD, without=(RULE_JP,))  # JP's only rule ended before T
FUTURE = rulebook(replace(RULE_JP, regime=OPT_OUT, valid_from=T + SECOND), without=(RULE_JP,))
JP_SEARCH = RuleFact("JP", "search", OPT_OUT, "JP search exception", EPOCH, None)
JP_TRAIN_AI = RuleFact("JP", "train-ai", OPT_OUT, "JP training exception", EPOCH, None)
ANY_GENAI = RuleFact("*", "train-genai", OPT_OUT, "default genai exception", EPOCH, None)
EU_TRAIN_AI = RuleFact("EU", "train-ai", PRIOR_PERMISSION, "EU training rule", EPOCH, None)
PURPOSE_RULES = rulebook(JP_SEARCH, JP_TRAIN_AI, ANY_GENAI, EU_TRAIN_AI)


def decl(
    id: str,
    scope: str,
    purpose: str,
    jurisdiction: str,
    consent: str,
    *,
    recorded: datetime = EARLIER,
    ended: datetime | None = None,
    effective_from: datetime | None = None,
    effective_until: datetime | None = None,
    license: str | None = None,
) -> DeclarationFact:
    return DeclarationFact(
        id=id,
        scope=scope,
        purpose=purpose,
        jurisdiction=jurisdiction,
        consent=consent,
        license_url=license,
        recorded_at=recorded,
        ended_at=ended,
        effective_from=recorded if effective_from is None else effective_from,
        effective_until=effective_until,
    )


@dataclass
class Case:
    purpose: str
    jurisdiction: str
    declarations: tuple[DeclarationFact, ...]
    outcome: str
    basis: str
    regime: str
    decider: str | None = None  # id of the deciding declaration
    license_url: str | None = HOLDER_LICENSE
    registered: bool = True
    disputed: bool = False
    holder_license_url: str | None = HOLDER_LICENSE
    as_of: datetime = T
    rules: RuleBook = SEED
    rule: RuleFact | None = None  # the rule (J, P) expected, when the case is about rule lookup


def work(id, purpose, jurisdiction, consent, **kw):
    return decl(id, WORK, purpose, jurisdiction, consent, **kw)


def cat(id, purpose, jurisdiction, consent, **kw):
    return decl(id, CATALOGUE, purpose, jurisdiction, consent, **kw)


# fmt: off
CASES = {
    # ---- not registered: the regime of rule (J, P) decides; no declaration, no license_url -------------------------
    "unregistered in JP: denied, permission-required": Case(
        "train-ai", "JP", (), DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION,
        registered=False, license_url=None, rule=RULE_JP),
    "unregistered in DE: allowed, not-reserved": Case(
        "train-ai", "DE", (), ALLOWED, NOT_RESERVED, OPT_OUT, registered=False, license_url=None, rule=RULE_EU),
    "FR inherits EU opt-out": Case(
        "train-genai", "FR", (), ALLOWED, NOT_RESERVED, OPT_OUT, registered=False, license_url=None, rule=RULE_EU),
    "EU itself is opt-out": Case(
        "tdm", "EU", (), ALLOWED, NOT_RESERVED, OPT_OUT, registered=False, license_url=None, rule=RULE_EU),
    "GB is opt-out": Case(
        "search", "GB", (), ALLOWED, NOT_RESERVED, OPT_OUT, registered=False, license_url=None, rule=RULE_GB),
    "US is opt-out": Case(
        "ai-use", "US", (), ALLOWED, NOT_RESERVED, OPT_OUT, registered=False, license_url=None, rule=RULE_US),
    "unknown ISO code (BR) falls through to * prior-permission": Case(
        "train-ai", "BR", (), DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION,
        registered=False, license_url=None, rule=RULE_ANY),
    "* itself is prior-permission": Case(
        "tdm", "*", (), DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION,
        registered=False, license_url=None, rule=RULE_ANY),
    "unregistered: declarations passed anyway are not consulted": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT, license=DECL_LICENSE),), DENIED, PERMISSION_REQUIRED,
        PRIOR_PERMISSION, registered=False, license_url=None),
    # ---- registered, no candidate: the regime decides, license_url is the holder's ----------------------------------
    "registered, no declaration, JP: permission-required with holder's license_url": Case(
        "train-ai", "JP", (), DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION, license_url=HOLDER_LICENSE),
    "registered, no declaration, DE: not-reserved with holder's license_url": Case(
        "train-ai", "DE", (), ALLOWED, NOT_RESERVED, OPT_OUT, license_url=HOLDER_LICENSE),
    "registered, holder without licensing URL: license_url null": Case(
        "train-ai", "JP", (), DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION, license_url=None, holder_license_url=None),
    # ---- disputes ----------------------------------------------------------------------------------------------------
    "dispute denies, even over a work grant": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT, license=DECL_LICENSE),), DENIED, DISPUTED,
        PRIOR_PERMISSION, disputed=True, license_url=HOLDER_LICENSE),
    "dispute denies in an opt-out jurisdiction, regime still reported": Case(
        "search", "DE", (), DENIED, DISPUTED, OPT_OUT, disputed=True),
    # ---- bases given by a declaration (the regime of (J, P) is still reported) --------------------------------------
    "grant in JP: allowed, granted, regime prior-permission": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT),), ALLOWED, GRANTED, PRIOR_PERMISSION, "g"),
    "reservation in DE: denied, reserved, regime opt-out": Case(
        "train-ai", "DE", (work("r", "train-ai", "DE", RESERVE),), DENIED, RESERVED, OPT_OUT, "r"),
    "catalogue reservation covers the holder's works": Case(
        "train-ai", "DE", (cat("r", "tdm", "*", RESERVE),), DENIED, RESERVED, OPT_OUT, "r"),
    # ---- purpose coverage and precedence ----------------------------------------------------------------------------
    "tdm declaration covers train-genai (ancestor covers descendants)": Case(
        "train-genai", "JP", (work("g", "tdm", "JP", GRANT),), ALLOWED, GRANTED, PRIOR_PERMISSION, "g"),
    "train-genai declaration does not cover train-ai (descendant does not cover parent)": Case(
        "train-ai", "JP", (work("g", "train-genai", "JP", GRANT),), DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION),
    "ai-use reservation does not cover search (sibling)": Case(
        "search", "DE", (work("r", "ai-use", "DE", RESERVE),), ALLOWED, NOT_RESERVED, OPT_OUT),
    "nearer purpose beats farther: train-ai grant over tdm reservation": Case(
        "train-genai", "JP", (work("r", "tdm", "JP", RESERVE), work("g", "train-ai", "JP", GRANT)),
        ALLOWED, GRANTED, PRIOR_PERMISSION, "g"),
    "nearer purpose beats farther: train-genai reservation over tdm grant": Case(
        "train-genai", "JP", (work("g", "tdm", "JP", GRANT), work("r", "train-genai", "JP", RESERVE)),
        DENIED, RESERVED, PRIOR_PERMISSION, "r"),
    "purpose is compared before jurisdiction: nearer purpose in * beats farther purpose in JP": Case(
        "train-ai", "JP", (work("r", "tdm", "JP", RESERVE), work("g", "train-ai", "*", GRANT)),
        ALLOWED, GRANTED, PRIOR_PERMISSION, "g"),
    # ---- scope ------------------------------------------------------------------------------------------------------
    "work scope beats catalogue even when catalogue is nearer in purpose and jurisdiction": Case(
        "train-genai", "JP", (work("g", "tdm", "*", GRANT), cat("r", "train-genai", "JP", RESERVE)),
        ALLOWED, GRANTED, PRIOR_PERMISSION, "g"),
    "work reservation beats catalogue grant": Case(
        "train-genai", "JP", (cat("g", "train-genai", "JP", GRANT), work("r", "tdm", "*", RESERVE)),
        DENIED, RESERVED, PRIOR_PERMISSION, "r"),
    # ---- jurisdiction coverage and precedence -----------------------------------------------------------------------
    "JP beats *": Case(
        "train-ai", "JP", (work("r", "train-ai", "*", RESERVE), work("g", "train-ai", "JP", GRANT)),
        ALLOWED, GRANTED, PRIOR_PERMISSION, "g"),
    "FR beats its region EU": Case(
        "train-ai", "FR", (work("r", "train-ai", "EU", RESERVE), work("g", "train-ai", "FR", GRANT)),
        ALLOWED, GRANTED, OPT_OUT, "g"),
    "region EU beats *": Case(
        "train-ai", "FR", (work("g", "train-ai", "*", GRANT), work("r", "train-ai", "EU", RESERVE)),
        DENIED, RESERVED, OPT_OUT, "r"),
    "EU reservation covers member state DE": Case(
        "train-ai", "DE", (cat("r", "tdm", "EU", RESERVE),), DENIED, RESERVED, OPT_OUT, "r"),
    "EU reservation does not cover GB": Case(
        "train-ai", "GB", (cat("r", "tdm", "EU", RESERVE),), ALLOWED, NOT_RESERVED, OPT_OUT),
    "FR reservation does not cover DE (sibling member state)": Case(
        "train-ai", "DE", (work("r", "train-ai", "FR", RESERVE),), ALLOWED, NOT_RESERVED, OPT_OUT),
    "JP grant does not apply in BR": Case(
        "train-ai", "BR", (work("g", "train-ai", "JP", GRANT),), DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION),
    "* grant applies in BR": Case(
        "train-ai", "BR", (work("g", "tdm", "*", GRANT),), ALLOWED, GRANTED, PRIOR_PERMISSION, "g"),
    # ---- consent tie -------------------------------------------------------------------------------------------------
    "reserve beats grant at equal specificity (grant listed first)": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT), work("r", "train-ai", "JP", RESERVE)),
        DENIED, RESERVED, PRIOR_PERMISSION, "r"),
    "reserve beats grant at equal specificity (reserve listed first)": Case(
        "train-ai", "US", (cat("r", "tdm", "*", RESERVE), cat("g", "tdm", "*", GRANT)),
        DENIED, RESERVED, OPT_OUT, "r"),
    "duplicates in one slot (never held by a consistent registry): newest recorded decides, whatever the order": Case(
        "train-ai", "DE", (work("r1", "train-ai", "DE", RESERVE, license=DECL_LICENSE),
                           work("r2", "train-ai", "DE", RESERVE, recorded=EARLIER + SECOND)),
        DENIED, RESERVED, OPT_OUT, "r2", license_url=HOLDER_LICENSE),
    # ---- time: recorded_at, ended_at, effective_from, effective_until ---------------------------------------------
    "declaration recorded after T is ignored": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT, recorded=T + SECOND, effective_from=EARLIER),),
        DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION),
    "declaration recorded exactly at T counts": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT, recorded=T),), ALLOWED, GRANTED, PRIOR_PERMISSION, "g"),
    "superseded before T is ignored": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT, ended=T - SECOND),),
        DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION),
    "superseded exactly at T is ignored (ended_at is exclusive)": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT, ended=T),),
        DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION),
    "superseded after T still decides for T": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT, ended=T + SECOND),),
        ALLOWED, GRANTED, PRIOR_PERMISSION, "g"),
    "successor in the slot decides after supersession": Case(
        "train-ai", "DE", (work("g", "train-ai", "DE", GRANT, ended=T - SECOND),
                           work("r", "train-ai", "DE", RESERVE, recorded=T - SECOND)),
        DENIED, RESERVED, OPT_OUT, "r"),
    "revoked reservation no longer denies": Case(
        "train-ai", "DE", (work("r", "train-ai", "DE", RESERVE, ended=T - SECOND),), ALLOWED, NOT_RESERVED, OPT_OUT),
    "effective_from after T is ignored": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT, effective_from=T + SECOND),),
        DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION),
    "effective_from exactly T counts": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT, effective_from=T),),
        ALLOWED, GRANTED, PRIOR_PERMISSION, "g"),
    "effective_until is exclusive": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT, effective_until=T),),
        DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION),
    "effective_until after T counts": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT, effective_until=T + SECOND),),
        ALLOWED, GRANTED, PRIOR_PERMISSION, "g"),
    "a more specific declaration not in force at T does not hide a less specific one": Case(
        "train-ai", "JP", (work("r", "train-ai", "JP", RESERVE, effective_until=T), cat("g", "tdm", "*", GRANT)),
        ALLOWED, GRANTED, PRIOR_PERMISSION, "g"),
    # ---- license_url ------------------------------------------------------------------------------------------------
    "license_url is the deciding declaration's": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT, license=DECL_LICENSE),),
        ALLOWED, GRANTED, PRIOR_PERMISSION, "g", license_url=DECL_LICENSE),
    "a reservation carries its license_url": Case(
        "train-ai", "DE", (work("r", "train-ai", "DE", RESERVE, license=DECL_LICENSE),),
        DENIED, RESERVED, OPT_OUT, "r", license_url=DECL_LICENSE),
    "license_url falls back to the holder's when the deciding declaration has none": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT), cat("c", "tdm", "*", GRANT, license=CATALOGUE_LICENSE)),
        ALLOWED, GRANTED, PRIOR_PERMISSION, "g", license_url=HOLDER_LICENSE),
    "license_url null when neither declaration nor holder has one": Case(
        "train-ai", "JP", (work("g", "train-ai", "JP", GRANT),), ALLOWED, GRANTED, PRIOR_PERMISSION, "g",
        license_url=None, holder_license_url=None),
    # ---- rule lookup: versions -----------------------------------------------------------------------------------
    "rule valid only before T does not apply at T (falls through to *)": Case(
        "train-ai", "JP", (), DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION, rules=EXPIRED, rule=RULE_ANY),
    "rule version valid at T applies (old version before cutover)": Case(
        "train-ai", "JP", (), ALLOWED, NOT_RESERVED, OPT_OUT,
        rules=VERSIONED, as_of=CUTOVER - SECOND, rule=JP_OLD),
    "rule version valid at T applies (new version after cutover)": Case(
        "train-ai", "JP", (), DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION, rules=VERSIONED, rule=JP_NEW),
    "rule valid_until is exclusive": Case(
        "train-ai", "JP", (), DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION,
        rules=VERSIONED, as_of=CUTOVER, rule=JP_NEW),
    "rule valid_until is exclusive (an expired rule falls through at its end)": Case(
        "train-ai", "JP", (), DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION,
        rules=EXPIRED, as_of=CUTOVER, rule=RULE_ANY),
    "rule not yet valid at T does not apply": Case(
        "train-ai", "JP", (), DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION, rules=FUTURE, rule=RULE_ANY),
    # ---- rule lookup: purposes ------------------------------------------------------------------------------------
    "purpose-specific rule beats the all-purposes rule of its jurisdiction": Case(
        "search", "JP", (), ALLOWED, NOT_RESERVED, OPT_OUT, rules=PURPOSE_RULES, rule=JP_SEARCH),
    "other purposes keep the all-purposes rule": Case(
        "ai-use", "JP", (), DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION, rules=PURPOSE_RULES, rule=RULE_JP),
    "rule for an ancestor purpose applies to descendants": Case(
        "train-genai", "JP", (), ALLOWED, NOT_RESERVED, OPT_OUT, rules=PURPOSE_RULES, rule=JP_TRAIN_AI),
    "J's all-purposes rule beats *'s purpose-specific rule (jurisdiction walked first)": Case(
        "train-genai", "GB", (), ALLOWED, NOT_RESERVED, OPT_OUT, rules=rulebook(
            replace(ANY_GENAI, regime=PRIOR_PERMISSION)), rule=RULE_GB),
    "*'s purpose-specific rule beats *'s all-purposes rule": Case(
        "train-genai", "BR", (), ALLOWED, NOT_RESERVED, OPT_OUT, rules=PURPOSE_RULES, rule=ANY_GENAI),
    "region's purpose-specific rule applies to member state": Case(
        "train-ai", "FR", (), DENIED, PERMISSION_REQUIRED, PRIOR_PERMISSION, rules=PURPOSE_RULES, rule=EU_TRAIN_AI),
    "regime of (J, P) reported when a declaration decides": Case(
        "search", "JP", (work("r", "tdm", "JP", RESERVE),), DENIED, RESERVED, OPT_OUT, "r",
        rules=PURPOSE_RULES, rule=JP_SEARCH),
}
# fmt: on


def run(case: Case, declarations=None) -> Answer:
    return decide(
        purpose=case.purpose,
        jurisdiction=case.jurisdiction,
        as_of=case.as_of,
        rules=case.rules,
        registered=case.registered,
        disputed=case.disputed,
        declarations=case.declarations if declarations is None else declarations,
        holder_license_url=case.holder_license_url,
    )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_case(case: Case):
    answer = run(case)
    decider = None if answer.declaration is None else answer.declaration.id
    assert (answer.outcome, answer.basis, answer.regime, decider, answer.license_url) == (
        case.outcome,
        case.basis,
        case.regime,
        case.decider,
        case.license_url,
    )
    assert answer.rule.regime == answer.regime
    assert answer.rule.valid_at(case.as_of)
    if case.rule is not None:
        assert answer.rule == case.rule
    # every table case must also hold for the list in reverse order
    assert run(case, tuple(reversed(case.declarations))) == answer


# ---- rule book ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "j, chain",
    [("JP", ("JP", "*")), ("FR", ("FR", "EU", "*")), ("GR", ("GR", "EU", "*")), ("EU", ("EU", "*")),
     ("BR", ("BR", "*")), ("*", ("*",))],
)  # fmt: skip
def test_jurisdiction_chain(j, chain):
    book = rulebook()
    assert book.jurisdiction_chain(j) == chain
    assert book.jurisdiction_chain(j) is book.jurisdiction_chain(j)  # cached


def test_jurisdiction_chain_deduplicates():
    book = RuleBook(SEED_RULES, {"XA": "*", "XB": "XB"})
    assert book.jurisdiction_chain("XA") == ("XA", "*")
    assert book.jurisdiction_chain("XB") == ("XB", "*")


def test_rule_for_walks_the_chains():
    assert SEED.rule_for("DE", "train-genai", T) is RULE_EU
    assert SEED.rule_for("JP", "search", T) is RULE_JP
    assert SEED.rule_for("BR", "tdm", T) is RULE_ANY
    assert SEED.rule_for("BR", "tdm", T) is RULE_ANY  # second call from the cache


def test_rule_for_without_any_rule_raises_lookup_error():
    book = RuleBook([RULE_JP], PARENTS)
    with pytest.raises(LookupError):
        book.rule_for("BR", "tdm", T)
    with pytest.raises(LookupError):  # before the seeded rules existed
        SEED.rule_for("JP", "tdm", EPOCH - SECOND)


def test_unknown_purpose_is_refused():
    with pytest.raises(UnknownPurpose):
        SEED.rule_for("JP", "train", T)
    with pytest.raises(UnknownPurpose):
        decide(purpose="train", jurisdiction="JP", as_of=T, rules=SEED, registered=True)


def test_rule_book_refuses_bad_rules():
    with pytest.raises(ValueError):
        RuleBook([replace(RULE_ANY, regime="maybe")], {})
    with pytest.raises(UnknownPurpose):
        RuleBook([replace(RULE_ANY, purpose="training")], {})


# ---- facts ----------------------------------------------------------------------------------------------------------


def test_declaration_fact_refuses_bad_scope_or_consent():
    with pytest.raises(ValueError):
        work("x", "tdm", "JP", "allow")
    with pytest.raises(ValueError):
        decl("x", "holder", "tdm", "JP", GRANT)


def test_in_force_at_bounds():
    d = work("g", "tdm", "JP", GRANT, recorded=T, ended=T + timedelta(days=10),
             effective_from=T + timedelta(days=1), effective_until=T + timedelta(days=5))  # fmt: skip
    assert not d.in_force_at(T)  # recorded, not yet effective
    assert d.in_force_at(T + timedelta(days=1))
    assert not d.in_force_at(T + timedelta(days=5))
    e = work("g", "tdm", "JP", GRANT, recorded=T, ended=T + timedelta(days=2))
    assert not e.in_force_at(T - SECOND) and e.in_force_at(T) and not e.in_force_at(T + timedelta(days=2))


def test_facts_are_frozen_and_slotted():
    d = work("g", "tdm", "JP", GRANT)
    for obj in (d, RULE_JP, run(CASES["grant in JP: allowed, granted, regime prior-permission"])):
        assert not hasattr(obj, "__dict__")
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, dataclasses.fields(obj)[0].name, "x")
    assert d == work("g", "tdm", "JP", GRANT) and hash(d) == hash(work("g", "tdm", "JP", GRANT))
    assert replace(d, consent=RESERVE).consent == RESERVE


def test_engine_is_pure():
    tree = ast.parse(open(engine.__file__, encoding="utf-8").read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "collections", "dataclasses", "datetime"}


# ---- properties (domain.md, "Invariants the engine must keep") ------------------------------------------------------

BASE = datetime(2024, 1, 1, tzinfo=UTC)
HORIZON = 100  # history events happen at minutes 0..HORIZON; later filings after it
JURISDICTIONS = ("JP", "FR", "EU", "DE", "US", "BR", "*")
QUERY_JURISDICTIONS = (*JURISDICTIONS, "GB")
SLOTS = [(s, p, j) for s in (WORK, CATALOGUE) for p in PURPOSES for j in JURISDICTIONS]


def minute(n: int) -> datetime:
    return BASE + timedelta(minutes=n)


@st.composite
def histories(draw, max_filings: int = 12) -> list[DeclarationFact]:
    """Declarations of one work and its holder as the database could hold them: per slot, each filing supersedes
    the previous one, and the last may be revoked, so at most one is in force per slot at any time."""
    filings = draw(
        st.lists(
            st.tuples(st.sampled_from(SLOTS), st.sampled_from((GRANT, RESERVE)), st.integers(0, HORIZON - 1)),
            max_size=max_filings,
        )
    )
    by_slot: dict[tuple, dict[int, str]] = {}
    for slot, consent, at in filings:
        by_slot.setdefault(slot, {})[at] = consent
    facts = []
    for (scope, purpose, jurisdiction), events in by_slot.items():
        times = sorted(events)
        for i, at in enumerate(times):
            ended = times[i + 1] if i + 1 < len(times) else draw(st.none() | st.integers(at + 1, HORIZON))
            effective_from = draw(st.integers(at - 30, at + 30))
            effective_until = draw(st.none() | st.integers(effective_from + 1, effective_from + 60))
            facts.append(
                DeclarationFact(
                    id=f"d{len(facts)}",
                    scope=scope,
                    purpose=purpose,
                    jurisdiction=jurisdiction,
                    consent=events[at],
                    license_url=draw(st.sampled_from((None, DECL_LICENSE))),
                    recorded_at=minute(at),
                    ended_at=None if ended is None else minute(ended),
                    effective_from=minute(effective_from),
                    effective_until=None if effective_until is None else minute(effective_until),
                )
            )
    return facts


queries = st.tuples(
    st.sampled_from(list(PURPOSES)),
    st.sampled_from(QUERY_JURISDICTIONS),
    st.integers(-10, HORIZON + 40).map(minute),
)


def ask(query, declarations) -> Answer:
    purpose, jurisdiction, as_of = query
    return decide(
        purpose=purpose,
        jurisdiction=jurisdiction,
        as_of=as_of,
        rules=SEED,
        registered=True,
        declarations=declarations,
        holder_license_url=HOLDER_LICENSE,
    )


@st.composite
def filings_after(draw, history, consent: str | None = None, at_least: int = HORIZON + 1, supersede: bool = True):
    """File a new declaration after everything in ``history``, superseding its slot's current declaration.

    With ``supersede=False`` the new declaration goes into a slot with no current declaration: a pure addition.
    (Filing into an occupied slot *replaces* its declaration, which is not an addition: replacing a reservation by
    one whose effective window does not cover T legitimately turns denied into allowed.)"""
    occupied = {(d.scope, d.purpose, d.jurisdiction) for d in history if d.ended_at is None}
    free = [slot for slot in SLOTS if slot not in occupied]
    scope, purpose, jurisdiction = draw(st.sampled_from(SLOTS if supersede else free))
    at = draw(st.integers(at_least, at_least + 30))
    effective_from = draw(st.integers(at - 60, at + 10))
    new = DeclarationFact(
        id="new",
        scope=scope,
        purpose=purpose,
        jurisdiction=jurisdiction,
        consent=consent or draw(st.sampled_from((GRANT, RESERVE))),
        license_url=None,
        recorded_at=minute(at),
        ended_at=None,
        effective_from=minute(effective_from),
        effective_until=draw(st.none() | st.integers(effective_from + 1, effective_from + 60).map(minute)),
    )
    updated = [
        replace(d, ended_at=new.recorded_at)
        if (d.scope, d.purpose, d.jurisdiction) == (scope, purpose, jurisdiction) and d.ended_at is None
        else d
        for d in history
    ]
    return [*updated, new]


def slot_uniqueness_holds(declarations) -> bool:
    for a in declarations:
        for b in declarations:
            if a is not b and (a.scope, a.purpose, a.jurisdiction) == (b.scope, b.purpose, b.jurisdiction):
                a_end = a.ended_at or datetime.max.replace(tzinfo=UTC)
                b_end = b.ended_at or datetime.max.replace(tzinfo=UTC)
                if a.recorded_at < b_end and b.recorded_at < a_end:
                    return False
    return True


PROPERTY_SETTINGS = settings(max_examples=250, deadline=None)


@PROPERTY_SETTINGS
@given(data=st.data(), history=histories(), query=queries)
def test_generator_keeps_one_declaration_in_force_per_slot(data, history, query):
    assert slot_uniqueness_holds(history)
    assert slot_uniqueness_holds(data.draw(filings_after(history)))


@PROPERTY_SETTINGS
@given(data=st.data(), history=histories(), query=queries)
def test_adding_a_reservation_never_turns_denied_into_allowed(data, history, query):
    before = ask(query, history)
    after = ask(query, data.draw(filings_after(history, RESERVE, supersede=False)))
    if before.outcome == DENIED:
        assert after.outcome == DENIED


@PROPERTY_SETTINGS
@given(data=st.data(), history=histories(), query=queries)
def test_adding_a_grant_never_turns_allowed_into_denied(data, history, query):
    before = ask(query, history)
    after = ask(query, data.draw(filings_after(history, GRANT, supersede=False)))
    if before.outcome == ALLOWED:
        assert after.outcome == ALLOWED


def summary(answer: Answer) -> tuple:
    """The answer, with the deciding declaration by id (a later supersession changes the fact's ended_at only)."""
    decider = None if answer.declaration is None else answer.declaration.id
    return answer.outcome, answer.basis, answer.regime, answer.rule, decider, answer.license_url


@PROPERTY_SETTINGS
@given(data=st.data(), history=histories(), query=queries)
def test_a_declaration_recorded_after_t_never_changes_the_answer_for_t(data, history, query):
    # 1. a filing after T (superseding its slot's current declaration from then on) does not change the answer for T
    as_of = query[2]
    later = max(HORIZON + 1, int((as_of - BASE).total_seconds() // 60) + 1)
    assert summary(ask(query, data.draw(filings_after(history, at_least=later)))) == summary(ask(query, history))

    # 2. the registry as it stood at T (nothing recorded after T, nothing yet ended) gives the same answer as now
    as_it_stood = [replace(d, ended_at=None if d.ended_at and d.ended_at > as_of else d.ended_at)
                   for d in history if d.recorded_at <= as_of]  # fmt: skip
    assert summary(ask(query, as_it_stood)) == summary(ask(query, history))


@PROPERTY_SETTINGS
@given(data=st.data(), history=histories(max_filings=16), query=queries)
def test_the_answer_does_not_depend_on_declaration_order(data, history, query):
    shuffled = data.draw(st.permutations(history))
    assert ask(query, shuffled) == ask(query, history)
    assert ask(query, tuple(reversed(history))) == ask(query, history)


def reference(query, declarations) -> tuple:
    """domain.md "Deciding" steps 3-5, read literally (slow and obvious)."""
    purpose, jurisdiction, as_of = query
    purposes = purpose_chain(purpose)
    jurisdictions = SEED.jurisdiction_chain(jurisdiction)
    candidates = [
        d for d in declarations
        if d.recorded_at <= as_of and (d.ended_at is None or as_of < d.ended_at)
        and d.effective_from <= as_of and (d.effective_until is None or as_of < d.effective_until)
        and d.purpose in purposes and d.jurisdiction in jurisdictions
    ]  # fmt: skip
    regime = SEED.rule_for(jurisdiction, purpose, as_of).regime
    if not candidates:
        return (DENIED, PERMISSION_REQUIRED) if regime == PRIOR_PERMISSION else (ALLOWED, NOT_RESERVED)
    best = min(
        candidates,
        key=lambda d: (
            [WORK, CATALOGUE].index(d.scope),
            purposes.index(d.purpose),
            jurisdictions.index(d.jurisdiction),
            [RESERVE, GRANT].index(d.consent),
        ),
    )
    return (ALLOWED, GRANTED, best.id) if best.consent == GRANT else (DENIED, RESERVED, best.id)


@PROPERTY_SETTINGS
@given(history=histories(max_filings=16), query=queries)
def test_engine_agrees_with_a_literal_reading_of_the_spec(history, query):
    answer = ask(query, history)
    got = (answer.outcome, answer.basis) + ((answer.declaration.id,) if answer.declaration else ())
    assert got == reference(query, history)
    expected_license = (answer.declaration and answer.declaration.license_url) or HOLDER_LICENSE
    assert answer.license_url == expected_license
