"""Reading ids from a file, and the keys the client can name without the registry.

The registry normalises ids (ISBN-10 to 13, IDNA hosts, URL paths, ...). Offline, the client answers locally only
ids already written the way the registry stores them, recognised by strict patterns below; any other id is sent to
the API, so a local answer is never given for a key the client might have spelt differently from the registry.
"""
from __future__ import annotations

import csv
import re
from collections.abc import Iterator

_HOST = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+"
_HOST_RE = re.compile(_HOST)
_PATH_CHAR = r"[A-Za-z0-9._~!$&'()*+,;=:@-]"
_PLAIN_PATH = rf"(?:/{_PATH_CHAR}*)+"
_URL_RE = re.compile(rf"(https?)://({_HOST})({_PLAIN_PATH})")
_DOI = r"10\.[0-9]+(?:\.[0-9]+)*/[^\sA-Z\x00-\x1f\x7f-{}]+"  # {}: \x9f here; for bytes, every non-ASCII byte
_DOI_RE = re.compile(_DOI.format(r"\x9f"))
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_ISBN13_RE = re.compile(r"97[89][0-9]{10}")


# classify's first two branches in bulk, for a block of ids joined by "\n" (the offline path: one regex pass over
# a block instead of a call per id). One match per line: group 1 is the host when classify keeps the line as it is
# as a `url:` key with that host, group 2 is b"d" when it keeps it as it is as a `doi:` key, both empty otherwise
# (the caller then asks classify). Built from the patterns above, with classify's three extra url conditions: "--"
# in the host as a lookahead, and "//" or "/." in the path as "no segment starts with / or ." (every / of a plain
# path starts a segment). A DOI with any non-ASCII byte is left to classify (UTF-8 bytes are not the characters
# the str pattern speaks of). client/tests/test_client_ids_bulk.py checks it against classify, line by line.
_BULK_RE = re.compile((
    r"^(?:url:https?://(?![^/\n]*--)(?=(" + _HOST + r")(?:/(?![/.])" + _PATH_CHAR + r"*)+$)"
    r"|(?=(d)oi:" + _DOI.format(r"\xff") + r"$))?.*$").encode(), re.M)


def bulk_verdicts(block: bytes) -> list[tuple[bytes, bytes]]:
    """For each line of `block` (ids already stripped, as id_lines gives them): (the host of a canonical `url:` id
    or b"", b"d" for a canonical `doi:` id or b""); (b"", b"") for anything else (for classify to decide)."""
    verdicts = _BULK_RE.findall(block)
    if len(verdicts) != block.count(b"\n") + 1:  # one match a line, or the caller would misplace answers
        raise ValueError("bulk_verdicts: a block of ids with an empty line")
    return verdicts


def _isbn13_ok(value: str) -> bool:
    total = sum((1 if i % 2 == 0 else 3) * int(d) for i, d in enumerate(value[:12]))
    return (10 - total % 10) % 10 == int(value[12])


def canonical_key(raw: str) -> str | None:
    """`scheme:value` exactly as the registry stores it, or None when only the registry can say."""
    return classify(raw)[0]


def classify(raw: str) -> tuple[str | None, str | None]:
    """(canonical key or None, the host of a `url:` key or None): canonical_key, and for a url the host its
    pattern matched, so that the offline path matches each id once."""
    # The two schemes of most datasets first, on the id as given: one pattern match and nothing else. Anything
    # that does not match here (spaces around it, a bare URL, another scheme) takes the general path below,
    # which gives the same answer for whatever matches here.
    if raw[:4] == "doi:":
        if _DOI_RE.fullmatch(raw, 4):
            return raw, None
    elif raw[:4] == "url:":
        match = _URL_RE.fullmatch(raw, 4)
        if match:
            host, path = match.group(2, 3)
            if "//" not in path and "/." not in path and "--" not in host:
                return raw, host
    text = raw.strip()
    if text.startswith(("http://", "https://")):
        text = "url:" + text
    scheme, sep, value = text.partition(":")
    if not sep:
        return None, None
    if scheme == "doi":
        if _DOI_RE.fullmatch(value):
            return text, None
    elif scheme == "url":
        match = _URL_RE.fullmatch(value)
        if match and "//" not in match.group(3) and "/." not in match.group(3) and "--" not in match.group(2):
            return text, match.group(2)
    elif scheme == "domain":
        if _HOST_RE.fullmatch(value) and "--" not in value and not value.rpartition(".")[2].isdigit():
            return text, None
    elif scheme == "sha256":
        if _SHA256_RE.fullmatch(value):
            return text, None
    elif scheme == "isbn":
        if _ISBN13_RE.fullmatch(value) and _isbn13_ok(value):
            return text, None
    return None, None


