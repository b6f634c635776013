"""A CSV row planned as one record (issue 15 item 2) against the per-object planning it replaced.

The planner now files a row's declarations from one shared `filing` (`claims.reads.NewDeclaration`), names each
event's bundle as it plans it (`audit.bundles.Bundler`) and writes the declarations' COPY lines from the cells they
share. Here the same tricky file (good rows, rejected ones, a duplicate, superseding filings, an identifier moved
between two works of its holder, a dispute, a catalogue row) is planned in small chunks both ways: the way of before
(kept below as it was: one `Row` per declaration, every event appended in turn and bundled afterwards by
`audit.bundles.bundled`, every COPY line through its table's general line) and the way of now, with the same ids,
salts and times. The COPY bytes, the audit batch bytes (so every bundle, hash and link of the chain) and the updates
to existing rows must be the same, chunk by chunk, whether each chunk is planned against the one before it still
pending or against the registry once it is written.
"""
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from audit import services as audit_services
from audit.bundles import bundled
from audit.services import PendingEvent, audit_bulk_prepare
from claims import copying, merging, reading, services, validation, writing
from claims.reads import Row
from claims.validation import FilingRights
from consent.audit_tracking import declaration_snapshot
from consent.rules import same_statement
from registry.services import holder_create

from .helpers import isbn13

pytestmark = pytest.mark.django_db

HEADER = "holder,scope,work_ref,title,original_title,kind,identifiers,purpose,jurisdiction,consent,license_url"
FIRST = [
    f"ha,work,W1,Title one,作品一,book,isbn:{isbn13(1)};url:https://a.example/w1,train-ai;search,JP;EU,reserve,"
    "https://l.example/a",
    f"ha,work,W2,Title two,,book,isbn:{isbn13(2)},train-ai,JP,grant,",
    f"ha,work,W3,,,book,isbn:{isbn13(3)},train-ai,JP,reserve,",  # a new work without a title: rejected
    "ha,work,W4,Title four,,film,,train-ai,JP;EU;US,reserve,",
    f"hb,work,B1,Other,,book,isbn:{isbn13(2)},train-ai,JP,reserve,",  # hb claims W2's isbn: a dispute
    "ha,catalogue,,,,,,search,JP;EU,reserve,",
    "ha,work,W5,Tab\there,,book,,train-ai,JP,reserve,",  # a cell to escape; a duplicate of the next row
    "ha,work,W5,Tab\there,,book,,train-ai,JP,reserve,",
    "ha,work,W6,Six,,book,,search,US,grant,",
]
SECOND = [  # the same holders again: a second file
    f"ha,work,W2,Title two,,book,isbn:{isbn13(1)},train-ai,JP,grant,",  # moves isbn 1 from W1; the same statement
    "ha,work,W1,Title one,作品一,film,,train-ai;search,JP,grant,https://l.example/b",  # supersedes two of four
    "ha,work,W4,Title four,,film,,train-ai,JP;EU;US,reserve,",  # the same statement: nothing filed
    "ha,catalogue,,,,,,search,JP,grant,",  # supersedes a catalogue declaration
    f"ha,work,W7,Seven,,book,isbn:{isbn13(3)},train-ai,JP,reserve,",
    f"hb,work,B1,Other,,book,isbn:{isbn13(2)},search,JP,reserve,",  # the same claim again: no second dispute
    "ha,work,W8,Eight,,book,,train-ai;search,JP;EU;US;*,reserve,",
]
CHUNK = 4


class FlatEvents(list):
    """The events of before: appended in the order made, whatever bundle the planner names, and bundled afterwards
    by `audit.bundles.bundled`, which looks each key up from the snapshot."""

    def change(self, key, action, object_type, object_id, before, after):
        self.append(PendingEvent(action, object_type, object_id, before, after))


