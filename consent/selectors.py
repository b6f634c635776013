"""Reads of consent: declarations as holders list them, the rule book, the one-id path and the batch decision path
(domain.md "Deciding", api.md "One result").

One id (lookup_one, a GET, a batch of one) costs ONE prepared SQL statement on PostgreSQL ("one-id lookups" below).
A batch of two ids or more costs a fixed number of queries whatever the number of ids (docs/engine.md,
"Query budget"):

1. the rule tables' fingerprint (the RuleBook built from them is cached per process and rebuilt, with one more
   query, only when the fingerprint changes);
2. identifiers valid at T for every exact (scheme, value) of the batch and every url-prefix of the batch's hosts,
   and works named by `ref:<holder>/<work_ref>`, in one UNION, joined to their works and holders;
3. the declarations that could be in force at T for the found works and their holders' catalogues, already
   narrowed to P's purpose chain and J's jurisdiction chain;
4. the works among them with a dispute open at T (registry.selectors.work_open_disputes).

On PostgreSQL these are raw SQL built once at import (lists as one array parameter each, uuids as text); other
databases get the equivalent ORM queries (with registry's `field__any_of=[...]` lookup, registry/lookups.py). Every
row is read as a tuple, never as a model instance.
"""
from __future__ import annotations

import gc
import threading
import uuid
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import CharField, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone

from registry.errors import NotFound, ValidationFailed, field_error
from registry.identifiers import InvalidIdentifier, domain_chain, parse_identifier, url_host
from registry.lookups import pg_array_literal
from registry.models import Identifier, Work
from registry.selectors import holder_ids_visible_to, work_open_disputes

from .engine import DeclarationFact, RuleBook, RuleFact, decide
from .models import ALL_PURPOSES, Declaration, Jurisdiction, Rule, Scope
from .vocabulary import purpose_chain, validate_jurisdiction, validate_purpose

__all__ = [
    "declarations_visible_to", "declarations_filter", "work_declarations_in_force",
    "rulebook", "lookup_many", "lookup_one", "work_decisions", "iso_z",
]


# ----------------------------------------------------------------------------------------- holders' declarations

def declarations_visible_to(*, user, api_key=None) -> QuerySet[Declaration]:
    """Every declaration, current and past, of the holders `user` may see (their own and their mandated
    principals'; all for operators), with its holder and filing agent. An API key reads every declaration: the
    ids in lookup answers and receipts must be checkable (the view shows it only the public fields)."""
    if api_key is not None:
        return Declaration.objects.select_related("holder")
    ids = holder_ids_visible_to(user)
    qs = Declaration.objects.select_related("holder", "filed_by_agent")
    return qs if ids is None else qs.filter(holder_id__in=ids)


def declarations_filter(*, declarations: QuerySet[Declaration], holder: str = "",
                        work=None) -> QuerySet[Declaration]:
    """`declarations` narrowed to one holder code and one work id (its own declarations). Empty criteria filter
    nothing."""
    if holder:
        declarations = declarations.filter(holder__code=holder)
    if work:
        declarations = declarations.filter(work_id=work)
    return declarations


def work_declarations_in_force(*, work: Work) -> list[Declaration]:
    """The declarations in force now that cover `work`: its own and its holder's catalogue ones, with their holder
    and filing agent, ordered by scope, purpose and jurisdiction. One query."""
    now = timezone.now()
    return list(
        Declaration.objects.filter(
            Q(scope=Scope.WORK, work_id=work.pk) | Q(scope=Scope.CATALOGUE, holder_id=work.holder_id),
            superseded_at__isnull=True, revoked_at__isnull=True, recorded_at__lte=now, effective_from__lte=now,
        )
        .filter(Q(effective_until__isnull=True) | Q(effective_until__gt=now))
        .select_related("holder", "filed_by_agent")
        .order_by("scope", "purpose", "jurisdiction")
    )


def _rows(queryset) -> list[tuple]:
    """A values_list queryset's rows, with every UUID as its text: the batch path's hot read.

    On PostgreSQL the rows are read through a cursor that loads uuid as text and timestamptz with psycopg's
    C loader (Django's own timestamptz loader is pure Python: most of the cost of reading 10,000 declarations).
    """
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return [tuple(str(v) if isinstance(v, uuid.UUID) else v for v in row) for row in queryset]
    from psycopg.types.datetime import TimestamptzLoader
    from psycopg.types.string import TextLoader

    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return []
    with connection.cursor() as cursor:
        adapters = cursor.cursor.adapters
        adapters.register_loader("uuid", TextLoader)
        adapters.register_loader("timestamptz", TimestamptzLoader)
        cursor.execute(sql, params)
        return cursor.fetchall()


def _raw_rows(sql: str, params) -> list[tuple]:
    """Rows of a raw SQL statement on PostgreSQL (Django's cursor), timestamps with psycopg's C loader.

    The batch path's raw statements cast uuids to text in SQL, and send each list as one array literal
    (`registry.lookups.pg_array_literal`), so neither Django nor psycopg walks the lists element by element.
    """
    from psycopg.types.datetime import TimestamptzLoader

    with connections["default"].cursor() as cursor:
        cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)
        cursor.execute(sql, params)
        return cursor.fetchall()


