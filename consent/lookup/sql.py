"""Every SQL statement of the lookup path on PostgreSQL, one constant per statement, named for what it answers.

Why hand-written: the batch path reads tens of thousands of rows per call and the ORM's query building, per-value
parameter handling and model-free row conversion cost more than the queries themselves (docs/performance.md); the
one-id path is a single prepared statement that the ORM cannot express (a lateral join over a UNION, the rule
tables' fingerprint as a scalar sub-query). Other databases get the equivalent ORM queries (batch.py); the tests
compare the two forms (tests/consent/test_lookup.py, test_lookup_one_id.py).

Conventions: lists are sent as one array literal each (`registry.lookups.pg_array_literal`), uuids are read as
text (`::text`), table names come from the models' `_meta`.
"""
from __future__ import annotations

from domains.models import DomainVerification
from registry.models import Dispute, Holder, Identifier, Work

from ..models import Declaration, Licence, in_force_at_sql
from ..rulebook import RULES_STAMP_EXPR

__all__ = ["MATCH_SQL", "DECLARATIONS_SQL", "ONE_ID_STATEMENTS", "ONE_ID_LICENSED_STATEMENTS"]

_IDENTIFIER = Identifier._meta.db_table
_WORK = Work._meta.db_table
_HOLDER = Holder._meta.db_table
_DISPUTE = Dispute._meta.db_table
_DECLARATION = Declaration._meta.db_table
_LICENCE = Licence._meta.db_table
_VERIFICATION = DomainVerification._meta.db_table


def _valid_at(t: str) -> str:
    """An identifier row `t` valid at %(at)s."""
    return f"{t}.valid_from <= %(at)s AND ({t}.valid_until IS NULL OR {t}.valid_until > %(at)s)"


def identifiers_valid_at(scheme: str, value: str) -> str:
    """The rows of (scheme, value) valid at %(at)s, for `CROSS JOIN LATERAL` from a list of pairs: the current row
    through `identifier_current_unique`, the ended ones through `identifier_history_idx` (both partial: a first
    import writes one (scheme, value) entry per identifier instead of two, issue 15 item 2). Joined on `_valid_at`'s
    OR, a probe per pair could use neither partial index (EXPLAIN: a scan of the whole table); a single pair's OR is
    a BitmapOr of the two, so the one-id statements keep `_valid_at`."""
    return f"""(SELECT * FROM {_IDENTIFIER} c
        WHERE c.scheme = {scheme} AND c.value = {value} AND c.valid_until IS NULL AND c.valid_from <= %(at)s
       UNION ALL
       SELECT * FROM {_IDENTIFIER} e
        WHERE e.scheme = {scheme} AND e.value = {value} AND e.valid_until > %(at)s AND e.valid_from <= %(at)s)"""


# --------------------------------------------------------------------------------------------- batch: query 2

# Every kind of match of a batch with its work and holder, in one round trip. The (scheme, value) pairs are joined
# from unnest() of two arrays, so each is one probe of each partial (scheme, value) index (`identifiers_valid_at`,
# the current row and the ended ones); written with ORs of
# `value = ANY(...)` per scheme the planner chose a parallel sequential scan of the whole registry_identifier table
# (1.2 million rows) for a batch of 10,000 (EXPLAIN ANALYZE on the 1,000,000-work benchmark database, same 10,000
# ids: 502 ms, against 327 ms for this form, most of it reading work rows). Refs are joined the same way on exact
# (code, work_ref) pairs instead of every code x every work_ref.
# Rows: (scheme, value, host, work_id, title, kind, work_ref, holder_id, code, name, licensing_url).
_MATCH_COLUMNS = "i.work_id::text, w.title, w.kind, w.work_ref, w.holder_id::text, h.code, h.name, h.licensing_url"
MATCH_SQL = f"""
SELECT i.scheme, i.value, i.host, {_MATCH_COLUMNS}
  FROM unnest(%(schemes)s::text[], %(values)s::text[]) AS q(scheme, value)
 CROSS JOIN LATERAL {identifiers_valid_at("q.scheme", "q.value")} i
  JOIN {_WORK} w ON w.id = i.work_id
  JOIN {_HOLDER} h ON h.id = w.holder_id
 WHERE w.created_at <= %(at)s
UNION ALL
SELECT i.scheme, i.value, i.host, {_MATCH_COLUMNS}
  FROM {_IDENTIFIER} i
  JOIN {_WORK} w ON w.id = i.work_id
  JOIN {_HOLDER} h ON h.id = w.holder_id
 WHERE i.scheme = 'url-prefix' AND i.host = ANY(%(hosts)s::text[]) AND w.created_at <= %(at)s
   AND {_valid_at("i")}
UNION ALL
SELECT 'ref', h.code || '/' || w.work_ref, NULL, w.id::text, w.title, w.kind, w.work_ref, h.id::text, h.code,
       h.name, h.licensing_url
  FROM unnest(%(codes)s::text[], %(work_refs)s::text[]) AS r(code, work_ref)
  JOIN {_HOLDER} h ON h.code = r.code
  JOIN {_WORK} w ON w.holder_id = h.id AND w.work_ref = r.work_ref
 WHERE w.created_at <= %(at)s"""


