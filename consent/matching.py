"""Finding registered works from content codes (match.md): exact sha256 / iscc, near phash / pdq by Hamming distance.

`match_many` answers up to KYODAKU_MATCH_BATCH_MAX code sets in a fixed number of queries: ONE prepared statement
(as the one-id lookup's: planning it cost 17-30 ms under load, more than running it) finds every candidate of every
code set (exact codes through the two partial (scheme, value) indexes, of current and of ended rows; perceptual
hashes through the band indexes of registry.models.FINGERPRINT_BANDS, then the exact Hamming distance in SQL with
`bit_count`), then ONE `lookup_many` call answers for every matched identifier and for every code set without a
match (the regime's answer for an unregistered work). docs/match.md explains the bands, the recall guarantee and
the defaults.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from core.errors import ValidationFailed, field_error
from registry.fingerprints import hamming
from registry.identifiers import InvalidIdentifier, normalise
from registry.models import BAND_HEX_DIGITS, FINGERPRINT_BANDS, Identifier

from .lookup import lookup_many
from .lookup.one_id import _one_id_rows as prepared_rows
from .lookup.request import as_of_or_now
from .lookup.rows import on_postgresql
from .lookup.sql import _valid_at, identifiers_valid_at

__all__ = ["METHODS", "DEFAULT_MAX_DISTANCE", "MAX_DISTANCE_LIMIT", "PDQ_DIHEDRAL", "CodeSet", "match_many",
           "codes_from_mapping"]

# In the order a tie is broken: an exact file hash first (match.md), then the content code, then the hashes.
METHODS = ("sha256", "iscc", "pdq", "phash")
EXACT_METHODS = ("sha256", "iscc")
BITS = {"phash": 64, "pdq": 256}
# Chosen from bench/match_testset.py (docs/match.md, "Precision and recall"): the largest distance at which the
# test set's unrelated pairs still never matched, which keeps recall of the common transformations high.
DEFAULT_MAX_DISTANCE = {"phash": 10, "pdq": 70}
# Above these a "match" is noise (half the bits of a random pair differ) and the band index stops narrowing.
MAX_DISTANCE_LIMIT = {"phash": 24, "pdq": 96}
DEFAULT_LIMIT = 5
MAX_LIMIT = 50
# The PDQ codes of an image's eight dihedral transformations (registry.fingerprints, pdqhash.compute_dihedral): a
# code set may carry them beside `pdq` so that a mirrored or rotated copy of a registered image is found. Each is
# searched as `pdq` is, in the same statement; a work's distance is its nearest variant's.
PDQ_DIHEDRAL = "pdq_dihedral"
DIHEDRAL_VARIANTS = 8


@dataclass(frozen=True, slots=True)
class CodeSet:
    """One thing to match: its codes by method, normalised (e.g. {"phash": "d1c4...", "sha256": "..."}), and
    `pdq_variants`, further PDQ codes of the same content (its flips and rotations), searched like `pdq`."""

    codes: Mapping[str, str]
    pdq_variants: tuple[str, ...] = ()

    def searched(self):
        """(method, code) pairs to search: every code, and every PDQ variant not already `pdq` itself."""
        yield from self.codes.items()
        for code in self.pdq_variants:
            if code != self.codes.get("pdq"):
                yield "pdq", code


def codes_from_mapping(raw, *, field: str = "codes") -> CodeSet:
    """A CodeSet from a request's `{"sha256": ..., "iscc": ..., "phash": ..., "pdq": ...}`, or ValidationFailed."""
    if not isinstance(raw, dict) or not raw:
        raise ValidationFailed(f"`{field}` must be an object with at least one of {', '.join(METHODS)}.",
                               errors=[field_error(field, "invalid", "An object of codes by method.")])
    codes, errors, variants = {}, [], []
    for method, value in raw.items():
        if method == PDQ_DIHEDRAL:
            variants = _pdq_variants(value, field=f"{field}.{method}", errors=errors)
            continue
        if method not in METHODS:
            errors.append(field_error(f"{field}.{method}", "unknown-method",
                                      f"Methods are {', '.join(METHODS)}."))
            continue
        if not isinstance(value, str):
            errors.append(field_error(f"{field}.{method}", "invalid", "A code is a string."))
            continue
        try:
            codes[method] = normalise(method, value)
        except InvalidIdentifier as exc:
            errors.append(field_error(f"{field}.{method}", "invalid-identifier", exc.detail))
    if errors:
        raise ValidationFailed(f"Some codes in `{field}` are not valid.", errors=errors)
    if variants and "pdq" not in codes:
        codes["pdq"] = variants[0]  # the first variant is the image as it is (pdqhash.compute_dihedral's order)
    return CodeSet(codes, tuple(dict.fromkeys(variants)))


