"""Identifiers written as codes rather than numbers or hosts: DOI, SHA-256, ISCC and a holder's own ``ref``.

Pure Python, no Django; ``registry.identifiers`` dispatches to these by scheme and is the only public entry point.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import iscc_core

from .errors import InvalidIdentifier

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")

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


def normalise_doi(value: str) -> str:
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



# ------------------------------------------------------------------------------------------ content fingerprints

SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")


def normalise_sha256(value: str) -> str:
    if len(value) != 64 or not SHA256_RE.fullmatch(value):
        raise InvalidIdentifier("SHA-256 must be 64 hexadecimal digits")
    return value.lower()


# Perceptual image hashes (match.md): ``phash`` is imagehash's 64-bit DCT hash, ``pdq`` Meta's 256-bit PDQ hash,
# both written as lower-case hex. Near values are different identifiers; matching by Hamming distance is
# consent.matching's job, not the registry's.
PHASH_RE = re.compile(r"[0-9a-fA-F]{16}")
PDQ_RE = re.compile(r"[0-9a-fA-F]{64}")


def normalise_phash(value: str) -> str:
    if len(value) != 16 or not PHASH_RE.fullmatch(value):
        raise InvalidIdentifier("phash must be 16 hexadecimal digits (imagehash.phash, 64 bits)")
    return value.lower()


def normalise_pdq(value: str) -> str:
    if len(value) != 64 or not PDQ_RE.fullmatch(value):
        raise InvalidIdentifier("pdq must be 64 hexadecimal digits (a 256-bit PDQ hash)")
    return value.lower()


def normalise_iscc(value: str) -> str:
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


def normalise_ref(value: str) -> str:
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