# ------------------------------------------------------------------------------ declarations that could be in force

# Rows: (id, scope, work_id, holder_id, purpose, jurisdiction, consent, license_url, recorded_at, superseded_at,
# revoked_at, effective_from, effective_until, conditions).
_DECLARATION_COLUMNS = (
    "d.id::text, d.scope, d.work_id::text, d.holder_id::text, d.purpose, d.jurisdiction, d.consent, "
    "d.license_url, d.recorded_at, d.superseded_at, d.revoked_at, d.effective_from, d.effective_until, d.conditions"
)


def _declaration_in_force(jurisdictions: str) -> str:
    """A declaration `d` for P's purpose chain and `jurisdictions`, in force at %(at)s (consent.models'
    `in_force_at_sql`, the one definition)."""
    return f"""d.purpose = ANY(%(purposes)s::text[]) AND d.jurisdiction = ANY({jurisdictions})
   AND {in_force_at_sql("d", "%(at)s")}"""


# Query 3 of the batch path: the same rows as the ORM form in batch.declarations_in_force, which other databases
# use. Query 4 is registry.selectors.work_open_disputes.
_BATCH_IN_FORCE = _declaration_in_force("%(jurisdictions)s::text[]")
DECLARATIONS_SQL = f"""
SELECT {_DECLARATION_COLUMNS}
  FROM {_DECLARATION} d
 WHERE d.scope = 'work' AND d.work_id = ANY(%(works)s::uuid[]) AND {_BATCH_IN_FORCE}
UNION ALL
SELECT {_DECLARATION_COLUMNS}
  FROM {_DECLARATION} d
 WHERE d.scope = 'catalogue' AND d.holder_id = ANY(%(holders)s::uuid[]) AND {_BATCH_IN_FORCE}"""


# ----------------------------------------------------------------------------------------------- one-id statement

# The identifier resolved to its work: (work_id, rank1, rank2, host, the work's columns), best first after
# ORDER BY 2, 3. `host`: the host a web identifier matched on (the url's own host for a url or url-prefix, the
# domain for a domain), whose verification decides whether the holder's grants count (interop.md); NULL for every
# other scheme. The work's row is read once, here (its `created_at` decides whether the hit counts), and carried
# on: `found` joins only the holder.
_HIT_WORK_COLUMNS = "w.title, w.kind, w.work_ref, w.holder_id"


def _identifier_hit(rank: str, rank2: str, where: str, host: str = "NULL::text") -> str:
    """Rows of registry_identifier matching `where` (written for the alias `{t}`) valid at %(at)s, their works
    created by then. An exact (scheme, value) condition is read as two index scans, the current row through
    `identifier_current_unique` and ended ones through `identifier_history_idx` (identifiers_valid_at's form: an
    index scan each, where `_valid_at`'s OR on one table made a bitmap of both, two nodes more per execution)."""
    return f"""SELECT w.id AS work_id, {rank} AS rank1, {rank2} AS rank2, {host} AS host, {_HIT_WORK_COLUMNS}
  FROM (SELECT c.work_id, c.value FROM {_IDENTIFIER} c
         WHERE {where.format(t="c")} AND c.valid_until IS NULL AND c.valid_from <= %(at)s
        UNION ALL
        SELECT e.work_id, e.value FROM {_IDENTIFIER} e
         WHERE {where.format(t="e")} AND e.valid_until > %(at)s AND e.valid_from <= %(at)s) i
  JOIN {_WORK} w ON w.id = i.work_id AND w.created_at <= %(at)s"""


