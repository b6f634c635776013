"""The batch decision path: parse the ids, match them to works, load what decides, answer each id.

A fixed number of queries whatever the number of ids (docs/engine.md, "Query budget"):

1. the rule tables' fingerprint (consent.rulebook; the book is rebuilt, with one more query, only when it changed);
2. `match`: identifiers valid at T for every exact (scheme, value) of the batch (a url: also under the other scheme,
   registry.lookups.url_scheme_twin) and every url-prefix of the batch's hosts, and works named by
   `ref:<holder>/<work_ref>`, in one UNION, joined to their works and holders;
3. `declarations_in_force`: the declarations that could be in force at T for the found works and their holders'
   catalogues, already narrowed to P's purpose chain and J's jurisdiction chain;
4. the works among them with a dispute open at T (registry.selectors.work_open_disputes);
5. when some id matched a work through a web identifier (url, url-prefix, domain): whether those works' holders
   had verified control of the matched hosts at T (domains.selectors.verified_domains_at; interop.md); with
   KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS, of every web candidate found, so that unverified ones fall through.
6. only for a request made for an organisation: its licences in force at T for those works (lookup/licences.py).

On PostgreSQL queries 2 and 3 are the statements of sql.py; other databases get the equivalent ORM queries (with
registry's `field__any_of=[...]` lookup, registry/lookups.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import CharField, Q, Value
from django.db.models.functions import Concat

from domains.selectors import host_verified, verified_domains_at
from registry.identifiers import InvalidIdentifier, domain_chain, parse_identifier, url_host
from registry.lookups import pg_array_literal, url_scheme_and_rest, url_scheme_twin
from registry.models import Identifier, Work
from registry.selectors import work_open_disputes

from ..engine import RuleBook
from ..models import Declaration, Scope
from ..rulebook import rulebook
from ..vocabulary import purpose_chain, validate_jurisdiction, validate_purpose
from .licences import licences_in_force
from .request import as_of_or_now, rule_or_error
from .results import Decider, facts_by_work_and_holder
from .rows import on_postgresql, queryset_rows, sql_rows
from .sql import DECLARATIONS_SQL, MATCH_SQL

__all__ = ["decide_many", "parse_ids", "match", "declarations_in_force", "decider_for", "work_matching",
           "WORK_FIELDS"]

URL, URL_PREFIX, DOMAIN, REF = "url", "url-prefix", "domain", "ref"

# A work row as the match queries return it after (scheme, value, host, work_id).
WORK_FIELDS = ("title", "kind", "work_ref", "holder_id", "holder__code", "holder__name", "holder__licensing_url")


def decide_many(*, ids: Sequence[str], purpose: str, jurisdiction: str, as_of: datetime | None,
                organisation_id=None) -> list[dict]:
    """One api.md result per id, in input order (consent.lookup.lookup_many is the entry point). With
    `organisation_id`, that organisation's licences decide too (one more query: lookup/licences.py)."""
    purpose = validate_purpose(purpose)
    jurisdiction = validate_jurisdiction(jurisdiction)
    at = as_of_or_now(as_of)
    book = rulebook()  # query 1
    rule_or_error(book, jurisdiction, purpose, at)
    parsed = parse_ids(ids)
    matches = match(parsed, at=at)  # query 2
    decider = decider_for(purpose=purpose, jurisdiction=jurisdiction, at=at, book=book,
                          works=matches.works, organisation_id=organisation_id)  # queries 3, 4 (and 5)
    return answer(ids, parsed, matches, decider)


@dataclass(slots=True)
class ParsedIds:
    """Every id parsed, and what the match query must fetch for them."""

    items: list = field(default_factory=list)  # per id: (scheme, value, host, domain chain), or InvalidIdentifier
    wanted: dict = field(default_factory=dict)  # scheme -> the values to fetch
    hosts: set = field(default_factory=set)  # hosts of url: ids (their url-prefixes are fetched)
    ref_codes: set = field(default_factory=set)
    ref_work_refs: set = field(default_factory=set)
    refs: set = field(default_factory=set)  # "<code>/<work_ref>"


