"""What a chunk reads of the registry before it is planned: a fixed number of queries, whatever its size.

Each read returns rows keyed as the planner looks them up, as `Row`s (attribute access, what the audit snapshot
functions read) instead of model instances. `pending` is the previous chunk's state when that chunk may not be
committed yet: its rows replace what the database says for the same keys (`claims.writing` explains when a plan
made this way is written).

On PostgreSQL each read is one hand-written statement with two array parameters whose keys are looked up one by
one through the matching unique index (`unnest(...) CROSS JOIN LATERAL (... LIMIT 1)`). The ORM would write a
row-valued IN over thousands of placeholders, planned as a per-row subplan; as a plain join the planner sees
thousands of keys and hashes them against a scan of the whole table, so every chunk got slower than the one before.
LIMIT 1 / OFFSET 0 keep the lateral look-up from being flattened into that join. Table and column names come from
the models' `_meta`. Other databases (the SQLite demo) use the ORM.
"""
from __future__ import annotations

from types import SimpleNamespace

from django.db import connection
from django.db.models import Count

from consent.models import Declaration, current_q, current_sql
from registry.lookups import pg_array_literal
from registry.models import Dispute, Identifier, Work

WORK_FIELDS = ("id", "holder_id", "work_ref", "title", "original_title", "kind", "filed_by_agent_id")
DECLARATION_FIELDS = (
    "id", "holder_id", "scope", "work_id", "purpose", "jurisdiction", "consent", "license_url", "conditions",
    "effective_from", "effective_until", "recorded_at", "filed_by_agent_id", "superseded_at", "superseded_by_id",
    "revoked_at",
)
IDENTIFIER_FIELDS = ("id", "work_id", "scheme", "value", "valid_from", "valid_until", "host", "work__holder_id")


class Row(SimpleNamespace):
    """A row of a registry table as the snapshot functions read it (attribute access), without a model instance."""

    def fields(self) -> dict:
        return dict(self.__dict__)


# What the declarations a CSV row files have in common (all but the id, the slot and what superseding sets).
FILING_FIELDS = ("holder_id", "scope", "work_id", "consent", "license_url", "conditions", "effective_from",
                 "effective_until", "recorded_at", "filed_by_id", "filed_by_agent_id")


class NewDeclaration:
    """A declaration a chunk files, planned as part of its CSV row's one record (issue 15 item 2): its own id and
    slot, and what supersedes it later in the import; every other column is its row's `filing` (a `Row` of
    FILING_FIELDS, shared by the row's declarations, and where `claims.copying` keeps their common `COPY` text).
    Reads like a declaration `Row` (`declaration_snapshot`, `consent.rules.same_statement`, the `COPY` lines)."""

    __slots__ = ("id", "purpose", "jurisdiction", "superseded_at", "superseded_by_id", "filing")
    existing = False
    revoked_at = None
    revoked_by_id = None

    def __init__(self, id, purpose, jurisdiction, filing):  # noqa: A002 - the column's name
        self.id, self.purpose, self.jurisdiction, self.filing = id, purpose, jurisdiction, filing
        self.superseded_at = self.superseded_by_id = None

    def __getattr__(self, name):  # the filing's columns (only names not found on the declaration itself)
        if name in FILING_FIELDS:
            return getattr(self.filing, name)
        raise AttributeError(name)

    def fields(self) -> dict:
        out = {name: getattr(self.filing, name) for name in FILING_FIELDS}
        out.update(id=self.id, purpose=self.purpose, jurisdiction=self.jurisdiction, superseded_at=self.superseded_at,
                   superseded_by_id=self.superseded_by_id, revoked_at=None, revoked_by_id=None, existing=False)
        return out


# The works with these (holder, work_ref) keys: through the (holder, work_ref) unique index, key by key.
WORKS_BY_KEY_SQL = """
SELECT {columns}
FROM unnest(%s::uuid[], %s::text[]) AS k(holder_id, work_ref)
CROSS JOIN LATERAL (
    SELECT * FROM {works} x WHERE x.holder_id = k.holder_id AND x.work_ref = k.work_ref LIMIT 1
) w
"""