# ------------------------------------------------------------------------------------------------- the rule book

# A fingerprint of everything a RuleBook is built from: every version of every rule and the jurisdiction -> region
# map. Row values go through PostgreSQL's row-to-text output (quoted, so no two different tables of rows share a
# text), hashed with md5: 32 characters to compare instead of a few dozen rows to read, build and compare.
# Used alone (`rulebook()`) and embedded as a scalar sub-query in the one-id statement (no extra round trip).
_RULES_STAMP_EXPR = (
    "(SELECT md5(coalesce((SELECT string_agg(ROW(r.id, r.jurisdiction_id, r.purpose, r.regime, r.basis, "
    "r.valid_from, r.valid_until)::text, ',' ORDER BY r.id) FROM consent_rule r), '') || '#' || "
    "coalesce((SELECT string_agg(ROW(j.code, j.parent_id)::text, ',' ORDER BY j.code) FROM consent_jurisdiction j "
    "WHERE j.parent_id IS NOT NULL), '')))"
)
_RULES_STAMP_SQL = f"SELECT {_RULES_STAMP_EXPR}"

_rulebook_lock = threading.Lock()
_rulebook_cached: tuple[str, RuleBook] | None = None


def _pg(connection) -> bool:
    return connection.vendor == "postgresql"


def _rules_stamp() -> str | None:
    """The rule tables' fingerprint (one query); None off PostgreSQL (then the rows themselves are compared)."""
    connection = connections["default"]
    if not _pg(connection):
        return None
    with connection.cursor() as cursor:
        cursor.execute(_RULES_STAMP_SQL)
        return cursor.fetchone()[0]


def _rule_rows() -> tuple:
    return tuple(Rule.objects.order_by("jurisdiction_id", "purpose", "valid_from", "id").values_list(
        "jurisdiction_id", "purpose", "regime", "basis", "valid_from", "valid_until"))


def _rulebook_build(rows: tuple) -> RuleBook:
    rules = [
        RuleFact(jurisdiction, None if purpose == ALL_PURPOSES else purpose, regime, basis, valid_from, valid_until)
        for jurisdiction, purpose, regime, basis, valid_from, valid_until in rows
    ]
    parents = dict(Jurisdiction.objects.filter(parent__isnull=False).values_list("code", "parent_id"))
    return RuleBook(rules, parents)


# Everything a RuleBook is built from, in one statement (PostgreSQL): rule rows, then the region map.
_RULEBOOK_SQL = (
    "SELECT 'rule', jurisdiction_id::text, purpose::text, regime::text, basis, valid_from, valid_until "
    "FROM consent_rule "
    "UNION ALL SELECT 'parent', code::text, parent_id::text, NULL, NULL, NULL, NULL FROM consent_jurisdiction "
    "WHERE parent_id IS NOT NULL"
)


def _rulebook_read() -> RuleBook:
    """Read the rule rows and the jurisdiction -> region map (one query on PostgreSQL, two elsewhere) and build."""
    connection = connections["default"]
    if not _pg(connection):
        return _rulebook_build(_rule_rows())
    with connection.cursor() as cursor:
        cursor.execute(_RULEBOOK_SQL)
        rows = cursor.fetchall()
    rules = [
        RuleFact(jurisdiction, None if purpose == ALL_PURPOSES else purpose, regime, basis, valid_from, valid_until)
        for kind, jurisdiction, purpose, regime, basis, valid_from, valid_until in rows if kind == "rule"
    ]
    return RuleBook(rules, {code: parent for kind, code, parent, *_ in rows if kind == "parent"})


def _rulebook_for(stamp) -> RuleBook:
    """The cached book if `stamp` (just read from the database) is the one it was built for; else rebuild it.

    Rebuilding reads the rule rows and the region map (one more query) *after* the stamp was read, so a change
    racing with it can only leave a newer book under an older stamp, which the next call rebuilds again: never a
    stale book under a current stamp. Off PostgreSQL (stamp None) the rule rows are read and compared on every call.
    """
    global _rulebook_cached
    cached = _rulebook_cached
    if stamp is None:
        rows = _rule_rows()
        if cached is not None and cached[0] == rows:
            return cached[1]
        with _rulebook_lock:
            book = _rulebook_build(rows)
            _rulebook_cached = (rows, book)
        return book
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with _rulebook_lock:
        book = _rulebook_read()
        _rulebook_cached = (stamp, book)
    return book


def rulebook() -> RuleBook:
    """Every version of every jurisdiction rule, with the jurisdiction -> region map.

    One book answers for any as_of (RuleBook.rule_for picks the version valid then). It costs one tiny query per
    call (the rule tables' fingerprint, `_RULES_STAMP_EXPR`); the book, with its lookup caches, is rebuilt only
    when the fingerprint differs from the one this process built it for (one more query: the rule rows and the
    jurisdiction -> region map). A rule changed by an operator in another process is therefore seen at the next
    call, without any cache to invalidate.
    """
    return _rulebook_for(_rules_stamp())


# ---------------------------------------------------------------------------------------------------- helpers

