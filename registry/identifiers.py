"""Identifier parsing and normalisation: ``scheme:value`` text in, one stored form out.

Pure Python, no Django: the lookup API calls ``parse_identifier`` for up to 10,000 ids per batch, so the common
schemes (isbn, sha256, url) take a hand-written fast path and fall back to the libraries only for unusual input.
Every failure is an ``InvalidIdentifier`` whose ``detail`` is a sentence a person can act on.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import idna
import iscc_core
from stdnum import isrc as stdnum_isrc
from stdnum import issn as stdnum_issn
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidLength, ValidationError
from url_normalize.normalize_path import normalize_path
from url_normalize.normalize_query import normalize_query

__all__ = [
    "SCHEMES",
    "InvalidIdentifier",
    "ParsedIdentifier",
    "domain_chain",
    "normalise",
    "parse_identifier",
    "url_host",
]

SCHEMES: tuple[str, ...] = (
    "isbn",
    "issn",
    "isrc",
    "iswc",
    "doi",
    "url",
    "url-prefix",
    "domain",
    "sha256",
    "iscc",
    "ref",
)

# The stored value column is 2048 characters; anything longer cannot be stored, so it is not an identifier.
MAX_VALUE_LENGTH = 2048
# Refuse to even strip or split text this long: a batch of 10,000 ids must not be made to scan megabytes each.
_MAX_TEXT_LENGTH = 4 * MAX_VALUE_LENGTH
_MAX_HOST_LENGTH = 253


class InvalidIdentifier(ValueError):
    code = "invalid-identifier"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ParsedIdentifier:
    scheme: str
    value: str  # normalised stored form

    def __str__(self) -> str:
        return f"{self.scheme}:{self.value}"

    @property
    def host(self) -> str | None:
        """The host that domain and url-prefix matching index on; None for schemes without one."""
        if self.scheme == "url" or self.scheme == "url-prefix":
            return url_host(self.value)
        if self.scheme == "domain":
            return self.value
        return None


def parse_identifier(text: str) -> ParsedIdentifier:
    """Parse ``scheme:value`` (scheme case-insensitive, surrounding whitespace ignored) into its stored form."""
    if not isinstance(text, str):
        raise InvalidIdentifier("identifier must be a string")
    if len(text) > _MAX_TEXT_LENGTH:
        raise InvalidIdentifier(f"identifier is longer than {MAX_VALUE_LENGTH} characters")
    scheme, sep, value = text.partition(":")
    scheme = scheme.strip().lower()
    if not sep or not scheme:
        raise InvalidIdentifier("identifier must be written scheme:value")
    normaliser = _NORMALISERS.get(scheme)
    if normaliser is None:
        raise _unknown_scheme(scheme)
    return ParsedIdentifier(scheme, _normalise_value(scheme, normaliser, value))


def normalise(scheme: str, value: str) -> str:
    """The stored form of ``value`` under ``scheme``."""
    if not isinstance(scheme, str):
        raise InvalidIdentifier("identifier scheme must be a string")
    scheme = scheme.strip().lower()
    normaliser = _NORMALISERS.get(scheme)
    if normaliser is None:
        raise _unknown_scheme(scheme)
    if not isinstance(value, str):
        raise InvalidIdentifier("identifier value must be a string")
    if len(value) > _MAX_TEXT_LENGTH:
        raise InvalidIdentifier(f"identifier is longer than {MAX_VALUE_LENGTH} characters")
    return _normalise_value(scheme, normaliser, value)


def domain_chain(host: str) -> list[str]:
    """The host itself, then each parent domain nearest first: the order in which domain identifiers match.

    IP addresses have no parents, so their chain is the address alone.
    """
    host = host.strip().rstrip(".").lower()
    if not host:
        return []
    if host.startswith("[") or _is_ip_like(host):
        return [host]
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def url_host(url: str) -> str:
    """The host of an already normalised url / url-prefix value (no port; IPv6 keeps its brackets)."""
    _scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidIdentifier("URL must be absolute http(s)")
    # A normalised URL always has a path starting with "/", so the authority ends at the first slash.
    authority = rest.split("/", 1)[0]
    if authority.startswith("["):
        end = authority.find("]")
        return authority[: end + 1] if end != -1 else authority
    return authority.partition(":")[0]


# --------------------------------------------------------------------------------------------------- helpers


def _unknown_scheme(scheme: str) -> InvalidIdentifier:
    shown = scheme if len(scheme) <= 40 else scheme[:40] + "..."
    if scheme in ("http", "https"):
        return InvalidIdentifier(f"unknown scheme '{shown}'; write a web address as url:{shown}://...")
    return InvalidIdentifier(f"unknown scheme '{shown}'")


def _normalise_value(scheme: str, normaliser, value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidIdentifier(f"identifier has no value after '{scheme}:'")
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidIdentifier(f"identifier is longer than {MAX_VALUE_LENGTH} characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates: no encoder downstream (IDNA, percent-encoding, the database) can take them.
            raise InvalidIdentifier("identifier contains characters that are not valid Unicode") from None
    return normaliser(value)


# C0 and C1 control characters (Unicode category Cc).
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Separators people and spreadsheets put inside numbers: ASCII/Unicode hyphens and dashes, spaces, NBSP.
_NUMBER_SEPARATORS = str.maketrans(
    "", "", "- \u00a0\u2009\u202f\u3000\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d"
)
# ISWCs are also written with dots between the digit groups.
_ISWC_SEPARATORS = str.maketrans(
    "", "", "- .\u00a0\u2009\u202f\u3000\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d"
)


def _compact_number(value: str, separators: dict = _NUMBER_SEPARATORS) -> str:
    """Drop separators; NFKC first so full-width digits typed on Japanese keyboards count as digits."""
    if value.isascii():
        # str.replace is several times faster than str.translate, and plain ASCII is the common case.
        value = value.replace("-", "").replace(" ", "")
        return value.replace(".", "") if separators is _ISWC_SEPARATORS else value
    return unicodedata.normalize("NFKC", value).translate(separators)


def _is_ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


# ------------------------------------------------------------------------------------------------ book and serial

_ISBN10_WEIGHTS = tuple(range(1, 10))


def _isbn13_check_digit(first12: bytes) -> int:
    total = sum(first12[0:12:2]) + 3 * sum(first12[1:12:2]) - 48 * (6 + 3 * 6)
    return (10 - total % 10) % 10


def _normalise_isbn(value: str) -> str:
    # Same rules as stdnum.isbn.validate(convert=True) (the tests hold it to that), without its ~20 us of
    # per-character Unicode clean-up: ISBN is the commonest id in a lookup batch.
    number = _compact_number(value)
    length = len(number)
    if not length:
        raise InvalidIdentifier("ISBN must have 10 or 13 digits")
    body = number[:-1]
    last = number[-1:]
    if not _is_ascii_digits(body) or not (_is_ascii_digits(last) or (last in "Xx" and length == 10)):
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


def _normalise_issn(value: str) -> str:
    number = _compact_number(value).upper()
    try:
        number = stdnum_issn.validate(number)
    except InvalidChecksum:
        raise InvalidIdentifier("ISSN checksum does not match") from None
    except InvalidLength:
        raise InvalidIdentifier("ISSN must have 8 characters (NNNN-NNNC)") from None
    except ValidationError:
        raise InvalidIdentifier("ISSN must be 7 digits and a check digit (0-9 or X), as NNNN-NNNC") from None
    return f"{number[:4]}-{number[4:]}"


def _normalise_isrc(value: str) -> str:
    code = _compact_number(value).upper()
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


def _normalise_iswc(value: str) -> str:
    # python-stdnum has no ISWC module; the check digit is ISO 15707's: (10 - (1 + sum(i * d_i)) mod 10) mod 10.
    code = _compact_number(value, _ISWC_SEPARATORS).upper()
    digits = code[1:]
    if code[:1] != "T" or len(digits) != 10 or not _is_ascii_digits(digits):
        raise InvalidIdentifier("ISWC must be T followed by 10 digits, as T-123.456.789-C")
    total = 1 + sum((i + 1) * (ord(d) - 48) for i, d in enumerate(digits[:9]))
    if (10 - total % 10) % 10 != ord(digits[9]) - 48:
        raise InvalidIdentifier("ISWC check digit does not match")
    return code


# ------------------------------------------------------------------------------------------------------------ DOI

_DOI_RESOLVER_PREFIXES = (
    "https://doi.org/",
    "http://doi.org/",
    "https://dx.doi.org/",
    "http://dx.doi.org/",
    "https://www.doi.org/",
    "http://www.doi.org/",
)
_DOI_PREFIX_RE = re.compile(r"10\.[0-9]+(?:\.[0-9]+)*")
_WHITESPACE_OR_CONTROL_RE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


def _normalise_doi(value: str) -> str:
    doi = value
    lowered = value.lower()
    if lowered.startswith("doi:"):
        doi = value[4:].strip()
    else:
        for resolver in _DOI_RESOLVER_PREFIXES:
            if lowered.startswith(resolver):
                # Resolver links percent-encode the DOI ("/", "#", "?" ...); the DOI itself is the decoded text.
                doi = unquote(value[len(resolver) :])
                break
    if _WHITESPACE_OR_CONTROL_RE.search(doi):
        raise InvalidIdentifier("DOI must not contain spaces or control characters")
    if not doi.startswith("10."):
        raise InvalidIdentifier("DOI must start with 10.")
    prefix, slash, suffix = doi.partition("/")
    if not slash or not suffix:
        raise InvalidIdentifier("DOI must have a suffix after the slash, as 10.prefix/suffix")
    if not _DOI_PREFIX_RE.fullmatch(prefix):
        raise InvalidIdentifier("DOI prefix must be 10. followed by digits, as 10.1000")
    return doi.lower()


# ----------------------------------------------------------------------------------------------- hosts and URLs

# One ASCII label as DNS allows it; anything else (IDN, xn--, odd hyphens) takes the IDNA path.
_ASCII_HOST_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_HOST_FORBIDDEN_RE = re.compile(r"[\s\x00-\x1f\x7f-\x9f/\\?#@:\[\]%]")


def _is_ip_like(host: str) -> bool:
    """True when the last label is numeric: WHATWG parses such hosts as IPv4, never as domain names."""
    return host.rpartition(".")[2].isdigit()


def _normalise_host_name(host: str, what: str) -> str:
    """Lower-case A-label form (IDNA 2008 with UTS 46 mapping, non-transitional, as browsers do)."""
    if _HOST_FORBIDDEN_RE.search(host):
        raise InvalidIdentifier(f"{what} must not contain spaces, control characters or URL punctuation")
    if host.isascii():
        host = host.lower()
        if host.endswith("."):
            host = host[:-1]
        if len(host) <= _MAX_HOST_LENGTH and "--" not in host and _ASCII_HOST_RE.fullmatch(host):
            return host
    try:
        encoded = idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        raise InvalidIdentifier(f"{what} is not a valid domain name") from None
    if encoded.endswith("."):
        encoded = encoded[:-1]
    if not encoded or len(encoded) > _MAX_HOST_LENGTH:
        raise InvalidIdentifier(f"{what} is not a valid domain name")
    return encoded


def _normalise_url_host(host: str) -> str:
    if not host:
        raise InvalidIdentifier("URL must include a host")
    if host.startswith("["):
        if not host.endswith("]"):
            raise InvalidIdentifier("URL host is not a valid IPv6 address")
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            raise InvalidIdentifier("URL host is not a valid IPv6 address") from None
    name = _normalise_host_name(host, "URL host")
    if _is_ip_like(name):
        try:
            return str(ipaddress.IPv4Address(name))
        except ValueError:
            raise InvalidIdentifier("URL host is neither a domain name nor an IPv4 address") from None
    return name


_DEFAULT_PORTS = {"http": 80, "https": 443}
# Paths made only of characters that normalize_path leaves alone (RFC 3986 unreserved, sub-delims, ":" and "@"),
# with no dot-segment or empty segment to remove: they are already normal.
_PLAIN_PATH_RE = re.compile(r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@-]*)*")

# Queries that normalize_query would return unchanged: key[=value] pairs of characters it leaves alone, no empty
# pair, no empty value, no second "=".
_QUERY_PART = r"[A-Za-z0-9._~:/?\[\]@!$'()*+,;-]+"
_PLAIN_QUERY_RE = re.compile(rf"{_QUERY_PART}(?:={_QUERY_PART})?(?:&{_QUERY_PART}(?:={_QUERY_PART})?)*")


def _normalise_url_path(path: str, scheme: str) -> str:
    if not path:
        return "/"
    if _PLAIN_PATH_RE.fullmatch(path) and "//" not in path and "/." not in path:
        return path
    # normalize_path treats "#" as safe, but a literal "#" in a stored URL would start a fragment on re-parse.
    return normalize_path(path, scheme).replace("#", "%23")


def _normalise_url(value: str) -> str:
    if _CONTROL_RE.search(value):
        raise InvalidIdentifier("URL must not contain control characters")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise InvalidIdentifier("URL is not well-formed") from None
    scheme = parts.scheme  # urlsplit lower-cases it
    if scheme not in _DEFAULT_PORTS:
        raise InvalidIdentifier("URL must be absolute http(s)")
    netloc = parts.netloc
    if not netloc:
        raise InvalidIdentifier("URL must include a host")
    if "@" in netloc:
        raise InvalidIdentifier("URL must not contain a user name or password")
    if netloc.startswith("["):
        end = netloc.find("]")
        host, port_text = netloc[: end + 1], netloc[end + 1 :]
        if port_text and not port_text.startswith(":"):
            raise InvalidIdentifier("URL host is not a valid IPv6 address")
        port_text = port_text[1:]
    else:
        host, _, port_text = netloc.partition(":")
    host = _normalise_url_host(host)
    port = ""
    if port_text:
        if not _is_ascii_digits(port_text) or not 0 < int(port_text) < 65536:
            raise InvalidIdentifier("URL port must be a number from 1 to 65535")
        if int(port_text) != _DEFAULT_PORTS[scheme]:
            port = f":{int(port_text)}"
    path = _normalise_url_path(parts.path, scheme)
    query = parts.query
    if query and not _PLAIN_QUERY_RE.fullmatch(query):
        query = normalize_query(query)
    url = f"{scheme}://{host}{port}{path}?{query}" if query else f"{scheme}://{host}{port}{path}"
    if len(url) > MAX_VALUE_LENGTH:
        raise InvalidIdentifier(f"URL is longer than {MAX_VALUE_LENGTH} characters once normalised")
    return url


def _normalise_domain(value: str) -> str:
    if _HOST_FORBIDDEN_RE.search(value):
        raise InvalidIdentifier("domain must be a bare host name, without scheme, path, port or spaces")
    name = _normalise_host_name(value, "domain")
    if _is_ip_like(name):
        raise InvalidIdentifier("domain must be a host name, not an IP address")
    if "." not in name:
        # A bare top-level domain would claim every site under it.
        raise InvalidIdentifier("domain must have at least two labels, as example.com")
    return name


# ------------------------------------------------------------------------------------------ content fingerprints

_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")


def _normalise_sha256(value: str) -> str:
    if len(value) != 64 or not _SHA256_RE.fullmatch(value):
        raise InvalidIdentifier("SHA-256 must be 64 hexadecimal digits")
    return value.lower()


def _normalise_iscc(value: str) -> str:
    code = value
    if code[:5].lower() == "iscc:":
        code = code[5:].strip()
    code = code.upper()
    if not code:
        raise InvalidIdentifier("ISCC code is empty")
    # Validate every unit strictly before normalising: iscc_normalize alone re-reads a truncated code as a
    # different, valid one instead of refusing it.
    try:
        for unit in code.split("-"):
            iscc_core.iscc_validate(f"ISCC:{unit}", strict=True)
        canonical = iscc_core.iscc_normalize(f"ISCC:{code}" if "-" not in code else code)
        iscc_core.iscc_validate(canonical, strict=True)
    except Exception:  # iscc-core raises ValueError, binascii.Error, IndexError... for malformed codes
        raise InvalidIdentifier("ISCC code is not valid") from None
    return canonical


# ---------------------------------------------------------------------------------------------------- holder refs

_HOLDER_CODE_RE = re.compile(r"[a-z0-9][a-z0-9-]*")


def _normalise_ref(value: str) -> str:
    holder_code, slash, work_ref = value.partition("/")
    if not slash:
        raise InvalidIdentifier("ref must be written <holder code>/<work_ref>")
    if not _HOLDER_CODE_RE.fullmatch(holder_code):
        raise InvalidIdentifier("ref holder code must be a lower-case slug (a-z, 0-9 and hyphens)")
    if not work_ref:
        raise InvalidIdentifier("ref must have a work_ref after the slash")
    if _CONTROL_RE.search(work_ref):
        raise InvalidIdentifier("ref work_ref must not contain control characters")
    return value


_NORMALISERS = {
    "isbn": _normalise_isbn,
    "issn": _normalise_issn,
    "isrc": _normalise_isrc,
    "iswc": _normalise_iswc,
    "doi": _normalise_doi,
    "url": _normalise_url,
    "url-prefix": _normalise_url,
    "domain": _normalise_domain,
    "sha256": _normalise_sha256,
    "iscc": _normalise_iscc,
    "ref": _normalise_ref,
}
assert tuple(_NORMALISERS) == SCHEMES