# The current identifiers with these (scheme, value) keys, with their work's holder: the current-identifier index.
CURRENT_IDENTIFIERS_SQL = """
SELECT i.id, i.work_id, i.scheme, i.value, i.valid_from, i.valid_until, i.host, w.holder_id
FROM unnest(%s::text[], %s::text[]) AS k(scheme, value)
CROSS JOIN LATERAL (
    SELECT * FROM {identifiers} y
    WHERE y.scheme = k.scheme AND y.value = k.value AND y.valid_until IS NULL LIMIT 1
) i
JOIN {works} w ON w.id = i.work_id
"""

# The current declarations for these (holder, work) pairs: the one-current-per-slot index, (holder, work) leading.
# "Current" is consent.models' one definition (`current_sql`, the SQL form of `current_q`).
DECLARATIONS_IN_FORCE_SQL = f"""
SELECT {{columns}}
FROM unnest(%s::uuid[], %s::uuid[]) AS k(holder_id, work_id)
CROSS JOIN LATERAL (
    SELECT * FROM {{declarations}} x
    WHERE x.holder_id = k.holder_id AND x.work_id = k.work_id AND x.scope = 'work'
      AND {current_sql("x")}
    OFFSET 0
) d
"""


def _s(value) -> str | None:
    return None if value is None else str(value)


def _columns(model, names, alias: str) -> str:
    by_attribute = {f.attname: f.column for f in model._meta.concrete_fields}
    return ", ".join(f"{alias}.{by_attribute[name]}" for name in names)


def _arrays(pairs) -> list[str]:
    """Two array parameters from (a, b) pairs, as PostgreSQL array literals: one string each, instead of lists
    psycopg would dump element by element in Python."""
    return [pg_array_literal([pair[0] for pair in pairs]), pg_array_literal([pair[1] for pair in pairs])]


def _pg_rows(sql: str, params: list, names) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _overlay(found: dict, pending: dict | None, keys) -> None:
    """The pending chunk's rows for `keys` replace the database's: each a copy (the writer may still be reading
    the original) that exists by the time the next plan is written."""
    if pending is None:
        return
    for key in keys:
        row = pending.get(key)
        if row is not None:
            found[key] = Row(**{**row.fields(), "existing": True})


def works_named(keys: set, pending: dict | None) -> dict[tuple, Row]:
    """(holder id, work_ref) -> the work, for the keys that exist."""
    works: dict[tuple, Row] = {}
    if keys:
        if connection.vendor == "postgresql":
            sql = WORKS_BY_KEY_SQL.format(columns=_columns(Work, WORK_FIELDS, "w"), works=Work._meta.db_table)
            found = _pg_rows(sql, _arrays(list(keys)), WORK_FIELDS)
        else:
            found = Work.objects.filter(holder_id__in={k[0] for k in keys},
                                        work_ref__in={k[1] for k in keys}).values(*WORK_FIELDS)
        for values in found:
            values["id"], values["holder_id"] = str(values["id"]), str(values["holder_id"])
            values["filed_by_agent_id"] = _s(values["filed_by_agent_id"])
            works[(values["holder_id"], values["work_ref"])] = Row(**values, existing=True)
    _overlay(works, pending, keys)
    return works


def identifiers_named(pairs: set, pending: dict | None) -> dict[tuple, Row]:
    """(scheme, value) -> its current identifier row, with the holder of its work (`holder_id`)."""
    current: dict[tuple, Row] = {}
    if pairs:
        if connection.vendor == "postgresql":
            sql = CURRENT_IDENTIFIERS_SQL.format(identifiers=Identifier._meta.db_table, works=Work._meta.db_table)
            found = _pg_rows(sql, _arrays(list(pairs)), IDENTIFIER_FIELDS)
        else:
            found = Identifier.objects.filter(valid_until__isnull=True, scheme__in={p[0] for p in pairs},
                                              value__in={p[1] for p in pairs}).values(*IDENTIFIER_FIELDS)
        for values in found:
            key = (values["scheme"], values["value"])
            if key in pairs:
                current[key] = Row(id=str(values["id"]), work_id=str(values["work_id"]), scheme=key[0],
                                   value=key[1], host=values["host"], valid_from=values["valid_from"],
                                   valid_until=None, holder_id=str(values["work__holder_id"]), existing=True)
    _overlay(current, pending, pairs)
    return current


