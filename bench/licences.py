"""Lookups with licences beside lookups without, in the same run (issue 18: "no more than one extra query per
batch, and the single-lookup p99 unchanged within noise").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_licences \\
        .venv/bin/python bench/licences.py --works 200000 --declarations 400000 --sites 5000 --rounds 5

1. Load (unless --skip-load) the registry of bench/decide.py (its `load`: holders, works with ISBNs, web
   identifiers, declarations, disputes), then COPY two organisations: `bench-licensed`, holding a work licence for
   one work in --licensed-every (train-ai in JP, or `*` for every other one) and a catalogue licence from one
   holder in 20, and `bench-unlicensed`, holding none.
2. Batches of --batch ids (bench/decide.py's mix) for train-genai in JP through consent.lookup.lookup_many, asked
   three ways in turn on the same ids: with the licensed organisation, with the unlicensed one, and publicly (no
   organisation); --rounds batches each, interleaved so that the machine's load falls on all three alike. The
   queries of one batch each way are counted (untimed pass).
3. --singles ids one at a time through lookup_one, the three ways interleaved id by id: p50 and p99 latency and
   this process's CPU time per id, apart for web ids (url:, domain:, which go on to the batch path when they
   match a work) and the others (the one statement alone); statements per id counted on the first 200 of each
   (untimed pass). Public is the floor: a licensee's single id should cost what a public one does.

Refuses to load into a database whose name does not contain "bench".
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decide import (  # noqa: E402  (bench/decide.py, run from bench/)
    T0,
    data_arguments,
    database_url,
    load_unless_skipped,
    log,
    lookup_ids,
)

MODES = ("licensed org", "unlicensed org", "public")
WEB_PREFIXES = ("url:", "url-prefix:", "domain:")


def load_licences(url: str, *, every: int) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE consent_permissionrequest_works, consent_permissionrequest_licences, "
                     "consent_permissionrequest, consent_licence CASCADE")
        # A rerun on the same data: the last run's API keys point at the organisations it replaces.
        conn.execute("DELETE FROM keys_apikey WHERE organisation_id IN "
                     "(SELECT id FROM registry_organisation WHERE code LIKE 'bench-%%')")
        conn.execute("DELETE FROM registry_organisation WHERE code LIKE 'bench-%%'")
        licensed, unlicensed = uuid.uuid4(), uuid.uuid4()
        for oid, code in ((licensed, "bench-licensed"), (unlicensed, "bench-unlicensed")):
            conn.execute("INSERT INTO registry_organisation (id, name, code, contact_email, created_at, "
                         "name_shown_to_holders) VALUES (%s, %s, %s, '', %s, false)", [oid, code, code, T0])
        works = conn.execute("SELECT id, holder_id FROM registry_work "
                             "WHERE substring(work_ref from 2)::bigint %% %s = 0", [every]).fetchall()
        holders = [row[0] for row in conn.execute("SELECT id FROM registry_holder ORDER BY code").fetchall()]
        columns = ("id, holder_id, licensee_id, scope, work_id, purposes, jurisdictions, license_url, conditions, "
                   "effective_from, effective_until, recorded_at, superseded_at, superseded_by_id, revoked_at, "
                   "filed_by_id")
        with conn.cursor().copy(f"COPY consent_licence ({columns}) FROM STDIN") as copy:
            for n, (wid, hid) in enumerate(works):
                copy.write_row((uuid.uuid4(), hid, licensed, "work", wid, '["train-ai"]',
                                '["JP"]' if n % 2 else '["*"]', "", "", T0, None, T0, None, None, None, None))
            for hid in holders[::20]:
                copy.write_row((uuid.uuid4(), hid, licensed, "catalogue", None, '["train-genai"]', '["JP"]', "",
                                "", T0, None, T0, None, None, None, None))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE consent_licence, registry_organisation")
    log(f"licences: {len(works)} work licences, {len(holders[::20])} catalogue licences to bench-licensed")


def organisations() -> dict:
    from registry.models import Organisation

    ids = dict(Organisation.objects.filter(code__startswith="bench-").values_list("code", "id"))
    return {"licensed org": ids["bench-licensed"], "unlicensed org": ids["bench-unlicensed"], "public": None}


def measure(*, works: int, holders: int, sites: int, batch: int, rounds: int, singles: int, seed: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from consent.lookup import lookup_many, lookup_one

    orgs = organisations()
    rng = random.Random(seed)
    batches = [lookup_ids(batch, works=works, holders=holders, sites=sites, rng=rng) for _ in range(rounds)]
    ask = {"purpose": "train-genai", "jurisdiction": "JP"}
    queries, licensed_answers = {}, 0
    for mode in MODES:  # untimed: warm the caches (the first batch also builds the rule book)
        lookup_many(ids=batches[0], organisation_id=orgs[mode], **ask)
    for mode in MODES:  # untimed: count the queries of one batch
        with CaptureQueriesContext(connection) as captured:
            results = lookup_many(ids=batches[0], organisation_id=orgs[mode], **ask)
        queries[mode] = len(captured.captured_queries)
        if os.environ.get("BENCH_SHOW_SQL"):
            print(mode, [q["sql"][:90] for q in captured.captured_queries])
        if mode == "licensed org":
            licensed_answers = sum(1 for r in results if r.get("basis") == "licensed")
    seconds = {mode: 0.0 for mode in MODES}
    for ids in batches:
        for mode in MODES:
            started = time.perf_counter()
            lookup_many(ids=ids, organisation_id=orgs[mode], **ask)
            seconds[mode] += time.perf_counter() - started
    one_ids = lookup_ids(singles, works=works, holders=holders, sites=sites, rng=rng)
    for one in one_ids[:200]:  # untimed: prepare the statements on this connection
        for mode in MODES:
            lookup_one(id=one, organisation_id=orgs[mode], **ask)
    # Web ids (url:, domain:) that match a work go on from the one-id statement to the batch path (interop.md's
    # verified control); every other id is the one statement alone. Reported apart, as "other" and "web".
    kinds = {"other": [i for i, one in enumerate(one_ids) if not one.startswith(WEB_PREFIXES)],
             "web": [i for i, one in enumerate(one_ids) if one.startswith(WEB_PREFIXES)]}
    singles_queries = {}
    for mode in MODES:  # untimed: statements per single id, on the first 200 ids of each kind
        for kind, indexes in kinds.items():
            with CaptureQueriesContext(connection) as captured:
                for i in indexes[:200]:
                    lookup_one(id=one_ids[i], organisation_id=orgs[mode], **ask)
            singles_queries[mode, kind] = len(captured.captured_queries) / max(1, len(indexes[:200]))
    latencies = {mode: [] for mode in MODES}
    cpu = {mode: [] for mode in MODES}
    for one in one_ids:
        for mode in MODES:
            started, started_cpu = time.perf_counter(), time.process_time()
            lookup_one(id=one, organisation_id=orgs[mode], **ask)
            cpu[mode].append((time.process_time() - started_cpu) * 1000)
            latencies[mode].append((time.perf_counter() - started) * 1000)
    print(f"load average: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"batches: {rounds} x {batch} ids, train-genai/JP; {licensed_answers} of the first batch's answers "
          f"licensed for bench-licensed")
    for mode in MODES:
        rate = rounds * batch / seconds[mode]
        print(f"{mode:>15}: batch {queries[mode]} queries, {rate:,.0f} ids/s ({seconds[mode] / rounds * 1000:.0f} "
              f"ms a batch)")
    for kind, indexes in kinds.items():
        for mode in MODES:
            ms = sorted(latencies[mode][i] for i in indexes)
            p50, p99 = statistics.median(ms), ms[int(0.99 * (len(ms) - 1))]
            print(f"{mode:>15}, single {kind} ids: {singles_queries[mode, kind]:.2f} statements an id, p50 {p50:.2f} "
                  f"ms, p99 {p99:.2f} ms, CPU of this process {statistics.fmean(cpu[mode][i] for i in indexes):.3f} "
                  f"ms an id ({len(ms)} ids)")
    print(f"ratio licensed/public: batch time x{seconds['licensed org'] / seconds['public']:.2f}, "
          f"extra queries per batch {queries['licensed org'] - queries['public']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_arguments(parser, sites=5_000, disputes=200, seed=7)
    parser.add_argument("--licensed-every", type=int, default=10, help="a work licence for one work in N")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--singles", type=int, default=2_000)
    args = parser.parse_args()
    database_url()

    import django

    django.setup()
    if load_unless_skipped(args):
        load_licences(database_url(), every=args.licensed_every)
    measure(works=args.works, holders=args.holders, sites=args.sites, batch=args.batch, rounds=args.rounds,
            singles=args.singles, seed=args.seed)


if __name__ == "__main__":
    main()
