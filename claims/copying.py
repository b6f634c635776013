"""Writing a planned chunk with bulk SQL: PostgreSQL `COPY` for new rows, one `UPDATE` per kind of change.

New rows go straight into the tables (the plan already knows they conflict with nothing: the chunk is written under
the audit head's row lock, which every audited writer takes); on other databases (the SQLite demo) `bulk_create`.
Audit events go in through `audit.services` (a `COPY` too on PostgreSQL), one `bundle` event per work and chunk
(`audit.bundles`: a typical row's eight changes in one event instead of eight).

Each table is written from one column list (`NEW_ROWS`): the `COPY` statement, the text of its lines and the
SQLite path's model instances all come from it, and a test checks that it names every column of its model.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from audit.bundles import Bundler
from audit.models import AuditEvent
from audit.services import AuditBatch, PendingEvent, audit_bulk_prepare, audit_bulk_write, audit_record_bulk
from audit.snapshots import iso
from consent.models import Declaration
from core.pgcopy import copy_cell
from registry.models import Dispute, Identifier, Work

from .merging import ChunkPlan
from .reads import FILING_FIELDS

NULL = "\\N"


def _when(value) -> str:
    return NULL if value is None else iso(value)


def _id(value):
    return NULL if value is None else value


# How a plan row's attribute becomes a COPY text cell: `raw` values are codes and ids that need no escaping, `text`
# is escaped (copy_cell), `id` may be NULL, `when` is a time in the audit log's ISO form, or NULL.
_CELL = {"raw": "{{r.{0}}}", "text": "{{t(r.{0})}}", "id": "{{i(r.{0})}}", "when": "{{w(r.{0})}}"}

# table -> (the plan's list of new rows, (attribute, kind) per column in COPY order).
NEW_ROWS = {
    Work: ("works_new", (
        ("id", "raw"), ("holder_id", "raw"), ("work_ref", "text"), ("title", "text"), ("original_title", "text"),
        ("kind", "raw"), ("filed_by_agent_id", "id"), ("created_at", "when"), ("updated_at", "when"))),
    Identifier: ("identifiers_new", (
        ("id", "raw"), ("work_id", "raw"), ("scheme", "raw"), ("value", "text"), ("host", "text"),
        ("valid_from", "when"), ("valid_until", "when"))),
    Dispute: ("disputes_new", (
        ("id", "raw"), ("scheme", "raw"), ("value", "text"), ("work_id", "raw"), ("holder_id", "raw"),
        ("claimant_id", "raw"), ("claimant_work_id", "id"), ("evidence", "text"), ("opened_at", "when"),
        ("resolved_at", "when"), ("resolution", "text"), ("resolution_note", "text"))),
    Declaration: ("declarations_new", (
        ("id", "raw"), ("holder_id", "raw"), ("scope", "raw"), ("work_id", "id"), ("purpose", "raw"),
        ("jurisdiction", "raw"), ("consent", "raw"), ("license_url", "text"), ("conditions", "text"),
        ("effective_from", "when"), ("effective_until", "when"), ("recorded_at", "when"), ("filed_by_id", "id"),
        ("filed_by_agent_id", "id"), ("superseded_at", "when"), ("superseded_by_id", "id"), ("revoked_at", "when"),
        ("revoked_by_id", "id"))),
}


def _line_function(columns):
    """One table's row -> its COPY text line, as a single f-string generated from the column list: as fast as the
    hand-written f-strings it replaces (psycopg's per-value adaptation costs more than the rest of a chunk), and
    it cannot drift from the column list the COPY statement names."""
    body = "\\t".join(_CELL[kind].format(name) for name, kind in columns)
    return eval(f'lambda r: f"{body}\\n"', {"t": copy_cell, "i": _id, "w": _when})  # noqa: S307 - our own constant


def _copy_statement(model, columns) -> str:
    by_attribute = {f.attname: f.column for f in model._meta.concrete_fields}
    names = ", ".join(f'"{by_attribute[name]}"' for name, _kind in columns)
    return f'COPY "{model._meta.db_table}" ({names}) FROM STDIN'


_COPY = {model: (attribute, _copy_statement(model, columns), _line_function(columns))
         for model, (attribute, columns) in NEW_ROWS.items()}


def _filing_line_functions(columns):
    """For a table whose new rows share most columns with their CSV row's other rows (a row's declarations:
    `reads.NewDeclaration`, the columns of its `filing`): (filing -> its cells' text, one piece per run of shared
    columns; (row, pieces) -> the row's line). The shared text is made once per CSV row instead of once per
    declaration; the line is the same text `_line_function` makes (tests/claims/test_copying.py holds them equal)."""
    own, runs, pieces = [], [], []
    for name, kind in columns:
        if name in FILING_FIELDS:
            if not runs or runs[-1][0] != len(own):
                runs.append((len(own), []))
                own.append(None)
            runs[-1][1].append(_CELL[kind].format(name))
        else:
            own.append(_CELL[kind].format(name))
    if {name for name, _kind in columns if name in FILING_FIELDS} != set(FILING_FIELDS):
        raise ValueError("a filing's columns must all be columns of the table")
    for number, (place, cells) in enumerate(runs):
        own[place] = f"{{c[{number}]}}"
        pieces.append("\\t".join(cells))
    scope = {"t": copy_cell, "i": _id, "w": _when}
    shared = eval("lambda r: (" + "".join(f'f"{p}", ' for p in pieces) + ")", scope)  # noqa: S307 - our own
    body = "\\t".join(own)
    line = eval(f'lambda r, c: f"{body}\\n"', scope)  # noqa: S307 - our own constant
    return shared, line


_DECLARATION_SHARED, _DECLARATION_LINE = _filing_line_functions(NEW_ROWS[Declaration][1])


def _declaration_lines(rows, line_of) -> str:
    """A plan's new declarations' COPY text: the cells a CSV row's declarations share (its `filing`) made once per
    row; any declaration without a filing through the table's general line (`line_of`)."""
    shared_of: dict = {}  # id(filing) -> its cells' text, for this call (the rows keep their filings alive)
    lines = []
    for row in rows:
        filing = getattr(row, "filing", None)
        if filing is None:
            lines.append(line_of(row))
            continue
        shared = shared_of.get(id(filing))
        if shared is None:
            shared = shared_of[id(filing)] = _DECLARATION_SHARED(filing)
        lines.append(_DECLARATION_LINE(row, shared))
    return "".join(lines)


def copy_texts(plan: ChunkPlan, *, general: bool = False) -> list[tuple[str, bytes]]:
    """(COPY statement, its rows as UTF-8 bytes) for every table the plan adds rows to: each table's lines joined
    once and encoded once (not a `bytearray` grown and an `encode` per line: 11.2 -> 9.8 us a CSV row). New
    declarations share their row's cells (`_declaration_lines`); `general`: every line through its table's
    general line function (the same text; for the test that compares the two)."""
    texts = []
    for attribute, statement, line_of in _COPY.values():
        rows = getattr(plan, attribute)
        if rows:
            if attribute == "declarations_new" and not general:
                text = _declaration_lines(rows, line_of)
            else:
                text = "".join(map(line_of, rows))
            texts.append((statement, text.encode()))
    return texts


@dataclass
class Prepared:
    """A plan turned into what PostgreSQL is sent: `COPY` text per table and the hashed audit batch."""

    tables: list  # (COPY statement, text)
    audit: AuditBatch


def prepare_plan(plan: ChunkPlan, *, actor_label: str, after_seq: int, after_hash: str) -> Prepared:
    """Everything of a plan's write that takes Python time, done ahead of it (PostgreSQL only).

    The plan's events are handed over to the audit batch (the plan keeps none): their snapshots are the larger
    part of a plan's memory, and two plans are alive at a time."""
    events, plan.events = plan.events.events(make=PendingEvent._make), Bundler()
    return Prepared(tables=copy_texts(plan),
                    audit=audit_bulk_prepare(actor=actor_label, events=events, at=plan.at, after_seq=after_seq,
                                             after_hash=after_hash))


def write_plan(plan: ChunkPlan, *, actor_label: str, prepared: Prepared | None = None) -> None:
    """Write a plan inside the caller's transaction, which holds the audit head's lock.

    With `prepared` (PostgreSQL), its text is sent as it is; `audit.services.HeadMoved` when the chain head is
    no longer the one it was hashed after.
    """
    at = plan.at
    if prepared is not None:
        audit_bulk_write(prepared.audit)  # first: it checks the head before anything else is written
    _write_changes(plan)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for statement, text in (prepared.tables if prepared is not None else copy_texts(plan)):
                copy_table(cursor, statement, text)
    else:
        for model, (attribute, columns) in NEW_ROWS.items():
            rows = getattr(plan, attribute)
            if model is Declaration:
                # SQLite checks `superseded_by` row by row as each row goes in (core.keychecks.sqlite_forward): a
                # declaration superseded within the chunk names one filed after it, so the later ones go first.
                rows = rows[::-1]
            model.objects.bulk_create([model(**{name: getattr(row, name) for name, _kind in columns})
                                       for row in rows], batch_size=500)
    _write_successors(plan)
    if prepared is None:
        audit_record_bulk(actor=actor_label, events=plan.events.events(make=PendingEvent._make), at=at)


def copy_table(cursor, statement: str, text: bytes) -> None:
    """One table's new rows: one `COPY` statement (its key checks run once, at its end: core.keychecks)."""
    with cursor.copy(statement) as copy:
        copy.write(text)


def _write_changes(plan: ChunkPlan) -> None:
    """The plan's changes to existing rows: one UPDATE (or one bulk_update) per kind."""
    at = plan.at
    if plan.works_changed:
        Work.objects.bulk_update(
            [Work(id=w.id, title=w.title, kind=w.kind, original_title=w.original_title, updated_at=at)
             for w in plan.works_changed],
            ["title", "kind", "original_title", "updated_at"], batch_size=1000)
    if plan.identifiers_ended:
        Identifier.objects.filter(id__in=plan.identifiers_ended).update(valid_until=at)
    if plan.declarations_superseded:
        # Out of their slots before the new declarations come in (one current declaration per slot); their
        # successors are named once those exist (`_write_successors`): the key is checked as it is set.
        Declaration.objects.filter(id__in=[d.id for d in plan.declarations_superseded]).update(superseded_at=at)


def _write_successors(plan: ChunkPlan) -> None:
    """The successor of each existing declaration the plan supersedes, after the new rows are in: as
    `consent.services.declaration_file` does, superseded first, its successor named once it exists."""
    if plan.declarations_superseded:
        Declaration.objects.bulk_update(
            [Declaration(id=d.id, superseded_by_id=d.superseded_by_id) for d in plan.declarations_superseded],
            ["superseded_by"], batch_size=1000)


# The tables a bulk import adds rows to, in one ANALYZE after its last chunk (issue 15). A million rows COPYed into
# a registry that was nearly empty leave the planner's statistics describing the empty one until autovacuum's
# analyze comes round (it may be off, or behind); the lookup path's batch statements are then planned as if the
# tables were tiny. ANALYZE samples a fixed number of rows per table (2.8 s in all after 100,000 rows, loaded
# machine).
ANALYZED_AFTER_IMPORT = (Work, Identifier, Dispute, Declaration, AuditEvent)


def analyze_written_tables() -> None:
    """Refresh the planner's statistics of the tables a bulk import writes (PostgreSQL; a no-op elsewhere)."""
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(f'"{model._meta.db_table}"' for model in ANALYZED_AFTER_IMPORT)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")