def disputes_by_claimants(contested: set, claimants: set, pending: dict | None) -> dict[tuple, Row]:
    """(scheme, value, claimant id, work id) -> the latest dispute these claimants filed over these identifiers
    (the same claim again opens nothing; one the operators kept, or the claimant withdrew, is not re-opened)."""
    disputes: dict[tuple, Row] = {}
    if contested:
        found = Dispute.objects.filter(
            scheme__in={k[0] for k in contested}, value__in={k[1] for k in contested}, claimant_id__in=claimants,
        ).order_by("opened_at").values("scheme", "value", "claimant_id", "work_id", "resolved_at", "resolution")
        for values in found:  # oldest first, so the latest wins
            disputes[(values["scheme"], values["value"], str(values["claimant_id"]), str(values["work_id"]))] = Row(
                **values, existing=True)
    if pending is not None:
        _overlay(disputes, pending, [claim for claim in pending if claim[:2] in contested])
    return disputes


def open_disputes_by_claimant(claimants: set, pending: dict | None) -> dict[str, int]:
    """Claimant id (text) -> how many disputes it has open now (for the operators' cap). One query; `pending`: the
    previous chunk's counts, which include the disputes it opened and may not have committed yet."""
    counts = {str(c): 0 for c in claimants}
    found = (Dispute.objects.filter(claimant_id__in=claimants, resolved_at__isnull=True).values("claimant_id")
             .annotate(n=Count("id")).values_list("claimant_id", "n"))
    counts.update({str(claimant): n for claimant, n in found})
    if pending is not None:
        counts.update({c: n for c, n in pending.items() if c in counts})
    return counts


def slots_in_force(works: dict, *, work_slots: bool, catalogue_holders: set,
                   pending: dict | None) -> dict[tuple, Row]:
    """(holder, scope, work, purpose, jurisdiction) -> the declaration in force, for the slots of `works` (when
    `work_slots`: some row files into a work) and the catalogue slots of `catalogue_holders`."""
    slots: dict[tuple, Row] = {}
    work_ids = {w.id for w in works.values()}
    if work_ids and work_slots:
        if connection.vendor == "postgresql":
            sql = DECLARATIONS_IN_FORCE_SQL.format(columns=_columns(Declaration, DECLARATION_FIELDS, "d"),
                                                   declarations=Declaration._meta.db_table)
            owned = [(w.holder_id, w.id) for w in works.values() if w.existing]
            _load_slots(slots, _pg_rows(sql, _arrays(owned), DECLARATION_FIELDS))
        else:
            _load_slots(slots, _current(Declaration.objects.filter(scope="work", work_id__in=work_ids)))
    if catalogue_holders:
        _load_slots(slots, _current(Declaration.objects.filter(scope="catalogue", holder_id__in=catalogue_holders)))
    if pending is not None:
        _overlay(slots, pending, [slot for slot in pending
                                  if (slot[1] == "catalogue" and slot[0] in catalogue_holders) or slot[2] in work_ids])
    return slots


def _current(declarations):
    return declarations.filter(current_q()).values(*DECLARATION_FIELDS)


def _load_slots(slots: dict, found) -> None:
    for values in found:
        for name in ("id", "holder_id", "work_id", "filed_by_agent_id", "superseded_by_id"):
            values[name] = _s(values[name])
        row = Row(**values, existing=True)
        slots[(row.holder_id, row.scope, row.work_id, row.purpose, row.jurisdiction)] = row
