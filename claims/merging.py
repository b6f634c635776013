"""Planning one chunk of validated claims rows against the registry: every change they make, decided in Python.

The chunk reads the registry's current state for the keys its rows name with a fixed number of queries
(`claims.reads`), then applies the rows in file order with the same rules as the services, from the same pure
functions: `registry.rules` (what filing a work again changes, what claiming an identifier does, when an earlier
dispute stands) and `consent.rules` (when a filing says the same as the declaration in force). Audit events get
exactly the snapshots the services record, so `audit_verify` stays clean. Nothing is written here: the plan is
written by `claims.copying`.

The steps of `plan_chunk`, in order: read the works, identifiers, earlier disputes and slots in force; then per
row `_plan_row`: the period check, `_plan_work` (register or update), `_plan_identifiers` (add, move, or open a
dispute), `_plan_declarations` (file, supersede, or nothing for the same statement).

New rows get time-ordered (version 7) UUIDs, as everywhere in the registry: a million new keys then land at the
right-hand edge of each index instead of on random pages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import uuid_utils
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from audit.bundles import Bundler
from consent.audit_tracking import declaration_snapshot
from consent.rules import same_statement
from registry.audit_tracking import dispute_snapshot, identifier_snapshot, work_snapshot
from registry.models import CLAIM_SETTLED
from registry.rules import (
    DOMAIN_NOT_VERIFIED,
    WEB_SCHEMES,
    Claim,
    dispute_refusal,
    dispute_stands,
    identifier_claim,
    work_apply_filing,
)
from registry.web_control import controls, verified_pairs

from . import reads
from .reads import NewDeclaration, Row
from .validation import ClaimRow, RowProblem

ENDS_IN_THE_PAST = _("effective_until is in the past: the declaration would never apply.")
NEW_WORK_NEEDS_TITLE = _("A new work needs a title.")
DISPUTE_NEEDS_VERIFIED_DOMAIN = _("%(id)s is held by a holder with verified control of %(host)s: verify control of "
                                  "the domain before disputing it. The rest of the row was filed.")
TOO_MANY_DISPUTES = _("The claimant already has %(count)d disputes open, the most allowed at once: %(id)s was not "
                      "disputed. The rest of the row was filed.")



def _new_id() -> str:
    return str(uuid_utils.uuid7())


@dataclass
class ChunkPlan:
    at: datetime
    filed_by_id: object = None
    rejected: list[RowProblem] = field(default_factory=list)
    rows_ok: int = 0
    works_new: list[Row] = field(default_factory=list)
    works_changed: list[Row] = field(default_factory=list)
    identifiers_new: list[Row] = field(default_factory=list)
    identifiers_ended: list[str] = field(default_factory=list)  # ids of existing rows to end at `at`
    disputes_new: list[Row] = field(default_factory=list)
    declarations_new: list[Row] = field(default_factory=list)
    declarations_superseded: list[Row] = field(default_factory=list)  # existing rows, superseded at `at`
    # Every change's event with its bundle key (the work it belongs to, or None): `audit.bundles.Bundler`, whose
    # `events()` is what `audit_bundled` would make of the same events one by one.
    events: Bundler = field(default_factory=Bundler)
    # The registry as this plan leaves it, for the keys its rows named: what the next chunk, planned while this
    # one is still being written, reads instead of the database (`pending`).
    works: dict = field(default_factory=dict)
    identifiers: dict = field(default_factory=dict)
    disputes: dict = field(default_factory=dict)
    open_claims: dict = field(default_factory=dict)  # (scheme, value, claimant id) -> its open dispute, any work
    slots: dict = field(default_factory=dict)
    open_disputes: dict = field(default_factory=dict)  # claimant id -> disputes open (for the cap)
    web_verified: set = field(default_factory=set)  # (holder id, domain) verified at `at` (registry.web_control)
    dispute_cap: int = 0

    def summary(self) -> PlanSummary:
        """What the writer needs of a plan whose `COPY` text and audit batch are prepared: sent between processes
        (claims.planner) instead of the whole plan."""
        return PlanSummary(at=self.at, rejected=self.rejected, rows_ok=self.rows_ok, works_changed=self.works_changed,
                           identifiers_ended=self.identifiers_ended,
                           declarations_superseded=self.declarations_superseded,
                           works_created=self.works_created, works_updated=self.works_updated,
                           declarations_created=self.declarations_created, disputes_opened=self.disputes_opened)

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


@dataclass
class PlanSummary:
    """A prepared plan as `claims.copying.write_plan` and `claims.writing.write_chunk` read it: its updates to
    existing rows, its rejected rows and its counts (the new rows are in the prepared `COPY` text)."""

    at: datetime
    rejected: list
    rows_ok: int
    works_changed: list
    identifiers_ended: list
    declarations_superseded: list
    works_created: int
    works_updated: int
    declarations_created: int
    disputes_opened: int


def plan_chunk(rows: list[ClaimRow], *, at: datetime, filed_by_id, pending: ChunkPlan | None = None,
               dispute_cap: int | None = None) -> ChunkPlan:
    """Decide every change the rows make, in file order, against the registry as it is now. Writes nothing.

    `pending`: the plan of the previous chunk when it may not be committed yet; its effects are read from it
    instead of the database. The writer only writes a plan made this way when nothing else was written to the
    registry in between (see `claims.writing`), so the two agree.
    """
    plan = ChunkPlan(at=at, filed_by_id=filed_by_id)
    work_rows = [r for r in rows if r.scope == "work"]
    plan.works = reads.works_named({(r.holder_id, r.work_ref) for r in work_rows},
                                   pending.works if pending else None)
    plan.identifiers = reads.identifiers_named({(i.scheme, i.value) for r in work_rows for i in r.identifiers},
                                               pending.identifiers if pending else None)
    plan.disputes = reads.disputes_by_claimants(set(plan.identifiers), {r.holder_id for r in work_rows},
                                                pending.disputes if pending else None)
    plan.open_claims = {claim[:3]: d for claim, d in plan.disputes.items() if d.resolved_at is None}
    _read_dispute_limits(plan, {r.holder_id for r in work_rows}, pending, dispute_cap)
    plan.slots = reads.slots_in_force(
        plan.works, work_slots=any(r.slots for r in work_rows),
        catalogue_holders={r.holder_id for r in rows if r.scope == "catalogue" and r.slots},
        pending=pending.slots if pending else None)
    for row in rows:
        _plan_row(plan, row)
    return plan


def _read_dispute_limits(plan: ChunkPlan, claimants: set, pending: ChunkPlan | None, cap: int | None) -> None:
    """What `registry.rules.dispute_refusal` needs: who controls the hosts of the web identifiers held now (one
    query) and, with a cap, each claimant's open disputes (one query)."""
    plan.dispute_cap = settings.KYODAKU_MAX_OPEN_DISPUTES_PER_CLAIMANT if cap is None else cap
    web = [held for held in plan.identifiers.values() if held.scheme in WEB_SCHEMES and held.host]
    if web:
        plan.web_verified = verified_pairs(holder_ids={h.holder_id for h in web} | claimants,
                                           hosts={h.host for h in web}, at=plan.at)
    if plan.dispute_cap:
        plan.open_disputes = reads.open_disputes_by_claimant(claimants, pending.open_disputes if pending else None)


