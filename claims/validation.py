"""Validating one claims row completely, before anything touches the database: one small validator per column.

As in pretix's import pipeline, each column (or pair of columns that depend on each other) has its validator;
`validate_row` runs them in order over a `RowCells`, which collects every problem with its column and the value
as submitted. The rules themselves are the domain's, shared with the services: text limits and the filing of a
work from `registry.rules`, identifiers from `registry.identifiers`, purposes and jurisdictions from
`consent.vocabulary`, the spellings spreadsheets use from `claims.values`.

What depends on the registry's current state (a new work needs a title) is checked when the chunk is planned,
still before any write. Messages are in the active language (the submitter's; `claims.services` activates it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext as _

from consent.vocabulary import PURPOSES, UnknownJurisdiction, validate_jurisdiction
from registry.identifier_messages import translate_identifier_problem
from registry.identifiers import InvalidIdentifier, parse_identifier
from registry.models import WorkKind
from registry.rules import work_text_too_long

from .values import MOMENT_YEARS, consent_code, kind_code, parse_moment, purpose_code

__all__ = ["ClaimRow", "FilingRights", "RowProblem", "MOMENT_YEARS", "VALUE_ECHO_MAX", "cells_of", "statement_key",
           "validate_row"]

SCOPES = ("work", "catalogue")
LICENSE_URL_MAX = 2000
_url_validator = URLValidator(schemes=["http", "https"])
# Echoed values in the error report are cut here: enough to find the cell, not a copy of a megabyte.
VALUE_ECHO_MAX = 200


@dataclass(slots=True)
class RowProblem:
    line: int
    column: str
    code: str
    message: str
    value: str = ""
    # The row's work_ref and title as submitted (set on a row's first problem): errors.csv names them.
    work_ref: str = ""
    title: str = ""


@dataclass(slots=True)
class ClaimRow:
    """A row that passed validation: canonical values, ready to plan."""

    line: int
    holder_id: object
    agent_id: object | None
    scope: str
    work_ref: str
    title: str
    original_title: str
    kind: str
    identifiers: list = field(default_factory=list)  # ParsedIdentifier, de-duplicated, in file order
    slots: list = field(default_factory=list)  # (purpose, jurisdiction) pairs
    consent: str = ""
    license_url: str = ""
    conditions: str = ""
    effective_from: datetime | None = None
    effective_until: datetime | None = None


@dataclass(frozen=True)
class FilingRights:
    """Holder codes the submission may name in its `holder` column -> (holder id, filing agent id or None)."""

    holders: dict


class RowCells:
    """One row's trimmed cells by column name, and the problems found in it so far."""

    __slots__ = ("line", "values", "errors")

    def __init__(self, line: int, cells: list[str], columns: list[str], max_field_chars: int):
        self.line, self.values, self.errors = line, {}, []
        for index, name in enumerate(columns):
            value = cells[index].strip() if index < len(cells) else ""
            if len(value) > max_field_chars:
                self.fail(name, "field-too-long", _("%(column)s has %(count)s characters; at most %(limit)s are "
                                                    "allowed.") % {"column": name, "count": f"{len(value):,}",
                                                                   "limit": f"{max_field_chars:,}"}, value)
                value = None  # reported; not checked further
            self.values[name] = value
        extra = cells[len(columns):]
        if extra and any(cell.strip() for cell in extra):
            self.fail("", "too-many-values", _("The row has %(count)d values but the header names %(columns)d "
                                               "columns; a value with a comma must be quoted.")
                      % {"count": len(cells), "columns": len(columns)}, ",".join(extra))

    def get(self, name: str) -> str:
        return self.values.get(name) or ""

    def given(self, name: str) -> bool:
        """The column exists and its cell was not already rejected as too long."""
        return self.values.get(name) is not None

    def too_long(self, name: str) -> bool:
        """The cell was already rejected as too long (a column the header lacks is empty, not rejected)."""
        return name in self.values and self.values[name] is None

    def fail(self, name: str, code: str, message: str, value: str | None = None) -> None:
        self.errors.append(RowProblem(self.line, name, code, message, self.get(name) if value is None else value))


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(";") if item.strip()]


