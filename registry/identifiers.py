"""Identifier parsing and normalisation: ``scheme:value`` text in, one stored form out.

Pure Python, no Django: the lookup API calls ``parse_identifier`` for up to 10,000 ids per batch, so the common
schemes (isbn, sha256, url) take a hand-written fast path and fall back to the libraries only for unusual input.
Every failure is an ``InvalidIdentifier`` whose ``detail`` is a sentence a person can act on.

Slightly over the ~400-line guide: the per-scheme number and code checks already live in identifier_numbers.py
and identifier_codes.py; what remains is the one dispatch from scheme to normaliser with its fast paths, which
reads best in one place.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna
from url_normalize.normalize_path import normalize_path
from url_normalize.normalize_query import normalize_query

from .errors import InvalidIdentifier
from .identifier_codes import (
    PHASH_RE,
    SHA256_RE,
    normalise_doi,
    normalise_iscc,
    normalise_pdq,
    normalise_phash,
    normalise_ref,
    normalise_sha256,
)
from .identifier_numbers import (
    compact_number,
    is_ascii_digits,
    isbn_from_compact,
    normalise_isbn,
    normalise_isrc,
    normalise_issn,
    normalise_iswc,
)

__all__ = [
    "SCHEMES",
    "InvalidIdentifier",
    "ParsedIdentifier",
    "domain_chain",
    "infer_scheme",
    "is_public_suffix",
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
    "phash",
    "pdq",
)

# The stored value column is 2048 characters; anything longer cannot be stored, so it is not an identifier.
MAX_VALUE_LENGTH = 2048
# Refuse to even strip or split text this long: a batch of 10,000 ids must not be made to scan megabytes each.
_MAX_TEXT_LENGTH = 4 * MAX_VALUE_LENGTH
_MAX_HOST_LENGTH = 253
_MAX_LABEL_LENGTH = 63


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
    """Parse ``scheme:value`` (scheme case-insensitive, surrounding whitespace ignored) into its stored form.

    The scheme may be left out when the value is unambiguous (``infer_scheme``): admin, API, CSV, search and
    lookups all parse through here, so the rule exists once.
    """
    if not isinstance(text, str):
        raise InvalidIdentifier("identifier must be a string")
    if len(text) > _MAX_TEXT_LENGTH:
        raise InvalidIdentifier(f"identifier is longer than {MAX_VALUE_LENGTH} characters")
    scheme, sep, value = text.partition(":")
    scheme = scheme.strip().lower()
    normaliser = _NORMALISERS.get(scheme) if sep else None
    if normaliser is not None:
        return ParsedIdentifier(scheme, _normalise_value(scheme, normaliser, value))
    inferred = infer_scheme(text)
    if inferred is not None:
        return ParsedIdentifier(inferred, _normalise_value(inferred, _NORMALISERS[inferred], text))
    raise _without_known_scheme(text, scheme if sep else None)


def infer_scheme(text: str) -> str | None:
    """The scheme of a value written without one, when it is unambiguous (domain.md); None otherwise.

    An http(s) URL is ``url``; 10 or 13 digits (separators and any script's decimal digits allowed) with a valid
    ISBN check digit are ``isbn``; ``10.`` followed somewhere by ``/`` is ``doi``; 64 hex digits are ``sha256``;
    ``ISCC:`` starts an ``iscc``. Perceptual hashes are never inferred: 64 hex digits stay ``sha256`` (a ``pdq``
    hash has the same shape) and 16 hex digits could be a ``phash`` or many other things. Only the shape is
    checked here (and the ISBN check digit, which is what makes a bare number an ISBN); the scheme's own
    normaliser still validates the value.
    """
    if not isinstance(text, str) or len(text) > _MAX_TEXT_LENGTH:
        return None
    value = text.strip()
    head = value[:8].lower()
    if head.startswith(("http://", "https://")):
        return "url"
    if head.startswith("iscc:"):
        return "iscc"
    if value.startswith("10.") and "/" in value:
        return "doi"
    if len(value) == 64 and SHA256_RE.fullmatch(value):
        return "sha256"
    if _is_isbn_shaped(value):
        return "isbn"
    return None


def _is_isbn_shaped(value: str) -> bool:
    if not value or len(value) > _MAX_ISBN_TEXT or not value[:1].isnumeric():
        return False
    try:
        isbn_from_compact(compact_number(value))
    except InvalidIdentifier:
        return False
    return True


def _without_known_scheme(text: str, scheme: str | None) -> InvalidIdentifier:
    """Why a text without a usable scheme was refused, as precisely as its shape allows."""
    if scheme and _SCHEME_TOKEN_RE.fullmatch(scheme):
        return _unknown_scheme(scheme)
    value = text.strip()
    if not value:
        return InvalidIdentifier("identifier must be written scheme:value")
    if len(value) == 16 and PHASH_RE.fullmatch(value):
        return InvalidIdentifier(
            "16 hexadecimal digits without a scheme are ambiguous; write phash:<16 hex digits> for a perceptual "
            "image hash"
        )
    if value[:1].isnumeric() and len(value) <= _MAX_ISBN_TEXT:
        # A bare number is an ISBN only when it is one; say what is wrong with it rather than "no scheme".
        try:
            isbn_from_compact(compact_number(value))
        except InvalidIdentifier as exc:
            return InvalidIdentifier(
                f"a number without a scheme is read as an ISBN, and this one is not valid ({exc.detail}); "
                "write scheme:value for other identifiers"
            )
    return InvalidIdentifier(
        "identifier must be written scheme:value (the scheme may be left out only for an http(s) URL, an ISBN, "
        "a DOI, a SHA-256 or an ISCC code)"
    )


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

    The chain stops above the host's public suffix (``co.uk``, ``github.io``): no domain identifier may be a
    public suffix, and one registered before that rule must not cover every site under it either. IP addresses
    have no parents, so their chain is the address alone.
    """
    host = host.strip().rstrip(".").lower()
    if not host:
        return []
    if host.startswith("[") or _is_ip_like(host):
        return [host]
    labels = host.split(".")
    suffix = _public_suffix_list().publicsuffix(host)
    own = len(labels) - (suffix.count(".") + 1 if suffix else 0)
    return [".".join(labels[i:]) for i in range(own)]


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


# What may stand before the first ":" as a scheme someone meant; anything else is a value without a scheme.
_SCHEME_TOKEN_RE = re.compile(r"[a-z][a-z0-9+.-]{0,39}")
# An ISBN with generous separators; longer text is never read as one, so the bare-number check stays cheap.
_MAX_ISBN_TEXT = 40


def _unknown_scheme(scheme: str) -> InvalidIdentifier:
    shown = scheme if len(scheme) <= 40 else scheme[:40] + "..."
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


# ----------------------------------------------------------------------------------------------- hosts and URLs

# One ASCII label as DNS allows it; anything else (IDN, xn--, odd hyphens) takes the IDNA path.
_ASCII_HOST_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_HOST_FORBIDDEN_RE = re.compile(r"[\s\x00-\x1f\x7f-\x9f/\\?#@:\[\]%]")


def _is_ip_like(host: str) -> bool:
    """True when the last label is numeric: WHATWG parses such hosts as IPv4, never as domain names."""
    return host.rpartition(".")[2].isdigit()


def _normalise_host_name(host: str, what: str) -> str:
    """Lower-case A-label form (IDNA 2008 with UTS 46 mapping, non-transitional, as browsers do).

    Length is checked before anything else and IDNA runs last: IDNA costs ~0.5 ms per 2,000 characters, so a
    batch of 10,000 over-long hosts took 4.6 s of CPU when it ran first. Neither UTS 46 mapping nor Punycode
    makes a name much shorter, so a host or label over DNS's limits in Unicode is over them as an A-label too.
    """
    if len(host) > _MAX_HOST_LENGTH + 1:  # + 1: the root's trailing dot
        raise InvalidIdentifier(f"{what} is longer than {_MAX_HOST_LENGTH} characters")
    if any(len(label) > _MAX_LABEL_LENGTH for label in host.split(".")):
        raise InvalidIdentifier(f"{what} has a label longer than {_MAX_LABEL_LENGTH} characters")
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


# An http(s) URL already in its stored form: lower-case ASCII host without port, user or trailing dot, a plain
# path, a plain query or none. For it `_normalise_url` returns the value itself (tests/registry hold the two to
# that); most URLs a claims file or a lookup batch sends are in this form, and skip urlsplit and the host's
# checks (the larger half of a claims row's identifier parsing).
_STORED_URL_RE = re.compile(rf"https?://([a-z0-9.-]{{1,{_MAX_HOST_LENGTH}}})(/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)"
                            rf"(?:\?{_PLAIN_QUERY_RE.pattern})?")


def _is_stored_url(value: str) -> bool:
    match = _STORED_URL_RE.fullmatch(value)
    if match is None:
        return False
    host, path = match.group(1), match.group(2)
    return ("--" not in host and not _is_ip_like(host) and _ASCII_HOST_RE.fullmatch(host) is not None
            and "//" not in path and "/." not in path)


def _normalise_url(value: str) -> str:
    if _is_stored_url(value):
        return value
    return _normalise_url_parts(value)


def _normalise_url_parts(value: str) -> str:
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
        if not is_ascii_digits(port_text) or not 0 < int(port_text) < 65536:
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
    if is_public_suffix(name):
        raise _public_suffix("domain", name)
    return name


def _normalise_url_prefix(value: str) -> str:
    url = _normalise_url(value)
    host = url_host(url)
    if is_public_suffix(host):
        raise _public_suffix("url-prefix host", host)
    return url


def is_public_suffix(host: str) -> bool:
    """True for a name under which anyone may register (``co.uk``, ``github.io``): the Public Suffix List.

    The list is the copy bundled with the pinned ``publicsuffixlist`` package, read once per process and never
    fetched at run time; a new list arrives with a new pin. Names the list does not know are not suffixes.
    """
    return _public_suffix_list().is_public(host)


@functools.cache
def _public_suffix_list():
    from publicsuffixlist import PublicSuffixList  # ~30 ms to read; only hosts need it

    return PublicSuffixList(accept_unknown=False)


def _public_suffix(what: str, host: str) -> InvalidIdentifier:
    return InvalidIdentifier(
        f"{what} '{host}' is a public suffix (anyone can register names under it); name your own domain, "
        f"as example.{host}"
    )


_NORMALISERS = {
    "isbn": normalise_isbn,
    "issn": normalise_issn,
    "isrc": normalise_isrc,
    "iswc": normalise_iswc,
    "doi": normalise_doi,
    "url": _normalise_url,
    "url-prefix": _normalise_url_prefix,
    "domain": _normalise_domain,
    "sha256": normalise_sha256,
    "iscc": normalise_iscc,
    "ref": normalise_ref,
    "phash": normalise_phash,
    "pdq": normalise_pdq,
}
assert tuple(_NORMALISERS) == SCHEMES
