"""What the dihedral PDQ search costs (docs/match.md "Mirrored and rotated copies"): the candidates statement
(consent.matching.MATCH_CODES_SQL) for one code set with its one `pdq`, beside the same set with its eight dihedral
codes (eight `pdq` rows of the set, as a file is searched), interleaved query by query, with a round-trip floor.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_<name>_bench_dihedral \\
        .venv/bin/python bench/match_dihedral.py [--size 200000] [--queries 300] [--keep]

The database's name must contain "bench"; it is created, migrated, filled with COPY (uniformly random 256-bit PDQ
codes on one work, as bench/match.py does for phash) and dropped at the end unless --keep. A query is a registered
code with 0-30 random bits flipped (the image as it is) and, for the dihedral form, seven random codes (the other
orientations of an image: as far from everything registered as unrelated codes are). The statement is prepared
(as the server prepares it); p50 / p99 of its wall time from this client and this process's CPU time.
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


def _params(n_sets: list[list[str]]) -> dict:
    ns, codes = [], []
    for n, variants in enumerate(n_sets):
        for code in variants:
            ns.append(n)
            codes.append(code)
    return {"ns": ns, "methods": ["pdq"] * len(codes), "codes": codes, "at": T0, "max_phash": 10, "max_pdq": 70}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]

    import psycopg

    with scratch_database(url, keep=args.keep):
        from consent.matching import MATCH_CODES_SQL

        rng = random.Random(1)
        with psycopg.connect(url, autocommit=True, prepare_threshold=2**31 - 1) as conn:
            conn.execute("SET jit = off")  # as deploy/postgres/postgresql.conf
            codes = _load(conn, args.size, rng)
            queries = []
            for _ in range(args.queries):
                value = codes[rng.randrange(len(codes))]
                for bit in rng.sample(range(256), rng.randrange(0, 31)):
                    value ^= 1 << bit
                queries.append([format(value, "064x")] + [format(rng.getrandbits(256), "064x") for _ in range(7)])
            for variants in queries[:10]:  # past PostgreSQL's five custom plans of a prepared statement
                conn.execute(MATCH_CODES_SQL, _params([variants[:1]]), prepare=True).fetchall()
                conn.execute(MATCH_CODES_SQL, _params([variants]), prepare=True).fetchall()
            wall = {"one pdq": [], "eight pdq": [], "SELECT 1": []}
            cpu = {mode: 0.0 for mode in wall}
            found = {"one pdq": 0, "eight pdq": 0}
            for variants in queries:
                for mode, sql, params in (("one pdq", MATCH_CODES_SQL, _params([variants[:1]])),
                                          ("eight pdq", MATCH_CODES_SQL, _params([variants])),
                                          ("SELECT 1", "SELECT 1", None)):
                    started, started_cpu = time.perf_counter(), time.process_time()
                    rows = conn.execute(sql, params, prepare=True).fetchall()
                    cpu[mode] += time.process_time() - started_cpu
                    wall[mode].append((time.perf_counter() - started) * 1000)
                    if mode in found:
                        found[mode] += bool(rows)
            print(f"load average: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
            for mode, times in wall.items():
                hits = f"; {found[mode]}/{len(queries)} found" if mode in found else " (the floor)"
                print(f"{args.size:,} PDQ codes, {mode:>9}: p50 {percentile(times, 50):.2f} ms, p99 "
                      f"{percentile(times, 99):.2f} ms, mean {statistics.mean(times):.2f} ms, CPU of this process "
                      f"{cpu[mode] / len(times) * 1000:.3f} ms a query{hits}")


def _load(conn, size: int, rng) -> list[int]:
    codes = [rng.getrandbits(256) for _ in range(size)]
    loaded, indexed = codes_load(conn, work=one_work(conn), scheme="pdq", codes=(format(v, "064x") for v in codes))
    log(f"{size:,} PDQ codes loaded and indexed in {loaded + indexed:.0f} s")
    return codes


if __name__ == "__main__":
    main()
