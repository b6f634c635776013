"""Identifier parsing and normalisation (registry/identifiers.py): pure, no database."""

from __future__ import annotations

import hashlib
import io
import string
from urllib.parse import quote

import iscc_core
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from stdnum import ean
from stdnum import isbn as stdnum_isbn
from stdnum import issn as stdnum_issn
from url_normalize.normalize_path import normalize_path
from url_normalize.normalize_query import normalize_query

from registry.identifiers import (
    _PLAIN_QUERY_RE,
    _STORED_URL_RE,
    SCHEMES,
    InvalidIdentifier,
    ParsedIdentifier,
    _is_stored_url,
    _normalise_url_parts,
    _normalise_url_path,
    domain_chain,
    normalise,
    parse_identifier,
    url_host,
)

# No deadline: the first IDNA / iscc-core call in a process pays for lazy table loading.
props = settings(deadline=None)


def stored(text: str) -> str:
    return str(parse_identifier(text))


def detail_of(text: str) -> str:
    with pytest.raises(InvalidIdentifier) as caught:
        parse_identifier(text)
    assert caught.value.code == "invalid-identifier"
    return caught.value.detail


# ------------------------------------------------------------------------------------------------ the envelope


def test_schemes_are_exactly_the_spec_table():
    # domain.md's table, then match.md's perceptual hashes.
    assert SCHEMES == ("isbn", "issn", "isrc", "iswc", "doi", "url", "url-prefix", "domain", "sha256", "iscc", "ref",
                       "phash", "pdq")


def test_parse_returns_scheme_and_stored_value_and_str_round_trips():
    parsed = parse_identifier("isbn:978-4-9901661-3-7")
    assert parsed == ParsedIdentifier("isbn", "9784990166137")
    assert str(parsed) == "isbn:9784990166137"
    assert parse_identifier(str(parsed)) == parsed


def test_scheme_is_case_insensitive_and_surrounding_whitespace_is_trimmed():
    assert parse_identifier("  ISBN:978-4-9901661-3-7 \n") == ParsedIdentifier("isbn", "9784990166137")
    assert parse_identifier("Url-Prefix: https://example.com/a ") == ParsedIdentifier(
        "url-prefix", "https://example.com/a"
    )


def test_parsed_identifier_is_immutable():
    parsed = parse_identifier("sha256:" + "0" * 64)
    with pytest.raises(AttributeError):
        parsed.value = "x"  # type: ignore[misc]


def test_ambiguous_value_without_scheme_must_be_written_scheme_value():
    assert detail_of("HP-100").startswith("identifier must be written scheme:value (the scheme may be left out")
    assert detail_of(":HP-100").startswith("identifier must be written scheme:value")


def test_unknown_scheme_is_named_in_the_detail():
    assert detail_of("foo:bar") == "unknown scheme 'foo'"


def test_bare_web_address_is_read_as_a_url():
    assert parse_identifier("HTTPS://Example.com") == ParsedIdentifier("url", "https://example.com/")


def test_empty_value_is_rejected():
    assert detail_of("isbn:   ") == "identifier has no value after 'isbn:'"


@pytest.mark.parametrize("bad", [None, 9784990166137, b"isbn:9784990166137", ["isbn:9784990166137"], object()])
def test_non_string_input_is_an_invalid_identifier(bad):
    with pytest.raises(InvalidIdentifier, match="must be a string"):
        parse_identifier(bad)


def test_empty_text_is_an_invalid_identifier():
    assert detail_of("") == "identifier must be written scheme:value"
    assert detail_of("   ") == "identifier must be written scheme:value"


@pytest.mark.parametrize("text", ["ref:a/" + "x" * 3000, "url:https://example.com/" + "a" * 2100, "x" * 1_000_000])
def test_absurdly_long_input_is_rejected(text):
    assert "longer than 2048 characters" in detail_of(text)


def test_normalise_takes_scheme_and_value_separately():
    assert normalise("ISBN", "0-306-40615-2") == "9780306406157"
    with pytest.raises(InvalidIdentifier, match="unknown scheme 'nope'"):
        normalise("nope", "x")
    with pytest.raises(InvalidIdentifier):
        normalise("isbn", None)  # type: ignore[arg-type]


def test_lone_surrogates_are_an_invalid_identifier():
    assert detail_of("url:https://example.com/\ud800") == "identifier contains characters that are not valid Unicode"


# ----------------------------------------------------------------------------------------------------------- ISBN


def test_isbn13_with_hyphens_is_stored_as_13_digits():
    assert stored("isbn:978-0-306-40615-7") == "isbn:9780306406157"


