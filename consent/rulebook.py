"""The rule book: every version of every jurisdiction rule with the jurisdiction -> region map, cached per process
and rebuilt only when the rule tables' fingerprint changes (docs/engine.md, "Query budget").

`rulebook()` costs one tiny query per call (the fingerprint); the one-id lookup statement embeds the same
fingerprint (`RULES_STAMP_EXPR`) and hands what it read to `rulebook_for()`, so it costs no extra round trip.
"""
from __future__ import annotations

import threading

from django.db import connections

from core.db import read_alias

from .engine import RuleBook, RuleFact
from .models import ALL_PURPOSES, Jurisdiction, Rule

__all__ = ["RULES_STAMP_EXPR", "RULES_STAMP_TABLE", "rulebook", "rulebook_for", "rulebook_held"]

_RULE = Rule._meta.db_table
_JURISDICTION = Jurisdiction._meta.db_table

# A fingerprint of everything a RuleBook is built from (every version of every rule and the jurisdiction -> region
# map): a random uuid that the database replaces, in the same transaction, after every statement that writes to
# either table (statement-level triggers, consent migration 0012), so a snapshot that sees a change sees its new
# stamp. One row read instead of the rows themselves; it was an md5 over the rows computed by every statement, a
# third of a one-id lookup's PostgreSQL CPU (docs/performance.md). Used alone (`rulebook()`) and embedded as a
# scalar sub-query in the one-id statement (no extra round trip).
RULES_STAMP_TABLE = "consent_rulebook_stamp"
RULES_STAMP_EXPR = f"(SELECT s.stamp::text FROM {RULES_STAMP_TABLE} s)"

RULES_STAMP_SQL = f"SELECT {RULES_STAMP_EXPR}"

# Everything a RuleBook is built from, in one statement (PostgreSQL): rule rows, then the region map. Two kinds of
# rows in one round trip, which the ORM cannot express as one query.
RULEBOOK_SQL = f"""
SELECT 'rule', jurisdiction_id::text, purpose::text, regime::text, basis, valid_from, valid_until
  FROM {_RULE}
UNION ALL
SELECT 'parent', code::text, parent_id::text, NULL, NULL, NULL, NULL
  FROM {_JURISDICTION}
 WHERE parent_id IS NOT NULL"""

_rulebook_lock = threading.Lock()
_rulebook_cached: tuple[str, RuleBook] | None = None


def _pg(connection) -> bool:
    return connection.vendor == "postgresql"


def _rules_stamp() -> str | None:
    """The rule tables' fingerprint (one query); None off PostgreSQL (then the rows themselves are compared)."""
    connection = connections[read_alias()]
    if not _pg(connection):
        return None
    with connection.cursor() as cursor:
        cursor.execute(RULES_STAMP_SQL)
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


def _rulebook_read() -> RuleBook:
    """Read the rule rows and the jurisdiction -> region map (one query on PostgreSQL, two elsewhere) and build."""
    connection = connections[read_alias()]
    if not _pg(connection):
        return _rulebook_build(_rule_rows())
    with connection.cursor() as cursor:
        cursor.execute(RULEBOOK_SQL)
        rows = cursor.fetchall()
    rules = [
        RuleFact(jurisdiction, None if purpose == ALL_PURPOSES else purpose, regime, basis, valid_from, valid_until)
        for kind, jurisdiction, purpose, regime, basis, valid_from, valid_until in rows if kind == "rule"
    ]
    return RuleBook(rules, {code: parent for kind, code, parent, *_ in rows if kind == "parent"})


def rulebook_for(stamp) -> RuleBook:
    """The cached book if `stamp` (just read from the database) is the one it was built for; else rebuild it.

    Rebuilding reads the rule rows and the region map (one more query) *after* the stamp was read, so a change
    racing with it can only leave a newer book under an older stamp, which the next call rebuilds again: never a
    stale book under a current stamp. With no stamp (off PostgreSQL; on PostgreSQL, only if the stamp's row was
    deleted by hand, which the next rule change writes again) the rule rows are read and compared on every call.
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


def rulebook_held() -> RuleBook:
    """The book this process built last, without a query (`rulebook()`, one query, before its first). Only for
    what a caller checks against a stamp read afterwards (the one-id statement sends J's chain from it, then
    compares the chain of `rulebook_for(stamp)`)."""
    cached = _rulebook_cached
    return cached[1] if cached is not None else rulebook()


def rulebook() -> RuleBook:
    """Every version of every jurisdiction rule, with the jurisdiction -> region map.

    One book answers for any as_of (RuleBook.rule_for picks the version valid then). It costs one tiny query per
    call (the rule tables' fingerprint, `RULES_STAMP_EXPR`); the book, with its lookup caches, is rebuilt only
    when the fingerprint differs from the one this process built it for (one more query: the rule rows and the
    jurisdiction -> region map). A rule changed by an operator in another process is therefore seen at the next
    call, without any cache to invalidate.
    """
    return rulebook_for(_rules_stamp())