_HIT_EXACT = _identifier_hit("0", "0", "{t}.scheme = %(scheme)s AND {t}.value = %(value)s")
_HIT_DOMAINS = _identifier_hit(  # the nearest domain of the chain
    "2", "array_position(%(chain)s::text[], i.value::text)",
    "{t}.scheme = 'domain' AND {t}.value = ANY(%(chain)s::text[])", host="i.value::text")
# url: ids compare without the scheme (domain.md: http and https are the same URL; registry.lookups): the exact url
# in either form, the asker's own scheme first; else the longest url-prefix of the same host whose text after
# `://` starts the url's (%(rest)s), the own scheme first on a tie (rank2 counts each character twice and adds 1
# for the other scheme).
_HIT_URL_EXACT = _identifier_hit(
    "0", "(i.value <> %(value)s)::int",
    "{t}.scheme = 'url' AND {t}.value = ANY(ARRAY[%(value)s::text, %(twin)s::text])", host="%(host)s::text")
_HIT_URL_PREFIX = f"""SELECT w.id AS work_id, 1 AS rank1,
       -2 * (length(i.value) - strpos(i.value, '://')) + (NOT starts_with(i.value::text, %(own)s::text))::int AS rank2,
       %(host)s::text AS host, {_HIT_WORK_COLUMNS}
  FROM {_IDENTIFIER} i
  JOIN {_WORK} w ON w.id = i.work_id AND w.created_at <= %(at)s
 WHERE i.scheme = 'url-prefix' AND i.host = %(host)s
   AND starts_with(%(rest)s::text, substr(i.value, strpos(i.value, '://') + 3)) AND {_valid_at("i")}"""
_HIT_URL = f"{_HIT_URL_EXACT}\nUNION ALL\n{_HIT_URL_PREFIX}\nUNION ALL\n{_HIT_DOMAINS}"
_HIT_REF = f"""SELECT w.id AS work_id, 0 AS rank1, 0 AS rank2, NULL::text AS host, {_HIT_WORK_COLUMNS}
  FROM {_WORK} w
  JOIN {_HOLDER} h ON h.id = w.holder_id
 WHERE h.code = %(code)s AND w.work_ref = %(work_ref)s AND w.created_at <= %(at)s"""

# Whether the holder had verified control at T of the matched host or a parent domain (domains.selectors
# `verified_domains_at` + `host_verified`): the host is one of %(chain)s (the url's host and its parents, or the
# domain id's chain), so its own chain is the rest of %(chain)s from it.
_VERIFIED = f"""EXISTS (SELECT 1 FROM {_VERIFICATION} v
                    WHERE v.holder_id = h.id
                      AND v.domain = ANY((%(chain)s::text[])[array_position(%(chain)s::text[], hit.host):])
                      AND v.verified_at <= %(at)s AND (v.ended_at IS NULL OR v.ended_at > %(at)s))"""

# J's chain (J, its region, *) as the batch path sends it: from the process's rule book (one_id.decide_one reads
# the declarations again in the rare call whose statement shows that the region map changed since that book).
_ONE_ID_IN_FORCE = _declaration_in_force("%(jurisdictions)s::text[]")


# An organisation's licences in force at T for the work and its holder's catalogue, in the declaration columns'
# places so that one lateral UNION carries both (row_kind 'l'; consent and conditions NULL; the jsonb lists as
# text, which lookup/licences.licence_facts decodes): a licensee's single lookup stays one round trip. The same
# rows as lookup/licences.licences_in_force (the batch path's query); in force by the one definition.
_LICENCE_AS_DECLARATION_COLUMNS = (
    "l.id::text, l.scope, l.work_id::text, l.holder_id::text, l.purposes::text, l.jurisdictions::text, NULL, "
    "l.license_url, l.recorded_at, l.superseded_at, l.revoked_at, l.effective_from, l.effective_until, NULL"
)
_LICENCES_OF_FOUND = f"""
      UNION ALL
      SELECT 'l', {_LICENCE_AS_DECLARATION_COLUMNS} FROM {_LICENCE} l
       WHERE l.licensee_id = %(organisation)s::uuid AND l.scope = 'work' AND l.work_id = f.work_id
         AND {in_force_at_sql("l", "%(at)s")}
      UNION ALL
      SELECT 'l', {_LICENCE_AS_DECLARATION_COLUMNS} FROM {_LICENCE} l
       WHERE l.licensee_id = %(organisation)s::uuid AND l.scope = 'catalogue' AND l.holder_id = f.holder_id
         AND {in_force_at_sql("l", "%(at)s")}"""


