"""Reading a claims file: encoding detection, CSV records with spreadsheet line numbers, header and limits.

Pure Python (no Django), streaming: the file is decoded incrementally (io.TextIOWrapper over the binary stream,
csv.reader over its lines), so memory does not grow with the file. Problems with the file as a whole raise
FileProblem with a sentence a person can act on.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import os
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from charset_normalizer import from_bytes
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

COLUMNS = (
    "holder", "work_ref", "title", "original_title", "kind", "identifiers", "purpose", "jurisdiction", "consent",
    "scope", "effective_from", "effective_until", "license_url", "conditions",
)
REQUIRED_COLUMNS = ("holder", "work_ref")

# The contract's bound on columns per row (claims-csv.md "Limits"); also bounds the header.
MAX_COLUMNS = 100
# Beyond this a single CSV field is not a long value but a broken file (typically a quote never closed, which
# would swallow the rest of the file into one field); the per-field limit of the contract is a row error.
CSV_FIELD_HARD_LIMIT = 4 * 1024 * 1024
# A physical line is read at most this long: a longer one cannot be a row within the limits (100 columns of
# 10,000 characters are about 1,000,000), so memory stays bounded whatever the file holds.
MAX_LINE_CHARS = CSV_FIELD_HARD_LIMIT + 1

_SHIFT_JIS_FAMILY = {"cp932", "shift_jis", "shift_jis_2004", "shift_jisx0213"}

# Signatures of files people upload by mistake instead of a CSV export.
_SIGNATURES = (
    (b"PK\x03\x04", gettext_noop("a ZIP archive (an Excel .xlsx or OpenDocument spreadsheet?)")),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", gettext_noop("an old Excel (.xls) workbook")),
    (b"\x89PNG\r\n\x1a\n", gettext_noop("a PNG image")),
    (b"\xff\xd8\xff", gettext_noop("a JPEG image")),
    (b"GIF87a", gettext_noop("a GIF image")),
    (b"GIF89a", gettext_noop("a GIF image")),
    (b"%PDF-", gettext_noop("a PDF document")),
    (b"\x1f\x8b", gettext_noop("a gzip archive")),
    (b"RIFF", gettext_noop("a RIFF media file")),
)
# Whole-file problems are sentences for the submitter, in the language active while the file is processed (the
# submitter's: claims.services activates it).
_SAVE_AS_CSV = gettext_noop("Save it as CSV (UTF-8 or Shift_JIS) and upload that.")


class FileProblem(Exception):
    """The file as a whole cannot be processed; the message is the sentence shown to the submitter."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_rows: int
    max_field_chars: int
    max_columns: int = MAX_COLUMNS


@dataclass
class Scan:
    """What the first pass learns: how to decode, the header, how many rows, and which keys repeat."""

    encoding: str
    columns: list[str]
    rows_total: int
    max_columns: int = MAX_COLUMNS
    # line of a row -> the later line that states the same (its statement key's group and an item), only for such
    # rows: `duplicate-row`, the later row wins.
    duplicates: dict[int, int] = field(default_factory=dict)
    # column -> its name as the header spells it, only where that differs (`Title` for title): errors.csv names a
    # column "as in the header" (api.md).
    spellings: dict[str, str] = field(default_factory=dict)


Opener = Callable[[], BinaryIO]


def _bom_encoding(head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF32_LE) or head.startswith(codecs.BOM_UTF32_BE):
        raise FileProblem(_("The file is UTF-32, which is not supported. Save it as UTF-8 or Shift_JIS."))
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    return None


def sniff(head: bytes) -> list[str]:
    """The encodings to try, in order, from the first bytes; raises FileProblem for files that are not text."""
    if not head:
        raise FileProblem(_("The file is empty."))
    bom = _bom_encoding(head)
    if bom:
        return [bom]
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            raise FileProblem(_("The file is %(what)s, not a CSV file.") % {"what": _(what)} + " " + _(_SAVE_AS_CSV))
    if b"\x00" in head:
        raise FileProblem(_("The file contains binary data (NUL bytes), not CSV text; UTF-16 files need a "
                            "byte-order mark.") + " " + _(_SAVE_AS_CSV))
    return ["utf-8", "cp932"]