def test_isbn10_is_stored_as_isbn13():
    assert stored("isbn:0-306-40615-2") == stored("isbn:978-0-306-40615-7")


def test_isbn10_with_x_check_digit_is_accepted_in_either_case():
    assert stored("isbn:0-8044-2957-X") == stored("isbn:0-8044-2957-x") == "isbn:9780804429573"


@pytest.mark.parametrize(
    "given,expected",
    [
        ("978-4-9901661-3-7", "9784990166137"),
        ("978-4-9952601-8-2", "9784995260182"),
        ("9784991590832", "9784991590832"),
        ("978-4-9918609-1-1", "9784991860911"),
        ("979-10-90636-07-1", "9791090636071"),
        ("978 4 9901661 3 7", "9784990166137"),
    ],
)
def test_isbn_from_the_example_files_and_979_prefix_is_accepted(given, expected):
    assert normalise("isbn", given) == expected


def test_isbn_typed_with_full_width_digits_and_dashes_is_accepted():
    assert normalise("isbn", "９７８－４－９９０１６６１－３－７") == "9784990166137"
    assert normalise("isbn", "978\u20104\u20139901661\u20143\u20147") == "9784990166137"


@pytest.mark.parametrize("bad", ["978-0-306-40615-8", "0-306-40615-3", "978-4-9901661-3-8", "0-8044-2957-9"])
def test_isbn_with_wrong_check_digit_is_rejected(bad):
    assert detail_of(f"isbn:{bad}") == "ISBN checksum does not match"


@pytest.mark.parametrize("bad", ["123", "978-0-306-40615", "0-306-4061-52-1", "030640615"])
def test_isbn_must_have_10_or_13_digits(bad):
    assert detail_of(f"isbn:{bad}") == "ISBN must have 10 or 13 digits"


def test_isbn13_must_use_the_bookland_prefix():
    assert ean.is_valid("4006381333931")  # a valid EAN-13, but not a book
    assert detail_of("isbn:4006381333931") == "ISBN-13 must start with 978 or 979"


@pytest.mark.parametrize(
    "bad", ["978-0-306-4O615-7", "ISBN 978-0-306-40615-7", "978030640615X", "9780306406157!", "---"]
)
def test_isbn_must_contain_only_digits_and_separators(bad):
    assert detail_of(f"isbn:{bad}").startswith(("ISBN must contain only digits", "ISBN must have 10 or 13"))


# ----------------------------------------------------------------------------------------------------------- ISSN


@pytest.mark.parametrize(
    "given,expected",
    [
        ("0378-5955", "0378-5955"),
        ("03785955", "0378-5955"),
        ("2049-3630", "2049-3630"),
        ("2434-561x", "2434-561X"),
        ("0378 5955", "0378-5955"),
    ],
)
def test_issn_is_stored_as_nnnn_nnnc(given, expected):
    assert normalise("issn", given) == expected


@pytest.mark.parametrize("bad", ["0378-5956", "2049-3631", "2434-5610"])
def test_issn_with_wrong_check_digit_is_rejected(bad):
    assert detail_of(f"issn:{bad}") == "ISSN checksum does not match"


def test_issn_must_have_8_characters():
    assert detail_of("issn:0378-595") == "ISSN must have 8 characters (NNNN-NNNC)"


def test_issn_must_be_digits_and_a_check_character():
    assert detail_of("issn:03A8-5955").startswith("ISSN must be 7 digits and a check digit")


# ----------------------------------------------------------------------------------------------------------- ISRC


@pytest.mark.parametrize("given", ["US-S1Z-99-00001", "USS1Z9900001", "us-s1z-99-00001", "US S1Z 99 00001"])
def test_isrc_is_stored_upper_case_without_hyphens(given):
    assert normalise("isrc", given) == "USS1Z9900001"


def test_isrc_must_have_12_characters():
    assert detail_of("isrc:US-S1Z-99-0001") == "ISRC must have 12 characters"


def test_isrc_must_follow_the_country_registrant_year_number_layout():
    assert detail_of("isrc:US-S1Z-9X-00001").startswith("ISRC must be a 2-letter country code")


def test_isrc_with_unknown_country_code_is_rejected():
    assert detail_of("isrc:AA-S1Z-99-00001") == "ISRC country code 'AA' is not known"


# ----------------------------------------------------------------------------------------------------------- ISWC


