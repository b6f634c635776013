"""The identifier parser's messages in the user's language.

`registry.identifiers` is pure Python (no Django), so its messages are English; the registry translates them where
they reach people (`translate_identifier_problem`). The fixed ones are listed here for the catalogue;
`tests/admin/test_translations.py` checks that the list still matches the parser's messages.
"""
from django.utils.translation import gettext, gettext_noop

FIXED_MESSAGES = (
    gettext_noop('ISBN must have 10 or 13 digits'),
    gettext_noop('identifier must be a string'),
    gettext_noop('identifier must be written scheme:value'),
    gettext_noop('identifier must be written scheme:value (the scheme may be left out only for an http(s) URL, '
                 'an ISBN, a DOI, a SHA-256 or an ISCC code)'),
    gettext_noop('identifier scheme must be a string'),
    gettext_noop('identifier value must be a string'),
    gettext_noop('URL must be absolute http(s)'),
    gettext_noop('ISBN must contain only digits, hyphens and spaces (an ISBN-10 may end in X)'),
    gettext_noop('ISWC must be T followed by 10 digits, as T-123.456.789-C'),
    gettext_noop('ISWC check digit does not match'),
    gettext_noop('DOI must not contain spaces or control characters'),
    gettext_noop('DOI must start with 10.'),
    gettext_noop('DOI must have a suffix after the slash, as 10.prefix/suffix'),
    gettext_noop('DOI prefix must be 10. followed by digits, as 10.1000'),
    gettext_noop('URL must include a host'),
    gettext_noop('URL must not contain control characters'),
    gettext_noop('URL must not contain a user name or password'),
    gettext_noop('domain must be a bare host name, without scheme, path, port or spaces'),
    gettext_noop('domain must be a host name, not an IP address'),
    gettext_noop('domain must have at least two labels, as example.com'),
    gettext_noop('SHA-256 must be 64 hexadecimal digits'),
    gettext_noop('phash must be 16 hexadecimal digits (imagehash.phash, 64 bits)'),
    gettext_noop('pdq must be 64 hexadecimal digits (a 256-bit PDQ hash)'),
    gettext_noop('16 hexadecimal digits without a scheme are ambiguous; write phash:<16 hex digits> for a '
                 'perceptual image hash'),
    gettext_noop('ISCC code is empty'),
    gettext_noop('ref must be written <holder code>/<work_ref>'),
    gettext_noop('ref holder code must be a lower-case slug (a-z, 0-9 and hyphens)'),
    gettext_noop('ref must have a work_ref after the slash'),
    gettext_noop('ref work_ref must not contain control characters'),
    gettext_noop('ISBN checksum does not match'),
    gettext_noop('ISBN-13 must start with 978 or 979'),
    gettext_noop('ISSN checksum does not match'),
    gettext_noop('ISSN must have 8 characters (NNNN-NNNC)'),
    gettext_noop('ISSN must be 7 digits and a check digit (0-9 or X), as NNNN-NNNC'),
    gettext_noop('ISRC must have 12 characters'),
    gettext_noop('ISRC must be a 2-letter country code, 3-character registrant code, 2-digit year and 5-digit number'),
    gettext_noop('URL host is not a valid IPv6 address'),
    gettext_noop('URL is not well-formed'),
    gettext_noop('URL port must be a number from 1 to 65535'),
    gettext_noop('ISCC code is not valid'),
    gettext_noop('identifier contains characters that are not valid Unicode'),
    gettext_noop('URL host is neither a domain name nor an IPv4 address'),
)
_FIXED = frozenset(FIXED_MESSAGES)


def translate_identifier_problem(detail: str) -> str:
    return gettext(detail) if detail in _FIXED else detail