def _plan_row(plan: ChunkPlan, row: ClaimRow) -> None:
    if row.slots and row.effective_from is None and row.effective_until is not None and row.effective_until <= plan.at:
        # Without a start the declaration starts now, so its end must be later than now.
        plan.rejected.append(RowProblem(row.line, "effective_until", "invalid-date", str(ENDS_IN_THE_PAST),
                                      row.effective_until.isoformat(), row.work_ref, row.title))
        return
    work_id = None
    if row.scope == "work":
        work = _plan_work(plan, row)
        if work is None:
            return
        work_id = work.id
        refused = _plan_identifiers(plan, row, work)
    else:
        refused = None
    _plan_declarations(plan, row, work_id)
    if refused is None:
        plan.rows_ok += 1
    else:  # the rest of the row is filed; the row is reported (and counted) as rejected for the refused claim
        plan.rejected.append(refused)


def _plan_work(plan: ChunkPlan, row: ClaimRow) -> Row | None:
    """Register the row's work, or update it from the fields the row gives; None (rejected) for a new work
    without a title."""
    at, key = plan.at, (row.holder_id, row.work_ref)
    work = plan.works.get(key)
    if work is None:
        if not row.title:
            plan.rejected.append(RowProblem(row.line, "title", "missing-value", str(NEW_WORK_NEEDS_TITLE), "",
                                          row.work_ref, row.title))
            return None
        work = Row(id=_new_id(), holder_id=row.holder_id, work_ref=row.work_ref, title=row.title,
                   original_title=row.original_title, kind=row.kind or "other", filed_by_agent_id=row.agent_id,
                   created_at=at, updated_at=at, existing=False)
        plan.works[key] = work
        plan.works_new.append(work)
        plan.events.change(("work", work.id), "work.register", "work", work.id, None, work_snapshot(work))
        return work
    before = work_snapshot(work)
    work_apply_filing(work, title=row.title, kind=row.kind, original_title=row.original_title)
    after = work_snapshot(work)
    if after != before:
        work.updated_at = at
        if work.existing and work not in plan.works_changed:
            plan.works_changed.append(work)
        plan.events.change(("work", work.id), "work.update", "work", work.id, before, after)
    return work