@lru_cache(maxsize=1024)
def _valid_url(url: str) -> bool:
    """Files repeat one licensing URL on every row: validate each distinct one once."""
    try:
        _url_validator(url)
    except ValidationError:
        return False
    return True


# ---------------------------------------------------------------------------------------- the column validators

def _holder(row: RowCells, rights: FilingRights):
    code = row.get("holder")
    filing = rights.holders.get(code)
    if not row.given("holder"):
        pass
    elif not code:
        row.fail("holder", "missing-value", _("Every row names the holder that owns the work."))
    elif filing is None:
        row.fail("holder", "not-authorized-for-holder",
                 _("No holder '%(code)s' that this submission may file for (its own, or a principal with an active "
                   "mandate).") % {"code": code})
    return filing


def _scope(row: RowCells) -> str:
    scope = row.get("scope").lower() or "work"
    if scope not in SCOPES:
        row.fail("scope", "invalid-scope", _("Scope must be 'work' or 'catalogue'."))
    return scope


def _work_fields(row: RowCells, scope: str) -> None:
    """work_ref, titles and the other fields of the work itself: a catalogue row names no work."""
    if scope == "catalogue":
        for name in ("work_ref", "title", "original_title", "kind", "identifiers"):
            if row.get(name):
                row.fail(name, "invalid-scope", _("A catalogue row covers every work of the holder and registers "
                                                  "none: leave %(column)s empty.") % {"column": name})
    elif scope == "work" and row.given("work_ref") and not row.get("work_ref"):
        row.fail("work_ref", "missing-value", _("A row with scope 'work' needs its work_ref (the catalogue number)."))
    texts = {name: row.get(name) for name in ("work_ref", "title", "original_title")}
    for name, limit in work_text_too_long(texts):
        row.fail(name, "field-too-long", _("%(column)s has %(count)s characters; at most %(limit)s are allowed.")
                 % {"column": name, "count": f"{len(texts[name]):,}", "limit": f"{limit:,}"})


def _kind(row: RowCells) -> str:
    text = row.get("kind")
    if not text:
        return ""
    kind = kind_code(text)
    if kind is None:
        row.fail("kind", "invalid-kind",
                 _("Kind must be one of %(choices)s.") % {"choices": ", ".join(WorkKind.values)})
    return kind or ""


def _identifiers(row: RowCells, scope: str) -> list:
    identifiers = []
    if scope != "work":
        return identifiers
    for item in _split(row.get("identifiers")):
        try:
            parsed = parse_identifier(item)
        except InvalidIdentifier as exc:
            row.fail("identifiers", "invalid-identifier",
                     f"{item[:VALUE_ECHO_MAX]}: {translate_identifier_problem(exc.detail)}", item)
            continue
        if parsed.scheme == "ref":
            row.fail("identifiers", "invalid-identifier",
                     _("ref: identifiers are derived from the holder code and work_ref, not filed."), item)
        elif parsed not in identifiers:
            identifiers.append(parsed)
    return identifiers


def _purposes(row: RowCells) -> list[str]:
    purposes = []
    for item in _split(row.get("purpose")):
        code = purpose_code(item)
        if code is None:
            row.fail("purpose", "unknown-purpose", _("Unknown purpose '%(value)s': expected one of %(choices)s.")
                     % {"value": item, "choices": ", ".join(PURPOSES)}, item)
        elif code not in purposes:
            purposes.append(code)
    return purposes


def _jurisdictions(row: RowCells) -> list[str]:
    jurisdictions = []
    for item in _split(row.get("jurisdiction")) or ["*"]:
        try:
            code = validate_jurisdiction(item)
        except UnknownJurisdiction:
            row.fail("jurisdiction", "unknown-jurisdiction",
                     _("Unknown jurisdiction '%(value)s': expected an ISO 3166-1 alpha-2 country code (JP, FR), EU or "
                       "*.") % {"value": item}, item)
            continue
        if code not in jurisdictions:
            jurisdictions.append(code)
    return jurisdictions


# Cells longer than this are not memoised (a memo entry holds its text).
_MEMO_TEXT_MAX = 200