def _japanese(char: str) -> bool:
    code = ord(char)
    return (0x3000 <= code <= 0x30FF or 0x4E00 <= code <= 0x9FFF or 0xFF01 <= code <= 0xFF9F
            or 0x2010 <= code <= 0x266F or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF
            or code in (0x00A7, 0x00A8, 0x00B0, 0x00B1, 0x00B4, 0x00B6, 0x00D7, 0x00F7)
            or 0x0391 <= code <= 0x0451)


def _looks_like_shift_jis(sample: bytes) -> bool:
    """Strict CP932 decoding alone would accept other 8-bit text (Latin-1 letters become half-width kana or
    kanji, stray high bytes private-use characters): require Japanese-looking text and a detector's agreement."""
    text = sample.decode("cp932", errors="ignore")
    foreign = [c for c in text if not c.isascii()]
    if not foreign:
        return False
    odd = sum(1 for c in foreign if not _japanese(c))
    if odd > max(2, len(foreign) // 20):
        return False
    try:
        matches = from_bytes(sample)
    except Exception:  # a detector failure is not a reason to accept the file
        return False
    return any(enc in _SHIFT_JIS_FAMILY for match in matches for enc in match.could_be_from_charset)


def _text(raw: BinaryIO, encoding: str) -> io.TextIOWrapper:
    # newline="" hands "\r\n", "\n" and "\r" to csv untouched, so quoted newlines survive and line counts are right.
    return io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")


def _lines(text: io.TextIOWrapper, max_columns: int) -> Iterator[str]:
    """Physical lines for csv.reader, bounded before csv builds a record: no line over MAX_LINE_CHARS (read with
    a limit, so a file without line breaks is never one giant string) and no record with more than `max_columns`
    cells (counted here, on the text, so a row of millions of commas is refused before millions of cells exist).

    Cells are counted with the quoting state carried across lines: commas inside quotes do not separate cells,
    and a quoted cell may hold line breaks. A quote in the middle of an unquoted cell is taken literally by csv
    but flips the state here; csv.reader's own record is then checked again by `records`, so the count is a
    bound, never the only check.
    """
    inside = False  # within a quoted cell at the end of the text read so far
    commas = 0  # separators of the record read so far
    number = 0
    while True:
        line = text.readline(MAX_LINE_CHARS)
        if not line:
            return
        number += 1
        if "\x00" in line:
            raise FileProblem(_("The file contains binary data (NUL bytes), not CSV text.") + " " + _(_SAVE_AS_CSV))
        if '"' not in line:
            if not inside:
                commas += line.count(",")
        else:
            for index, part in enumerate(line.split('"')):
                if index:
                    inside = not inside
                if not inside:
                    commas += part.count(",")
        if commas >= max_columns:
            raise FileProblem(_("A row that starts on or before line %(line)d has more than %(limit)s columns, "
                                "the limit per row.") % {"line": number, "limit": f"{max_columns:,}"})
        if len(line) >= MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            raise FileProblem(_("Line %(line)d is longer than %(limit)s characters; the file is not a valid "
                                "claims CSV.") % {"line": number, "limit": f"{MAX_LINE_CHARS:,}"})
        if not inside:
            commas = 0
        yield line


def records(raw: BinaryIO, encoding: str, max_columns: int = MAX_COLUMNS) -> Iterator[tuple[int, list[str]]]:
    """(row number as a spreadsheet shows it, cells) for every record, blank ones included.

    A spreadsheet numbers records, not physical lines: a record whose quoted cell holds line breaks is one row,
    and a blank line is one row too (csv.reader yields it as an empty record)."""
    csv.field_size_limit(CSV_FIELD_HARD_LIMIT)
    text = _text(raw, encoding)
    reader = csv.reader(_lines(text, max_columns))
    row = 0
    try:
        for cells in reader:
            row += 1
            if len(cells) > max_columns:
                raise FileProblem(_("Line %(line)d has %(count)s columns; at most %(limit)s are allowed.") % {
                    "line": row, "count": f"{len(cells):,}", "limit": f"{max_columns:,}"})
            yield row, cells
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise FileProblem(_(
                "Line %(line)d: a field runs past %(limit)s characters; a quote is probably never closed. The file "
                "is not valid CSV.") % {"line": row + 1, "limit": f"{CSV_FIELD_HARD_LIMIT:,}"}) from None
        raise FileProblem(_("Line %(line)d: the file is not valid CSV (%(reason)s).") % {
            "line": row + 1, "reason": exc}) from None


def is_blank(cells: list[str]) -> bool:
    return all(not cell.strip() for cell in cells)


def _spelt(cell: str) -> str:
    return cell.strip().lstrip("\ufeff").strip()


def header_spellings(cells: list[str], columns: list[str]) -> dict[str, str]:
    """Each column whose header cell is not spelt as its canonical name, with that spelling."""
    return {name: _spelt(cell) for name, cell in zip(columns, cells, strict=False) if _spelt(cell) != name}


def parse_header(cells: list[str]) -> list[str]:
    names = [_spelt(cell).lower() for cell in cells]
    unnamed = [str(i + 1) for i, name in enumerate(names) if not name]
    if unnamed:
        raise FileProblem(_("The header has no name for column %(columns)s; every column needs one of: "
                            "%(allowed)s.") % {"columns": ", ".join(unnamed), "allowed": ", ".join(COLUMNS)})
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        shown = ", ".join(repr(n[:60]) for n in unknown[:10])
        raise FileProblem(ngettext("Unknown column in the header: %(columns)s. Allowed columns: %(allowed)s.",
                                   "Unknown columns in the header: %(columns)s. Allowed columns: %(allowed)s.",
                                   len(unknown)) % {"columns": shown, "allowed": ", ".join(COLUMNS)})
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise FileProblem(ngettext("Column %(columns)s appears more than once in the header.",
                                   "Columns %(columns)s appear more than once in the header.",
                                   len(repeated)) % {"columns": ", ".join(repeated)})
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise FileProblem(ngettext("The header lacks the required column %(columns)s.",
                                   "The header lacks the required columns %(columns)s.",
                                   len(missing)) % {"columns": ", ".join(missing)})
    return names


class _KeyLog:
    """Statement keys with their lines, in a temporary SQLite file: exact, and memory stays flat.

    A key is a statement group (holder, work_ref) with its items ((purpose, jurisdiction) pairs): one insert per
    row, and only the groups that occur more than once are expanded into items (a file where every work has one
    row costs what one key per row costs)."""

    # For each line whose group repeats: the last line that has one of its items in the same group, if later.
    _LATER_LINES = """
        WITH repeated AS (SELECT key FROM k GROUP BY key HAVING count(*) > 1),
             item AS (SELECT k.key, k.line, j.value AS item
                      FROM k JOIN repeated ON repeated.key = k.key, json_each(k.items) AS j),
             last AS (SELECT key, item, max(line) AS line FROM item GROUP BY key, item HAVING count(*) > 1)
        SELECT item.line, max(last.line)
        FROM item JOIN last ON last.key = item.key AND last.item = item.item
        WHERE item.line < last.line
        GROUP BY item.line
    """

    def __init__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="claims-keys-")
        self._db = sqlite3.connect(os.path.join(self._dir.name, "keys.sqlite3"))
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE k (key TEXT, line INTEGER, items TEXT)")
        self._batch: list[tuple[str, int, str]] = []

    def add(self, key: str, line: int, items: str) -> None:
        self._batch.append((key, line, items))
        if len(self._batch) >= 50_000:
            self._flush()

    def _flush(self) -> None:
        self._db.executemany("INSERT INTO k VALUES (?, ?, ?)", self._batch)
        self._batch.clear()

    def duplicates(self) -> dict[int, int]:
        self._flush()
        return dict(self._db.execute(self._LATER_LINES))

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