def parse_ids(ids: Sequence[str]) -> ParsedIds:
    """Parse every id; an invalid one is kept as its InvalidIdentifier (its entry's error)."""
    parsed = ParsedIds()
    items, wanted = parsed.items, parsed.wanted
    urls: set[str] = set()
    domains: set[str] = set()
    for raw in ids:
        try:
            item = parse_identifier(raw)
        except InvalidIdentifier as exc:
            items.append(exc)
            continue
        scheme, value = item.scheme, item.value
        if scheme == URL:
            host = url_host(value)
            chain = domain_chain(host)
            items.append((scheme, value, host, chain))
            urls.add(value)
            urls.add(url_scheme_twin(value))  # http and https are the same URL for matching
            parsed.hosts.add(host)
            domains.update(chain)
            continue
        if scheme == DOMAIN:
            chain = domain_chain(value)
            items.append((scheme, value, value, chain))
            domains.update(chain)
            continue
        items.append((scheme, value, None, None))
        if scheme == REF:
            code, _, work_ref = value.partition("/")
            parsed.ref_codes.add(code)
            parsed.ref_work_refs.add(work_ref)
            parsed.refs.add(value)
        else:
            wanted.setdefault(scheme, set()).add(value)
    if urls:
        wanted.setdefault(URL, set()).update(urls)
    if domains:
        wanted.setdefault(DOMAIN, set()).update(domains)
    return parsed


@dataclass(slots=True)
class Matches:
    works: dict = field(default_factory=dict)  # work_id -> (title, kind, work_ref, holder_id, code, name, url)
    found: dict = field(default_factory=dict)  # (scheme, value) -> work_id
    # host -> [(url-prefix value without its scheme, its scheme, work_id)], longest first
    prefixes: dict = field(default_factory=dict)


def match(parsed: ParsedIds, *, at: datetime) -> Matches:
    """Query 2: every kind of match with its work and holder, in one round trip."""
    matches = Matches()
    if not parsed.wanted and not parsed.ref_codes:
        return matches
    if on_postgresql():
        rows = _match_rows_pg(wanted=parsed.wanted, hosts=parsed.hosts, refs=parsed.refs, at=at)
    else:
        rows = _match_rows_orm(wanted=parsed.wanted, hosts=parsed.hosts, ref_codes=parsed.ref_codes,
                               ref_work_refs=parsed.ref_work_refs, at=at)
    found, works, prefixes = matches.found, matches.works, matches.prefixes
    for scheme, value, host, work_id, *work in rows:
        found[(scheme, value)] = work_id
        works[work_id] = work
        if scheme == URL_PREFIX and host is not None:
            prefix_scheme, rest = url_scheme_and_rest(value)
            prefixes.setdefault(host, []).append((rest, prefix_scheme, work_id))
    for candidates in prefixes.values():
        candidates.sort(key=lambda c: len(c[0]), reverse=True)
    return matches


def url_work(value: str, host: str, matches: Matches, accept=None):
    """The work a url: id matches before domains (domain.md): its exact `url`, in its own scheme first, then under
    the other scheme; else the longest `url-prefix` it starts with, compared without the scheme (on a tie, the one
    in its own scheme). None when neither matches. `accept(work_id, host)`, when given, skips the candidates it
    refuses (KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS: an unverified holder's web identifier is no match at all)."""
    found = matches.found
    work_id = found.get((URL, value))
    if work_id is not None and (accept is None or accept(work_id, host)):
        return work_id
    work_id = found.get((URL, url_scheme_twin(value)))
    if work_id is not None and (accept is None or accept(work_id, host)):
        return work_id
    own, rest = url_scheme_and_rest(value)
    best = None  # the first match under the other scheme, kept while a same-length one in the own scheme may follow
    for prefix, prefix_scheme, candidate in matches.prefixes.get(host, ()):
        if best is not None and len(prefix) < len(best[0]):
            break
        if rest.startswith(prefix) and (accept is None or accept(candidate, host)):
            if prefix_scheme == own:
                return candidate
            if best is None:
                best = (prefix, candidate)
    return None if best is None else best[1]


def _resolve(item, matches: Matches, accept=None) -> tuple:
    """(work_id or None, the host of the web identifier it was matched through, or None for other schemes).
    `accept`: as in `url_work`, for every web candidate."""
    scheme, value, host, chain = item
    if scheme == URL:
        work_id = url_work(value, host, matches, accept)
        if work_id is not None:
            return work_id, host  # an exact url or a url-prefix: the id's own host
    else:
        work_id = matches.found.get((scheme, value))
        if work_id is not None:
            if scheme == URL_PREFIX:
                matched = url_host(value)
            else:
                matched = value if scheme == DOMAIN else None
            if matched is None or accept is None or accept(work_id, matched):
                return work_id, matched
    for domain in chain or ():
        work_id = matches.found.get((DOMAIN, domain))
        if work_id is not None and (accept is None or accept(work_id, domain)):
            return work_id, domain
    return None, None


