"""Identifiers written by people and programs (domain.md, "Works and identifiers"): the scheme left out when the
value is unambiguous, digits in any decimal script but never digit-like characters, no public suffixes, and a
cost bounded by the text's length. Pure: no database.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import ean

import registry.identifiers as identifiers
from registry.identifiers import InvalidIdentifier, ParsedIdentifier, infer_scheme, is_public_suffix, parse_identifier

props = settings(deadline=None)


def detail_of(text: str) -> str:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_identifier(text)
    return caught.value.detail


# ------------------------------------------------------------------ an AI developer sends ids without a scheme

INFERRED = [
    ("https://Hoshi-Pub.example/Works/1", "url:https://hoshi-pub.example/Works/1"),
    ("http://hoshi-pub.example", "url:http://hoshi-pub.example/"),
    ("978-4-9901661-3-7", "isbn:9784990166137"),
    ("9784990166137", "isbn:9784990166137"),
    ("0-306-40615-2", "isbn:9780306406157"),
    ("080442957X", "isbn:9780804429573"),
    ("９７８－４－９９０１６６１－３－７", "isbn:9784990166137"),
    ("10.1000/XYZ-123", "doi:10.1000/xyz-123"),
    ("10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-0",
     "doi:10.1002/(sici)1097-4571(199806)49:8<693::aid-asi4>3.0.co;2-0"),
    ("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
     "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("  9784990166137 \n", "isbn:9784990166137"),
]


@pytest.mark.parametrize(("given_text", "expected"), INFERRED)
def test_developer_may_leave_out_the_scheme_of_an_unambiguous_value(given_text, expected):
    parsed = parse_identifier(given_text)
    assert str(parsed) == expected
    assert infer_scheme(given_text) == parsed.scheme
    assert parse_identifier(expected) == parsed  # the scheme written out gives the same identifier


def test_an_iscc_code_is_recognised_by_its_own_prefix():
    code = "ISCC:KACYPXW445FTYNJ3CYSXHAFJMA2HUWULUNRFE3BLHRSCXYH2M5AEGQY"
    assert infer_scheme(code) == "iscc"
    assert parse_identifier(code).scheme == "iscc"


@pytest.mark.parametrize(
    "ambiguous",
    [
        "0317-8471",  # an ISSN: 8 characters
        "JPAB00312345",  # an ISRC
        "T-034.524.680-1",  # an ISWC
        "hoshi-pub.example",  # a domain
        "hoshi-pub/HP-100",  # a ref
        "4006381333931",  # 13 digits, a valid EAN but not a book
        "12345678901234",  # 14 digits
        "ftp://hoshi-pub.example/",
        "10.1000",  # DOI prefix without a suffix
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",  # 63 hex digits
    ],
)
def test_anything_else_needs_its_scheme(ambiguous):
    assert infer_scheme(ambiguous) is None
    with pytest.raises(InvalidIdentifier):
        parse_identifier(ambiguous)


def test_a_bare_number_with_a_wrong_isbn_check_digit_says_so():
    detail = detail_of("978-4-9901661-3-8")
    assert "read as an ISBN" in detail and "ISBN checksum does not match" in detail


def test_unknown_scheme_is_still_named():
    assert detail_of("urn:isbn:9784990166137") == "unknown scheme 'urn'"


@props
@given(twelve=st.text(alphabet="0123456789", min_size=9, max_size=9).map(lambda nine: "978" + nine))
def test_every_valid_isbn13_is_inferred_and_equals_its_written_form(twelve):
    isbn = twelve + ean.calc_check_digit(twelve)
    assert parse_identifier(isbn) == parse_identifier(f"isbn:{isbn}") == ParsedIdentifier("isbn", isbn)


@props
@given(digest=st.binary(min_size=32, max_size=32))
def test_every_sha256_is_inferred(digest):
    assert parse_identifier(digest.hex().upper()) == ParsedIdentifier("sha256", digest.hex())


@props
@given(text=st.text(max_size=80))
def test_inference_never_fails_other_than_invalid_identifier_and_round_trips(text):
    try:
        parsed = parse_identifier(text)
    except InvalidIdentifier:
        return
    assert parse_identifier(str(parsed)) == parsed


# ------------------------------------------------------------------------- only decimal digits fold to ASCII


@pytest.mark.parametrize(
    "text",
    [
        "isbn:97849901661³7",  # superscript three
        "isbn:978499016613⁷",
        "isbn:978-4-9901661-3-⑦",  # circled seven
        "isbn:978-4-9901661-3-⒎",  # digit seven full stop
        "issn:0317-847①",
        "iswc:T-034.524.680-¹",
        "97849901661³7",  # and without the scheme
    ],
)
def test_a_publisher_cannot_slip_digit_like_characters_into_a_number(text):
    assert "only looks like a digit" in detail_of(text)


@pytest.mark.parametrize(
    "digits",
    [
        "９７８４９９０１６６１３７",  # full-width
        "٩٧٨٤٩٩٠١٦٦١٣٧",  # Arabic-Indic
        "९७८४९९०१६६१३७",  # Devanagari
    ],
)
def test_decimal_digits_of_any_script_fold_to_ascii(digits):
    assert parse_identifier(f"isbn:{digits}") == ParsedIdentifier("isbn", "9784990166137")


@props
@given(position=st.integers(min_value=0, max_value=12),
       char=st.characters(categories=["No", "Nl"]))
def test_any_numeric_non_decimal_character_makes_an_isbn_invalid(position, char):
    isbn = "9784990166137"
    with pytest.raises(InvalidIdentifier):
        parse_identifier("isbn:" + isbn[:position] + char + isbn[position + 1:])


# ------------------------------------------------------------------------------------------ public suffixes


@pytest.mark.parametrize("suffix", ["co.uk", "github.io", "kyoto.jp", "com", "s3.amazonaws.com", "公司.cn"])
def test_a_holder_cannot_claim_a_public_suffix_as_its_domain(suffix):
    detail = detail_of(f"domain:{suffix}")
    assert "public suffix" in detail or "at least two labels" in detail


@pytest.mark.parametrize("suffix", ["co.uk", "github.io", "blogspot.com"])
def test_a_holder_cannot_claim_a_url_prefix_on_a_public_suffix_host(suffix):
    assert "url-prefix host" in detail_of(f"url-prefix:https://{suffix}/")
    assert "public suffix" in detail_of(f"url-prefix:https://{suffix}/anything/")


@pytest.mark.parametrize("own", ["hoshi-pub.co.uk", "studio-kaze.github.io", "city.kyoto.jp", "hoshi-pub.example"])
def test_a_name_under_a_public_suffix_is_the_holders_own(own):
    assert parse_identifier(f"domain:{own}").value == own
    assert parse_identifier(f"url-prefix:https://{own}/").value == f"https://{own}/"
    assert not is_public_suffix(own)


def test_a_url_on_a_public_suffix_host_is_still_a_url():
    # One page is one work; it claims nothing beyond itself.
    assert parse_identifier("url:https://github.io/").value == "https://github.io/"


def test_the_public_suffix_list_is_bundled_not_fetched(monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("the Public Suffix List must not be fetched at run time")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    identifiers._public_suffix_list.cache_clear()
    assert is_public_suffix("co.uk")


# ------------------------------------------------------------------------------------ cost bounded by bytes


def test_an_over_long_domain_is_refused_before_idna_runs(monkeypatch):
    calls = []
    real = identifiers.idna.encode
    monkeypatch.setattr(identifiers.idna, "encode", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert "longer than 253 characters" in detail_of("domain:" + "a" * 2000)
    assert "longer than 253 characters" in detail_of("domain:" + "é" * 300)
    assert "label longer than 63" in detail_of("domain:" + "é" * 70 + ".example")
    assert "longer than 253 characters" in detail_of("url:https://" + "a" * 2000 + "/")
    assert calls == []