def _plan_identifiers(plan: ChunkPlan, row: ClaimRow, work: Row) -> RowProblem | None:
    """Add, move or dispute the row's identifiers; the problem of the first dispute refused, if any."""
    at, events, current = plan.at, plan.events, plan.identifiers
    key_of_work = ("work", work.id)  # the bundle of the work's changes (registry.audit_tracking)
    refused = None
    for item in row.identifiers:
        key = (item.scheme, item.value)
        held = current.get(key)
        outcome = identifier_claim(held_by_work=held and held.work_id, held_by_holder=held and held.holder_id,
                                   work_id=work.id, holder_id=work.holder_id)
        if outcome is Claim.HELD:
            continue
        if outcome is Claim.DISPUTE:
            problem = _plan_dispute(plan, row, item, held, work)
            refused = refused or problem
            continue
        if outcome is Claim.MOVE:
            # The holder moves its own identifier from one of its works to another.
            before = identifier_snapshot(held)
            held.valid_until = at
            if held.existing:
                plan.identifiers_ended.append(held.id)
            events.change(("work", held.work_id), "identifier.end", "identifier", held.id, before,
                          identifier_snapshot(held))
        added = Row(id=_new_id(), work_id=work.id, scheme=item.scheme, value=item.value, host=item.host,
                    valid_from=at, valid_until=None, holder_id=work.holder_id, existing=False)
        current[key] = added
        plan.identifiers_new.append(added)
        events.change(key_of_work, "identifier.add", "identifier", added.id, None, identifier_snapshot(added))
    return refused