@pytest.mark.parametrize(
    "given", ["T-034.524.680-1", "T0345246801", "t-034524680-1", "T 034 524 680 1", "T-034.524.680.1"]
)
def test_iswc_is_stored_as_t_and_ten_digits(given):
    assert normalise("iswc", given) == "T0345246801"


def test_iswc_with_wrong_check_digit_is_rejected():
    assert detail_of("iswc:T-034.524.680-2") == "ISWC check digit does not match"


@pytest.mark.parametrize("bad", ["034.524.680-1", "T-034.524.680", "X-034.524.680-1", "T-034.524.68A-1"])
def test_iswc_must_be_t_and_ten_digits(bad):
    assert detail_of(f"iswc:{bad}").startswith("ISWC must be T followed by 10 digits")


# ------------------------------------------------------------------------------------------------------------ DOI


@pytest.mark.parametrize(
    "given",
    [
        "10.1000/182",
        "doi:10.1000/182",
        "DOI: 10.1000/182",
        "https://doi.org/10.1000/182",
        "http://doi.org/10.1000/182",
        "https://dx.doi.org/10.1000/182",
        "HTTP://DX.DOI.ORG/10.1000/182",
    ],
)
def test_doi_in_every_accepted_spelling_is_stored_bare(given):
    assert normalise("doi", given) == "10.1000/182"


def test_doi_is_stored_lower_case():
    assert normalise("doi", "10.1038/NPHYS1170") == "10.1038/nphys1170"


def test_doi_resolver_link_is_percent_decoded():
    assert (
        normalise("doi", "https://doi.org/10.1002/%28SICI%291097-4571%28199806%2949%3A8")
        == "10.1002/(sici)1097-4571(199806)49:8"
    )


def test_doi_must_start_with_10():
    assert detail_of("doi:11.1000/182") == "DOI must start with 10."


def test_doi_must_have_a_suffix():
    assert detail_of("doi:10.1000") == "DOI must have a suffix after the slash, as 10.prefix/suffix"
    assert detail_of("doi:10.1000/") == "DOI must have a suffix after the slash, as 10.prefix/suffix"


def test_doi_prefix_must_be_numeric():
    assert detail_of("doi:10.abc/182") == "DOI prefix must be 10. followed by digits, as 10.1000"


def test_doi_must_not_contain_spaces():
    assert detail_of("doi:10.1000/18 2") == "DOI must not contain spaces or control characters"


# ------------------------------------------------------------------------------------------------------------ URL


