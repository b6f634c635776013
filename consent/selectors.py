"""Reads of consent: the rule book and the batch decision path (domain.md "Deciding", api.md "One result").

The batch path costs a fixed number of queries whatever the number of ids (see docs/engine.md, "Query budget"):

1. the rule rows (a few dozen; the RuleBook built from them is cached per process and rebuilt only when they change);
2. identifiers valid at T for every exact (scheme, value) of the batch and every url-prefix of the batch's hosts,
   and works named by `ref:<holder>/<work_ref>`, in one UNION, joined to their works and holders;
3. the declarations that could be in force at T for the found works and their holders' catalogues, already
   narrowed to P's purpose chain and J's jurisdiction chain;
4. the works among them with a dispute open at T (registry.selectors.work_open_disputes' query).

Every row is read as a tuple (values_list), never as a model instance: this is the hot path of batch checks.
"""
from __future__ import annotations

import gc
import threading
import uuid
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import CharField, Field, ForeignObject, Lookup, Q, Value
from django.db.models.functions import Concat
from django.utils import timezone

from registry.errors import NotFound, ValidationFailed, field_error
from registry.identifiers import InvalidIdentifier, domain_chain, parse_identifier, url_host
from registry.models import Dispute, Identifier, Work

from .engine import DeclarationFact, RuleBook, RuleFact, decide
from .models import ALL_PURPOSES, Declaration, Jurisdiction, Rule, Scope
from .vocabulary import purpose_chain, validate_jurisdiction, validate_purpose

__all__ = ["rulebook", "lookup_many", "lookup_one", "work_decisions", "iso_z"]


def _pg_array_literal(values) -> str:
    """PostgreSQL array input syntax, every element quoted: `{"a","b\\"c"}`."""
    values = [v if type(v) is str else str(v) for v in values]
    everything = "".join(values)
    if "\\" in everything or '"' in everything:  # rare: escape element by element
        values = [v.replace("\\", "\\\\").replace('"', '\\"') for v in values]
    return '{"' + '","'.join(values) + '"}' if values else "{}"


@Field.register_lookup
class AnyOf(Lookup):
    """`field__any_of=[...]`: on PostgreSQL `field = ANY(%s::type[])` with the whole list as ONE parameter.

    `__in` with 10,000 values costs more than the query itself: Django prepares every value and psycopg splices
    10,000 placeholders into the SQL (and dumps a list parameter element by element in Python). Values must
    already be in the column's form (str, UUID or its text). Other databases get a plain IN list.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if connection.vendor == "postgresql":
            db_type = self.lhs.output_field.db_type(connection)
            # Never varchar(n)[]: casting to it would silently truncate a longer value into a false match.
            element = "text" if db_type.startswith(("varchar", "char")) else db_type
            return f"{lhs} = ANY(%s::{element}[])", [*lhs_params, _pg_array_literal(values)]
        if not values:
            return "1 = 0", list(lhs_params)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(v, connection, prepared=False) for v in values]  # e.g. SQLite's uuid hex
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


ForeignObject.register_lookup(AnyOf)  # foreign keys keep a lookup registry of their own


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


# ------------------------------------------------------------------------------------------------- the rule book

_rulebook_lock = threading.Lock()
_rulebook_cached: tuple[tuple, RuleBook] | None = None


def _rule_rows() -> tuple:
    # Every version of every rule: a few dozen short rows, cheaper to read whole than to keep a version counter
    # coherent across processes, and exact (an edit made behind the services' back is seen too).
    return tuple(Rule.objects.order_by("jurisdiction_id", "purpose", "valid_from", "id").values_list(
        "jurisdiction_id", "purpose", "regime", "basis", "valid_from", "valid_until"))


def _rulebook_build(rows: tuple) -> RuleBook:
    rules = [
        RuleFact(jurisdiction, None if purpose == ALL_PURPOSES else purpose, regime, basis, valid_from, valid_until)
        for jurisdiction, purpose, regime, basis, valid_from, valid_until in rows
    ]
    parents = dict(Jurisdiction.objects.filter(parent__isnull=False).values_list("code", "parent_id"))
    return RuleBook(rules, parents)


def rulebook() -> RuleBook:
    """Every version of every jurisdiction rule, with the jurisdiction -> region map.

    One book answers for any as_of (RuleBook.rule_for picks the version valid then). It costs one small query per
    call (the rule rows); the book, with its lookup caches, is rebuilt only when those rows differ from the last
    ones seen by this process (then one more query reads the jurisdiction -> region map).
    """
    global _rulebook_cached
    rows = _rule_rows()
    cached = _rulebook_cached
    if cached is not None and cached[0] == rows:
        return cached[1]
    with _rulebook_lock:
        book = _rulebook_build(rows)
        _rulebook_cached = (rows, book)
    return book


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
    """
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
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


