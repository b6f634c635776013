"""The fixed vocabulary of consent: purposes and jurisdictions (domain.md, "Purposes", "Regimes and jurisdictions").

Pure Python, no Django: imported by models, serializers, CSV import and the decision engine alike.
"""

from __future__ import annotations

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
