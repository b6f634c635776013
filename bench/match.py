"""Latency of the near-match search (consent.matching.MATCH_CODES_SQL) at 100k / 1M / 10M phash fingerprints,
beside a sequential-scan floor and a plain in-memory Python loop, in the same run (docs/performance.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_match_bench \\
        .venv/bin/python bench/match.py [--sizes 100000,1000000,10000000] [--queries 300] [--keep]

The database's name must contain "bench"; it is created, migrated, filled with COPY (uniformly random 64-bit
phashes, all on one work: the search reads only identifier rows) and dropped at the end unless --keep. Indexes are
dropped before each load and rebuilt after it. Queries: registered hashes
with 0-8 random bits flipped, one code set per statement, prepared as the server prepares it (p50 / p99 of the
statement's wall time from this client), and batches of 100 (throughput).
Floors: `SELECT 1` (the round trip on this machine at this load), and the same statement with index scans disabled
(it reads every row). Python: a list of ints, XOR and
bit_count over all of them.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

from _match_data import T0, codes_load, log, one_work, percentile, scratch_database  # noqa: E402  (bench/)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000,10000000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--floor-queries", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the fingerprints already loaded by a --keep run; load nothing")
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]

    import psycopg

    with scratch_database(url, create=not args.reuse, keep=args.keep):
        from consent.matching import MATCH_CODES_SQL

        rng = random.Random(1)
        hashes: list[int] = []
        # Only statements executed with prepare=True are prepared (as consent.lookup.one_id does on Django's
        # connection): the match statement; the floor's runs are not, so its SETs reach the planner.
        with psycopg.connect(url, autocommit=True, prepare_threshold=2**31 - 1) as conn:
            settings = {s: conn.execute(f"SHOW {s}").fetchone()[0] for s in ("shared_buffers", "autovacuum",
                                                                              "work_mem", "max_parallel_workers")}
            conn.execute("SET jit = off")  # as deploy/postgres/postgresql.conf
            log(f"PostgreSQL settings: {settings}, jit off")
            if args.reuse:
                hashes.extend(int(v, 16) for (v,) in conn.execute(
                    "SELECT value FROM registry_identifier WHERE scheme = 'phash'"))
                log(f"reusing {len(hashes):,} phashes")
                _measure(conn, MATCH_CODES_SQL, hashes, len(hashes), args, rng)
                return
            work = one_work(conn)
            for size in [int(s) for s in args.sizes.split(",")]:
                _load(conn, hashes, size, work, rng)
                _measure(conn, MATCH_CODES_SQL, hashes, size, args, rng)


def _load(conn, hashes: list[int], size: int, work, rng) -> None:
    """Grow the loaded phashes to `size` (each size of --sizes adds to the last)."""
    first = len(hashes)
    hashes.extend(rng.getrandbits(64) for _ in range(first, size))
    loaded, indexed = codes_load(conn, work=work, scheme="phash", codes=(format(v, "016x") for v in hashes[first:]),
                                 first=first)
    size_mb = conn.execute("SELECT pg_total_relation_size('registry_identifier') / 1048576").fetchone()[0]
    log(f"{size:,} phashes: COPY {loaded:.0f} s, indexes + VACUUM ANALYZE {indexed:.0f} s, "
        f"table + indexes {size_mb:,} MB")


def _queries(hashes, n, rng):
    out = []
    for _ in range(n):
        value = hashes[rng.randrange(len(hashes))]
        for bit in rng.sample(range(64), rng.randrange(0, 9)):
            value ^= 1 << bit
        out.append(format(value, "016x"))
    return out


def _params(codes):
    return {"ns": list(range(len(codes))), "methods": ["phash"] * len(codes), "codes": codes, "at": T0,
            "max_phash": 10, "max_pdq": 70}


def _measure(conn, sql, hashes, size, args, rng) -> None:
    queries = _queries(hashes, args.queries, rng)
    plan = conn.execute("EXPLAIN " + sql, _params(queries[:1])).fetchall()
    uses_bands = any("identifier_phash_b" in row[0] for row in plan)
    for code in queries[:10]:  # PostgreSQL plans a prepared statement 5 times before it keeps a generic plan
        conn.execute(sql, _params([code]), prepare=True).fetchall()
    times, found = [], 0
    for code in queries:
        started = time.perf_counter()
        rows = conn.execute(sql, _params([code]), prepare=True).fetchall()
        times.append((time.perf_counter() - started) * 1000)
        found += bool(rows)
    trips = []
    for _ in range(len(queries)):
        started = time.perf_counter()
        conn.execute("SELECT 1", prepare=True).fetchall()
        trips.append((time.perf_counter() - started) * 1000)
    batches = [queries[i:i + 100] for i in range(0, len(queries), 100)]
    started = time.perf_counter()
    for batch in batches:
        conn.execute(sql, _params(batch), prepare=True).fetchall()
    batch_rate = len(queries) / (time.perf_counter() - started)
    log(f"{size:,}: band index (plan uses band indexes: {uses_bands}): p50 {percentile(times, 50):.2f} ms, "
        f"p99 {percentile(times, 99):.2f} ms, {1000 / statistics.mean(times):.0f} queries/s one at a time, "
        f"{batch_rate:.0f} code sets/s in batches of 100; {found}/{len(queries)} found; "
        f"round-trip floor (SELECT 1) p50 {percentile(trips, 50):.2f} ms, p99 {percentile(trips, 99):.2f} ms")

    conn.execute("SET enable_bitmapscan = off")
    conn.execute("SET enable_indexscan = off")
    floor = []
    for code in queries[: args.floor_queries]:
        started = time.perf_counter()
        conn.execute(sql, _params([code]), prepare=False).fetchall()
        floor.append((time.perf_counter() - started) * 1000)
    conn.execute("RESET enable_bitmapscan")
    conn.execute("RESET enable_indexscan")
    python = []
    for code in queries[: args.floor_queries]:
        q = int(code, 16)
        started = time.perf_counter()
        [h for h in hashes if (h ^ q).bit_count() <= 10]
        python.append((time.perf_counter() - started) * 1000)
    log(f"{size:,}: sequential-scan floor median {statistics.median(floor):.0f} ms ({len(floor)} queries); "
        f"in-memory Python loop median {statistics.median(python):.0f} ms ({len(python)} queries)")


if __name__ == "__main__":
    main()