@pytest.mark.parametrize(
    "given,expected",
    [
        ("HTTPS://Studio-Kaze.EXAMPLE/Works/KZ-0001", "https://studio-kaze.example/Works/KZ-0001"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com?q=1", "https://example.com/?q=1"),
        ("https://example.com/search?q=kaze&lang=ja", "https://example.com/search?q=kaze&lang=ja"),
        ("https://例え.jp", "https://xn--r8jz45g.jp/"),
        ("https://例え.jp/作品", "https://xn--r8jz45g.jp/%E4%BD%9C%E5%93%81"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("https://example.com/a%2fb", "https://example.com/a/b"),
        ("https://example.com/?", "https://example.com/"),
        ("https://[2001:DB8::0:1]:443/x", "https://[2001:db8::1]/x"),
        ("http://192.0.2.1/", "http://192.0.2.1/"),
    ],
)
def test_url_normalisation_rules(given, expected):
    assert normalise("url", given) == expected
    assert normalise("url", expected) == expected


def test_url_prefix_is_normalised_like_url():
    assert normalise("url-prefix", "HTTPS://Example.com:443") == "https://example.com/"
    assert normalise("url-prefix", "https://example.com/works/") == "https://example.com/works/"


def test_url_fragment_is_removed_even_when_it_looks_like_a_hashbang():
    assert normalise("url", "https://example.com/app#!/works/1") == "https://example.com/app"


def test_url_encoded_hash_in_path_stays_encoded():
    assert normalise("url", "https://example.com/a%23b") == "https://example.com/a%23b"


@pytest.mark.parametrize(
    "bad", ["ftp://example.com/x", "mailto:a@example.com", "javascript:alert(1)", "file:///etc/passwd"]
)
def test_url_with_non_http_scheme_is_rejected(bad):
    assert detail_of(f"url:{bad}") == "URL must be absolute http(s)"


@pytest.mark.parametrize("bad", ["/works/1", "example.com/works/1", "//example.com/works/1", "works"])
def test_relative_url_is_rejected(bad):
    assert detail_of(f"url:{bad}") == "URL must be absolute http(s)"


@pytest.mark.parametrize("bad", ["https://", "https:///path", "https:example.com"])
def test_url_without_host_is_rejected(bad):
    assert detail_of(f"url:{bad}") == "URL must include a host"


def test_url_with_credentials_is_rejected():
    assert detail_of("url:https://user:pw@example.com/") == "URL must not contain a user name or password"


@pytest.mark.parametrize("bad", ["https://exa mple.com/", "https://exa\tmple.com/", "https://example.com/\x00"])
def test_url_with_space_or_control_character_in_host_is_rejected(bad):
    assert "must not contain" in detail_of(f"url:{bad}")


@pytest.mark.parametrize(
    "bad", ["https://a_b.example/", "https://-a.example/", "https://a..b/", "https://xn--zz.example/"]
)
def test_url_host_that_is_not_a_valid_domain_name_is_rejected(bad):
    assert detail_of(f"url:{bad}") == "URL host is not a valid domain name"


@pytest.mark.parametrize("bad", ["https://example.com:0/", "https://example.com:65536/", "https://example.com:8o/"])
def test_url_port_must_be_a_valid_number(bad):
    assert detail_of(f"url:{bad}") == "URL port must be a number from 1 to 65535"


def test_url_host_with_numeric_last_label_must_be_an_ipv4_address():
    assert detail_of("url:http://192.0.2.300/") == "URL host is neither a domain name nor an IPv4 address"


def test_url_longer_than_2048_characters_once_normalised_is_rejected():
    # 600 characters that each become 9 once percent-encoded.
    assert "longer than 2048" in detail_of("url:https://example.com/" + "é" * 600)


# --------------------------------------------------------------------------------------------------------- domain


@pytest.mark.parametrize(
    "given,expected",
    [
        ("Studio-Kaze.Example", "studio-kaze.example"),
        ("例え.jp", "xn--r8jz45g.jp"),
        ("例え.JP.", "xn--r8jz45g.jp"),
        ("xn--r8jz45g.jp", "xn--r8jz45g.jp"),
        ("ＥＸＡＭＰＬＥ．ｃｏｍ", "example.com"),
    ],
)
def test_domain_is_stored_as_lower_case_a_label(given, expected):
    assert normalise("domain", given) == expected


@pytest.mark.parametrize(
    "bad", ["https://example.com", "example.com/works", "example.com:443", "exa mple.com", "a@example.com"]
)
def test_domain_with_scheme_path_port_or_space_is_rejected(bad):
    assert detail_of(f"domain:{bad}") == "domain must be a bare host name, without scheme, path, port or spaces"


@pytest.mark.parametrize(
    "bad", ["a_b.example", "-bad.example", "bad-.example", "a..example", ".example.com", "xn--zz.example"]
)
def test_domain_with_label_invalid_for_idna_is_rejected(bad):
    assert detail_of(f"domain:{bad}") == "domain is not a valid domain name"


def test_domain_must_not_be_an_ip_address():
    assert detail_of("domain:192.0.2.1") == "domain must be a host name, not an IP address"


def test_domain_must_not_be_a_bare_top_level_domain():
    assert detail_of("domain:jp") == "domain must have at least two labels, as example.com"


# --------------------------------------------------------------------------------------------------------- sha256


def test_sha256_is_stored_lower_case():
    digest = hashlib.sha256(b"abc").hexdigest()
    assert (
        normalise("sha256", digest.upper())
        == digest
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


@pytest.mark.parametrize("bad", ["0" * 63, "0" * 65, "g" * 64, "0x" + "0" * 62])
def test_sha256_must_be_64_hex_digits(bad):
    assert detail_of(f"sha256:{bad}") == "SHA-256 must be 64 hexadecimal digits"


# ----------------------------------------------------------------------------------------------------------- ISCC


def _real_iscc_code() -> str:
    data = b"Starfall Academy 1, chapter 1" * 200
    meta = iscc_core.gen_meta_code("Starfall Academy 1")["iscc"]
    content = iscc_core.gen_text_code("Starfall Academy 1, chapter 1")["iscc"]
    data_code = iscc_core.gen_data_code(io.BytesIO(data))["iscc"]
    instance = iscc_core.gen_instance_code(io.BytesIO(data))["iscc"]
    return iscc_core.gen_iscc_code([meta, content, data_code, instance])["iscc"]


def test_iscc_code_is_stored_in_canonical_form():
    code = _real_iscc_code()
    assert code.startswith("ISCC:")
    bare = code.removeprefix("ISCC:")
    for spelling in (code, code.lower(), bare, bare.lower(), "iscc:" + bare, "Iscc:" + bare.lower()):
        assert normalise("iscc", spelling) == code


def test_iscc_documented_example_units_compose_to_the_documented_code():
    # From the iscc_normalize docstring in iscc-core.
    assert normalise("iscc", "GAAW2PRCRS5LNVZV-IAAUVACQKXE3V44W") == "ISCC:KUAG2PRCRS5LNVZVJKAFAVOJXLZZM"


def test_iscc_unit_is_accepted():
    unit = iscc_core.gen_meta_code("Starfall Academy 1")["iscc"]
    assert normalise("iscc", unit.lower()) == unit


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:-2],  # truncated: iscc_normalize alone would re-read it as another code
        lambda c: c + "AAAA",  # too long for its header
        lambda c: c[:5] + "ZZ" + c[7:],  # unknown header
        lambda c: c.replace("ISCC:", "ISCC:1"),  # not base32
    ],
)
def test_malformed_iscc_code_is_rejected(mangle):
    assert detail_of("iscc:" + mangle(_real_iscc_code())) == "ISCC code is not valid"