def _one_id_sql(hit: str, *, licensed: bool, web: bool) -> str:
    """One id in ONE statement (one_id.py): the rule tables' fingerprint, the identifier resolved to its work
    (`hit`), the work and its holder, whether a dispute is open at T, and every declaration that could be in force
    at T for the work and its holder's catalogue; `licensed`: also the asking organisation's licences in force at T
    for them (%(organisation)s). Rows: (stamp, work_id, title, kind, work_ref, holder_id, code, name,
    licensing_url, disputed, verified, row_kind, *declaration columns), row_kind 'd' for a declaration and 'l' for
    a licence; one row with NULLs after the stamp when nothing matched. `verified`, for a `web` kind: whether the
    holder had verified control at T of the host the id matched on (NULL when the match was not through a web
    identifier, and for every other kind).

    The public form has no licence branch at all: a public answer cannot depend on a licence (domain.md).
    """
    licences = _LICENCES_OF_FOUND if licensed else ""
    verified = f"CASE WHEN hit.host IS NULL THEN NULL ELSE {_VERIFIED} END" if web else "NULL::boolean"
    return f"""
WITH hit AS ({hit} ORDER BY 2, 3 LIMIT 1),
found AS (
    SELECT hit.work_id, hit.title, hit.kind, hit.work_ref, h.id AS holder_id, h.code, h.name, h.licensing_url,
           EXISTS (SELECT 1 FROM {_DISPUTE} x
                    WHERE x.work_id = hit.work_id AND x.opened_at <= %(at)s
                      AND (x.resolved_at IS NULL OR x.resolved_at > %(at)s)) AS disputed,
           {verified} AS verified
      FROM hit
      JOIN {_HOLDER} h ON h.id = hit.holder_id)
SELECT {RULES_STAMP_EXPR}, f.work_id::text, f.title, f.kind, f.work_ref, f.holder_id::text, f.code,
       f.name, f.licensing_url, f.disputed, f.verified, d.*
  FROM (SELECT 1) AS one
  LEFT JOIN found f ON true
  LEFT JOIN LATERAL (
      SELECT 'd' AS row_kind, {_DECLARATION_COLUMNS} FROM {_DECLARATION} d
       WHERE d.scope = 'work' AND d.work_id = f.work_id AND {_ONE_ID_IN_FORCE}
      UNION ALL
      SELECT 'd', {_DECLARATION_COLUMNS} FROM {_DECLARATION} d
       WHERE d.scope = 'catalogue' AND d.holder_id = f.holder_id AND {_ONE_ID_IN_FORCE}{licences}
  ) d ON true"""


# One statement per kind of id: exact (scheme, value); url (exact in either scheme, else longest url-prefix without
# the scheme, else nearest domain); domain (nearest of its chain); ref (holder code + work_ref). The public form,
# and the form for a request made with an organisation's key (its licences read in the same round trip).
# Sent with runs of whitespace folded to one space: psycopg caches its parse of a statement's text (placeholders
# to $n) only up to MAX_CACHED_STATEMENT_LENGTH (4,096) bytes; the licensed statements were 4,042-4,976 bytes as
# written and were parsed again on every call (a profile of bench/licences.py's single ids: +0.1-0.2 ms of CPU an
# id against the public form). No literal in these statements holds whitespace. Pinned by
# tests/consent/test_lookup_one_id.py::test_every_one_id_statement_is_short_enough_for_psycopgs_cache, except the
# licensed url: form (three kinds of hit, the verification and the licences: 5,094 bytes folded), whose parse
# one_id's FixedTextQuery keeps instead.
def _folded(sql: str) -> str:
    return " ".join(sql.split())


_HITS = {"exact": _HIT_EXACT, "url": _HIT_URL, "domain": _HIT_DOMAINS, "ref": _HIT_REF}
_WEB = {"url", "domain"}
ONE_ID_STATEMENTS = {kind: _folded(_one_id_sql(hit, licensed=False, web=kind in _WEB)) for kind, hit in _HITS.items()}
ONE_ID_LICENSED_STATEMENTS = {kind: _folded(_one_id_sql(hit, licensed=True, web=kind in _WEB))
                              for kind, hit in _HITS.items()}
