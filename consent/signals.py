"""Signals out (interop.md, "Signals out"): a holder's own declarations written in the forms crawlers read
(robots.txt `Content-Usage` / `Content-Signal`, `tdmrep.json`, response headers, the CAWG assertion).

Every value comes from the decision engine (`work_decisions`, the same path as the admin's work page) and is
translated through the vocabulary map (`consent.vocabulary`); only answers decided by a declaration (basis
`granted` or `reserved`) are written, never a regime's default.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from registry.identifiers import InvalidIdentifier, parse_identifier, url_host
from registry.models import Identifier, Work

from .lookup import iso_z, work_decisions
from .vocabulary import GRANT, PURPOSES, RESERVE, vocabulary, written_consent

CONTENT_USAGE = "aipref-vocab-08"  # written with draft-ietf-aipref-attach-05
CONTENT_SIGNAL = "content-signals"
TDMREP = "tdmrep"
CAWG = "cawg-training-mining-1.1"
MAX_WORKS = 500  # web works per domain in one signals file
_DECIDED = {"granted": GRANT, "reserved": RESERVE}


@dataclass
class Term:
    token: str
    value: str
    declarations: list[str]


@dataclass
class WorkSignals:
    """What one work's declarations say, per vocabulary."""

    work_id: str
    work_ref: str
    identifier: str  # scheme:value through which the work is on the site
    path: str | None  # robots.txt path ("/open/", "/page$"); None: the whole host
    license_url: str | None
    terms: dict[str, list[Term]] = field(default_factory=dict)  # vocabulary key -> terms with a value


def _decided(work: Work, jurisdiction: str, at: datetime) -> dict[str, tuple[str, dict, str | None] | None]:
    answers = work_decisions(work=work, purposes=list(PURPOSES), jurisdictions=[jurisdiction], as_of=at)
    decided = {}
    for purpose in PURPOSES:
        answer = answers[(purpose, jurisdiction)]
        consent = _DECIDED.get(answer["basis"])
        decided[purpose] = (consent, answer["declaration"], answer["license_url"]) if consent else None
    return decided


def _terms(key: str, decided: dict) -> list[Term]:
    vocab = vocabulary(key)
    terms = []
    for term in vocab.terms:
        value = written_consent(vocab, term, lambda p: decided[p][0] if decided.get(p) else None)
        if value is not None:
            ids = sorted({decided[p][1]["id"] for p in term.purposes})
            terms.append(Term(term.token, value, ids))
    return terms


def work_signals(*, work: Work, jurisdiction: str, identifier: str = "", path: str | None = None,
                 at: datetime | None = None) -> WorkSignals:
    decided = _decided(work, jurisdiction, at or timezone.now())
    license_url = next((d[2] for d in decided.values() if d and d[2]), None) or work.holder.licensing_url or None
    signals = WorkSignals(str(work.pk), work.work_ref, identifier, path, license_url)
    for key in (CONTENT_USAGE, CONTENT_SIGNAL, TDMREP, CAWG):
        signals.terms[key] = _terms(key, decided)
    return signals


def _path_of(scheme: str, value: str) -> str | None:
    if scheme == "domain":
        return None
    rest = value.split("://", 1)[1]
    path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return path if scheme == "url-prefix" else path + "$"


def domain_signals(*, holder, domain: str, jurisdiction: str, at: datetime | None = None) -> list[WorkSignals]:
    """The signals of `holder`'s works registered on host `domain` (its `domain` identifier, url-prefixes and
    urls on that host), the whole-host entry first, then paths from the least to the most specific."""
    at = at or timezone.now()
    rows = (Identifier.objects.filter(work__holder=holder, host=domain, valid_until__isnull=True,
                                      scheme__in=("domain", "url-prefix", "url"))
            .select_related("work", "work__holder").order_by("scheme", "value")[:MAX_WORKS])
    entries = [work_signals(work=row.work, jurisdiction=jurisdiction, identifier=f"{row.scheme}:{row.value}",
                            path=_path_of(row.scheme, row.value), at=at) for row in rows]
    return sorted(entries, key=lambda e: (e.path is not None, len(e.path or ""), e.path or ""))


