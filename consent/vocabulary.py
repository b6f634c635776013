"""The fixed vocabulary of consent: purposes and jurisdictions (domain.md, "Purposes", "Regimes and jurisdictions"),
and the versioned map to the external vocabularies (interop.md, "Vocabularies").

Pure Python, no Django: imported by models, serializers, CSV import and the decision engine alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import pycountry

__all__ = [
    "PURPOSES",
    "PURPOSE_LABELS",
    "EU",
    "ANY_JURISDICTION",
    "EU_MEMBER_STATES",
    "UnknownPurpose",
    "UnknownJurisdiction",
    "purpose_chain",
    "validate_purpose",
    "validate_jurisdiction",
    "GRANT",
    "RESERVE",
    "Vocabulary",
    "VocabularyTerm",
    "VOCABULARIES",
    "VOCABULARY_BY_KEY",
    "AIPREF_LATEST",
    "UnknownVocabulary",
    "vocabulary",
    "same_as",
    "combine_consents",
    "written_consent",
]

# code -> parent code, in the order of the domain.md table.  Aligned with the IETF AI-preferences vocabulary,
# TDMRep and C2PA.
PURPOSES: dict[str, str | None] = {
    "tdm": None,
    "train-ai": "tdm",
    "train-genai": "train-ai",
    "ai-use": "tdm",
    "search": "tdm",
}

PURPOSE_LABELS: dict[str, str] = {
    "tdm": "any automated text and data mining or processing of the work",
    "train-ai": "training an AI model",
    "train-genai": "training a generative AI model",
    "ai-use": "using the work as input to an AI system at inference time (retrieval, grounding)",
    "search": "indexing the work for search",
}

EU = "EU"
ANY_JURISDICTION = "*"

# The 27 member states of the European Union, as ISO 3166-1 alpha-2 codes (Greece is GR in ISO 3166, not EL).
EU_MEMBER_STATES: tuple[str, ...] = (
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "HU",
)  # fmt: skip


class UnknownPurpose(ValueError):
    code = "unknown-purpose"


class UnknownJurisdiction(ValueError):
    code = "unknown-jurisdiction"


def _build_chains() -> dict[str, tuple[str, ...]]:
    chains: dict[str, tuple[str, ...]] = {}
    for code in PURPOSES:
        chain = [code]
        parent = PURPOSES[code]
        while parent is not None:
            if parent in chain:  # pragma: no cover - guards against an edit introducing a cycle
                raise RuntimeError(f"purpose tree has a cycle at {parent!r}")
            chain.append(parent)
            parent = PURPOSES[parent]
        chains[code] = tuple(chain)
    return chains


_CHAINS: dict[str, tuple[str, ...]] = _build_chains()
_PURPOSE_LIST = ", ".join(PURPOSES)


def _unknown_purpose(code: object) -> UnknownPurpose:
    return UnknownPurpose(f"unknown purpose {code!r}; expected one of: {_PURPOSE_LIST}")


def purpose_chain(code: str) -> tuple[str, ...]:
    """The purpose and its ancestors, nearest first.

    ``purpose_chain("train-genai") == ("train-genai", "train-ai", "tdm")``; unknown codes raise :class:`UnknownPurpose`.
    """
    try:
        return _CHAINS[code]
    except (KeyError, TypeError):
        raise _unknown_purpose(code) from None


def validate_purpose(code: str) -> str:
    """Return ``code`` if it is one of the fixed purposes, else raise :class:`UnknownPurpose`."""
    try:
        if code in _CHAINS:
            return code
    except TypeError:  # unhashable input
        pass
    raise _unknown_purpose(code)


# Every accepted spelling -> canonical code, computed once.
_JURISDICTIONS: dict[str, str] = {ANY_JURISDICTION: ANY_JURISDICTION}
for _country in pycountry.countries:
    _JURISDICTIONS[_country.alpha_2] = _country.alpha_2
    _JURISDICTIONS[_country.alpha_2.lower()] = _country.alpha_2
for _code in (EU, EU.lower()):
    _JURISDICTIONS[_code] = EU
del _country, _code

assert all(_JURISDICTIONS.get(c) == c for c in EU_MEMBER_STATES) and len(set(EU_MEMBER_STATES)) == 27

# Common mistakes worth a hint in the error message.
_HINTS = {"UK": "GB", "EL": "GR"}


def validate_jurisdiction(code: str) -> str:
    """Return the canonical jurisdiction code for ``code``.

    Accepted: an ISO 3166-1 alpha-2 country code (any case, returned upper-case), ``EU`` (any case) or ``*``.
    Anything else raises :class:`UnknownJurisdiction`.
    """
    try:
        return _JURISDICTIONS[code]
    except (KeyError, TypeError):
        pass
    if isinstance(code, str) and (canonical := _JURISDICTIONS.get(code.upper())) is not None:  # mixed case: "Fr"
        return canonical
    message = f"unknown jurisdiction {code!r}: expected an ISO 3166-1 alpha-2 country code (e.g. JP, FR), 'EU' or '*'"
    if isinstance(code, str) and code.upper() in _HINTS:
        message += f"; did you mean {_HINTS[code.upper()]!r}?"
    raise UnknownJurisdiction(message)


# ------------------------------------------------------------------------------- external vocabularies (interop.md)
#
# The one table through which every emitter (robots.txt, tdmrep.json, headers, CAWG) and every importer translates.
# Reading: a term maps to the Kyodaku purpose(s) in `purposes`. Writing: a term's value is the holder's consent for
# its purpose, found by walking that purpose's chain (a declaration for `train-ai` speaks for `train-genai` too), so
# the purposes whose declarations can decide a term are `purpose_chain(p)` for each p in `purposes` (served as
# `written_from`). A term that names several purposes is written only where they all agree.

GRANT = "grant"
RESERVE = "reserve"


class UnknownVocabulary(ValueError):
    code = "unknown-vocabulary"


@dataclass(frozen=True)
class VocabularyTerm:
    token: str
    meaning: str
    purposes: tuple[str, ...]  # what the term means in Kyodaku's purposes, when read
    note: str = ""

    @property
    def written_from(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for purpose in self.purposes:
            seen.update(dict.fromkeys(purpose_chain(purpose)))
        return tuple(seen)


@dataclass(frozen=True)
class Vocabulary:
    key: str  # Kyodaku's name for this vocabulary and version: stable, used in API answers and imports
    name: str
    version: str
    source: str
    values: dict[str, str]  # the external value -> grant / reserve, when read
    written_values: dict[str, str]  # grant / reserve -> the external value, when written
    terms: tuple[VocabularyTerm, ...]
    note: str = ""

    def term(self, token: str) -> VocabularyTerm | None:
        for term in self.terms:
            if term.token == token:
                return term
        return None

    def consent_of(self, value: str) -> str | None:
        """grant / reserve for an external value (None: not a value of this vocabulary)."""
        return self.values.get(value)


def _terms(*rows: tuple) -> tuple[VocabularyTerm, ...]:
    return tuple(VocabularyTerm(token, meaning, tuple(purposes), *rest) for token, meaning, purposes, *rest in rows)


_AIPREF_VALUES = {"y": GRANT, "n": RESERVE}

VOCABULARIES: tuple[Vocabulary, ...] = (
    Vocabulary(
        key="aipref-vocab-02", name="IETF AI Preferences vocabulary", version="draft-ietf-aipref-vocab-02",
        source="https://datatracker.ietf.org/doc/draft-ietf-aipref-vocab/02/",
        values=_AIPREF_VALUES, written_values={GRANT: "y", RESERVE: "n"},
        terms=_terms(
            ("all", "automated processing", ["tdm"]),
            ("train-ai", "AI training", ["train-ai"]),
            ("train-genai", "generative AI training", ["train-genai"]),
            ("ai-use", "AI use (inference, retrieval)", ["ai-use"]),
            ("search", "search", ["search"]),
        ),
    ),
    Vocabulary(
        key="aipref-vocab-08", name="IETF AI Preferences vocabulary", version="draft-ietf-aipref-vocab-08",
        source="https://datatracker.ietf.org/doc/draft-ietf-aipref-vocab/08/",
        values=_AIPREF_VALUES, written_values={GRANT: "y", RESERVE: "n"},
        terms=_terms(
            ("train-ai", "AI model training: changing the learned parameters of a model that generates synthetic "
                         "content", ["train-genai"],
             "Since -07 this term names generative training only (in -02 it meant any AI training); "
             "read as Kyodaku train-genai."),
            ("search", "search: selecting assets and directing users to where they are", ["search"]),
        ),
        note=("The draft of 14 September 2026 has two categories. It has no automated-processing (`all`) term and "
              "no `ai-use` term (an 'AI input' category is under discussion in the working group); a Kyodaku "
              "declaration for tdm or ai-use is not written in this vocabulary, and -02's `all`, `train-genai` and "
              "`ai-use` read in a -08 context are reported as ignored. Written in robots.txt and headers with the "
              "attachment draft draft-ietf-aipref-attach-05 (`Content-Usage`)."),
    ),
    Vocabulary(
        key="content-signals", name="Cloudflare Content Signals Policy",
        version="2025 (draft-romm-aipref-contentsignals-00)",
        source="https://contentsignals.org/",
        values={"yes": GRANT, "no": RESERVE}, written_values={GRANT: "yes", RESERVE: "no"},
        terms=_terms(
            ("ai-train", "training or fine-tuning AI models", ["train-ai"]),
            ("ai-input", "using content as input to AI models (retrieval, grounding)", ["ai-use"]),
            ("search", "building a search index and showing links and excerpts", ["search"]),
        ),
    ),
    Vocabulary(
        key="tdmrep", name="W3C TDM Reservation Protocol (TDMRep)", version="Final Community Group Report 2024",
        source="https://www.w3.org/community/reports/tdmrep/CG-FINAL-tdmrep-20240510/",
        values={"1": RESERVE, "0": GRANT}, written_values={GRANT: "0", RESERVE: "1"},
        terms=_terms(
            ("tdm-reservation", "text and data mining rights reserved (1) or not (0)", ["tdm"]),
        ),
        note="`tdm-policy` carries the licence URL (the deciding declaration's, else the holder's).",
    ),
    Vocabulary(
        key="cawg-training-mining-1.1", name="C2PA / CAWG training and data mining assertion (cawg.training-mining)",
        version="1.1", source="https://cawg.io/training-and-data-mining/1.1/",
        values={"allowed": GRANT, "notAllowed": RESERVE, "constrained": RESERVE},
        written_values={GRANT: "allowed", RESERVE: "notAllowed"},
        terms=_terms(
            ("cawg.data_mining", "data mining", ["tdm"]),
            ("cawg.ai_training", "AI training", ["train-ai"]),
            ("cawg.ai_generative_training", "generative AI training", ["train-genai"]),
            ("cawg.ai_inference", "AI inference", ["ai-use"]),
        ),
        note="`constrained` is read as notAllowed: Kyodaku cannot check the constraint.",
    ),
    Vocabulary(
        key="rsl-1.0", name="Really Simple Licensing (RSL) usage tokens", version="1.0",
        source="https://rslstandard.org/rsl",
        values={"permits": GRANT, "prohibits": RESERVE}, written_values={GRANT: "permits", RESERVE: "prohibits"},
        terms=_terms(
            ("all", "any use", ["tdm"]),
            ("ai-all", "any AI use", ["train-ai", "ai-use"]),
            ("ai-train", "AI training", ["train-ai"]),
            ("ai-input", "AI input (retrieval, grounding)", ["ai-use"]),
            ("ai-index", "AI search indexing", ["search"]),
            ("search", "search", ["search"]),
        ),
    ),
)

VOCABULARY_BY_KEY: dict[str, Vocabulary] = {v.key: v for v in VOCABULARIES}
AIPREF_LATEST = "aipref-vocab-08"
assert all(p in PURPOSES for v in VOCABULARIES for t in v.terms for p in t.purposes)


def vocabulary(key: str) -> Vocabulary:
    try:
        return VOCABULARY_BY_KEY[key]
    except (KeyError, TypeError):
        known = ", ".join(VOCABULARY_BY_KEY)
        raise UnknownVocabulary(f"unknown vocabulary {key!r}; expected one of: {known}") from None


def same_as(purpose: str) -> list[str]:
    """How the external vocabularies name `purpose` exactly (reference data: /api/v1/purposes)."""
    return [f"{v.name} ({v.version}) {t.token}" for v in VOCABULARIES for t in v.terms if purpose in t.purposes]


def combine_consents(statements) -> dict[str, str]:
    """(purpose, consent) pairs read from one signal -> one consent per purpose: any reservation wins over a grant
    for the same purpose (AI-pref "Combining Preferences", CAWG)."""
    result: dict[str, str] = {}
    for purpose, consent in statements:
        if result.get(purpose) != RESERVE:
            result[purpose] = consent
    return result


def written_consent(vocab: Vocabulary, term: VocabularyTerm, consent_for) -> str | None:
    """The external value to write for `term`, given `consent_for(purpose) -> grant / reserve / None` (the
    holder's own declarations: the nearest in the purpose's chain decides). None: nothing to say for this term
    (no declaration, or the term's purposes disagree)."""
    consents = {consent_for(purpose) for purpose in term.purposes}
    if len(consents) != 1 or None in consents:
        return None
    return vocab.written_values[consents.pop()]
