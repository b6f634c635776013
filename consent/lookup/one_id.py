"""The one-id path: one id (a GET, a batch of one) in ONE prepared SQL statement on PostgreSQL.

The statement (sql.ONE_ID_STATEMENTS, one per kind of id) reads the rule tables' fingerprint, the identifier
resolved to its work (exact, else for url: the longest url-prefix, else the nearest domain; ref:), the work and its
holder, whether a dispute is open at T, for a url: or domain: id whether the holder had verified control of the
matched host at T (interop.md), and every declaration that could be in force at T for the work and its
holder's catalogue (P's purpose chain, J's jurisdiction chain from the rule book this process holds, read again
when the statement's stamp shows that the region map changed since). Its text is fixed and sent with server-side
parameters, so psycopg prepares it (no parsing or planning by PostgreSQL, no ORM query building in Python). A
url-prefix: id that matches a work, and with KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS a url: or domain: id that matches
one, goes on to the batch path, which walks the fall-through candidates of an unverified match (interop.md).
Exactly the batch path's semantics: tests/consent/test_lookup.py and test_lookup_one_id.py compare the two on
every kind of id.
"""
from __future__ import annotations

import functools
from datetime import datetime

from django.conf import settings
from django.db import connections

from core.db import read_alias
from registry.identifiers import InvalidIdentifier, domain_chain, parse_identifier, url_host
from registry.lookups import pg_array_literal, url_scheme_and_rest, url_scheme_twin

from ..rulebook import rulebook, rulebook_for, rulebook_held
from ..vocabulary import purpose_chain
from .batch import DOMAIN, REF, URL, require_verified_web_claims
from .licences import licence_facts
from .request import rule_or_error
from .results import Decider, facts_by_work_and_holder
from .sql import ONE_ID_LICENSED_STATEMENTS, ONE_ID_STATEMENTS

__all__ = ["decide_one"]


def _prepare() -> bool:
    """settings.KYODAKU_LOOKUP_PREPARED (default True), read at each call: False behind a pooler such as PgBouncer
    in transaction mode, where a prepared statement may not exist on the next server connection."""
    return bool(getattr(settings, "KYODAKU_LOOKUP_PREPARED", True))


@functools.lru_cache(maxsize=32)
def _split(query: str, encoding: str):
    """psycopg's conversion of a statement's `%(name)s` placeholders to `$n` (its `_query2pg`), once per text."""
    from psycopg._queries import _query2pg_nocache

    return _query2pg_nocache(query.encode(encoding), encoding)


def _preparing_cursor_class():
    from django.db.backends.postgresql.base import ServerBindingCursor
    from psycopg._queries import PostgresQuery

    class FixedTextQuery(PostgresQuery):
        """psycopg keeps its conversion of a statement's placeholders only for texts up to 4,096 bytes (an ORM's
        long statements are rarely sent twice); the one-id statements are a handful of fixed texts, two of them
        longer, which it would convert anew on every call (about 4 % of a lookup GET's CPU). Here every text is
        kept (psycopg 3.2's own conversion, cached by text: sql.py's statements are the only ones sent here)."""

        def convert(self, query, vars):
            if not isinstance(query, str) or vars is None:
                return super().convert(query, vars)
            self.query, self._want_formats, self._order, self._parts = _split(query, self._encoding)
            self.dump(vars)

    class PreparingCursor(ServerBindingCursor):
        """Server-side parameters, and a prepared statement per connection from the first call.

        Django turns psycopg's automatic preparation off for the whole connection (for transaction-mode poolers);
        these few fixed statements opt back in, unless settings.KYODAKU_LOOKUP_PREPARED is False.
        """

        _query_cls = FixedTextQuery

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=self.prepare_statements if prepare is None else prepare,
                                   binary=binary)

    return PreparingCursor


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
    prepare = _prepare()
    connection = connections[read_alias()]
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    pg_connection = connection.connection
    if prepare and pg_connection.prepare_threshold is None:
        # Django sets None, which refuses even an explicit prepare=True. A threshold no statement reaches keeps
        # everything else unprepared (the ORM's client-side cursors never prepare anyway) and lets ours through.
        pg_connection.prepare_threshold = 2**31 - 1
    with connection.wrap_database_errors:
        raw = _PreparingCursor(pg_connection)
    raw.prepare_statements = prepare
    raw.adapters.register_loader("timestamptz", TimestamptzLoader)
    with connection._prepare_cursor(raw) as cursor:  # Django's own wrapping of a new cursor (logged, wrapped)
        cursor.execute(sql, params)
        return cursor.fetchall()