def _declarations_before(plan, row, work_id) -> None:
    """`claims.merging._plan_declarations` as it was before a row became one record (main at bb2b908)."""
    at, events, slots = plan.at, plan.events, plan.slots
    filed = None
    for purpose, jurisdiction in row.slots:
        slot = (row.holder_id, row.scope, work_id, purpose, jurisdiction)
        in_force = slots.get(slot)
        if in_force is not None and same_statement(
            in_force, consent=row.consent, license_url=row.license_url, conditions=row.conditions,
            effective_from=row.effective_from, effective_until=row.effective_until, at=at,
        ):
            continue
        declaration = Row(
            id=merging._new_id(), holder_id=row.holder_id, scope=row.scope, work_id=work_id, purpose=purpose,
            jurisdiction=jurisdiction, consent=row.consent, license_url=row.license_url, conditions=row.conditions,
            effective_from=row.effective_from or at, effective_until=row.effective_until, recorded_at=at,
            filed_by_id=plan.filed_by_id, filed_by_agent_id=row.agent_id, superseded_at=None, superseded_by_id=None,
            revoked_at=None, revoked_by_id=None, existing=False,
        )
        plan.declarations_new.append(declaration)
        if filed is None:
            snapshot = filed = declaration_snapshot(declaration)
        else:
            snapshot = {**filed, "purpose": purpose, "jurisdiction": jurisdiction}
        events.append(PendingEvent._make(("declaration.file", "declaration", declaration.id, None, snapshot)))
        if in_force is not None:
            before = declaration_snapshot(in_force)
            in_force.superseded_at = at
            in_force.superseded_by_id = declaration.id
            if in_force.existing:
                plan.declarations_superseded.append(in_force)
            events.append(PendingEvent._make(("declaration.supersede", "declaration", in_force.id, before,
                                              declaration_snapshot(in_force))))
        slots[slot] = declaration


def _chunks(tmp_path, holders):
    """Both files' validated rows, in chunks of CHUNK rows: (valid rows, rejected rows) each."""
    rights = FilingRights(holders={code: (str(h.pk), None) for code, h in holders.items()})
    out = []
    for name, rows in (("first.csv", FIRST), ("second.csv", SECOND)):
        path = tmp_path / name
        path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
        def opener(path=path):
            return path.open("rb")
        scan = reading.scan(opener, size=path.stat().st_size, limits=services.limits(), key_of=validation.statement_key)
        lines = list(reading.data_rows(opener, scan))
        for start in range(0, len(lines), CHUNK):
            out.append(services._validate_lines(lines[start:start + CHUNK], scan, rights, 10_000))
    return out


def _plan_all(chunks, *, before: bool, written: bool, monkeypatch) -> list:
    """Plan and write every chunk; what each produced, as bytes and ids. Not `written`: as the import's writer
    thread has it, each chunk planned while the one before is still pending (written after this one is planned)."""
    counter = itertools.count(1)
    monkeypatch.setattr(merging, "_new_id", lambda: f"00000000-0000-7000-8000-{next(counter):012d}")
    salts = itertools.count(1)
    monkeypatch.setattr(audit_services, "salts", lambda n=0: (f"{next(salts):032x}" for _ in itertools.count()))
    if before:
        monkeypatch.setattr(merging, "_plan_declarations", _declarations_before)
        monkeypatch.setattr(merging.ChunkPlan, "__init__", _with_flat_events(merging.ChunkPlan.__init__))
    results, previous, unwritten = [], None, None
    head = writing.head_now()
    for number, (valid, rejected) in enumerate(chunks):
        at = datetime(2026, 5, 1, tzinfo=UTC) + timedelta(seconds=number)
        plan = merging.plan_chunk(valid, at=at, filed_by_id=None, pending=None if written else previous)
        if before:
            events = bundled(plan.events, make=PendingEvent._make)
            tables = copying.copy_texts(plan, general=True)
        else:
            events = plan.events.events(make=PendingEvent._make)
            tables = copying.copy_texts(plan)
        batch = audit_bulk_prepare(actor="user:1", events=events, at=at, after_seq=head[0], after_hash=head[1])
        results.append({
            "tables": tables, "audit": batch.text, "rejected": plan.rejected, "rows_ok": plan.rows_ok,
            "identifiers_ended": list(plan.identifiers_ended),
            "superseded": [(d.id, d.superseded_at, d.superseded_by_id) for d in plan.declarations_superseded],
            "works_changed": [(w.id, w.title, w.kind) for w in plan.works_changed],
            "prior": len(rejected),
        })
        if unwritten is not None:
            copying.write_plan(unwritten[0], actor_label="user:1", prepared=unwritten[1])
        unwritten = (plan, copying.Prepared(tables=tables, audit=batch))
        if written:
            copying.write_plan(unwritten[0], actor_label="user:1", prepared=unwritten[1])
            unwritten = None
        head, previous = (batch.seq, batch.hash), plan
    if unwritten is not None:
        copying.write_plan(unwritten[0], actor_label="user:1", prepared=unwritten[1])
    monkeypatch.undo()
    return results