# ------------------------------------------------------------------------------------------------------------ ref


def test_ref_is_stored_as_given_after_trimming():
    assert stored("ref:  hoshi-pub/HP-100  ") == "ref:hoshi-pub/HP-100"
    assert normalise("ref", "studio-kaze/KZ 0001/第1話") == "studio-kaze/KZ 0001/第1話"


@pytest.mark.parametrize("bad", ["Hoshi-Pub/HP-100", "-hoshi/HP-100", "hoshi_pub/HP-100", "/HP-100", "ほし/HP-100"])
def test_ref_holder_code_must_be_a_lower_case_slug(bad):
    assert detail_of(f"ref:{bad}") == "ref holder code must be a lower-case slug (a-z, 0-9 and hyphens)"


def test_ref_must_have_a_slash():
    assert detail_of("ref:hoshi-pub") == "ref must be written <holder code>/<work_ref>"


def test_ref_work_ref_must_not_be_empty():
    assert detail_of("ref:hoshi-pub/") == "ref must have a work_ref after the slash"


def test_ref_work_ref_must_not_contain_control_characters():
    assert detail_of("ref:hoshi-pub/HP\x00100") == "ref work_ref must not contain control characters"


# -------------------------------------------------------------------------------------- hosts, domain chain


def test_domain_chain_lists_the_host_then_each_parent_nearest_first():
    assert domain_chain("a.b.example.co.jp") == ["a.b.example.co.jp", "b.example.co.jp", "example.co.jp"]
    assert domain_chain("a.b.example.test") == ["a.b.example.test", "b.example.test", "example.test", "test"]


def test_domain_chain_stops_above_the_public_suffix():
    assert domain_chain("hoshi-pub.github.io") == ["hoshi-pub.github.io"]
    assert domain_chain("github.io") == []
    assert domain_chain("www.city.kyoto.jp") == ["www.city.kyoto.jp", "city.kyoto.jp"]


def test_domain_chain_of_a_single_label_is_that_label():
    assert domain_chain("localhost") == ["localhost"]


def test_domain_chain_of_an_ip_address_has_no_parents():
    assert domain_chain("192.0.2.1") == ["192.0.2.1"]
    assert domain_chain("[2001:db8::1]") == ["[2001:db8::1]"]


def test_url_host_drops_scheme_port_and_path():
    assert url_host("https://studio-kaze.example/works/kz-0001?x=1") == "studio-kaze.example"
    assert url_host("https://studio-kaze.example:8443/") == "studio-kaze.example"
    assert url_host("https://[2001:db8::1]:8443/x") == "[2001:db8::1]"
    assert url_host("https://xn--r8jz45g.jp/") == "xn--r8jz45g.jp"


def test_parsed_host_is_the_url_host_or_the_domain_and_none_for_other_schemes():
    assert parse_identifier("url:https://Sub.例え.jp:8443/x").host == "sub.xn--r8jz45g.jp"
    assert parse_identifier("url-prefix:https://example.com/works/").host == "example.com"
    assert parse_identifier("domain:例え.jp").host == "xn--r8jz45g.jp"
    assert parse_identifier("isbn:9784990166137").host is None


def test_url_host_domain_chain_reaches_the_domain_identifier():
    host = parse_identifier("url:https://www.Studio-Kaze.example/works/1").host
    assert str(parse_identifier("domain:studio-kaze.example").value) in domain_chain(host)


# ============================================================================================ property tests