# json.dumps with these arguments builds an encoder for every call; one encoder writes the same text.
_KEY_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def key_text(key) -> str:
    """A statement key (a tuple of strings and tuples) as the text the key log stores."""
    return _KEY_JSON(key)


# (statement group, its items) of a row, or None: two rows are the same statement when their groups are equal and
# they share an item.
KeyOf = Callable[[list[str], list[str]], tuple[tuple, list] | None]


def _work_key(cells: list[str], columns: list[str]) -> tuple[tuple, list] | None:
    """The default statement key: (holder, work_ref) of a work row, one item."""
    holder_at, ref_at = columns.index("holder"), columns.index("work_ref")
    work_ref = cells[ref_at].strip() if ref_at < len(cells) else ""
    if not work_ref:
        return None
    if "scope" in columns:
        scope_at = columns.index("scope")
        if scope_at < len(cells) and cells[scope_at].strip().lower() == "catalogue":
            return None
    return (cells[holder_at].strip() if holder_at < len(cells) else "", work_ref), [""]


def _scan_with(opener: Opener, encoding: str, limits: Limits, key_of: KeyOf) -> Scan:
    with opener() as raw:
        stream = records(raw, encoding, limits.max_columns)
        columns = None
        for _line, cells in stream:
            if not is_blank(cells):
                columns = parse_header(cells)
                spellings = header_spellings(cells, columns)
                break
        if columns is None:
            raise FileProblem(_("The file has no header row (it is empty or blank)."))
        keys = _KeyLog()
        # A key function may hand back the very same items object for rows that share their items
        # (validation.statement_key does, for each distinct pair of purpose and jurisdiction cells): its text is
        # then written once, not once per row.
        last_items = last_text = None
        try:
            rows = 0
            for line, cells in stream:
                if is_blank(cells):
                    continue
                rows += 1
                if rows > limits.max_rows:
                    raise FileProblem(_("The file has more than %(limit)s data rows, the limit per file. Split "
                                        "it into several files.") % {"limit": f"{limits.max_rows:,}"})
                key = key_of(cells, columns)
                if key is not None:
                    group, items = key
                    if items is not last_items:
                        last_items, last_text = items, key_text(items)
                    keys.add(key_text(group), line, last_text)
            if rows == 0:
                raise FileProblem(_("The file has a header but no data rows."))
            return Scan(encoding=encoding, columns=columns, rows_total=rows, duplicates=keys.duplicates(),
                        max_columns=limits.max_columns, spellings=spellings)
        finally:
            keys.close()


