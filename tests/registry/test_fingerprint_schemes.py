"""The phash and pdq schemes (match.md): normalised, validated, never guessed, and filed like any identifier."""
import pytest

from registry.fingerprints import ContentError, codes_for_bytes, hamming
from registry.identifiers import SCHEMES, InvalidIdentifier, infer_scheme, normalise, parse_identifier
from registry.services import work_register

PHASH = "C3B4E1C1C1E39696"
PDQ = "F331218FBCC83D8E3B328E8BCCCCA38D3333CDB8CCCC8F2B333345894CCC0D8F"


def test_phash_and_pdq_are_schemes_stored_lower_case():
    assert {"phash", "pdq"} <= set(SCHEMES)
    assert str(parse_identifier(f"phash:{PHASH}")) == f"phash:{PHASH.lower()}"
    assert str(parse_identifier(f" PDQ:{PDQ} ")) == f"pdq:{PDQ.lower()}"


@pytest.mark.parametrize("bad", ["0" * 15, "0" * 17, "g" * 16, "0x" + "0" * 14])
def test_phash_must_be_16_hex_digits(bad):
    with pytest.raises(InvalidIdentifier, match="phash must be 16 hexadecimal digits"):
        normalise("phash", bad)


@pytest.mark.parametrize("bad", ["0" * 63, "0" * 65, "z" * 64])
def test_pdq_must_be_64_hex_digits(bad):
    with pytest.raises(InvalidIdentifier, match="pdq must be 64 hexadecimal digits"):
        normalise("pdq", bad)


def test_developer_must_name_a_perceptual_hash_scheme():
    # 64 hex digits without a scheme stay a SHA-256 (a PDQ hash has the same shape) ...
    assert infer_scheme(PDQ) == "sha256"
    # ... and 16 hex digits are ambiguous: refused, and the message says how to write a phash.
    assert infer_scheme(PHASH) is None
    with pytest.raises(InvalidIdentifier, match="ambiguous; write phash:"):
        parse_identifier(PHASH)


def test_studio_registers_a_phash_and_a_second_claim_opens_a_dispute(studio_kaze, hoshi_pub):
    first = work_register(holder=studio_kaze.holder, work_ref="K-1", title="Still", kind="image",
                          identifiers=[f"phash:{PHASH}"])
    assert [str(i) for i in first.work.identifiers.all()] == [f"phash:{PHASH.lower()}"]
    second = work_register(holder=hoshi_pub.holder, work_ref="H-1", title="Copy", kind="image",
                           identifiers=[f"phash:{PHASH.lower()}"])
    assert second.disputes and second.disputes[0].value == PHASH.lower()


def test_a_near_phash_is_a_different_identifier(studio_kaze, hoshi_pub):
    near = format(int(PHASH, 16) ^ 0b101, "016x")
    work_register(holder=studio_kaze.holder, work_ref="K-1", title="Still", kind="image",
                  identifiers=[f"phash:{PHASH}"])
    other = work_register(holder=hoshi_pub.holder, work_ref="H-1", title="Other", kind="image",
                          identifiers=[f"phash:{near}"])
    assert not other.disputes and hamming(near, PHASH) == 2


@pytest.mark.parametrize(("content", "detail"), [
    (b"", "the file is empty"),
    (bytes(range(256)) * 4, "neither an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "neither an image"),
])
def test_hostile_content_is_refused_with_a_reason(content, detail):
    with pytest.raises(ContentError, match=detail):
        codes_for_bytes(content)