def isbn10_check(nine: str) -> str:
    check = sum((i + 1) * int(d) for i, d in enumerate(nine)) % 11
    return "X" if check == 10 else str(check)


def isbn13_check(twelve: str) -> str:
    return str((10 - sum((1, 3)[i % 2] * int(d) for i, d in enumerate(twelve))) % 10)


nine_digits = st.text(alphabet="0123456789", min_size=9, max_size=9)
twelve_digits = st.sampled_from(["978", "979"]).flatmap(
    lambda p: st.text(alphabet="0123456789", min_size=9, max_size=9).map(lambda r: p + r)
)


@st.composite
def sprinkled(draw, number: str, separators: str = "- ") -> str:
    """The number with hyphens or spaces put in at arbitrary places, as people type it."""
    out = []
    for ch in number:
        out.append(ch)
        if draw(st.booleans()):
            out.append(draw(st.sampled_from(separators)))
    return "".join(out).strip(separators)


@props
@given(nine=nine_digits, data=st.data())
def test_isbn10_and_its_isbn13_normalise_equal_whatever_the_hyphenation(nine, data):
    isbn10 = nine + isbn10_check(nine)
    isbn13 = "978" + nine + isbn13_check("978" + nine)
    spelled10 = data.draw(sprinkled(isbn10))
    spelled13 = data.draw(sprinkled(isbn13))
    assert normalise("isbn", spelled10) == normalise("isbn", spelled13) == isbn13
    assert normalise("isbn", isbn10.lower()) == isbn13
    # The fast path agrees with python-stdnum on every valid number.
    assert stdnum_isbn.validate(spelled10, convert=True) == isbn13


@props
@given(twelve=twelve_digits, wrong=st.integers(1, 9))
def test_isbn13_normalisation_is_idempotent_and_any_other_check_digit_is_rejected(twelve, wrong):
    good = twelve + isbn13_check(twelve)
    assert normalise("isbn", normalise("isbn", good)) == good
    bad = twelve + str((int(good[-1]) + wrong) % 10)
    with pytest.raises(InvalidIdentifier, match="ISBN checksum does not match"):
        normalise("isbn", bad)
    assert not stdnum_isbn.is_valid(bad)


@props
@given(text=st.text(alphabet="0123456789Xx- ", max_size=20))
def test_isbn_accepts_exactly_what_stdnum_accepts(text):
    digits = text.replace("-", "").replace(" ", "")
    assume(len(digits) != 9)  # stdnum reads 9 digits as an SBN; the spec asks for 10 or 13
    try:
        ours = normalise("isbn", text)
    except InvalidIdentifier:
        assert not text.strip() or not stdnum_isbn.is_valid(text)
    else:
        assert ours == stdnum_isbn.validate(text, convert=True)


@props
@given(seven=st.text(alphabet="0123456789", min_size=7, max_size=7), data=st.data())
def test_issn_spellings_normalise_equal_and_idempotent(seven, data):
    issn = seven + stdnum_issn.calc_check_digit(seven)
    value = normalise("issn", data.draw(sprinkled(issn)).lower())
    assert value == f"{issn[:4]}-{issn[4:]}"
    assert normalise("issn", value) == value


isrc_codes = st.builds(
    lambda country, registrant, year, number: country + registrant + year + number,
    st.sampled_from(["US", "GB", "JP", "DE", "FR", "QZ", "KR"]),
    st.text(alphabet=string.ascii_uppercase + string.digits, min_size=3, max_size=3),
    st.text(alphabet=string.digits, min_size=2, max_size=2),
    st.text(alphabet=string.digits, min_size=5, max_size=5),
)


@props
@given(code=isrc_codes, data=st.data())
def test_isrc_upper_lower_and_hyphenated_normalise_equal(code, data):
    assert normalise("isrc", code.lower()) == normalise("isrc", data.draw(sprinkled(code, "-"))) == code
    assert normalise("isrc", code) == code


@props
@given(nine=nine_digits, data=st.data())
def test_iswc_spellings_normalise_equal_and_idempotent(nine, data):
    check = (10 - (1 + sum((i + 1) * int(d) for i, d in enumerate(nine))) % 10) % 10
    canonical = f"T{nine}{check}"
    dotted = f"T-{nine[:3]}.{nine[3:6]}.{nine[6:]}-{check}"
    assert normalise("iswc", dotted) == normalise("iswc", canonical.lower()) == canonical
    assert normalise("iswc", data.draw(sprinkled(canonical, "-. "))) == canonical
    with pytest.raises(InvalidIdentifier, match="ISWC check digit does not match"):
        normalise("iswc", f"T{nine}{(check + 1) % 10}")