def _open_disputes(*, work_ids, at: datetime) -> set:
    """The ids among `work_ids` with a dispute open at `at`. One query.

    registry.selectors.work_open_disputes with the batch's ids as one array parameter (see AnyOf).
    """
    if not work_ids:
        return set()
    return {row[0] for row in _rows(
        Dispute.objects.filter(work_id__any_of=work_ids, opened_at__lte=at)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=at))
        .order_by()
        .values_list("work_id")
    )}


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
    disputed = _open_disputes(work_ids=work_ids, at=at)
    return _Decider(purpose=purpose, jurisdiction=jurisdiction, at=at, book=book, works=works, by_work=by_work,
                    by_holder=by_holder, disputed=disputed)


# ------------------------------------------------------------------------------------------------ batch lookups

_URL, _URL_PREFIX, _DOMAIN, _REF = "url", "url-prefix", "domain", "ref"


def lookup_many(*, ids: Sequence[str], purpose: str, jurisdiction: str, as_of: datetime | None = None) -> list[dict]:
    """Decide `purpose` in `jurisdiction` at `as_of` for every id: one api.md result per id, in input order.

    Unknown purpose or jurisdiction raise (vocabulary.UnknownPurpose / UnknownJurisdiction: the whole request is
    bad); a bad id becomes that entry's `error`. Results of the same work share their nested `work`, `holder` and
    `declaration` dicts: treat them as read-only.
    """
    ids = ids if isinstance(ids, list | tuple) else list(ids)  # read twice: parsing, then answering
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
        else:
            wanted.setdefault(scheme, set()).add(value)
    if urls:
        wanted.setdefault(_URL, set()).update(urls)
    if domains:
        wanted.setdefault(_DOMAIN, set()).update(domains)

    works: dict = {}  # work_id -> (title, kind, work_ref, holder_id, code, name, licensing_url)
    found: dict = {}  # (scheme, value) -> work_id
    prefixes: dict = {}  # host -> [(url-prefix value, work_id)], longest first
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
    if parts:
        # query 2: both kinds of match with their works and holders, in one round trip
        rows = _rows(parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0])
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


def lookup_one(*, id: str, purpose: str, jurisdiction: str, as_of: datetime | None = None) -> dict:
    """One api.md result for one id (an invalid id gives the `error` entry, as in a batch)."""
    return lookup_many(ids=[id], purpose=purpose, jurisdiction=jurisdiction, as_of=as_of)[0]


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
    disputed = _open_disputes(work_ids=work_ids, at=at)
    answers = {}
    for purpose in purposes:
        for jurisdiction in jurisdictions:
            decider = _Decider(purpose=purpose, jurisdiction=jurisdiction, at=at, book=book, works=works,
                               by_work=by_work, by_holder=by_holder, disputed=disputed)
            result = (decider.template(work_id) if works else decider.unregistered()).copy()
            result["id"] = result["identifier"] = identifier
            answers[(purpose, jurisdiction)] = result
    return answers
