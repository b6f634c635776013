"""The purpose tree and jurisdiction codes of domain.md ("Purposes", "Regimes and jurisdictions")."""

import ast

import pycountry
import pytest

from consent.vocabulary import (
    EU_MEMBER_STATES,
    PURPOSE_LABELS,
    PURPOSES,
    UnknownJurisdiction,
    UnknownPurpose,
    purpose_chain,
    validate_jurisdiction,
    validate_purpose,
)


def imported_modules(module):
    tree = ast.parse(open(module.__file__, encoding="utf-8").read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_vocabulary_is_pure():
    import consent.vocabulary

    assert imported_modules(consent.vocabulary) <= {"__future__", "dataclasses", "pycountry"}


def test_purpose_table_in_domain_order():
    assert list(PURPOSES.items()) == [
        ("tdm", None),
        ("train-ai", "tdm"),
        ("train-genai", "train-ai"),
        ("ai-use", "tdm"),
        ("search", "tdm"),
    ]


def test_every_purpose_has_a_label():
    assert list(PURPOSE_LABELS) == list(PURPOSES)
    assert PURPOSE_LABELS["train-genai"] == "training a generative AI model"
    assert PURPOSE_LABELS["tdm"] == "any automated text and data mining or processing of the work"


@pytest.mark.parametrize(
    "code, chain",
    [
        ("tdm", ("tdm",)),
        ("train-ai", ("train-ai", "tdm")),
        ("train-genai", ("train-genai", "train-ai", "tdm")),
        ("ai-use", ("ai-use", "tdm")),
        ("search", ("search", "tdm")),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_purpose_chain(code, chain):
    assert purpose_chain(code) == chain
    assert purpose_chain(code) is purpose_chain(code)  # precomputed, not rebuilt


@pytest.mark.parametrize("bad", ["", "TDM", "train_ai", "ai-train", "all", "tdm:mine", None, ["tdm"]])
def test_unknown_purpose(bad):
    with pytest.raises(UnknownPurpose) as excinfo:
        purpose_chain(bad)
    assert excinfo.value.code == "unknown-purpose"
    assert isinstance(excinfo.value, ValueError)
    with pytest.raises(UnknownPurpose, match="expected one of: tdm, train-ai"):
        validate_purpose(bad)


@pytest.mark.parametrize("code", list(PURPOSES))
def test_validate_purpose_returns_code(code):
    assert validate_purpose(code) == code


def test_eu_member_states():
    assert len(EU_MEMBER_STATES) == 27 == len(set(EU_MEMBER_STATES))
    assert set(EU_MEMBER_STATES) == set(
        "AT BE BG HR CY CZ DK EE FI FR DE GR IE IT LV LT LU MT NL PL PT RO SK SI ES SE HU".split()
    )
    assert "GR" in EU_MEMBER_STATES and "EL" not in EU_MEMBER_STATES  # ISO 3166, not the EU's own "EL"
    assert "GB" not in EU_MEMBER_STATES
    for code in EU_MEMBER_STATES:
        assert pycountry.countries.get(alpha_2=code) is not None, code


@pytest.mark.parametrize(
    "given, canonical",
    [
        ("JP", "JP"),
        ("jp", "JP"),
        ("Fr", "FR"),
        ("BR", "BR"),  # valid ISO code without a rule of its own: accepted, falls through to "*" when deciding
        ("GR", "GR"),
        ("EU", "EU"),
        ("eu", "EU"),
        ("*", "*"),
    ],
)
def test_validate_jurisdiction_accepts(given, canonical):
    assert validate_jurisdiction(given) == canonical


@pytest.mark.parametrize(
    "bad",
    ["", " JP", "JP ", "XX", "UK", "EL", "JPN", "J", "E U", "**", "EUR", "world", None, 81],
)
def test_validate_jurisdiction_rejects(bad):
    with pytest.raises(UnknownJurisdiction) as excinfo:
        validate_jurisdiction(bad)
    assert excinfo.value.code == "unknown-jurisdiction"
    assert isinstance(excinfo.value, ValueError)
    assert repr(bad) in str(excinfo.value) and "ISO 3166-1 alpha-2" in str(excinfo.value)


def test_unknown_jurisdiction_hints_gb_for_uk():
    with pytest.raises(UnknownJurisdiction, match="did you mean 'GB'"):
        validate_jurisdiction("UK")


def test_every_iso_country_is_accepted():
    for country in pycountry.countries:
        assert validate_jurisdiction(country.alpha_2) == country.alpha_2
        assert validate_jurisdiction(country.alpha_2.lower()) == country.alpha_2
