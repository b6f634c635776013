"""Merging one chunk of validated claims rows into the registry, set-based.

A chunk is planned in Python against the registry's current state, fetched with a fixed number of queries (works
by key, current identifiers, open disputes, current declarations), following exactly the rules of
`registry.services.work_register` and `consent.services.declaration_file`. The plan is then written with bulk SQL:
on PostgreSQL `COPY` straight into the tables for new rows (the plan already knows they conflict with nothing: the
chunk runs under the audit head's row lock, which every audited writer takes) and one `UPDATE` per kind of change;
on other databases `bulk_create` / `bulk_update`. Audit events get exactly the snapshots the services record, so
`audit_verify` stays clean, and go in through `audit.services.audit_record_bulk` (a `COPY` on PostgreSQL).

New rows get time-ordered (version 7) UUIDs, as everywhere in the registry: a million new keys then land at the
right-hand edge of each index instead of on random pages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace

import uuid_utils
from django.db import connection
from django.utils.translation import gettext_lazy as _

from audit.services import (
    AuditBatch,
    PendingEvent,
    audit_bulk_prepare,
    audit_bulk_write,
    audit_record_bulk,
)
from audit.snapshots import iso
from consent.audit_tracking import declaration_snapshot
from consent.models import Declaration
from consent.rules import same_statement
from core.pgcopy import copy_cell
from registry.audit_tracking import dispute_snapshot, identifier_snapshot, work_snapshot
from registry.lookups import pg_array_literal
from registry.models import CLAIM_SETTLED, Dispute, Identifier, Work
from registry.rules import Claim, dispute_stands, identifier_claim, work_apply_filing

from .validation import ClaimRow, RowError

ENDS_IN_THE_PAST = _("effective_until is in the past: the declaration would never apply.")
NEW_WORK_NEEDS_TITLE = _("A new work needs a title.")

# PendingEvent from a tuple by tuple.__new__: no Python-level constructor for each of millions of events.
_event = PendingEvent._make


def _new_id() -> str:
    return str(uuid_utils.uuid7())


class Row(SimpleNamespace):
    """A row of a registry table as the snapshot functions read it (attribute access), without a model instance."""


@dataclass
class ChunkPlan:
    at: datetime
    rejected: list[RowError] = field(default_factory=list)
    rows_ok: int = 0
    works_new: list[Row] = field(default_factory=list)
    works_changed: list[Row] = field(default_factory=list)
    identifiers_new: list[Row] = field(default_factory=list)
    identifiers_ended: list[str] = field(default_factory=list)  # ids of existing rows to end at `at`
    disputes_new: list[Row] = field(default_factory=list)
    declarations_new: list[Row] = field(default_factory=list)
    declarations_superseded: list[Row] = field(default_factory=list)  # existing rows, superseded at `at`
    events: list[PendingEvent] = field(default_factory=list)
    # The registry as this plan leaves it, for the keys its rows named: what the next chunk, planned while this
    # one is still being written, reads instead of the database (`pending`).
    works: dict = field(default_factory=dict)
    identifiers: dict = field(default_factory=dict)
    disputes: dict = field(default_factory=dict)
    slots: dict = field(default_factory=dict)

    @property
    def works_created(self) -> int:
        return len(self.works_new)

    @property
    def works_updated(self) -> int:
        return len(self.works_changed)

    @property
    def declarations_created(self) -> int:
        return len(self.declarations_new)

    @property
    def disputes_opened(self) -> int:
        return len(self.disputes_new)


def _s(value) -> str | None:
    return None if value is None else str(value)


WORK_FIELDS = ("id", "holder_id", "work_ref", "title", "original_title", "kind", "filed_by_agent_id")
DECLARATION_FIELDS = (
    "id", "holder_id", "scope", "work_id", "purpose", "jurisdiction", "consent", "license_url", "conditions",
    "effective_from", "effective_until", "recorded_at", "filed_by_agent_id", "superseded_at", "superseded_by_id",
    "revoked_at",
)


def _written(row: Row) -> Row:
    """A pending plan's row as the next plan sees it: a copy (the writer may still be reading the original) that
    exists by the time the next plan is written."""
    return Row(**{**row.__dict__, "existing": True})


def _overlay(found: dict, pending: dict, keys) -> None:
    for key in keys:
        row = pending.get(key)
        if row is not None:
            found[key] = _written(row)


def plan_chunk(rows: list[ClaimRow], *, at: datetime, filed_by_id, pending: ChunkPlan | None = None) -> ChunkPlan:
    """Decide every change the rows make, in file order, against the registry as it is now. Writes nothing.

    `pending`: the plan of the previous chunk when it may not be committed yet; its effects are read from it
    instead of the database. The writer only writes a plan made this way when nothing else was written to the
    registry in between (see `claims.services`), so the two agree.
    """
    plan = ChunkPlan(at=at)
    new_id = _new_id
    work_rows = [r for r in rows if r.scope == "work"]

    # Query 1: the works these rows name (by holder and work_ref).
    works: dict[tuple[str, str], Row] = {}
    if work_rows:
        holder_ids = {r.holder_id for r in work_rows}
        refs = {r.work_ref for r in work_rows}
        if connection.vendor == "postgresql":
            # Two array parameters (cheap to send and to plan; a row-valued IN over thousands of placeholders is
            # planned as a per-row subplan), each key looked up through the unique index: as a plain join, the
            # planner sees thousands of keys and hashes them against a scan of the whole table, once per chunk.
            # LIMIT 1 (there is one row per key) keeps the lateral look-up from being flattened into that join.
            keys = list({(r.holder_id, r.work_ref) for r in work_rows})
            found = _pg_rows(
                f"SELECT w.{', w.'.join(_cols(Work, WORK_FIELDS))} "
                f"FROM unnest(%s::uuid[], %s::text[]) AS k(holder_id, work_ref) CROSS JOIN LATERAL ("
                f"SELECT * FROM {Work._meta.db_table} x WHERE x.holder_id = k.holder_id AND x.work_ref = k.work_ref "
                f"LIMIT 1) w",
                _arrays(keys), WORK_FIELDS)
        else:
            found = Work.objects.filter(holder_id__in=holder_ids, work_ref__in=refs).values(*WORK_FIELDS)
        for values in found:
            values["id"], values["holder_id"] = str(values["id"]), str(values["holder_id"])
            values["filed_by_agent_id"] = _s(values["filed_by_agent_id"])
            works[(values["holder_id"], values["work_ref"])] = Row(**values, existing=True)

    if pending is not None:
        _overlay(works, pending.works, {(r.holder_id, r.work_ref) for r in work_rows})

    # Query 2: current identifiers the rows name, with the holder of their work.
    current: dict[tuple[str, str], Row] = {}
    pairs = {(i.scheme, i.value) for r in work_rows for i in r.identifiers}
    if pairs:
        fields = ("id", "work_id", "scheme", "value", "valid_from", "valid_until", "host", "work__holder_id")
        if connection.vendor == "postgresql":
            listed = list(pairs)
            # Looked up key by key through the current-identifier index, as the works above.
            found = _pg_rows(
                f"SELECT i.id, i.work_id, i.scheme, i.value, i.valid_from, i.valid_until, i.host, w.holder_id "
                f"FROM unnest(%s::text[], %s::text[]) AS k(scheme, value) CROSS JOIN LATERAL ("
                f"SELECT * FROM {Identifier._meta.db_table} y WHERE y.scheme = k.scheme AND y.value = k.value "
                f"AND y.valid_until IS NULL LIMIT 1) i JOIN {Work._meta.db_table} w ON w.id = i.work_id",
                _arrays(listed), fields)
        else:
            found = Identifier.objects.filter(valid_until__isnull=True, scheme__in={p[0] for p in pairs},
                                              value__in={p[1] for p in pairs}).values(*fields)
        for values in found:
            key = (values["scheme"], values["value"])
            if key in pairs:
                current[key] = Row(id=str(values["id"]), work_id=str(values["work_id"]), scheme=key[0],
                                   value=key[1], host=values["host"], valid_from=values["valid_from"],
                                   valid_until=None, holder_id=str(values["work__holder_id"]), existing=True)

    if pending is not None:
        _overlay(current, pending.identifiers, pairs)

    # Query 3: disputes already filed by these claimants over identifiers held by others (the same claim again
    # opens nothing; one the operators kept is not re-opened).
    disputes: dict[tuple, Row] = {}
    contested = {key for key, cur in current.items()}
    if contested:
        claimants = {r.holder_id for r in work_rows}
        found = Dispute.objects.filter(
            scheme__in={k[0] for k in contested}, value__in={k[1] for k in contested}, claimant_id__in=claimants,
        ).order_by("opened_at").values("scheme", "value", "claimant_id", "work_id", "resolved_at", "resolution")
        for values in found:  # oldest first, so the latest wins
            disputes[(values["scheme"], values["value"], str(values["claimant_id"]), str(values["work_id"]))] = Row(
                **values, existing=True)
    if pending is not None:
        _overlay(disputes, pending.disputes, [claim for claim in pending.disputes if claim[:2] in contested])

    # Query 4 (and 5): declarations in force in the slots the rows file into.
    slots: dict[tuple, Row] = {}
    existing_work_ids = [w.id for w in works.values()]
    work_ids = set(existing_work_ids)
    catalogue_holders = {r.holder_id for r in rows if r.scope == "catalogue" and r.slots}
    if existing_work_ids and any(r.slots for r in work_rows):
        if connection.vendor == "postgresql":
            # Work by work through the one-current-per-slot index, (holder, work) leading; OFFSET 0 keeps the
            # look-up per work, as above.
            owned = [w for w in works.values() if w.existing]
            in_works = _pg_rows(
                f"SELECT d.{', d.'.join(_cols(Declaration, DECLARATION_FIELDS))} "
                f"FROM unnest(%s::uuid[], %s::uuid[]) AS k(holder_id, work_id) CROSS JOIN LATERAL ("
                f"SELECT * FROM {Declaration._meta.db_table} x WHERE x.holder_id = k.holder_id "
                f"AND x.work_id = k.work_id AND x.scope = 'work' AND x.superseded_at IS NULL "
                f"AND x.revoked_at IS NULL OFFSET 0) d",
                _arrays([(w.holder_id, w.id) for w in owned]), DECLARATION_FIELDS)
        else:
            in_works = _current(Declaration.objects.filter(scope="work", work_id__in=existing_work_ids))
        _load_slots(slots, in_works)
    if catalogue_holders:
        _load_slots(slots, _current(Declaration.objects.filter(scope="catalogue", holder_id__in=catalogue_holders)))

    if pending is not None:
        _overlay(slots, pending.slots, [
            slot for slot in pending.slots
            if (slot[1] == "catalogue" and slot[0] in catalogue_holders) or slot[2] in work_ids])
    plan.works, plan.identifiers, plan.disputes, plan.slots = works, current, disputes, slots

    events = plan.events
    for row in rows:
        if row.slots and row.effective_from is None and row.effective_until is not None and row.effective_until <= at:
            # Without a start the declaration starts now, so its end must be later than now.
            plan.rejected.append(RowError(row.line, "effective_until", "invalid-date",
                                          str(ENDS_IN_THE_PAST), row.effective_until.isoformat(),
                                          row.work_ref, row.title))
            continue
        work_id = None
        if row.scope == "work":
            key = (row.holder_id, row.work_ref)
            work = works.get(key)
            if work is None:
                if not row.title:
                    plan.rejected.append(RowError(row.line, "title", "missing-value", str(NEW_WORK_NEEDS_TITLE),
                                                  "", row.work_ref, row.title))
                    continue
                work = Row(id=new_id(), holder_id=row.holder_id, work_ref=row.work_ref, title=row.title,
                           original_title=row.original_title, kind=row.kind or "other",
                           filed_by_agent_id=row.agent_id, created_at=at, updated_at=at, existing=False)
                works[key] = work
                plan.works_new.append(work)
                events.append(_event(("work.register", "work", work.id, None, work_snapshot(work))))
            else:
                before = work_snapshot(work)
                work_apply_filing(work, title=row.title, kind=row.kind, original_title=row.original_title)
                after = work_snapshot(work)
                if after != before:
                    work.updated_at = at
                    if work.existing and work not in plan.works_changed:
                        plan.works_changed.append(work)
                    events.append(_event(("work.update", "work", work.id, before, after)))
            work_id = work.id
            _plan_identifiers(plan, row, work, current, disputes, new_id)
        for purpose, jurisdiction in row.slots:
            slot = (row.holder_id, row.scope, work_id, purpose, jurisdiction)
            in_force = slots.get(slot)
            if in_force is not None and same_statement(
                in_force, consent=row.consent, license_url=row.license_url, conditions=row.conditions,
                effective_from=row.effective_from, effective_until=row.effective_until, at=at,
            ):
                continue
            declaration = Row(
                id=new_id(), holder_id=row.holder_id, scope=row.scope, work_id=work_id, purpose=purpose,
                jurisdiction=jurisdiction, consent=row.consent, license_url=row.license_url,
                conditions=row.conditions, effective_from=row.effective_from or at,
                effective_until=row.effective_until, recorded_at=at, filed_by_id=filed_by_id,
                filed_by_agent_id=row.agent_id, superseded_at=None, superseded_by_id=None, revoked_at=None,
                existing=False,
            )
            plan.declarations_new.append(declaration)
            events.append(_event(("declaration.file", "declaration", declaration.id, None,
                                  declaration_snapshot(declaration))))
            if in_force is not None:
                before = declaration_snapshot(in_force)
                in_force.superseded_at = at
                in_force.superseded_by_id = declaration.id
                if in_force.existing:
                    plan.declarations_superseded.append(in_force)
                events.append(_event(("declaration.supersede", "declaration", in_force.id, before,
                                      declaration_snapshot(in_force))))
            slots[slot] = declaration
        plan.rows_ok += 1
    return plan


def _cols(model, names) -> list[str]:
    return [_column(model, name) for name in names]


def _arrays(pairs) -> list[str]:
    """Two array parameters from (a, b) pairs, as PostgreSQL array literals: one string each, instead of lists
    psycopg would dump element by element in Python."""
    return [pg_array_literal([pair[0] for pair in pairs]), pg_array_literal([pair[1] for pair in pairs])]


def _pg_rows(sql: str, params: list, names) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _current(declarations):
    return declarations.filter(superseded_at__isnull=True, revoked_at__isnull=True).values(*DECLARATION_FIELDS)


def _load_slots(slots: dict, found) -> None:
    for values in found:
        for name in ("id", "holder_id", "work_id", "filed_by_agent_id", "superseded_by_id"):
            values[name] = _s(values[name])
        row = Row(**values, existing=True)
        slots[(row.holder_id, row.scope, row.work_id, row.purpose, row.jurisdiction)] = row


def _plan_identifiers(plan: ChunkPlan, row: ClaimRow, work: Row, current: dict, disputes: dict, new_id) -> None:
    at, events = plan.at, plan.events
    for item in row.identifiers:
        key = (item.scheme, item.value)
        held = current.get(key)
        outcome = identifier_claim(held_by_work=held and held.work_id, held_by_holder=held and held.holder_id,
                                   work_id=work.id, holder_id=work.holder_id)
        if outcome is Claim.HELD:
            continue
        if outcome is Claim.DISPUTE:
            claim = (item.scheme, item.value, work.holder_id, held.work_id)
            if dispute_stands(disputes.get(claim), CLAIM_SETTLED):
                continue
            dispute = Row(id=new_id(), scheme=item.scheme, value=item.value, work_id=held.work_id,
                          holder_id=held.holder_id, claimant_id=work.holder_id, claimant_work_id=work.id,
                          evidence="", opened_at=at, resolved_at=None, resolution="", resolution_note="")
            disputes[claim] = dispute
            plan.disputes_new.append(dispute)
            events.append(_event(("dispute.open", "dispute", dispute.id, None, dispute_snapshot(dispute))))
            continue
        if outcome is Claim.MOVE:
            # The holder moves its own identifier from one of its works to another.
            before = identifier_snapshot(held)
            held.valid_until = at
            if held.existing:
                plan.identifiers_ended.append(held.id)
            events.append(_event(("identifier.end", "identifier", held.id, before, identifier_snapshot(held))))
        added = Row(id=new_id(), work_id=work.id, scheme=item.scheme, value=item.value, host=item.host,
                    valid_from=at, valid_until=None, holder_id=work.holder_id, existing=False)
        current[key] = added
        plan.identifiers_new.append(added)
        events.append(_event(("identifier.add", "identifier", added.id, None, identifier_snapshot(added))))


# ------------------------------------------------------------------------------------------------------ writing

@dataclass
class Prepared:
    """A plan turned into what PostgreSQL is sent: `COPY` text per table and the hashed audit batch."""

    tables: list  # (COPY statement, text)
    audit: AuditBatch


def prepare_plan(plan: ChunkPlan, *, actor_label: str, after_seq: int, after_hash: str) -> Prepared:
    """Everything of a plan's write that takes Python time, done ahead of it (PostgreSQL only).

    The plan's events are handed over to the audit batch (the plan keeps none): their snapshots are the larger
    part of a plan's memory, and two plans are alive at a time."""
    events, plan.events = plan.events, []
    return Prepared(tables=_copy_texts(plan),
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
    if plan.works_changed:
        Work.objects.bulk_update(
            [Work(id=w.id, title=w.title, kind=w.kind, original_title=w.original_title, updated_at=at)
             for w in plan.works_changed],
            ["title", "kind", "original_title", "updated_at"], batch_size=1000)
    if plan.identifiers_ended:
        Identifier.objects.filter(id__in=plan.identifiers_ended).update(valid_until=at)
    if plan.declarations_superseded:
        Declaration.objects.bulk_update(
            [Declaration(id=d.id, superseded_at=at, superseded_by_id=d.superseded_by_id)
             for d in plan.declarations_superseded],
            ["superseded_at", "superseded_by"], batch_size=1000)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for statement, text in (prepared.tables if prepared is not None else _copy_texts(plan)):
                with cursor.copy(statement) as copy:
                    copy.write(text)
    else:
        _bulk_create_rows(plan)
    if prepared is None:
        audit_record_bulk(actor=actor_label, events=plan.events, at=at)


def _bulk_create_rows(plan: ChunkPlan) -> None:
    Work.objects.bulk_create([
        Work(id=w.id, holder_id=w.holder_id, work_ref=w.work_ref, title=w.title, original_title=w.original_title,
             kind=w.kind, filed_by_agent_id=w.filed_by_agent_id, created_at=w.created_at, updated_at=w.updated_at)
        for w in plan.works_new], batch_size=500)
    Identifier.objects.bulk_create([
        Identifier(id=i.id, work_id=i.work_id, scheme=i.scheme, value=i.value, host=i.host, valid_from=i.valid_from,
                   valid_until=i.valid_until)
        for i in plan.identifiers_new], batch_size=500)
    Dispute.objects.bulk_create([
        Dispute(id=d.id, scheme=d.scheme, value=d.value, work_id=d.work_id, holder_id=d.holder_id,
                claimant_id=d.claimant_id, claimant_work_id=d.claimant_work_id, evidence=d.evidence,
                opened_at=d.opened_at)
        for d in plan.disputes_new], batch_size=500)
    Declaration.objects.bulk_create([
        Declaration(**{name: getattr(d, name) for name in _DECLARATION_COPY}) for d in plan.declarations_new],
        batch_size=500)


# --- PostgreSQL COPY, text format, rows assembled here: psycopg's per-value adaptation costs more than the rest.

NULL = "\\N"


_text = copy_cell


def _when(value) -> str:
    return NULL if value is None else iso(value)


def _id(value) -> str:
    return NULL if value is None else value


_WORK_COPY = ("id", "holder_id", "work_ref", "title", "original_title", "kind", "filed_by_agent_id", "created_at",
              "updated_at")
_IDENTIFIER_COPY = ("id", "work_id", "scheme", "value", "host", "valid_from", "valid_until")
_DISPUTE_COPY = ("id", "scheme", "value", "work_id", "holder_id", "claimant_id", "claimant_work_id", "evidence",
                 "opened_at", "resolved_at", "resolution", "resolution_note")
_DECLARATION_COPY = (
    "id", "holder_id", "scope", "work_id", "purpose", "jurisdiction", "consent", "license_url", "conditions",
    "effective_from", "effective_until", "recorded_at", "filed_by_id", "filed_by_agent_id", "superseded_at",
    "superseded_by_id", "revoked_at",
)


def _column(model, name: str) -> str:
    fields = {f.attname: f.column for f in model._meta.concrete_fields}
    return fields[name]


def _copy_sql(model, names) -> str:
    columns = ", ".join(f'"{_column(model, n)}"' for n in names)
    return f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN'


def _copy_text(model, names, lines) -> list:
    """One table's COPY statement and its rows as UTF-8 bytes, encoded line by line (see audit_bulk_prepare)."""
    text = bytearray()
    for line in lines:
        text += line.encode()
    return [(_copy_sql(model, names), bytes(text))] if text else []


def _copy_texts(plan: ChunkPlan) -> list:
    t, w, i = _text, _when, _id
    return (
        _copy_text(Work, _WORK_COPY, (
            f"{r.id}\t{r.holder_id}\t{t(r.work_ref)}\t{t(r.title)}\t{t(r.original_title)}\t{r.kind}\t"
            f"{i(r.filed_by_agent_id)}\t{w(r.created_at)}\t{w(r.updated_at)}\n" for r in plan.works_new))
        + _copy_text(Identifier, _IDENTIFIER_COPY, (
            f"{r.id}\t{r.work_id}\t{r.scheme}\t{t(r.value)}\t{t(r.host)}\t{w(r.valid_from)}\t{w(r.valid_until)}\n"
            for r in plan.identifiers_new))
        + _copy_text(Dispute, _DISPUTE_COPY, (
            f"{r.id}\t{r.scheme}\t{t(r.value)}\t{r.work_id}\t{r.holder_id}\t{r.claimant_id}\t"
            f"{i(r.claimant_work_id)}\t{t(r.evidence)}\t{w(r.opened_at)}\t\\N\t\t\n" for r in plan.disputes_new))
        + _copy_text(Declaration, _DECLARATION_COPY, (
            f"{r.id}\t{r.holder_id}\t{r.scope}\t{i(r.work_id)}\t{r.purpose}\t{r.jurisdiction}\t{r.consent}\t"
            f"{t(r.license_url)}\t{t(r.conditions)}\t{w(r.effective_from)}\t{w(r.effective_until)}\t"
            f"{w(r.recorded_at)}\t{i(_s(r.filed_by_id))}\t{i(r.filed_by_agent_id)}\t"
            f"{w(r.superseded_at)}\t{i(r.superseded_by_id)}\t\\N\n" for r in plan.declarations_new))
    )