doi_values = st.builds(
    lambda registrant, suffix: f"10.{registrant}/{suffix}",
    st.integers(1000, 999999999).map(str),
    st.text(alphabet=string.ascii_letters + string.digits + "-._;()/:<>[]#?%", min_size=1, max_size=40),
)


@props
@given(doi=doi_values)
def test_doi_bare_prefixed_and_resolver_spellings_normalise_equal(doi):
    expected = doi.lower()
    resolver = quote(doi, safe="/")
    spellings = [
        doi,
        doi.upper(),
        "doi:" + doi,
        "DOI:" + doi.upper(),
        "https://doi.org/" + resolver,
        "http://dx.doi.org/" + resolver,
    ]
    assert {normalise("doi", s) for s in spellings} == {expected}
    assert normalise("doi", expected) == expected


@props
@given(data=st.binary(max_size=200), upper=st.booleans())
def test_sha256_case_does_not_matter_and_normalisation_is_idempotent(data, upper):
    digest = hashlib.sha256(data).hexdigest()
    value = normalise("sha256", digest.upper() if upper else digest)
    assert value == digest
    assert normalise("sha256", value) == value


@props
@given(data=st.binary(min_size=1, max_size=2000))
def test_iscc_case_and_prefix_do_not_matter_and_normalisation_is_idempotent(data):
    code = iscc_core.gen_iscc_code(
        [
            iscc_core.gen_data_code(io.BytesIO(data))["iscc"],
            iscc_core.gen_instance_code(io.BytesIO(data))["iscc"],
        ]
    )["iscc"]
    bare = code.removeprefix("ISCC:")
    assert normalise("iscc", bare.lower()) == normalise("iscc", "iscc:" + bare) == code
    assert normalise("iscc", code) == code


ascii_label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True).filter(lambda s: "--" not in s)
unicode_label = st.sampled_from(["例え", "テスト", "bücher", "münchen", "παράδειγμα", "пример", "faß", "ドメイン名例"])
hosts = (
    st.lists(st.one_of(ascii_label, ascii_label, unicode_label), min_size=1, max_size=4)
    .map(".".join)
    .map(lambda h: h + ".example")
)


def random_case(draw, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    # "ß".upper() is "SS": a different name, not the same one in capitals.
    return "".join(c.upper() if f and len(c.upper()) == 1 else c for c, f in zip(text, flips, strict=False))


@st.composite
def urls(draw):
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(hosts)
    port = draw(st.sampled_from(["", "", ":80", ":443", ":8080", ":0443"]))
    path = draw(
        st.one_of(
            st.just(""),
            st.lists(st.text(alphabet=string.ascii_letters + string.digits + "-._~", max_size=8), max_size=4).map(
                lambda parts: "/" + "/".join(parts)
            ),
            st.text(max_size=30).map(lambda t: "/" + t),  # anything at all: unicode, %, ?, #, spaces, dot segments
        )
    )
    query = draw(st.one_of(st.just(""), st.text(max_size=20).map(lambda t: "?" + t)))
    return f"{scheme}://{host}{port}{path}{query}"


@props
@given(url=urls(), data=st.data())
def test_url_normalisation_is_idempotent_and_meets_every_rule(url, data):
    try:
        value = normalise("url", url)
    except InvalidIdentifier:
        return  # arbitrary path/query text may contain control characters
    assert normalise("url", value) == value
    assert normalise("url-prefix", value) == value
    scheme, rest = value.split("://", 1)
    assert scheme in ("http", "https")
    host = url_host(value)
    assert host == host.lower() and host.isascii()
    assert "#" not in value
    assert rest[len(host) :].startswith(("/", ":"))
    assert not value.startswith(("http://" + host + ":80/", "https://" + host + ":443/"))
    assert " " not in value
    # Case of scheme and host never matters.
    scheme_end = url.index("://") + 3
    host_end = scheme_end + len(url[scheme_end:].split("/", 1)[0].split("?", 1)[0])
    shouted = random_case(data.draw, url[:host_end]) + url[host_end:]
    assert normalise("url", shouted) == value


@props
@given(
    host=hosts,
    path=st.text(alphabet=string.ascii_letters + "/", max_size=10),
    fragment=st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=10),
)
def test_url_default_port_and_fragment_do_not_change_the_stored_form(host, path, fragment):
    base = normalise("url", f"https://{host}/{path}")
    assert normalise("url", f"https://{host}:443/{path}") == base
    assert normalise("url", f"https://{host}/{path}#{fragment}") == base


