"""Benchmark of the lookup API over HTTP: gunicorn (2 sync workers) on 127.0.0.1:--port, PostgreSQL with 1M works.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_api \\
        .venv/bin/python bench/lookup_http.py --works 1000000 --declarations 2000000

1. Load (unless --skip-load) with the engine benchmark's loader (bench/decide.py `load`: 1,000 holders, --works works
   with an ISBN each, 50,000 web sites, --declarations declarations, 1,000 open disputes).
2. Bare SQL floors, as in bench/decide.py: record the SQL that consent.lookup.lookup_many issues for batches of
   10,000 ids, replay it with a bare psycopg cursor, report ids/s; the same for lookup_one on 1,000 single ids
   (its one statement per id replayed prepared, as lookup_one sends it).
3. Start gunicorn (production settings, DEBUG off, Redis cache for the rate limiter), issue an API key with a high
   rate limit (so the Redis counter is on the path), then measure
   (a) single `GET /api/v1/lookup` with --clients concurrent clients for --seconds: requests/s, p50/p99 latency;
   (b) `POST /api/v1/lookup` batches of --batch ids with --batch-clients concurrent clients: identifiers/s.
   Every response must be 200 (anything else is counted and reported). Stops gunicorn at the end.

The client runs on the same 2 cores as gunicorn and PostgreSQL, so it competes with them: figures are a floor.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "0"

import _serve  # noqa: E402  (bench/_serve.py: gunicorn for the HTTP benchmarks)
import decide  # noqa: E402  (the engine benchmark: its loader and identifier mix)

HOST, PORT = _serve.HOST, 8108  # --port
PURPOSE, JURISDICTION = "train-genai", "JP"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def bare_sql_rate(ids: list[str], batch: int) -> tuple[float, float]:
    """(lookup_many ids/s, bare SQL ids/s) over `ids` in batches, as bench/decide.py measures them."""
    import psycopg
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from consent.lookup import lookup_many

    batches = [ids[k:k + batch] for k in range(0, len(ids), batch)]
    recorded = []
    for chunk in batches:  # untimed: warm caches, record SQL
        with CaptureQueriesContext(connection) as queries:
            lookup_many(ids=chunk, purpose=PURPOSE, jurisdiction=JURISDICTION, as_of=decide.AS_OF)
        recorded.append([q["sql"] for q in queries.captured_queries])
    started = time.perf_counter()
    for chunk in batches:
        lookup_many(ids=chunk, purpose=PURPOSE, jurisdiction=JURISDICTION, as_of=decide.AS_OF)
    engine = len(ids) / (time.perf_counter() - started)
    with psycopg.connect(os.environ["DATABASE_URL"]) as raw:
        started = time.perf_counter()
        for statements in recorded:
            for sql in statements:
                raw.execute(sql).fetchall()
        sql = len(ids) / (time.perf_counter() - started)
    return engine, sql


def bare_sql_single_rate(ids: list[str]) -> tuple[float, float]:
    """(lookup_one lookups/s, bare SQL lookups/s) for one id at a time, one connection: the single-GET floor.

    bench/decide.py `single_rates`: the statements lookup_one sends, replayed prepared with a bare psycopg connection.
    """
    engine, sql, _ = decide.single_rates(ids, purpose=PURPOSE, jurisdiction=JURISDICTION)
    return engine, sql


def start_gunicorn(redis_url: str) -> subprocess.Popen:
    """2 sync workers on HOST:PORT (bench/spawning_http.py serves the same way); BENCH_ACCESS_LOG=1 prints the log."""
    access_log = bool(os.environ.get("BENCH_ACCESS_LOG"))
    return _serve.start_gunicorn(
        ["--workers", "2", "--bind", f"{HOST}:{PORT}", "--access-logfile", "-" if access_log else "/dev/null",
         "--log-level", "warning"],
        port=PORT, env=_serve.production_env(port=PORT, redis_url=redis_url),
        output=None if access_log else subprocess.DEVNULL)


def _request(method: str, path: str, headers: dict, body: bytes | None = None) -> tuple[int, bytes]:
    # gunicorn's sync workers close the connection after each response: one connection per request.
    conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def run_clients(clients: int, work, seconds: float | None = None, total: int | None = None):
    """Run `work(i)` in `clients` threads until `seconds` pass or `total` calls are made; per-call latencies."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    counter = iter(range(10**12))
    deadline = time.perf_counter() + seconds if seconds else None

    def loop():
        while True:
            i = next(counter)
            if total is not None and i >= total:
                return
            if deadline is not None and time.perf_counter() >= deadline:
                return
            t = time.perf_counter()
            status = work(i)
            elapsed = time.perf_counter() - t
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, statuses


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    global PORT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    decide.data_arguments(parser, works=1_000_000, declarations=2_000_000)
    parser.add_argument("--load-only", action="store_true", help="load the data, measure nothing")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients for single lookups")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of the single-lookup run")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=20, help="batch POSTs to send")
    parser.add_argument("--batch-clients", type=int, default=2)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--port", type=int, default=PORT, help="gunicorn binds 127.0.0.1 on this port")
    args = parser.parse_args()
    decide.database_url()
    PORT = args.port

    import django

    django.setup()
    decide.load_unless_skipped(args)

    if args.load_only:
        return
    from keys.services import api_key_create

    rng = random.Random(args.seed)
    ids = decide.lookup_ids(args.batch * args.batches, works=args.works, holders=args.holders, sites=args.sites,
                            rng=rng)
    log("bare SQL floor (same method as bench/decide.py)")
    engine_rate, sql_rate = bare_sql_rate(ids[: args.batch * 5], args.batch)
    log(f"lookup_many: {engine_rate:,.0f} ids/s; bare SQL: {sql_rate:,.0f} ids/s")
    single_ids = [i for i in ids[:1000] if i != "isbn:978-0-00-000000-0"]
    one_rate, one_sql_rate = bare_sql_single_rate(single_ids)
    log(f"one id at a time: lookup_one {one_rate:,.0f}/s; bare SQL {one_sql_rate:,.0f}/s")

    _, key = api_key_create(name="bench lookup_http", rate="1000000/s")
    headers = {"Authorization": f"Api-Key {key}"}
    proc = start_gunicorn(args.redis_url)
    try:
        # The mix minus its deliberately invalid ids (a single GET of one is a 400, not a lookup).
        singles = [
            "/api/v1/lookup?" + urllib.parse.urlencode({"id": i, "purpose": PURPOSE, "jurisdiction": JURISDICTION})
            for i in ids[:50_000] if i != "isbn:978-0-00-000000-0"
        ]

        def single(i: int) -> int:
            return _request("GET", singles[i % len(singles)], headers)[0]

        run_clients(args.clients, single, seconds=3)  # warm-up: workers' connections and rule books
        load_before = os.getloadavg()
        elapsed, latencies, statuses = run_clients(args.clients, single, seconds=args.seconds)
        single_rate = len(latencies) / elapsed
        p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
        log(f"(a) single GET: {len(latencies)} requests in {elapsed:.1f} s = {single_rate:,.0f}/s; "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms; statuses {statuses}")

        bodies = [json.dumps({"ids": ids[k * args.batch:(k + 1) * args.batch], "purpose": PURPOSE,
                              "jurisdiction": JURISDICTION}).encode() for k in range(args.batches)]
        post_headers = {**headers, "Content-Type": "application/json"}

        def batch(i: int) -> int:
            status, body = _request("POST", "/api/v1/lookup", post_headers, bodies[i % len(bodies)])
            if status == 200 and len(json.loads(body)["results"]) != args.batch:
                return -1
            return status

        run_clients(args.batch_clients, batch, total=args.batch_clients)  # warm-up
        elapsed_b, batch_latencies, batch_statuses = run_clients(args.batch_clients, batch, total=args.batches)
        batch_rate = args.batch * len(batch_latencies) / elapsed_b
        log(f"(b) batch POST: {len(batch_latencies)} x {args.batch} ids in {elapsed_b:.1f} s = {batch_rate:,.0f} "
            f"ids/s; median batch {statistics.median(batch_latencies):.2f} s; statuses {batch_statuses}")
        load_after = os.getloadavg()
    finally:
        _serve.stop(proc)

    print()
    print(f"works: {args.works:,}; gunicorn 2 sync workers on {HOST}:{PORT}; {os.cpu_count()} cores")
    print(f"batches: bare SQL floor {sql_rate:,.0f} ids/s; lookup_many in-process {engine_rate:,.0f} ids/s")
    print(f"one id at a time: bare SQL floor {one_sql_rate:,.0f}/s; lookup_one in-process {one_rate:,.0f}/s")
    print(f"(a) single GET, {args.clients} clients: {single_rate:,.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms "
          f"(ratio to the one-id bare SQL floor {one_sql_rate:,.0f}/s: {single_rate / one_sql_rate:.2f}; "
          f"to lookup_one in-process {one_rate:,.0f}/s: {single_rate / one_rate:.2f}); statuses {statuses}")
    print(f"(b) batch POST of {args.batch}, {args.batch_clients} clients: {batch_rate:,.0f} ids/s "
          f"(ratio to bare SQL: {batch_rate / sql_rate:.2f}; to lookup_many: {batch_rate / engine_rate:.2f}); "
          f"statuses {batch_statuses}")
    print(f"load average before (1, 5, 15 min): {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")


if __name__ == "__main__":
    main()