def url_signals(*, holder_id, url: str, jurisdiction: str, at: datetime | None = None) -> WorkSignals | None:
    """The signals for one URL from `holder_id`'s own works: its exact url (either scheme), else its longest
    url-prefix, else its nearest domain, as lookups match, among that holder's identifiers only, so that another
    holder's identifier at the same URL (a claim anyone may file) never hides the site's own. None: no work of
    the holder there."""
    from .lookup.batch import work_matching

    at = at or timezone.now()
    work_id, identifier = work_matching(f"url:{url}", at=at, holder_id=holder_id)
    if work_id is None:
        return None
    work = Work.objects.select_related("holder").get(pk=work_id)
    return work_signals(work=work, jurisdiction=jurisdiction, identifier=identifier, at=at)


def _comment(entry: WorkSignals, terms: list[Term]) -> str:
    sources = "; ".join(f"{t.token} from declaration {', '.join(t.declarations)}" for t in terms)
    return f"# {entry.identifier} (work {entry.work_ref}): {sources}"


def robots_txt(*, holder, domain: str, jurisdiction: str, entries: list[WorkSignals]) -> str:
    """One `User-Agent: *` group: `Content-Usage` rules (a path per url-prefix, most specific last) and a
    `Content-Signal` line, each preceded by a comment naming the declarations it comes from."""
    lines = [
        f"# Kyodaku: AI-use preferences of {holder.name} ({holder.code}) for {domain}, jurisdiction {jurisdiction},",
        f"# generated {iso_z(timezone.now())} from the registry's declarations (not from any regime's default).",
        f"# Content-Usage: {vocabulary(CONTENT_USAGE).version} (draft-ietf-aipref-attach-05); "
        f"Content-Signal: {vocabulary(CONTENT_SIGNAL).name}.",
        "User-Agent: *",
        "Allow: /",
    ]
    for entry in entries:
        usage = entry.terms[CONTENT_USAGE]
        if usage:
            value = ", ".join(f"{t.token}={t.value}" for t in usage)
            lines += [_comment(entry, usage), f"Content-Usage: {entry.path + ' ' if entry.path else ''}{value}"]
        signal = entry.terms[CONTENT_SIGNAL]
        if signal and entry.path is None:  # Content-Signal speaks for the whole group, not a path
            lines += [_comment(entry, signal), "Content-Signal: " + ", ".join(f"{t.token}={t.value}" for t in signal)]
    return "\n".join(lines) + "\n"


def _location(path: str | None) -> str:
    if path is None:
        return "/*"
    return path[:-1] if path.endswith("$") else path + "*"


def tdmrep_json(*, entries: list[WorkSignals]) -> list[dict]:
    """`/.well-known/tdmrep.json`: the most specific location first (the first matching rule applies)."""
    rules = []
    for entry in reversed(entries):
        for term in entry.terms[TDMREP]:
            rule = {"location": _location(entry.path), "tdm-reservation": int(term.value)}
            if entry.license_url:
                rule["tdm-policy"] = entry.license_url
            rules.append(rule)
    return rules


def headers_for(entry: WorkSignals) -> dict[str, str]:
    headers = {}
    usage = entry.terms[CONTENT_USAGE]
    if usage:
        headers["Content-Usage"] = ", ".join(f"{t.token}={t.value}" for t in usage)
    for term in entry.terms[TDMREP]:
        headers["tdm-reservation"] = term.value
        if entry.license_url:
            headers["tdm-policy"] = entry.license_url
    return headers


def cawg_assertion(entry: WorkSignals) -> dict:
    """The `cawg.training-mining` assertion (CAWG 1.1) for a C2PA manifest: one entry per term with a value."""
    return {"label": "cawg.training-mining",
            "data": {"entries": {t.token: {"use": t.value} for t in entry.terms[CAWG]}}}


def url_work(url: str) -> tuple[str, str]:
    """(normalised url, host) of an http(s) URL, else InvalidIdentifier."""
    parsed = parse_identifier(url if url.lower().startswith("url:") else f"url:{url}")
    if parsed.scheme != "url":
        raise InvalidIdentifier("not a URL")
    return parsed.value, url_host(parsed.value)