@props
@given(
    path=st.one_of(
        st.from_regex(r"(/[A-Za-z0-9._~!$&'()*+,;=:@-]*)*", fullmatch=True), st.text().map(lambda t: "/" + t)
    )
)
def test_url_path_fast_path_agrees_with_url_normalize(path):
    assert _normalise_url_path(path, "https") == normalize_path(path, "https").replace("#", "%23")


@props
@given(url=st.one_of(st.from_regex(_STORED_URL_RE, fullmatch=True),
                     st.from_regex(r"https?://[a-zA-Z0-9.:\[\]-]{1,20}(/[a-z./%#?=&-]{0,12})?", fullmatch=True),
                     st.text(alphabet="htps:/.aA1-?=&#%", max_size=30)))
@example(url="https://1.2.3.4/")
@example(url="https://xn--bcher-kva.example/")
@example(url="https://a.example/x?")
def test_url_stored_form_fast_path_returns_only_what_the_full_path_returns(url):
    """`_is_stored_url` skips the full normalisation: only for URLs it would give back unchanged."""
    if _is_stored_url(url):
        assert _normalise_url_parts(url) == url


def test_the_stored_form_of_a_url_takes_the_fast_path():
    for text in ("https://bench.example/works/1", "HTTP://Example.COM:80/a/b?x=1&y", "https://a.example"):
        assert _is_stored_url(normalise("url", text))
    # Percent-encoding and IDNA hosts (xn--) always take the full path.
    assert not _is_stored_url(normalise("url", "https://例え.jp/パス"))


@props
@given(query=st.one_of(st.from_regex(_PLAIN_QUERY_RE, fullmatch=True), st.text(alphabet="ab=&%?/", max_size=12)))
def test_url_query_fast_path_only_skips_queries_url_normalize_leaves_alone(query):
    if _PLAIN_QUERY_RE.fullmatch(query):
        assert normalize_query(query) == query


@props
@given(host=hosts, data=st.data())
def test_domain_normalisation_is_idempotent_and_case_insensitive(host, data):
    value = normalise("domain", host)
    assert normalise("domain", value) == value
    assert normalise("domain", random_case(data.draw, host) + ".") == value
    assert value == url_host(normalise("url", f"https://{host}/"))
    assert domain_chain(value)[0] == value and domain_chain(value)[-1] == "example"


@props
@given(
    code=st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True),
    work_ref=st.text(min_size=1).filter(lambda s: s.strip() and s == s.strip()),
)
def test_ref_is_idempotent(code, work_ref):
    try:
        value = normalise("ref", f"{code}/{work_ref}")
    except InvalidIdentifier as exc:
        assert exc.detail == "ref work_ref must not contain control characters"
        return
    assert value == f"{code}/{work_ref}"
    assert normalise("ref", value) == value


@settings(deadline=None, max_examples=500)
@given(
    text=st.one_of(
        st.text(),
        st.builds(lambda s, v: f"{s}:{v}", st.sampled_from(SCHEMES + ("ISBN", "Url", "x")), st.text()),
        st.builds(
            lambda s, v: f"{s}:{v}",
            st.sampled_from(SCHEMES),
            st.text(alphabet="0123456789Xx-. :/%#?[]@éあ", max_size=30),
        ),
        st.builds(lambda s, v: f"{s}:https://{v}", st.sampled_from(("url", "url-prefix", "doi")), st.text(max_size=40)),
    )
)
@example("url:https://[::1")
@example("url:http://[::1]x/")
@example("url:https://\uff0fexample.com/")
@example("iscc:")
@example("iscc:-")
@example("domain:.")
@example("url:https://./")
def test_arbitrary_text_either_parses_to_a_stable_stored_form_or_raises_invalid_identifier(text):
    try:
        parsed = parse_identifier(text)
    except InvalidIdentifier as exc:
        assert isinstance(exc.detail, str) and exc.detail
        return
    assert parsed.scheme in SCHEMES
    assert len(parsed.value) <= 2048
    # The stored form is a fixed point: looking it up again finds the same row.
    assert parse_identifier(str(parsed)) == parsed


@props
@given(
    value=st.one_of(
        st.none(), st.integers(), st.floats(), st.binary(), st.lists(st.text()), st.dictionaries(st.text(), st.text())
    )
)
def test_non_string_values_raise_invalid_identifier(value):
    with pytest.raises(InvalidIdentifier):
        parse_identifier(value)
    for scheme in SCHEMES:
        with pytest.raises(InvalidIdentifier):
            normalise(scheme, value)