def _pdq_variants(value, *, field: str, errors: list) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= DIHEDRAL_VARIANTS:
        errors.append(field_error(field, "invalid", f"A list of 1 to {DIHEDRAL_VARIANTS} PDQ codes (64 hex digits), "
                                                    "the first the image as it is."))
        return []
    variants = []
    for i, code in enumerate(value):
        if not isinstance(code, str):
            errors.append(field_error(f"{field}[{i}]", "invalid", "A code is a string."))
            continue
        try:
            variants.append(normalise("pdq", code))
        except InvalidIdentifier as exc:
            errors.append(field_error(f"{field}[{i}]", "invalid-identifier", exc.detail))
    return variants


def _band_condition(scheme: str) -> str:
    """`i`'s value shares at least one band with q.code: one OR term per band, each the expression of its index."""
    return " OR ".join(
        f"substring(i.value, {1 + BAND_HEX_DIGITS * b}, {BAND_HEX_DIGITS}) = "
        f"substring(q.code, {1 + BAND_HEX_DIGITS * b}, {BAND_HEX_DIGITS})"
        for b in range(FINGERPRINT_BANDS[scheme])
    )


def _near_part(scheme: str) -> str:
    """The near matches of one perceptual scheme. `OFFSET 0` keeps the lateral sub-query from being pulled up into
    a join: pulled up, the band conditions became join filters and at 10 million rows the planner chose a
    sequential scan (8.4 s); kept apart, q.code is a parameter of the sub-query and its band ORs a BitmapOr of the
    band indexes (16 ms cold, EXPLAIN ANALYZE, docs/performance.md)."""
    bits = BITS[scheme]
    return f"""
SELECT q.n, '{scheme}', c.value, c.work_id, c.distance
  FROM q CROSS JOIN LATERAL (
       SELECT i.value, i.work_id::text AS work_id,
              bit_count(('x' || i.value)::bit({bits}) # ('x' || q.code)::bit({bits})) AS distance
         FROM {Identifier._meta.db_table} i
        WHERE q.method = '{scheme}' AND i.scheme = '{scheme}' AND ({_band_condition(scheme)})
          AND {_valid_at("i")}
       OFFSET 0) c
 WHERE q.method = '{scheme}' AND c.distance <= %(max_{scheme})s"""


# Rows: (code set number, scheme, value, work_id, distance).
MATCH_CODES_SQL = f"""
WITH q AS MATERIALIZED (
  SELECT * FROM unnest(%(ns)s::int[], %(methods)s::text[], %(codes)s::text[]) AS q(n, method, code))
SELECT q.n, i.scheme, i.value, i.work_id::text, 0
  FROM q CROSS JOIN LATERAL {identifiers_valid_at("q.method", "q.code")} i
 WHERE q.method IN ('sha256', 'iscc')
UNION ALL{_near_part("phash")}
UNION ALL{_near_part("pdq")}"""