@lru_cache(maxsize=1024)
def _known_slots(purpose_text: str, jurisdiction_text: str) -> tuple[tuple, list] | None:
    """(purposes, (purpose, jurisdiction) slots) of a purpose and a jurisdiction cell whose items are all valid, as
    `_purposes` and `_jurisdictions` find them; None when any item is not (those validators then report it). A
    file repeats a few such pairs of cells on every row, so each distinct pair is read once. Pure: the vocabularies
    are fixed (`consent.vocabulary`, `claims.values`)."""
    purposes = []
    for item in _split(purpose_text):
        code = purpose_code(item)
        if code is None:
            return None
        if code not in purposes:
            purposes.append(code)
    jurisdictions = []
    for item in _split(jurisdiction_text) or ["*"]:
        try:
            code = validate_jurisdiction(item)
        except UnknownJurisdiction:
            return None
        if code not in jurisdictions:
            jurisdictions.append(code)
    return tuple(purposes), tuple((p, j) for p in purposes for j in jurisdictions)


def _slots(row: RowCells) -> tuple[list[str] | tuple, list]:
    """The row's purposes and slots: memoised when every item is valid, else each validator reports its own."""
    purpose_text, jurisdiction_text = row.get("purpose"), row.get("jurisdiction")
    if len(purpose_text) + len(jurisdiction_text) <= _MEMO_TEXT_MAX:
        known = _known_slots(purpose_text, jurisdiction_text)
        if known is not None:
            return known[0], list(known[1])
    purposes, jurisdictions = _purposes(row), _jurisdictions(row)
    return purposes, [(p, j) for p in purposes for j in jurisdictions]


def _consent(row: RowCells, purposes: list[str], scope: str) -> str:
    text = row.get("consent")
    consent = consent_code(text) if text else ""
    if text and consent is None:
        row.fail("consent", "invalid-consent", _("Consent must be grant or reserve (opt-in or opt-out)."))
    # A column the header lacks is an empty value like an empty cell (a file without a `consent` column that
    # names purposes would otherwise reach the database with no consent); a cell already rejected as too long
    # is not reported twice.
    elif purposes and not text and not row.too_long("consent"):
        row.fail("consent", "missing-value", _("A row with a purpose needs its consent: grant or reserve."))
    elif text and not row.get("purpose") and not row.too_long("purpose"):
        row.fail("purpose", "missing-value", _("The row gives a consent but no purpose to apply it to."))
    if scope == "catalogue" and not row.get("purpose") and not row.too_long("purpose") and not text:
        row.fail("purpose", "missing-value", _("A catalogue row files declarations: it needs a purpose and a consent."))
    return consent or ""


def _period(row: RowCells) -> tuple[datetime | None, datetime | None]:
    moments = {}
    for name in ("effective_from", "effective_until"):
        text = row.get(name)
        if not text:
            continue
        try:
            moments[name] = parse_moment(text)
        except ValueError:
            row.fail(name, "invalid-date", _("%(column)s must be a date (2026-12-31 or 2026/12/31) or a date and time "
                                             "(2026-12-31T09:00:00+09:00 or 2026/12/31 9:00), in the years %(first)d "
                                             "to %(last)d.")
                     % {"column": name, "first": MOMENT_YEARS[0], "last": MOMENT_YEARS[1]})
    start, end = moments.get("effective_from"), moments.get("effective_until")
    if start and end and end <= start:
        row.fail("effective_until", "invalid-date", _("effective_until must be after effective_from."))
    return start, end


def _license_url(row: RowCells) -> str:
    url = row.get("license_url")
    if url and len(url) > LICENSE_URL_MAX:
        row.fail("license_url", "field-too-long",
                 _("license_url has more than %(limit)s characters.") % {"limit": f"{LICENSE_URL_MAX:,}"})
    elif url and not _valid_url(url):
        row.fail("license_url", "invalid-url", _("license_url must be an absolute http(s) URL."))
    return url


# ------------------------------------------------------------------------------------------------------ the row