def _with_flat_events(init):
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.events = FlatEvents()
    return __init__


class _Rollback(Exception):
    pass


@pytest.mark.parametrize("written", [False, True], ids=["planned-against-pending", "planned-against-written"])
def test_a_row_planned_as_one_record_gives_the_bytes_of_before(tmp_path, monkeypatch, written):
    """Rule: the one-record planning changes no byte of what an import writes (tables, audit chain) nor any update
    or rejection, across chunks, whether the chunk before is pending or written."""
    holders = {"ha": holder_create(code="ha", name="Holder A", kind="studio"),
               "hb": holder_create(code="hb", name="Holder B", kind="studio")}
    chunks = _chunks(tmp_path, holders)
    assert sum(len(valid) for valid, _ in chunks) >= 10
    outcomes = []
    for before in (True, False):
        try:
            with transaction.atomic():
                outcomes.append(_plan_all(chunks, before=before, written=written, monkeypatch=monkeypatch))
                raise _Rollback
        except _Rollback:
            pass
    old, new = outcomes
    assert len(old) == len(new) == len(chunks)
    for number, (a, b) in enumerate(zip(old, new, strict=True)):
        assert a == b, f"chunk {number}"
    # The file is as tricky as it says: every kind of change happened.
    audit = b"".join(r["audit"] for r in new)
    for action in (b"bundle", b"declaration.supersede", b"identifier.end", b"dispute.open", b"declaration.file"):
        assert action in audit
    assert any(r["rejected"] for r in new) and any(r["prior"] for r in new)
    assert any(r["superseded"] for r in new) and any(r["identifiers_ended"] for r in new)
    assert any(r["works_changed"] for r in new)


def test_the_planners_bundle_keys_are_the_ones_bundle_key_finds(tmp_path):
    """Rule: each event's bundle, as the planner names it, is the one `audit.bundles.bundle_key` reads from the
    event's snapshot (what `bundled` and every reader use)."""
    from audit.bundles import bundle_key

    holders = {"ha": holder_create(code="ha", name="Holder A", kind="studio"),
               "hb": holder_create(code="hb", name="Holder B", kind="studio")}
    seen, previous = 0, None
    for number, (valid, _rejected) in enumerate(_chunks(tmp_path, holders)):
        plan = merging.plan_chunk(valid, at=datetime(2026, 5, 1, tzinfo=UTC) + timedelta(seconds=number),
                                  filed_by_id=None, pending=previous)
        for group in plan.events._order:
            key, changes = (None, group) if len(group) == 1 else (group[0], group[1:])
            for change in changes:
                assert key == bundle_key(change["object_type"], change["object_id"], change["before"],
                                         change["after"]), change["action"]
                seen += 1
        previous = plan
    assert seen >= 20