@functools.lru_cache(maxsize=256)
def _array_literal(values: tuple[str, ...]) -> str:
    """A purpose or jurisdiction chain as one text[] parameter (a str: psycopg adapts it in C, a list in Python)."""
    return pg_array_literal(values)


def _statement_for(scheme: str, value: str) -> tuple[str, dict]:
    """The kind of one-id statement for this id, and its id-specific parameters."""
    if scheme == URL:
        host = url_host(value)
        own, rest = url_scheme_and_rest(value)
        return "url", {"value": value, "twin": url_scheme_twin(value), "own": f"{own}://", "rest": rest,
                       "host": host, "chain": pg_array_literal(domain_chain(host))}
    if scheme == DOMAIN:
        return "domain", {"chain": pg_array_literal(domain_chain(value))}
    if scheme == REF:
        code, _, work_ref = value.partition("/")
        return "ref", {"code": code, "work_ref": work_ref}
    return "exact", {"scheme": scheme, "value": value}


def decide_one(*, raw: str, purpose: str, jurisdiction: str, at: datetime, organisation_id=None) -> dict:
    """The one-id path on PostgreSQL: one statement (plus one when the rule tables changed since the last call),
    for the public and for an organisation alike (its licences are read by the same statement).
    `purpose` and `jurisdiction` are already validated (consent.lookup.lookup_one is the entry point)."""
    try:
        item = parse_identifier(raw)
    except InvalidIdentifier as exc:
        rule_or_error(rulebook(), jurisdiction, purpose, at)  # as in a batch: no rule at T fails before any id
        return {"id": raw, "error": {"code": exc.code, "detail": exc.detail}}
    scheme, value = item.scheme, item.value
    kind, params = _statement_for(scheme, value)
    # J's chain from the book this process holds (as the batch path sends it), checked against the statement's
    # stamp below
    chain = rulebook_held().jurisdiction_chain(jurisdiction)
    params.update(at=at, purposes=_array_literal(purpose_chain(purpose)), jurisdictions=_array_literal(chain))
    statement = ONE_ID_STATEMENTS[kind]
    if organisation_id is not None:
        # the same statement with the organisation's licences in force beside the declarations
        statement = ONE_ID_LICENSED_STATEMENTS[kind]
        params["organisation"] = str(organisation_id)
    rows = _one_id_rows(statement, params)
    book = rulebook_for(rows[0][0])
    if book.jurisdiction_chain(jurisdiction) != chain:
        # The region map changed since the held book was built: the declarations again, for the new chain (one
        # more statement, once per change and process).
        params["jurisdictions"] = _array_literal(book.jurisdiction_chain(jurisdiction))
        rows = _one_id_rows(statement, params)
    rule_or_error(book, jurisdiction, purpose, at)
    works: dict = {}
    work_id = rows[0][1]
    web = kind in ("url", "domain")
    if work_id is not None and (scheme == "url-prefix" or (web and require_verified_web_claims())):
        # A url-prefix asked for, or KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS (an unverified match falls through to the
        # next candidate: a shorter prefix, a parent domain): the batch path, which walks the candidates.
        from .batch import decide_many

        return decide_many(ids=[raw], purpose=purpose, jurisdiction=jurisdiction, as_of=at,
                           organisation_id=organisation_id)[0]
    declarations, licence_rows = [], []
    disputed: set = set()
    verified = None  # matched through a web identifier: whether its holder controlled the matched host at T
    if work_id is not None:
        works[work_id] = rows[0][2:9]  # title, kind, work_ref, holder_id, code, name, licensing_url
        if rows[0][9]:
            disputed.add(work_id)
        verified = rows[0][10]
        for row in rows:
            if row[11] == "d":
                declarations.append(row[12:])
            elif row[11] == "l":  # a licence in the declaration columns (sql._LICENCE_AS_DECLARATION_COLUMNS)
                licence_rows.append(row[12:18] + row[19:25])
    by_work, by_holder = facts_by_work_and_holder(declarations)
    decider = Decider(purpose=purpose, jurisdiction=jurisdiction, at=at, book=book, works=works, by_work=by_work,
                      by_holder=by_holder, disputed=disputed, licences=licence_facts(licence_rows))
    return decider.answer(work_id, raw, f"{scheme}:{value}", verified)