def work_matching(raw: str, *, at: datetime, holder_id) -> tuple:
    """(work_id or None, the normalised identifier) for one id, as lookups match it but among `holder_id`'s
    identifiers only: another holder's identifier at the same place does not hide the holder's own (signals out:
    the headers a site sends come from the site holder's works). Raises InvalidIdentifier. One query."""
    parsed = parse_ids([raw])
    item = parsed.items[0]
    if type(item) is not tuple:
        raise item
    matches = match(parsed, at=at)
    holder_id = str(holder_id)
    work_id, _ = _resolve(item, matches, lambda work, host: str(matches.works[work][3]) == holder_id)
    return work_id, f"{item[0]}:{item[1]}"


def require_verified_web_claims() -> bool:
    """settings.KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS (default False), read at each call (interop.md: "Settings may
    additionally require verification before any web claim takes effect")."""
    return bool(getattr(settings, "KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS", False))


def _web_candidates(matches: Matches) -> tuple[set, set]:
    """(holder ids, hosts) of every web identifier the match query found: what query 5 reads when unverified
    matches must fall through to other candidates."""
    works = matches.works
    holders, hosts = set(), set()
    for (scheme, value), work_id in matches.found.items():
        if scheme == DOMAIN:
            hosts.add(value)
        elif scheme in (URL, URL_PREFIX):
            hosts.add(url_host(value))
        else:
            continue
        holders.add(works[work_id][3])
    return holders, hosts


def answer(ids: Sequence[str], parsed: ParsedIds, matches: Matches, decider: Decider) -> list[dict]:
    """Each id's result: its exact match (url: in either scheme), else (url:) its longest url-prefix, else its
    nearest domain. A match through a web identifier carries whether its holder had verified control of the
    matched host (query 5). With KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS an unverified holder's web identifier is no
    match at all: the id falls through to its next candidate (a shorter url-prefix, a parent domain), else it is
    unregistered; query 5 then reads every web candidate's holder, still one query."""
    works = matches.works
    resolved = [_resolve(item, matches) if type(item) is tuple else None for item in parsed.items]
    web = {(works[r[0]][3], r[1]) for r in resolved if r is not None and r[0] is not None and r[1] is not None}
    strict = bool(web) and require_verified_web_claims()
    if strict:
        holders, hosts = _web_candidates(matches)
        verified = verified_domains_at(holder_ids=holders, hosts=hosts, at=decider.at)

        def accept(work_id, host) -> bool:
            return host_verified(verified, works[work_id][3], host)

        for i, (item, match_) in enumerate(zip(parsed.items, resolved, strict=True)):
            if match_ is not None and match_[1] is not None and not accept(*match_):
                resolved[i] = _resolve(item, matches, accept)
    else:
        verified = (verified_domains_at(holder_ids={h for h, _ in web}, hosts={host for _, host in web},
                                        at=decider.at) if web else set())
    results: list[dict] = []
    append = results.append
    for raw, item, match_ in zip(ids, parsed.items, resolved, strict=True):
        if match_ is None:
            append({"id": raw, "error": {"code": item.code, "detail": item.detail}})
            continue
        work_id, host = match_
        control = None if work_id is None or host is None else host_verified(verified, works[work_id][3], host)
        append(decider.answer(work_id, raw, f"{item[0]}:{item[1]}", control))
    return results


def _valid_at_q(at: datetime) -> Q:
    return Q(valid_from__lte=at) & (Q(valid_until__isnull=True) | Q(valid_until__gt=at))