def _candidates_orm(code_sets: Sequence[CodeSet], max_distance: Mapping[str, int], at: datetime) -> list[tuple]:
    """The same rows as MATCH_CODES_SQL on other databases (the SQLite demo): the fingerprints read, distances in
    Python. One query."""
    from django.db.models import Q

    valid = Q(valid_from__lte=at) & (Q(valid_until__isnull=True) | Q(valid_until__gt=at))
    wanted = {m for cs in code_sets for m, _code in cs.searched()}
    exact = {(m, v) for cs in code_sets for m, v in cs.codes.items() if m in EXACT_METHODS}
    rows = Identifier.objects.filter(valid, scheme__in=wanted).values_list("scheme", "value", "work_id")
    out = []
    for scheme, value, work_id in rows:
        for n, cs in enumerate(code_sets):
            for method, code in cs.searched():
                if method != scheme:
                    continue
                if scheme in EXACT_METHODS:
                    if (scheme, value) in exact and value == code:
                        out.append((n, scheme, value, str(work_id), 0))
                elif (d := hamming(code, value)) <= max_distance[scheme]:
                    out.append((n, scheme, value, str(work_id), d))
    return out


def _score(method: str, distance: int) -> float:
    return 1.0 if method in EXACT_METHODS else round(1 - distance / BITS[method], 4)


def match_many(*, code_sets: Sequence[CodeSet], purpose: str, jurisdiction: str, as_of: datetime | None = None,
               limit: int = DEFAULT_LIMIT, max_distance: Mapping[str, int] | None = None,
               organisation_id=None) -> list[dict]:
    """Per code set, `{"matches": [...], "answer": ...}`: `matches` best first, one entry per work
    (`{work, holder, method, distance, score, answer}`, `answer` the full lookup result); with no match,
    `answer` is the lookup answer for the set's own code (unregistered), so a client can fail closed either way.

    Two database round trips for the candidates and the lookup's fixed queries (lookup_many), whatever the size.
    """
    at = as_of_or_now(as_of)
    distances = {**DEFAULT_MAX_DISTANCE, **(max_distance or {})}
    if on_postgresql():
        ns, methods, codes = [], [], []
        for n, cs in enumerate(code_sets):
            for method, code in cs.searched():  # a set's PDQ variants: more `pdq` rows of the same set
                ns.append(n)
                methods.append(method)
                codes.append(code)
        rows = prepared_rows(MATCH_CODES_SQL, {"ns": ns, "methods": methods, "codes": codes, "at": at,
                                          "max_phash": distances["phash"], "max_pdq": distances["pdq"]})
    else:
        rows = _candidates_orm(code_sets, distances, at)
    order = {m: i for i, m in enumerate(METHODS)}
    best: list[dict] = [{} for _ in code_sets]  # per code set: work_id -> (rank key, scheme, value, distance)
    for n, scheme, value, work_id, distance in rows:
        key = (scheme != "sha256", -_score(scheme, distance), order[scheme], distance, value)
        held = best[n].get(work_id)
        if held is None or key < held[0]:
            best[n][work_id] = (key, scheme, value, distance)
    chosen = [sorted(by_work.values())[:limit] for by_work in best]
    ids, seen = [], {}
    own = []  # per code set: its own first code, looked up too (the answer when nothing matches)
    for n, cs in enumerate(code_sets):
        method = next(m for m in METHODS if m in cs.codes)
        own.append(f"{method}:{cs.codes[method]}")
        for identifier in (*(f"{s}:{v}" for _k, s, v, _d in chosen[n]), own[n]):
            if identifier not in seen:
                seen[identifier] = len(ids)
                ids.append(identifier)
    answers = lookup_many(ids=ids, purpose=purpose, jurisdiction=jurisdiction, as_of=at,
                          organisation_id=organisation_id)
    results = []
    for n in range(len(code_sets)):
        matches = []
        for _key, scheme, value, distance in chosen[n]:
            answer = answers[seen[f"{scheme}:{value}"]]
            if not answer.get("registered"):  # the work was not yet registered at `at`
                continue
            matches.append({"work": answer["work"], "holder": answer["holder"], "method": scheme,
                            "distance": distance, "score": _score(scheme, distance), "answer": answer})
        results.append({"matches": matches, "answer": None if matches else answers[seen[own[n]]]})
    return results
