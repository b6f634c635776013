"""Benchmark: what the lookup statistics (consent.usage) cost on the lookup path, counting on vs off in ONE run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_usage \\
        .venv/bin/python bench/lookup_counting.py --works 200000 --declarations 400000 --rounds 5

1. Load (unless --skip-load) with bench/decide.py's loader (holders, works with an ISBN each, web sites,
   declarations, open disputes).
2. Counters in Redis (--redis-url, as KYODAKU_USAGE_REDIS_URL), emptied first.
3. --rounds rounds, each timing, with counting ON and then OFF (the order alternates per round, so drift and the
   machine's other load fall on both alike), consent.lookup.lookup_many as the API calls it (with an organisation
   id, so the answers are counted when ON):
   (a) --singles single lookups, one id per call (the GET path: ONE prepared statement + one Redis pipeline);
   (b) --batches batches of --batch ids of decide.py's mix (one pipeline per batch, aggregated in Python first).
   The floor in the same run: the same calls with counting OFF. Reports medians and the ON/OFF ratio; then times
   one flush (consent.usage.lookup_counts_flush) of everything counted.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "0"

import decide  # noqa: E402  (the engine benchmark: its loader and identifier mix)

PURPOSE, JURISDICTION = "train-genai", "JP"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    decide.data_arguments(parser, sites=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--singles", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    args = parser.parse_args()

    import django

    os.environ["KYODAKU_USAGE_REDIS_URL"] = args.redis_url
    django.setup()
    from django.conf import settings

    settings.KYODAKU_USAGE_REDIS_URL = args.redis_url
    decide.load_unless_skipped(args)

    import consent.lookup as lookup_module
    from consent import usage
    from keys.services import organisation_ensure

    organisation_id = organisation_ensure(name="Bench Labs").id
    store = usage.usage_store()
    store.clear()
    real_count = lookup_module.lookups_count
    rng = random.Random(args.seed)
    singles = decide.lookup_ids(args.singles, works=args.works, holders=args.holders, sites=args.sites, rng=rng)
    batches = [decide.lookup_ids(args.batch, works=args.works, holders=args.holders, sites=args.sites, rng=rng)
               for _ in range(args.batches)]

    def run_singles():
        started = time.perf_counter()
        for one in singles:
            lookup_module.lookup_many(ids=[one], purpose=PURPOSE, jurisdiction=JURISDICTION,
                                      organisation_id=organisation_id)
        return len(singles) / (time.perf_counter() - started)

    def run_batches():
        started = time.perf_counter()
        for ids in batches:
            lookup_module.lookup_many(ids=ids, purpose=PURPOSE, jurisdiction=JURISDICTION,
                                      organisation_id=organisation_id)
        return sum(map(len, batches)) / (time.perf_counter() - started)

    spent_counting = {"singles": 0.0, "batches": 0.0}
    current = ["singles"]

    def timed_count(*a, **k):
        started = time.perf_counter()
        real_count(*a, **k)
        spent_counting[current[0]] += time.perf_counter() - started

    def counting(on: bool):
        lookup_module.lookups_count = timed_count if on else (lambda *a, **k: None)

    spent_counting_reset = spent_counting.copy()
    counting(True)
    run_singles()  # warm: prepared statements, rule book, Redis connection
    run_batches()
    spent_counting.update(spent_counting_reset)
    figures = {(kind, on): [] for kind in ("singles", "batches") for on in (True, False)}
    for r in range(args.rounds):
        for on in ((True, False) if r % 2 == 0 else (False, True)):
            counting(on)
            current[0] = "singles"
            figures[("singles", on)].append(run_singles())
            current[0] = "batches"
            figures[("batches", on)].append(run_batches())
        log(f"round {r + 1}: singles on {figures[('singles', True)][-1]:,.0f}/s off "
            f"{figures[('singles', False)][-1]:,.0f}/s; batches on {figures[('batches', True)][-1]:,.0f} ids/s "
            f"off {figures[('batches', False)][-1]:,.0f} ids/s")
    counting(True)

    for kind, unit in (("singles", "lookups/s"), ("batches", "ids/s")):
        on, off = statistics.median(figures[(kind, True)]), statistics.median(figures[(kind, False)])
        ratios = [a / b for a, b in zip(figures[(kind, True)], figures[(kind, False)], strict=True)]
        print(f"{kind}: counting ON {on:,.0f} {unit}, OFF (floor) {off:,.0f} {unit}, ratio ON/OFF {on / off:.3f} "
              f"(per-round ratios: {', '.join(f'{x:.3f}' for x in ratios)})")
    for kind, calls in (("singles", len(singles)), ("batches", len(batches))):
        print(f"{kind}: time inside lookups_count (the counting itself, ON rounds): "
              f"{spent_counting[kind] / (calls * args.rounds) * 1000:.2f} ms per request")
    started = time.perf_counter()
    written = usage.lookup_counts_flush()
    print(f"flush: {written['works']:,} work rows, {written['organisations']:,} organisation rows in "
          f"{time.perf_counter() - started:.2f} s")
    store.clear()
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