def _match_rows_orm(*, wanted: dict, hosts: set, ref_codes: set, ref_work_refs: set, at: datetime) -> list:
    """Query 2 off PostgreSQL: (scheme, value, host, work_id, title, kind, work_ref, holder_id, code, name,
    licensing_url) rows for every exact (scheme, value), every url-prefix of `hosts`, and works named by ref:."""
    parts = []
    if wanted:
        # identifiers valid at T: every (scheme, value) of the batch, one index scan per scheme, and every
        # url-prefix of its hosts
        condition = Q()
        for scheme, values in wanted.items():
            condition |= Q(scheme=scheme, value__any_of=values)
        if hosts:
            condition |= Q(scheme=URL_PREFIX, host__any_of=hosts)
        parts.append(
            Identifier.objects.filter(condition, _valid_at_q(at), work__created_at__lte=at)
            .order_by()
            .values_list("scheme", "value", "host", "work_id", *(f"work__{f}" for f in WORK_FIELDS))
        )
    if ref_codes:
        # works by holder code + work_ref, shaped like identifier rows (scheme "ref", value "<code>/<work_ref>")
        parts.append(
            Work.objects.filter(holder__code__any_of=ref_codes, work_ref__any_of=ref_work_refs, created_at__lte=at)
            .order_by()
            .annotate(ref_scheme=Value(REF), ref_value=Concat("holder__code", Value("/"), "work_ref"),
                      no_host=Value(None, output_field=CharField()))
            .values_list("ref_scheme", "ref_value", "no_host", "id", *WORK_FIELDS)
        )
    if not parts:
        return []
    return queryset_rows(parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0])


def _match_rows_pg(*, wanted: dict, hosts: set, refs: set, at: datetime) -> list:
    """Query 2 on PostgreSQL (sql.MATCH_SQL), same rows as `_match_rows_orm`. Arrays go as one literal each."""
    pairs = sorted((scheme, value) for scheme, values in wanted.items() for value in values)  # index order
    split = sorted(ref.partition("/")[::2] for ref in refs)
    params = {
        "schemes": pg_array_literal([p[0] for p in pairs]), "values": pg_array_literal([p[1] for p in pairs]),
        "hosts": pg_array_literal(sorted(hosts)),
        "codes": pg_array_literal([r[0] for r in split]), "work_refs": pg_array_literal([r[1] for r in split]),
        "at": at,
    }
    return sql_rows(MATCH_SQL, params)


def declarations_in_force(*, work_ids, holder_ids, purposes, jurisdictions, at: datetime) -> list[tuple]:
    """Query 3: declarations in force at `at`, for these works and their holders' catalogues.

    Rows: (id, scope, work_id, holder_id, purpose, jurisdiction, consent, license_url, recorded_at,
    superseded_at, revoked_at, effective_from, effective_until, conditions).
    """
    if not work_ids and not holder_ids:
        return []
    if on_postgresql():
        return sql_rows(DECLARATIONS_SQL, {
            "works": pg_array_literal(work_ids), "holders": pg_array_literal(holder_ids),
            "purposes": pg_array_literal(purposes), "jurisdictions": pg_array_literal(jurisdictions), "at": at})
    return queryset_rows(
        Declaration.objects.filter(
            Q(scope=Scope.WORK, work_id__any_of=work_ids) | Q(scope=Scope.CATALOGUE, holder_id__any_of=holder_ids),
            purpose__any_of=purposes, jurisdiction__any_of=jurisdictions,
        )
        .in_force_at(at)
        .order_by()
        .values_list("id", "scope", "work_id", "holder_id", "purpose", "jurisdiction", "consent", "license_url",
                     "recorded_at", "superseded_at", "revoked_at", "effective_from", "effective_until", "conditions")
    )


def decider_for(*, purpose: str, jurisdiction: str, at: datetime, book: RuleBook, works: dict,
                organisation_id=None) -> Decider:
    """Load the declarations and disputes of `works` ({work_id: work row}) and return their decider. Two queries,
    and one more for the licences of `organisation_id` when given."""
    # sets, not lists: the ORM walks every element of a list parameter looking for expressions
    work_ids = set(works)
    holder_ids = {row[3] for row in works.values()}
    rows = declarations_in_force(work_ids=work_ids, holder_ids=holder_ids, purposes=purpose_chain(purpose),
                                 jurisdictions=book.jurisdiction_chain(jurisdiction), at=at)
    by_work, by_holder = facts_by_work_and_holder(rows)
    disputed = work_open_disputes(work_ids=work_ids, at=at)
    licences = licences_in_force(organisation_id=organisation_id, work_ids=work_ids, holder_ids=holder_ids, at=at)
    return Decider(purpose=purpose, jurisdiction=jurisdiction, at=at, book=book, works=works, by_work=by_work,
                   by_holder=by_holder, disputed=disputed, licences=licences)