def iso_z(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z`, as api.md writes times."""
    if value is None:
        return None
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector for one batch.

    A batch allocates some 100,000 short-lived tuples and dicts, none in a cycle; with the collector on, its
    generation-2 passes over every live object cost about as much CPU as the batch's own work (measured: 720 ms
    against 357 ms of CPU for 10,000 ids). Reference counting still frees everything as usual. Resumed only if this
    call paused it, so nested or concurrent batches never switch it back on under another one's feet.

    On resuming, the objects allocated meanwhile (the batch's results among them, still alive) would all sit in the
    youngest generation, and the very next allocation would trigger a pass over every one of them (measured: about
    40 ms per 100,000 objects, a quarter of a 10,000-id batch's CPU). `gc.freeze()` + `gc.unfreeze()` moves them to
    the oldest generation instead, without looking at them: the results die by reference counting once the response
    is written, long before a full collection would visit them. Skipped when something else in the process froze
    objects (e.g. a pre-fork server), as unfreeze() would thaw those too.
    """
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def _as_of(as_of: datetime | None) -> datetime:
    if as_of is None:
        return timezone.now()
    if not isinstance(as_of, datetime) or timezone.is_naive(as_of):
        raise ValidationFailed("as_of must be a time with a zone.",
                               errors=[field_error("as_of", "invalid-date", "Give a time with a zone, e.g. "
                                                   "2026-11-28T12:00:00Z.")])
    return as_of


def _rule_for(book: RuleBook, jurisdiction: str, purpose: str, at: datetime):
    try:
        return book.rule_for(jurisdiction, purpose, at)
    except LookupError:
        raise ValidationFailed(
            "No jurisdiction rule applies at that time.",
            errors=[field_error("as_of", "no-rule", f"No rule for {jurisdiction}/{purpose} at {iso_z(at)}.")],
        ) from None


# An identifier row `{t}` valid at %(at)s, in raw SQL.
_VALID_AT = "{t}.valid_from <= %(at)s AND ({t}.valid_until IS NULL OR {t}.valid_until > %(at)s)"

# A work row as the identifier and ref queries return it.
_WORK_FIELDS = ("title", "kind", "work_ref", "holder_id", "holder__code", "holder__name", "holder__licensing_url")


def _valid_at_q(at: datetime) -> Q:
    return Q(valid_from__lte=at) & (Q(valid_until__isnull=True) | Q(valid_until__gt=at))


def _declarations_in_force(*, work_ids, holder_ids, purposes, jurisdictions, at: datetime):
    """Declarations that could be in force at `at`, for these works and their holders' catalogues. One query.

    Rows: (id, scope, work_id, holder_id, purpose, jurisdiction, consent, license_url, recorded_at,
    superseded_at, revoked_at, effective_from, effective_until).
    """
    if not work_ids and not holder_ids:
        return []
    if _pg(connections["default"]):
        return _raw_rows(_DECLARATIONS_SQL, {
            "works": pg_array_literal(work_ids), "holders": pg_array_literal(holder_ids),
            "purposes": pg_array_literal(purposes), "jurisdictions": pg_array_literal(jurisdictions), "at": at})
    return _rows(
        Declaration.objects.filter(
            Q(scope=Scope.WORK, work_id__any_of=work_ids) | Q(scope=Scope.CATALOGUE, holder_id__any_of=holder_ids),
            purpose__any_of=purposes, jurisdiction__any_of=jurisdictions,
            recorded_at__lte=at, effective_from__lte=at,
        )
        .filter(Q(superseded_at__isnull=True) | Q(superseded_at__gt=at))
        .filter(Q(revoked_at__isnull=True) | Q(revoked_at__gt=at))
        .filter(Q(effective_until__isnull=True) | Q(effective_until__gt=at))
        .order_by()
        .values_list("id", "scope", "work_id", "holder_id", "purpose", "jurisdiction", "consent", "license_url",
                     "recorded_at", "superseded_at", "revoked_at", "effective_from", "effective_until")
    )


def _facts_by_work_and_holder(rows) -> tuple[dict, dict]:
    by_work: dict = {}
    by_holder: dict = {}
    for (pk, scope, work_id, holder_id, purpose, jurisdiction, consent, license_url, recorded_at, superseded_at,
         revoked_at, effective_from, effective_until) in rows:
        if superseded_at is None:
            ended = revoked_at
        elif revoked_at is None or superseded_at < revoked_at:
            ended = superseded_at
        else:
            ended = revoked_at
        fact = DeclarationFact(pk, scope, purpose, jurisdiction, consent, license_url or None, recorded_at, ended,
                               effective_from, effective_until)
        if scope == Scope.WORK:
            by_work.setdefault(work_id, []).append(fact)
        else:
            by_holder.setdefault(holder_id, []).append(fact)
    return by_work, by_holder


def _declaration_json(fact: DeclarationFact, iso: dict) -> dict:
    """The api.md `declaration` of a result; `iso` caches the text of times, which declarations often share."""
    start, end = fact.effective_from, fact.effective_until
    start_text = iso.get(start)
    if start_text is None:
        start_text = iso[start] = iso_z(start)
    end_text = None
    if end is not None:
        end_text = iso.get(end)
        if end_text is None:
            end_text = iso[end] = iso_z(end)
    return {
        "id": fact.id, "scope": fact.scope, "purpose": fact.purpose, "jurisdiction": fact.jurisdiction,
        "consent": fact.consent, "effective_from": start_text, "effective_until": end_text,
    }


class _Decider:
    """Decides works for one (purpose, jurisdiction, as_of) and builds each one's result template once."""

    def __init__(self, *, purpose: str, jurisdiction: str, at: datetime, book: RuleBook, works: dict,
                 by_work: dict, by_holder: dict, disputed: set):
        self.purpose, self.jurisdiction, self.at, self.book = purpose, jurisdiction, at, book
        self.works, self.by_work, self.by_holder, self.disputed = works, by_work, by_holder, disputed
        self.as_of_text = iso_z(at)
        self._templates: dict = {}
        self._declaration_json: dict = {}
        self._iso: dict = {}
        self._unregistered: dict | None = None

    def unregistered(self) -> dict:
        if self._unregistered is None:
            answer = decide(purpose=self.purpose, jurisdiction=self.jurisdiction, as_of=self.at, rules=self.book,
                            registered=False)
            self._unregistered = {
                "id": None, "identifier": None, "registered": False, "work": None, "holder": None,
                "purpose": self.purpose, "jurisdiction": self.jurisdiction, "as_of": self.as_of_text,
                "outcome": answer.outcome, "basis": answer.basis, "regime": answer.regime, "declaration": None,
                "license_url": answer.license_url, "disputed": False,
            }
        return self._unregistered

    def template(self, work_id) -> dict:
        template = self._templates.get(work_id)
        if template is not None:
            return template
        title, kind, work_ref, holder_id, code, name, licensing_url = self.works[work_id]
        work_decls = self.by_work.get(work_id)
        holder_decls = self.by_holder.get(holder_id)
        if work_decls and holder_decls:
            declarations = work_decls + holder_decls
        else:
            declarations = work_decls or holder_decls or ()
        disputed = work_id in self.disputed
        answer = decide(purpose=self.purpose, jurisdiction=self.jurisdiction, as_of=self.at, rules=self.book,
                        registered=True, disputed=disputed, declarations=declarations,
                        holder_license_url=licensing_url or None)
        fact = answer.declaration
        if fact is None:
            declaration = None
        else:
            declaration = self._declaration_json.get(fact.id)
            if declaration is None:
                declaration = self._declaration_json[fact.id] = _declaration_json(fact, self._iso)
        template = self._templates[work_id] = {
            "id": None, "identifier": None, "registered": True,
            "work": {"id": work_id, "title": title, "kind": kind, "work_ref": work_ref},
            "holder": {"id": holder_id, "code": code, "name": name},
            "purpose": self.purpose, "jurisdiction": self.jurisdiction, "as_of": self.as_of_text,
            "outcome": answer.outcome, "basis": answer.basis, "regime": answer.regime, "declaration": declaration,
            "license_url": answer.license_url, "disputed": disputed,
        }
        return template


def _decider_for(*, purpose: str, jurisdiction: str, at: datetime, book: RuleBook, works: dict) -> _Decider:
    """Load the declarations and disputes of `works` ({work_id: work row}) and return their decider. Two queries."""
    # sets, not lists: the ORM walks every element of a list parameter looking for expressions
    work_ids = set(works)
    holder_ids = {row[3] for row in works.values()}
    rows = _declarations_in_force(work_ids=work_ids, holder_ids=holder_ids, purposes=purpose_chain(purpose),
                                  jurisdictions=book.jurisdiction_chain(jurisdiction), at=at)
    by_work, by_holder = _facts_by_work_and_holder(rows)
    disputed = work_open_disputes(work_ids=work_ids, at=at)
    return _Decider(purpose=purpose, jurisdiction=jurisdiction, at=at, book=book, works=works, by_work=by_work,
                    by_holder=by_holder, disputed=disputed)


def _match_rows_orm(*, wanted: dict, hosts: set, ref_codes: set, ref_work_refs: set, at: datetime) -> list:
    """Query 2 off PostgreSQL: (scheme, value, host, work_id, title, kind, work_ref, holder_id, code, name,
    licensing_url) rows for every exact (scheme, value), every url-prefix of `hosts`, and works named by ref:."""
    parts = []
    if wanted:
        # identifiers valid at T: every (scheme, value) of the batch, one index scan per scheme, and every
        # url-prefix of its hosts
        match = Q()
        for scheme, values in wanted.items():
            match |= Q(scheme=scheme, value__any_of=values)
        if hosts:
            match |= Q(scheme=_URL_PREFIX, host__any_of=hosts)
        parts.append(
            Identifier.objects.filter(match, _valid_at_q(at), work__created_at__lte=at)
            .order_by()
            .values_list("scheme", "value", "host", "work_id", *(f"work__{f}" for f in _WORK_FIELDS))
        )
    if ref_codes:
        # works by holder code + work_ref, shaped like identifier rows (scheme "ref", value "<code>/<work_ref>")
        parts.append(
            Work.objects.filter(holder__code__any_of=ref_codes, work_ref__any_of=ref_work_refs, created_at__lte=at)
            .order_by()
            .annotate(ref_scheme=Value(_REF), ref_value=Concat("holder__code", Value("/"), "work_ref"),
                      no_host=Value(None, output_field=CharField()))
            .values_list("ref_scheme", "ref_value", "no_host", "id", *_WORK_FIELDS)
        )
    if not parts:
        return []
    return _rows(parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0])


# Query 2 on PostgreSQL. The (scheme, value) pairs are joined from unnest() of two arrays, so each is one probe of
# identifier_scheme_value_idx; written with ORs of `value = ANY(...)` per scheme the planner chose a parallel
# sequential scan of the whole registry_identifier table (1.2 million rows) for a batch of 10,000 (EXPLAIN ANALYZE on
# the 1,000,000-work benchmark database, same 10,000 ids: 502 ms, against 327 ms for this form, most of it reading
# work rows). Refs are joined the same way on exact (code, work_ref) pairs instead of every code x every work_ref.
_MATCH_COLUMNS = ("i.work_id::text, w.title, w.kind, w.work_ref, w.holder_id::text, h.code, h.name, "
                  "h.licensing_url")
_MATCH_SQL = (
    "SELECT i.scheme, i.value, i.host, " + _MATCH_COLUMNS + " "
    "FROM unnest(%(schemes)s::text[], %(values)s::text[]) AS q(scheme, value) "
    "JOIN registry_identifier i ON i.scheme = q.scheme AND i.value = q.value "
    "JOIN registry_work w ON w.id = i.work_id JOIN registry_holder h ON h.id = w.holder_id "
    "WHERE w.created_at <= %(at)s AND " + _VALID_AT.format(t="i") + " "
    "UNION ALL "
    "SELECT i.scheme, i.value, i.host, " + _MATCH_COLUMNS + " "
    "FROM registry_identifier i "
    "JOIN registry_work w ON w.id = i.work_id JOIN registry_holder h ON h.id = w.holder_id "
    "WHERE i.scheme = 'url-prefix' AND i.host = ANY(%(hosts)s::text[]) AND w.created_at <= %(at)s AND "
    + _VALID_AT.format(t="i") + " "
    "UNION ALL "
    "SELECT 'ref', h.code || '/' || w.work_ref, NULL, w.id::text, w.title, w.kind, w.work_ref, h.id::text, h.code, "
    "h.name, h.licensing_url "
    "FROM unnest(%(codes)s::text[], %(work_refs)s::text[]) AS r(code, work_ref) "
    "JOIN registry_holder h ON h.code = r.code "
    "JOIN registry_work w ON w.holder_id = h.id AND w.work_ref = r.work_ref "
    "WHERE w.created_at <= %(at)s"
)


def _match_rows_pg(*, wanted: dict, hosts: set, refs: set, at: datetime) -> list:
    """Query 2 on PostgreSQL (`_MATCH_SQL`), same rows as `_match_rows_orm`. Arrays go as one literal each."""
    pairs = sorted((scheme, value) for scheme, values in wanted.items() for value in values)  # index order
    split = sorted(ref.partition("/")[::2] for ref in refs)
    params = {
        "schemes": pg_array_literal([p[0] for p in pairs]), "values": pg_array_literal([p[1] for p in pairs]),
        "hosts": pg_array_literal(sorted(hosts)),
        "codes": pg_array_literal([r[0] for r in split]), "work_refs": pg_array_literal([r[1] for r in split]),
        "at": at,
    }
    return _raw_rows(_MATCH_SQL, params)


# ------------------------------------------------------------------------------------------------ batch lookups

_URL, _URL_PREFIX, _DOMAIN, _REF = "url", "url-prefix", "domain", "ref"


def lookup_many(*, ids: Sequence[str], purpose: str, jurisdiction: str, as_of: datetime | None = None) -> list[dict]:
    """Decide `purpose` in `jurisdiction` at `as_of` for every id: one api.md result per id, in input order.

    Unknown purpose or jurisdiction raise (vocabulary.UnknownPurpose / UnknownJurisdiction: the whole request is
    bad); a bad id becomes that entry's `error`. Results of the same work share their nested `work`, `holder` and
    `declaration` dicts: treat them as read-only.
    """
    ids = ids if isinstance(ids, list | tuple) else list(ids)  # read twice: parsing, then answering
    if len(ids) == 1 and _pg(connections["default"]):  # a GET, or a batch of one: the one-statement path
        return [lookup_one(id=ids[0], purpose=purpose, jurisdiction=jurisdiction, as_of=as_of)]
    with _gc_paused():
        return _lookup_many(ids=ids, purpose=purpose, jurisdiction=jurisdiction, as_of=as_of)


def _lookup_many(*, ids: Sequence[str], purpose: str, jurisdiction: str, as_of: datetime | None) -> list[dict]:
    purpose = validate_purpose(purpose)
    jurisdiction = validate_jurisdiction(jurisdiction)
    at = _as_of(as_of)
    book = rulebook()  # query 1
    _rule_for(book, jurisdiction, purpose, at)

    # Parse every id and collect what the identifier query must fetch.
    parsed: list = []
    wanted: dict[str, set[str]] = {}  # scheme -> the values to fetch
    urls: set[str] = set()
    domains: set[str] = set()
    hosts: set[str] = set()
    ref_codes: set[str] = set()
    ref_work_refs: set[str] = set()
    refs: set[str] = set()  # "<code>/<work_ref>"
    for raw in ids:
        try:
            item = parse_identifier(raw)
        except InvalidIdentifier as exc:
            parsed.append(exc)
            continue
        scheme, value = item.scheme, item.value
        if scheme == _URL:
            host = url_host(value)
            chain = domain_chain(host)
            parsed.append((scheme, value, host, chain))
            urls.add(value)
            hosts.add(host)
            domains.update(chain)
            continue
        if scheme == _DOMAIN:
            chain = domain_chain(value)
            parsed.append((scheme, value, value, chain))
            domains.update(chain)
            continue
        parsed.append((scheme, value, None, None))
        if scheme == _REF:
            code, _, work_ref = value.partition("/")
            ref_codes.add(code)
            ref_work_refs.add(work_ref)
            refs.add(value)
        else:
            wanted.setdefault(scheme, set()).add(value)
    if urls:
        wanted.setdefault(_URL, set()).update(urls)
    if domains:
        wanted.setdefault(_DOMAIN, set()).update(domains)

    works: dict = {}  # work_id -> (title, kind, work_ref, holder_id, code, name, licensing_url)
    found: dict = {}  # (scheme, value) -> work_id
    prefixes: dict = {}  # host -> [(url-prefix value, work_id)], longest first
    if wanted or ref_codes:
        # query 2: every kind of match with its work and holder, in one round trip
        if _pg(connections["default"]):
            rows = _match_rows_pg(wanted=wanted, hosts=hosts, refs=refs, at=at)
        else:
            rows = _match_rows_orm(wanted=wanted, hosts=hosts, ref_codes=ref_codes, ref_work_refs=ref_work_refs,
                                   at=at)
        for scheme, value, host, work_id, *work in rows:
            found[(scheme, value)] = work_id
            works[work_id] = work
            if scheme == _URL_PREFIX and host is not None:
                prefixes.setdefault(host, []).append((value, work_id))
        for candidates in prefixes.values():
            candidates.sort(key=lambda c: len(c[0]), reverse=True)

    # queries 3 and 4: declarations and disputes of the works found
    decider = _decider_for(purpose=purpose, jurisdiction=jurisdiction, at=at, book=book, works=works)
    template_for = decider.template
    results: list[dict] = []
    append = results.append
    unregistered = decider.unregistered()
    for raw, item in zip(ids, parsed, strict=True):
        if type(item) is not tuple:
            append({"id": raw, "error": {"code": item.code, "detail": item.detail}})
            continue
        scheme, value, host, chain = item
        work_id = found.get((scheme, value))
        if work_id is None and chain is not None:
            if scheme == _URL:
                for prefix, candidate in prefixes.get(host, ()):
                    if value.startswith(prefix):
                        work_id = candidate
                        break
            if work_id is None:
                for domain in chain:
                    work_id = found.get((_DOMAIN, domain))
                    if work_id is not None:
                        break
        result = (unregistered if work_id is None else template_for(work_id)).copy()
        result["id"] = raw
        result["identifier"] = f"{scheme}:{value}"
        append(result)
    return results


# ------------------------------------------------------------------------------------------------ one-id lookups
#
# One id (lookup_one, a GET, a batch of one) costs ONE statement on PostgreSQL: the rule tables' fingerprint, the
# identifier resolved to its work (exact, else for url: the longest url-prefix, else the nearest domain; ref:),
# the work and its holder, whether a dispute is open at T, and every declaration that could be in force at T for
# the work and its holder's catalogue (P's purpose chain, J's jurisdiction chain read from consent_jurisdiction in
# the same statement). The SQL text is built once at import and sent with server-side parameters, so psycopg
# prepares it after a few calls (no parsing or planning by PostgreSQL, no ORM query building in Python).
# Exactly the batch path's semantics: tests/consent/test_lookup.py compares the two on every kind of id.

_IDENTIFIER_HIT = (
    "SELECT i.work_id, {rank} AS rank1, {rank2} AS rank2 FROM registry_identifier i "
    "JOIN registry_work w ON w.id = i.work_id AND w.created_at <= %(at)s "
    "WHERE {where} AND " + _VALID_AT.format(t="i")
)
_HIT_EXACT = _IDENTIFIER_HIT.format(rank="0", rank2="0", where="i.scheme = %(scheme)s AND i.value = %(value)s")
_HIT_DOMAINS = _IDENTIFIER_HIT.format(
    rank="2", rank2="array_position(%(chain)s::text[], i.value::text)",
    where="i.scheme = 'domain' AND i.value = ANY(%(chain)s::text[])")
_HIT_URL = " UNION ALL ".join([
    _HIT_EXACT,
    _IDENTIFIER_HIT.format(  # longest url-prefix of the same host that the url starts with
        rank="1", rank2="-length(i.value)",
        where="i.scheme = 'url-prefix' AND i.host = %(host)s AND starts_with(%(value)s::text, i.value::text)"),
    _HIT_DOMAINS,
])
_HIT_REF = (
    "SELECT w.id AS work_id, 0 AS rank1, 0 AS rank2 FROM registry_work w "
    "JOIN registry_holder h ON h.id = w.holder_id "
    "WHERE h.code = %(code)s AND w.work_ref = %(work_ref)s AND w.created_at <= %(at)s"
)
_DECLARATION_COLUMNS = (
    "d.id::text, d.scope, d.work_id::text, d.holder_id::text, d.purpose, d.jurisdiction, d.consent, "
    "d.license_url, d.recorded_at, d.superseded_at, d.revoked_at, d.effective_from, d.effective_until"
)
_DECLARATION_IN_FORCE = (
    "d.purpose = ANY(%(purposes)s::text[]) AND d.jurisdiction = ANY({jurisdictions}) "
    "AND d.recorded_at <= %(at)s AND d.effective_from <= %(at)s "
    "AND (d.superseded_at IS NULL OR d.superseded_at > %(at)s) AND (d.revoked_at IS NULL OR d.revoked_at > %(at)s) "
    "AND (d.effective_until IS NULL OR d.effective_until > %(at)s)"
)
_ONE_ID_IN_FORCE = _DECLARATION_IN_FORCE.format(  # J's chain (J, its region, *) read in the same statement
    jurisdictions="ARRAY[%(jurisdiction)s::text, "
    "(SELECT j.parent_id FROM consent_jurisdiction j WHERE j.code = %(jurisdiction)s::text), '*'::text]")
_ONE_ID_SQL = (
    "WITH hit AS ({hit} ORDER BY 2, 3 LIMIT 1), "
    "found AS ("
    " SELECT w.id AS work_id, w.title, w.kind, w.work_ref, h.id AS holder_id, h.code, h.name, h.licensing_url,"
    " EXISTS (SELECT 1 FROM registry_dispute x WHERE x.work_id = w.id AND x.opened_at <= %(at)s"
    " AND (x.resolved_at IS NULL OR x.resolved_at > %(at)s)) AS disputed"
    " FROM hit JOIN registry_work w ON w.id = hit.work_id JOIN registry_holder h ON h.id = w.holder_id) "
    "SELECT " + _RULES_STAMP_EXPR + ", f.work_id::text, f.title, f.kind, f.work_ref, f.holder_id::text, f.code,"
    " f.name, f.licensing_url, f.disputed, d.* "
    "FROM (SELECT 1) AS one LEFT JOIN found f ON true "
    "LEFT JOIN LATERAL ("
    " SELECT " + _DECLARATION_COLUMNS + " FROM consent_declaration d"
    " WHERE d.scope = 'work' AND d.work_id = f.work_id AND " + _ONE_ID_IN_FORCE +
    " UNION ALL"
    " SELECT " + _DECLARATION_COLUMNS + " FROM consent_declaration d"
    " WHERE d.scope = 'catalogue' AND d.holder_id = f.holder_id AND " + _ONE_ID_IN_FORCE +
    ") d ON true"
)
# Query 3 of the batch path on PostgreSQL (the same rows as the ORM form in _declarations_in_force, which other
# databases use); query 4 is registry.selectors.work_open_disputes.
_BATCH_IN_FORCE = _DECLARATION_IN_FORCE.format(jurisdictions="%(jurisdictions)s::text[]")
_DECLARATIONS_SQL = (
    "SELECT " + _DECLARATION_COLUMNS + " FROM consent_declaration d "
    "WHERE d.scope = 'work' AND d.work_id = ANY(%(works)s::uuid[]) AND " + _BATCH_IN_FORCE + " "
    "UNION ALL SELECT " + _DECLARATION_COLUMNS + " FROM consent_declaration d "
    "WHERE d.scope = 'catalogue' AND d.holder_id = ANY(%(holders)s::uuid[]) AND " + _BATCH_IN_FORCE
)
_ONE_ID_STATEMENTS = {
    kind: _ONE_ID_SQL.format(hit=hit)
    for kind, hit in (("exact", _HIT_EXACT), ("url", _HIT_URL), ("domain", _HIT_DOMAINS), ("ref", _HIT_REF))
}


def _preparing_cursor_class():
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparingCursor(ServerBindingCursor):
        """Server-side parameters, and a prepared statement per connection from the first call.

        Django turns psycopg's automatic preparation off for the whole connection (for transaction-mode poolers);
        these few fixed statements opt back in, unless settings.KYODAKU_LOOKUP_PREPARED is False (set that behind
        a pooler such as PgBouncer in transaction mode).
        """

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=_PREPARE if prepare is None else prepare, binary=binary)

    return PreparingCursor


_PREPARE = bool(getattr(settings, "KYODAKU_LOOKUP_PREPARED", True))
_PreparingCursor = None


def _one_id_rows(sql: str, params: dict) -> list[tuple]:
    """Run one of the one-id statements with server-side parameters, prepared on this connection.

    Goes through Django's cursor wrapper (query logging, execute wrappers, error translation) around a
    server-binding psycopg cursor on Django's own connection; timestamps with psycopg's C loader. PostgreSQL plans
    a prepared statement afresh for its first five executions, then keeps one generic plan (about 0.5 ms a call on
    the benchmark database instead of 3).
    """
    from psycopg.types.datetime import TimestamptzLoader

    global _PreparingCursor
    if _PreparingCursor is None:
        _PreparingCursor = _preparing_cursor_class()
    connection = connections["default"]
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    pg_connection = connection.connection
    if _PREPARE and pg_connection.prepare_threshold is None:
        # Django sets None, which refuses even an explicit prepare=True. A threshold no statement reaches keeps
        # everything else unprepared (the ORM's client-side cursors never prepare anyway) and lets ours through.
        pg_connection.prepare_threshold = 2**31 - 1
    with connection.wrap_database_errors:
        raw = _PreparingCursor(pg_connection)
    raw.adapters.register_loader("timestamptz", TimestamptzLoader)
    with connection._prepare_cursor(raw) as cursor:  # Django's own wrapping of a new cursor (logged, wrapped)
        cursor.execute(sql, params)
        return cursor.fetchall()


def _lookup_one_pg(*, raw: str, purpose: str, jurisdiction: str, at: datetime) -> dict:
    """The one-id path on PostgreSQL: one statement (plus one when the rule tables changed since the last call)."""
    try:
        item = parse_identifier(raw)
    except InvalidIdentifier as exc:
        _rule_for(rulebook(), jurisdiction, purpose, at)  # as in a batch: no rule at T fails before any id
        return {"id": raw, "error": {"code": exc.code, "detail": exc.detail}}
    scheme, value = item.scheme, item.value
    params = {"at": at, "purposes": list(purpose_chain(purpose)), "jurisdiction": jurisdiction}
    if scheme == _URL:
        host = url_host(value)
        kind = "url"
        params.update(scheme=scheme, value=value, host=host, chain=domain_chain(host))
    elif scheme == _DOMAIN:
        kind = "domain"
        params["chain"] = domain_chain(value)
    elif scheme == _REF:
        kind = "ref"
        code, _, work_ref = value.partition("/")
        params.update(code=code, work_ref=work_ref)
    else:
        kind = "exact"
        params.update(scheme=scheme, value=value)
    rows = _one_id_rows(_ONE_ID_STATEMENTS[kind], params)
    book = _rulebook_for(rows[0][0])
    _rule_for(book, jurisdiction, purpose, at)
    works: dict = {}
    work_id = rows[0][1]
    declarations = ()
    disputed: set = set()
    if work_id is not None:
        works[work_id] = rows[0][2:9]  # title, kind, work_ref, holder_id, code, name, licensing_url
        if rows[0][9]:
            disputed.add(work_id)
        declarations = [row[10:] for row in rows if row[10] is not None]
    by_work, by_holder = _facts_by_work_and_holder(declarations)
    decider = _Decider(purpose=purpose, jurisdiction=jurisdiction, at=at, book=book, works=works, by_work=by_work,
                       by_holder=by_holder, disputed=disputed)
    result = (decider.template(work_id) if work_id is not None else decider.unregistered()).copy()
    result["id"] = raw
    result["identifier"] = f"{scheme}:{value}"
    return result


def lookup_one(*, id: str, purpose: str, jurisdiction: str, as_of: datetime | None = None) -> dict:
    """One api.md result for one id (an invalid id gives the `error` entry, as in a batch).

    On PostgreSQL one statement (see "one-id lookups" above); elsewhere the batch path with one id.
    """
    if not _pg(connections["default"]):
        return lookup_many(ids=[id], purpose=purpose, jurisdiction=jurisdiction, as_of=as_of)[0]
    return _lookup_one_pg(raw=id, purpose=validate_purpose(purpose), jurisdiction=validate_jurisdiction(jurisdiction),
                          at=_as_of(as_of))


def work_decisions(*, work: Work, purposes: Sequence[str], jurisdictions: Sequence[str],
                   as_of: datetime | None = None) -> dict[tuple[str, str], dict]:
    """The answer for every (purpose, jurisdiction) pair for one work, as of `as_of`: the admin's work page.

    Four queries whatever the number of pairs. A work registered after `as_of` answers as unregistered then.
    """
    purposes = [validate_purpose(p) for p in purposes]
    jurisdictions = [validate_jurisdiction(j) for j in jurisdictions]
    at = _as_of(as_of)
    book = rulebook()
    for purpose in purposes:
        for jurisdiction in jurisdictions:
            _rule_for(book, jurisdiction, purpose, at)
    rows = _rows(Work.objects.filter(pk=work.pk).order_by().values_list("id", "created_at", *_WORK_FIELDS))
    if not rows:
        raise NotFound("No such work.")
    work_id, created_at, *work_row = rows[0]
    identifier = f"ref:{work_row[4]}/{work_row[2]}"
    works = {work_id: work_row} if created_at <= at else {}
    all_purposes = sorted({a for p in purposes for a in purpose_chain(p)})
    all_jurisdictions = sorted({c for j in jurisdictions for c in book.jurisdiction_chain(j)})
    work_ids = list(works)
    rows = _declarations_in_force(work_ids=work_ids, holder_ids=[row[3] for row in works.values()],
                                  purposes=all_purposes, jurisdictions=all_jurisdictions, at=at)
    by_work, by_holder = _facts_by_work_and_holder(rows)
    disputed = work_open_disputes(work_ids=work_ids, at=at)
    answers = {}
    for purpose in purposes:
        for jurisdiction in jurisdictions:
            decider = _Decider(purpose=purpose, jurisdiction=jurisdiction, at=at, book=book, works=works,
                               by_work=by_work, by_holder=by_holder, disputed=disputed)
            result = (decider.template(work_id) if works else decider.unregistered()).copy()
            result["id"] = result["identifier"] = identifier
            answers[(purpose, jurisdiction)] = result
    return answers