def scan(opener: Opener, *, size: int, limits: Limits, key_of: KeyOf = _work_key) -> Scan:
    """First pass: everything that can make the whole file fail, found before a single row is written."""
    if size > limits.max_bytes:
        raise FileProblem(_("The file is %(size)s bytes, over the limit of %(limit)s bytes.") % {
            "size": f"{size:,}", "limit": f"{limits.max_bytes:,}"})
    with opener() as raw:
        head = raw.read(65536)
    candidates = sniff(head)
    failure = None
    for encoding in candidates:
        if encoding == "cp932":
            # The bytes UTF-8 choked on are where the non-ASCII text is: the best sample for a second opinion.
            sample = failure.object if failure is not None and isinstance(failure.object, bytes) else head
            if not _looks_like_shift_jis(sample):
                failure = None
                break
        try:
            return _scan_with(opener, encoding, limits, key_of)
        except UnicodeDecodeError as exc:
            failure = exc
            continue
    if len(candidates) == 1:
        name = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16"}[candidates[0]]
        raise FileProblem(_("The file starts with a %(encoding)s byte-order mark but is not valid %(encoding)s "
                            "(%(reason)s).") % {"encoding": name, "reason": _describe(failure)})
    raise FileProblem(_("The file's encoding is not supported: it is neither UTF-8, UTF-16 with a byte-order mark, "
                        "nor Shift_JIS/CP932 (%(reason)s). Save it as UTF-8 CSV and upload it again.")
                      % {"reason": _describe(failure)})


def _describe(exc: UnicodeDecodeError | None) -> str:
    if exc is None:
        return _("it does not look like Japanese text in Shift_JIS")
    byte = exc.object[exc.start:exc.start + 1].hex() if isinstance(exc.object, bytes | bytearray) else "?"
    return _("byte 0x%(byte)s cannot be decoded") % {"byte": byte}


def data_rows(opener: Opener, scan_result: Scan) -> Iterator[tuple[int, list[str]]]:
    """Second pass: (line, cells) of every non-blank data row, in file order. Same decoding as the first pass."""
    with opener() as raw:
        stream = records(raw, scan_result.encoding, scan_result.max_columns)
        for _line, cells in stream:
            if not is_blank(cells):
                break
        for line, cells in stream:
            if not is_blank(cells):
                yield line, cells