def url_parts(key: str) -> tuple[str, str] | None:
    """(host, url) of a canonical `url:` key, for matching url-prefix and domain keys."""
    match = _URL_RE.fullmatch(key[4:]) if key.startswith("url:") else None
    return (match.group(2), key[4:]) if match else None


def domain_chain(host: str) -> list[str]:
    """The host and each parent with at least two labels, nearest first."""
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def read_ids(path: str, *, column: str | None = None) -> Iterator[tuple[int, str]]:
    """(line number, id) for every non-empty id: one a line, or the `column` of a CSV file with a header."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        if column is None:
            for number, line in enumerate(handle, 1):
                text = line.strip()
                if text and not text.startswith("#"):
                    yield number, text
            return
        reader = csv.DictReader(handle)
        if column not in (reader.fieldnames or []):
            raise SystemExit(f"{path}: no column {column!r} in the header (columns: {reader.fieldnames})")
        for row in reader:
            text = (row[column] or "").strip()
            if text:
                yield reader.line_num, text


def read_id_list(path: str, *, column: str | None = None) -> list[str]:
    """Every id of read_ids, as a list; one a line is read in one piece and split (the same lines as iterating
    the file: universal newlines), several times faster than a generator per line."""
    if column is not None:
        return [text for _, text in read_ids(path, column=column)]
    with open(path, encoding="utf-8-sig") as handle:  # newline=None: \r\n and \r read as \n, as read_ids sees them
        lines = handle.read().split("\n")
    return [text for text in map(str.strip, lines) if text and not text.startswith("#")]


# str.strip also strips these (and non-ASCII spaces), bytes.strip does not: a file holding any is read as text.
_STRIP_ONLY_AS_TEXT = (b"\x1c", b"\x1d", b"\x1e", b"\x1f")


class IdUnits:
    """The ids of a file, one a line, in units that a process reads by itself: `len(units)` units, `units.ids(n)`
    the n-th one's ids (UTF-8, as read_id_list gives them). An ASCII file (the usual case) is cut into blocks of
    about `unit_bytes` at line ends and each block is split and stripped by bulk bytes methods when its unit is
    asked for, so no id exists as an object before a worker makes it; any other file is read as text by
    read_id_list and cut every `unit_ids` ids."""

    def __init__(self, data: bytes, path: str, *, unit_bytes: int, unit_ids: int, listed: list[str] | None = None):
        """`listed`: the ids already read (a CSV column), cut every `unit_ids`."""
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        self.data, self.unit_ids, self.listed = data, unit_ids, None
        if listed is None and (not data.isascii() or any(char in data for char in _STRIP_ONLY_AS_TEXT)):
            listed = read_id_list(path)
        if listed is not None:
            self.listed = [text.encode() for text in listed]
            self.count = -(-len(self.listed) // unit_ids)
            return
        self.cuts = [0]
        while self.cuts[-1] < len(data):
            end = data.find(b"\n", self.cuts[-1] + unit_bytes)
            self.cuts.append(len(data) if end < 0 else end + 1)
        self.count = len(self.cuts) - 1

    def __len__(self) -> int:
        return self.count

    def span(self, number: int) -> tuple[int, int] | None:
        """Where the n-th unit lies in `data` (an ASCII file), or None (ids read as text: `ids` only)."""
        return None if self.listed is not None else (self.cuts[number], self.cuts[number + 1])

    def ids(self, number: int) -> list[bytes]:
        if self.listed is not None:
            return self.listed[number * self.unit_ids:(number + 1) * self.unit_ids]
        block = self.data[self.cuts[number]:self.cuts[number + 1]]
        if b"\r" in block:  # universal newlines, as read_ids reads the file (a block ends after a \n)
            block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        ids = list(filter(None, map(bytes.strip, block.split(b"\n"))))
        if b"#" in block:
            ids = [raw for raw in ids if raw[:1] != b"#"]
        return ids


def id_lines(data: bytes, path: str, *, unit_bytes: int = 1 << 22) -> list[bytes]:
    """read_id_list's ids (UTF-8) from the bytes of the file at `path`: every unit of IdUnits, in order."""
    units = IdUnits(data, path, unit_bytes=unit_bytes, unit_ids=100_000)
    return [raw for number in range(len(units)) for raw in units.ids(number)]