def _plan_dispute(plan: ChunkPlan, row: ClaimRow, item, held: Row, work: Row) -> RowProblem | None:
    """The identifier stays with the other holder's work; a dispute opens, unless this claim's last one stands,
    or `registry.rules.dispute_refusal` refuses it (then the problem to report)."""
    claim = (item.scheme, item.value, work.holder_id, held.work_id)
    if dispute_stands(plan.disputes.get(claim), CLAIM_SETTLED, open_now=plan.open_claims.get(claim[:3])):
        return None
    open_now = plan.open_disputes.get(work.holder_id, 0)
    verified = plan.web_verified
    refusal = dispute_refusal(scheme=item.scheme, holder_verified=controls(verified, held.holder_id, held.host),
                              claimant_verified=controls(verified, work.holder_id, held.host),
                              claimant_open_disputes=open_now, cap=plan.dispute_cap)
    if refusal is not None:
        text = DISPUTE_NEEDS_VERIFIED_DOMAIN if refusal == DOMAIN_NOT_VERIFIED else TOO_MANY_DISPUTES
        message = str(text) % {"id": f"{item.scheme}:{item.value}", "host": held.host, "count": open_now}
        return RowProblem(row.line, "identifiers", refusal, message, f"{item.scheme}:{item.value}", row.work_ref,
                          row.title)
    plan.open_disputes[work.holder_id] = open_now + 1
    dispute = Row(id=_new_id(), scheme=item.scheme, value=item.value, work_id=held.work_id, holder_id=held.holder_id,
                  claimant_id=work.holder_id, claimant_work_id=work.id, evidence="", opened_at=plan.at,
                  resolved_at=None, resolution="", resolution_note="")
    plan.disputes[claim] = dispute
    plan.open_claims[claim[:3]] = dispute
    plan.disputes_new.append(dispute)
    plan.events.change(None, "dispute.open", "dispute", dispute.id, None, dispute_snapshot(dispute))


def _plan_declarations(plan: ChunkPlan, row: ClaimRow, work_id) -> None:
    """One declaration per (purpose, jurisdiction) slot; it supersedes the one in force, or is not filed at all
    when it says the same."""
    at, events, slots = plan.at, plan.events, plan.slots
    # A work-scope declaration's changes go into its work's bundle, a catalogue-wide one's are events of their own
    # (consent.audit_tracking); the one it supersedes is in the same slot, so the same work.
    bundle = ("work", work_id) if work_id else None
    filed = filing = None  # the snapshot of the row's first new declaration, and what its declarations share
    for purpose, jurisdiction in row.slots:
        slot = (row.holder_id, row.scope, work_id, purpose, jurisdiction)
        in_force = slots.get(slot)
        if in_force is not None and same_statement(
            in_force, consent=row.consent, license_url=row.license_url, conditions=row.conditions,
            effective_from=row.effective_from, effective_until=row.effective_until, at=at,
        ):
            continue
        if filing is None:
            # With the first new declaration's own columns, the filing reads as that declaration: its snapshot.
            filing = Row(holder_id=row.holder_id, scope=row.scope, work_id=work_id, consent=row.consent,
                         license_url=row.license_url, conditions=row.conditions,
                         effective_from=row.effective_from or at, effective_until=row.effective_until,
                         recorded_at=at, filed_by_id=plan.filed_by_id, filed_by_agent_id=row.agent_id,
                         purpose=purpose, jurisdiction=jurisdiction, superseded_at=None, superseded_by_id=None,
                         revoked_at=None)
        declaration = NewDeclaration(_new_id(), purpose, jurisdiction, filing)
        plan.declarations_new.append(declaration)
        if filed is None:
            snapshot = filed = declaration_snapshot(filing)
        else:
            # The row's new declarations differ in their slot alone (the id is not in a snapshot): the first's
            # snapshot with the slot replaced is the same dict as `declaration_snapshot` makes, in a quarter of
            # its time (tests/claims: held equal for every new declaration of a plan).
            snapshot = {**filed, "purpose": purpose, "jurisdiction": jurisdiction}
        events.change(bundle, "declaration.file", "declaration", declaration.id, None, snapshot)
        if in_force is not None:
            before = declaration_snapshot(in_force)
            in_force.superseded_at = at
            in_force.superseded_by_id = declaration.id
            if in_force.existing:
                plan.declarations_superseded.append(in_force)
            events.change(bundle, "declaration.supersede", "declaration", in_force.id, before,
                          declaration_snapshot(in_force))
        slots[slot] = declaration
