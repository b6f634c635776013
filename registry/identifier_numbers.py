"""Numeric identifiers (ISBN, ISSN, ISRC, ISWC): digit folding, separators and check digits.

Pure Python, no Django; ``registry.identifiers`` dispatches to these by scheme and is the only public entry point.
Digits may be written in any Unicode decimal digit form (full-width ``９７８`` from Japanese keyboards, Devanagari,
Arabic-Indic ...) and are folded to ASCII; characters that only look like digits (superscripts, circled or
parenthesised numbers, fractions, Roman numerals) make the value invalid (domain.md), so ``978⁴...`` is never
silently read as ``9784...``.
"""

from __future__ import annotations

import unicodedata

from stdnum import isrc as stdnum_isrc
from stdnum import issn as stdnum_issn
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidLength, ValidationError

from .errors import InvalidIdentifier

# Separators people and spreadsheets put inside numbers: ASCII/Unicode hyphens and dashes, spaces, NBSP.
_NUMBER_SEPARATORS = str.maketrans(
    "", "", "- \u00a0\u2009\u202f\u3000\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d"
)
# ISWCs are also written with dots between the digit groups.
_ISWC_SEPARATORS = str.maketrans(
    "", "", "- .\u00a0\u2009\u202f\u3000\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d"
)


def fold_digits(value: str) -> str:
    """Unicode decimal digits to ASCII, the rest NFKC (full-width letters and dashes); digit-likes refused.

    NFKC alone would fold ``²`` and ``①`` to ``2`` and ``1``: those are numeric but not decimal, so they are
    checked character by character first. Only non-ASCII text takes this path, and callers bound its length.
    """
    folded = []
    for char in value:
        if char.isascii():
            folded.append(char)
        elif char.isdecimal():
            folded.append(chr(48 + unicodedata.decimal(char)))
        elif char.isnumeric():
            raise InvalidIdentifier(
                f"'{char}' (U+{ord(char):04X}) only looks like a digit; write digits as 0-9 (any script's "
                "decimal digits, full-width included, are accepted; superscript and circled numbers are not)"
            )
        else:
            folded.append(char)
    return unicodedata.normalize("NFKC", "".join(folded))


def compact_number(value: str, separators: dict = _NUMBER_SEPARATORS) -> str:
    """Drop separators after folding digits, so full-width digits typed on Japanese keyboards count as digits."""
    if value.isascii():
        # str.replace is several times faster than str.translate, and plain ASCII is the common case.
        value = value.replace("-", "").replace(" ", "")
        return value.replace(".", "") if separators is _ISWC_SEPARATORS else value
    return fold_digits(value).translate(separators)


def is_ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


# ------------------------------------------------------------------------------------------------ book and serial

_ISBN10_WEIGHTS = tuple(range(1, 10))


def _isbn13_check_digit(first12: bytes) -> int:
    total = sum(first12[0:12:2]) + 3 * sum(first12[1:12:2]) - 48 * (6 + 3 * 6)
    return (10 - total % 10) % 10


def normalise_isbn(value: str) -> str:
    # Same rules as stdnum.isbn.validate(convert=True) (the tests hold it to that), without its ~20 us of
    # per-character Unicode clean-up: ISBN is the commonest id in a lookup batch.
    return isbn_from_compact(compact_number(value))


def isbn_from_compact(number: str) -> str:
    """The 13-digit form of an ISBN already folded and stripped of separators (``compact_number``)."""
    length = len(number)
    if not length:
        raise InvalidIdentifier("ISBN must have 10 or 13 digits")
    body = number[:-1]
    last = number[-1:]
    if not is_ascii_digits(body) or not (is_ascii_digits(last) or (last in "Xx" and length == 10)):
        raise InvalidIdentifier("ISBN must contain only digits, hyphens and spaces (an ISBN-10 may end in X)")
    digits = number.encode("ascii")
    if length == 10:
        total = sum(w * d for w, d in zip(_ISBN10_WEIGHTS, digits, strict=False)) - 48 * 45
        check = total % 11
        if (check == 10 and last not in "Xx") or (check != 10 and last != chr(48 + check)):
            raise InvalidIdentifier("ISBN checksum does not match")
        first12 = b"978" + digits[:9]
        return (first12 + bytes((48 + _isbn13_check_digit(first12),))).decode("ascii")
    if length == 13:
        if number[:3] not in ("978", "979"):
            raise InvalidIdentifier("ISBN-13 must start with 978 or 979")
        if digits[12] - 48 != _isbn13_check_digit(digits):
            raise InvalidIdentifier("ISBN checksum does not match")
        return number
    raise InvalidIdentifier("ISBN must have 10 or 13 digits")


def normalise_issn(value: str) -> str:
    number = compact_number(value).upper()
    try:
        number = stdnum_issn.validate(number)
    except InvalidChecksum:
        raise InvalidIdentifier("ISSN checksum does not match") from None
    except InvalidLength:
        raise InvalidIdentifier("ISSN must have 8 characters (NNNN-NNNC)") from None
    except ValidationError:
        raise InvalidIdentifier("ISSN must be 7 digits and a check digit (0-9 or X), as NNNN-NNNC") from None
    return f"{number[:4]}-{number[4:]}"


def normalise_isrc(value: str) -> str:
    code = compact_number(value).upper()
    try:
        return stdnum_isrc.validate(code)
    except InvalidLength:
        raise InvalidIdentifier("ISRC must have 12 characters") from None
    except InvalidComponent:
        raise InvalidIdentifier(f"ISRC country code '{code[:2]}' is not known") from None
    except ValidationError:
        raise InvalidIdentifier(
            "ISRC must be a 2-letter country code, 3-character registrant code, 2-digit year and 5-digit number"
        ) from None


def normalise_iswc(value: str) -> str:
    # python-stdnum has no ISWC module; the check digit is ISO 15707's: (10 - (1 + sum(i * d_i)) mod 10) mod 10.
    code = compact_number(value, _ISWC_SEPARATORS).upper()
    digits = code[1:]
    if code[:1] != "T" or len(digits) != 10 or not is_ascii_digits(digits):
        raise InvalidIdentifier("ISWC must be T followed by 10 digits, as T-123.456.789-C")
    total = 1 + sum((i + 1) * (ord(d) - 48) for i, d in enumerate(digits[:9]))
    if (10 - total % 10) % 10 != ord(digits[9]) - 48:
        raise InvalidIdentifier("ISWC check digit does not match")
    return code