def validate_row(line: int, cells: list[str], columns: list[str], rights: FilingRights,
                 max_field_chars: int) -> ClaimRow | list[RowProblem]:
    """The row as a ClaimRow, or every problem it has (the first carries the row's work_ref and title)."""
    row = RowCells(line, cells, columns, max_field_chars)
    filing = _holder(row, rights)
    scope = _scope(row)
    _work_fields(row, scope)
    kind = _kind(row)
    identifiers = _identifiers(row, scope)
    purposes, slots = _slots(row)
    consent = _consent(row, purposes, scope)
    effective_from, effective_until = _period(row)
    license_url = _license_url(row)
    if row.errors:
        first = row.errors[0]
        first.work_ref, first.title = cells_of(cells, columns, "work_ref"), cells_of(cells, columns, "title")
        return row.errors
    holder_id, agent_id = filing
    return ClaimRow(line=line, holder_id=holder_id, agent_id=agent_id, scope=scope,
                    work_ref=row.get("work_ref") if scope == "work" else "", title=row.get("title"),
                    original_title=row.get("original_title"), kind=kind, identifiers=identifiers,
                    slots=slots, consent=consent,
                    license_url=license_url, conditions=row.get("conditions"),
                    effective_from=effective_from, effective_until=effective_until)


def cells_of(cells: list[str], columns: list[str], name: str) -> str:
    """The trimmed cell of column `name`, as submitted ("" when the file has no such column)."""
    try:
        index = columns.index(name)
    except ValueError:
        return ""
    return cells[index].strip() if index < len(cells) else ""


@lru_cache(maxsize=64)
def _positions(columns: tuple[str, ...]) -> dict[str, int]:
    """Column name -> its first index in a header (`cells_of`'s `columns.index`), worked out once per header."""
    positions: dict[str, int] = {}
    for index, name in enumerate(columns):
        positions.setdefault(name, index)
    return positions


def _cell(cells: list[str], positions: dict[str, int], name: str) -> str:
    index = positions.get(name)
    return cells[index].strip() if index is not None and index < len(cells) else ""


@lru_cache(maxsize=1024)
def _statement_items(purpose_text: str, jurisdiction_text: str) -> tuple | None:
    """`statement_key`'s items for a purpose and a jurisdiction cell as written (None without a purpose): a file
    repeats a few such pairs on every row, so each distinct pair is read once."""
    purposes = sorted({purpose_code(p) or p.lower() for p in _split(purpose_text)})
    if not purposes:
        return None
    places = sorted({p.upper() for p in _split(jurisdiction_text) or ["*"]})
    return tuple((purpose, place) for purpose in purposes for place in places)


def statement_key(cells: list[str], columns: list[str]) -> tuple[tuple, list | tuple] | None:
    """What makes two rows "the same statement twice" (claims-csv.md `duplicate-row`): the same holder and
    work_ref (the row's statement group) and a (purpose, jurisdiction) pair in common (its items), read leniently
    from the raw cells. Two rows sharing one pair among others are the same statement there: filing both would
    supersede the earlier by the later, and sending the file again would file both once more. Rows without a
    purpose are one statement about the work (one empty item). Catalogue rows are grouped by holder with an empty
    work_ref. None for a work row without a work_ref (rejected anyway) and a catalogue row without a purpose.
    The items are pairs (lists or tuples: `reading.key_text` writes both as JSON arrays)."""
    positions = _positions(tuple(columns))
    holder, work_ref = _cell(cells, positions, "holder"), _cell(cells, positions, "work_ref")
    catalogue = _cell(cells, positions, "scope").lower() == "catalogue"
    if catalogue:
        work_ref = ""
    elif not work_ref:
        return None
    group = (holder, "catalogue" if catalogue else "work", work_ref)
    purpose_text, jurisdiction_text = _cell(cells, positions, "purpose"), _cell(cells, positions, "jurisdiction")
    if len(purpose_text) + len(jurisdiction_text) <= _MEMO_TEXT_MAX:
        items = _statement_items(purpose_text, jurisdiction_text)
    else:
        items = _statement_items.__wrapped__(purpose_text, jurisdiction_text)
    if items is None:
        return None if catalogue else (group, [["", ""]])
    return group, items
