"""Validating one claims row completely, before anything touches the database.

Checks everything a row can get wrong on its own (formats, vocabularies, lengths, the holder the submitter may
file for). What depends on the registry's current state (a new work needs a title) is checked when the chunk
is planned, still before any write.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.dateparse import parse_date, parse_datetime

from consent.services import CONSENT_ALIASES
from consent.vocabulary import UnknownJurisdiction, UnknownPurpose, validate_jurisdiction, validate_purpose
from registry.identifiers import InvalidIdentifier, parse_identifier
from registry.models import WorkKind
from registry.services import WORK_TEXT_LIMITS

SCOPES = ("work", "catalogue")
LICENSE_URL_MAX = 2000
_url_validator = URLValidator(schemes=["http", "https"])
_KINDS = frozenset(WorkKind.values)
# Echoed values in the error report are cut here: enough to find the cell, not a copy of a megabyte.
VALUE_ECHO_MAX = 200


@dataclass(slots=True)
class RowError:
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


@lru_cache(maxsize=1024)
def _valid_url(url: str) -> bool:
    """Files repeat one licensing URL on every row: validate each distinct one once."""
    try:
        _url_validator(url)
    except ValidationError:
        return False
    return True


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(";") if item.strip()]


# Dates a declaration may carry: enough for any real statement, and far enough from datetime's own bounds that
# no later arithmetic (a time zone, a day added) can overflow.
MOMENT_YEARS = (1900, 9998)


def parse_moment(value: str) -> datetime:
    """An ISO date (midnight UTC) or date-time (UTC when no zone is given)."""
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(value)
        moment = datetime.combine(day, time.min)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        # Stored and audited in UTC, so the audit snapshot equals what the database gives back.
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+09:00 is before the first representable moment
        raise ValueError(value) from None
    if not MOMENT_YEARS[0] <= moment.year <= MOMENT_YEARS[1]:
        raise ValueError(value)
    return moment


def cells_of(cells: list[str], columns: list[str], name: str) -> str:
    """The trimmed cell of column `name`, as submitted ("" when the file has no such column)."""
    try:
        index = columns.index(name)
    except ValueError:
        return ""
    return cells[index].strip() if index < len(cells) else ""


def validate_row(line: int, cells: list[str], columns: list[str], rights: FilingRights,
                 max_field_chars: int) -> ClaimRow | list[RowError]:
    row = {}
    errors: list[RowError] = []
    for index, name in enumerate(columns):
        value = cells[index].strip() if index < len(cells) else ""
        if len(value) > max_field_chars:
            errors.append(RowError(line, name, "field-too-long",
                                   f"{name} has {len(value):,} characters; at most {max_field_chars:,} are allowed.",
                                   value))
            value = None  # reported; not checked further
        row[name] = value
    if len(cells) > len(columns) and any(cell.strip() for cell in cells[len(columns):]):
        errors.append(RowError(line, "", "too-many-values",
                               f"The row has {len(cells)} values but the header names {len(columns)} columns; "
                               f"a value with a comma must be quoted.", ",".join(cells[len(columns):])))

    def get(name: str) -> str:
        return row.get(name) or ""

    def fail(name: str, code: str, message: str, value: str | None = None) -> None:
        errors.append(RowError(line, name, code, message, get(name) if value is None else value))

    holder_code = get("holder")
    filing = rights.holders.get(holder_code)
    if row.get("holder") is None:
        pass
    elif not holder_code:
        fail("holder", "missing-value", "Every row names the holder that owns the work.")
    elif filing is None:
        fail("holder", "not-authorized-for-holder",
             f"No holder '{holder_code}' that this submission may file for (its own, or a principal with an "
             f"active mandate).")

    scope = get("scope").lower() or "work"
    if scope not in SCOPES:
        fail("scope", "invalid-scope", "Scope must be 'work' or 'catalogue'.")
    work_ref, title, original_title = get("work_ref"), get("title"), get("original_title")
    if scope == "catalogue":
        for name in ("work_ref", "title", "original_title", "kind", "identifiers"):
            if get(name):
                fail(name, "invalid-scope", f"A catalogue row covers every work of the holder and registers none: "
                                            f"leave {name} empty.")
    elif scope == "work" and row.get("work_ref") is not None and not work_ref:
        fail("work_ref", "missing-value", "A row with scope 'work' needs its work_ref (the catalogue number).")
    for name, limit in WORK_TEXT_LIMITS.items():
        if len(get(name)) > limit:
            fail(name, "field-too-long", f"{name} has {len(get(name)):,} characters; at most {limit:,} are allowed.")

    kind = get("kind").lower()
    if kind and kind not in _KINDS:
        fail("kind", "invalid-kind", f"Kind must be one of {', '.join(WorkKind.values)}.")

    identifiers = []
    if scope == "work":
        for item in _split(get("identifiers")):
            try:
                parsed = parse_identifier(item)
            except InvalidIdentifier as exc:
                fail("identifiers", "invalid-identifier", f"{item[:VALUE_ECHO_MAX]}: {exc.detail}", item)
                continue
            if parsed.scheme == "ref":
                fail("identifiers", "invalid-identifier",
                     "ref: identifiers are derived from the holder code and work_ref, not filed.", item)
                continue
            if parsed not in identifiers:
                identifiers.append(parsed)

    purposes = []
    for item in _split(get("purpose")):
        try:
            code = validate_purpose(item.lower())
        except UnknownPurpose as exc:
            fail("purpose", "unknown-purpose", str(exc), item)
            continue
        if code not in purposes:
            purposes.append(code)
    jurisdictions = []
    for item in _split(get("jurisdiction")) or ["*"]:
        try:
            code = validate_jurisdiction(item)
        except UnknownJurisdiction as exc:
            fail("jurisdiction", "unknown-jurisdiction", str(exc), item)
            continue
        if code not in jurisdictions:
            jurisdictions.append(code)

    consent_text = get("consent")
    consent = CONSENT_ALIASES.get(consent_text.lower()) if consent_text else ""
    if consent_text and consent is None:
        fail("consent", "invalid-consent", "Consent must be grant or reserve (opt-in or opt-out).")
    elif purposes and not consent_text and row.get("consent") is not None:
        fail("consent", "missing-value", "A row with a purpose needs its consent: grant or reserve.")
    elif consent_text and not get("purpose") and row.get("purpose") is not None:
        fail("purpose", "missing-value", "The row gives a consent but no purpose to apply it to.")
    if scope == "catalogue" and not get("purpose") and row.get("purpose") is not None and not consent_text:
        fail("purpose", "missing-value", "A catalogue row files declarations: it needs a purpose and a consent.")

    moments = {}
    for name in ("effective_from", "effective_until"):
        text = get(name)
        if text:
            try:
                moments[name] = parse_moment(text)
            except ValueError:
                fail(name, "invalid-date", f"{name} must be an ISO date (2026-12-31) or date-time "
                                           f"(2026-12-31T09:00:00+09:00).")
    effective_from, effective_until = moments.get("effective_from"), moments.get("effective_until")
    if effective_from and effective_until and effective_until <= effective_from:
        fail("effective_until", "invalid-date", "effective_until must be after effective_from.")

    license_url = get("license_url")
    if license_url:
        if len(license_url) > LICENSE_URL_MAX:
            fail("license_url", "field-too-long", f"license_url has more than {LICENSE_URL_MAX:,} characters.")
        else:
            if not _valid_url(license_url):
                fail("license_url", "invalid-url", "license_url must be an absolute http(s) URL.")

    if errors:
        errors[0].work_ref, errors[0].title = cells_of(cells, columns, "work_ref"), cells_of(cells, columns, "title")
        return errors
    holder_id, agent_id = filing
    slots = [(p, j) for p in purposes for j in jurisdictions]
    return ClaimRow(line=line, holder_id=holder_id, agent_id=agent_id, scope=scope,
                    work_ref=work_ref if scope == "work" else "", title=title, original_title=original_title,
                    kind=kind, identifiers=identifiers, slots=slots, consent=consent or "",
                    license_url=license_url, conditions=get("conditions"),
                    effective_from=effective_from, effective_until=effective_until)
