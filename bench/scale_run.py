"""Scale evidence in one command (issue 15 item 6): lookups and a 1,000,000-row import at 1,000,000 and 10,000,000
works, each into a fresh copy of a template registry, so the run can be repeated.

    .venv/bin/python bench/scale_run.py --out /tmp/scale_run.json
    # = --template kyodaku_scale_1m=1000000 --template kyodaku_scale_10m=10000000 --rows 1000000 --rounds 1

The templates are loaded once (and kept) by bench/sync.py's COPY loader, nothing else connected to them after:

    for n in 1m:1000000 10m:10000000; do DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_scale_${n%%:*} \\
        .venv/bin/python bench/sync.py --keys ${n##*:} --singles 0 --batches 0 --skip-feed --skip-snapshot; done

For each --template NAME=KEYS in turn (--rounds 2: 1m, 10m, 1m, 10m, interleaved):

1. `CREATE DATABASE <NAME>_run TEMPLATE <NAME> STRATEGY <--strategy>` (timed; refused, with the sessions named, if
   anything is connected to the template), then the code's migrations on the copy (timed apart: the template may
   predate them).
2. Lookups over HTTP before the import: gunicorn on the clone (production settings, 2 sync workers, bench/_serve.py),
   one client: --http-singles `GET /api/v1/lookup` one after the other (p50, p99) and --http-batches
   `POST /api/v1/lookup` of 10,000 ids (p50, max), bench/sync.py's id mix, after an untimed warm-up.
3. bench/import_claims.py on the clone (`--keep-db --ie-rows 0 --lookup-keys KEYS --rows --chunk --broker`): the
   in-process lookups before beside their bare-SQL floor, the --rows import through a real Celery worker, the
   lookups after, and the bare COPY floors of the rows it wrote, its JSON as it prints it.
4. Lookups over HTTP after the import, as in 2.
5. The clone's size before and after; `DROP DATABASE` (always, also on failure).

Prints a line per step and, on the last line, one JSON with every figure (also written to --out).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))  # before bench/: `sync` is the Django app, bench/sync.py is loaded by path

import _serve  # noqa: E402  (bench/_serve.py: gunicorn as every HTTP benchmark starts it)
import import_claims  # noqa: E402  (bench/import_claims.py: bench/sync.py's module)

PURPOSE, JURISDICTION = "train-genai", "JP"


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def admin(pg: str):
    import psycopg

    return psycopg.connect(f"{pg}/postgres", autocommit=True)


def clone(pg: str, template: str, name: str, strategy: str) -> float:
    """A fresh copy of `template` named `name` (an earlier run's leftover dropped first): seconds taken."""
    with admin(pg) as conn:
        others = conn.execute("SELECT pid, usename, application_name, state FROM pg_stat_activity "
                              "WHERE datname = %s", (template,)).fetchall()
        if others:
            raise SystemExit(f"{template} is in use, so it cannot serve as a template: {others}")
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        started = time.monotonic()
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY {strategy}')
        return round(time.monotonic() - started, 1)


def database_bytes(pg: str, name: str) -> int:
    with admin(pg) as conn:
        return conn.execute("SELECT pg_database_size(%s)", (name,)).fetchone()[0]


def drop(pg: str, name: str) -> None:
    with admin(pg) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def http_lookups(*, keys: int, singles: int, batches: int, batch: int, redis_url: str, seed: int) -> dict:
    """Runs in a child whose DATABASE_URL is the clone: an API key, gunicorn, then the timed GETs and POSTs."""
    import django

    django.setup()
    import lookup_http  # bench/lookup_http.py: its request and client loop (after setup: it puts bench/ first)

    from keys.services import api_key_create

    sync = import_claims.sync_module()
    rng = random.Random(seed)
    _, key = api_key_create(name="bench scale_run", rate="1000000/s")
    headers = {"Authorization": f"Api-Key {key}"}
    gets = ["/api/v1/lookup?" + urllib.parse.urlencode({"id": sync.mixed_id(rng, keys), "purpose": PURPOSE,
                                                         "jurisdiction": JURISDICTION}) for _ in range(singles + 100)]
    bodies = [json.dumps({"ids": [sync.mixed_id(rng, keys) for _ in range(batch)], "purpose": PURPOSE,
                          "jurisdiction": JURISDICTION}).encode() for _ in range(batches + 1)]
    post_headers = {**headers, "Content-Type": "application/json"}
    lookup_http.PORT = port = _serve.free_port()
    server = _serve.start_gunicorn(["--workers", "2", "--bind", f"{_serve.HOST}:{port}", "--access-logfile",
                                    "/dev/null", "--log-level", "warning"],
                                   port=port, env=_serve.production_env(port=port, redis_url=redis_url))
    try:
        def get(i: int) -> int:
            return lookup_http._request("GET", gets[i], headers)[0]

        def post(i: int) -> int:
            status, body = lookup_http._request("POST", "/api/v1/lookup", post_headers, bodies[i])
            return -1 if status == 200 and len(json.loads(body)["results"]) != batch else status

        load_before = loadavg()
        lookup_http.run_clients(1, lambda i: get(singles + i), total=100)  # warm-up: connections, rule books
        _, took, statuses = lookup_http.run_clients(1, get, total=singles)
        lookup_http.run_clients(1, lambda i: post(batches), total=1)  # warm-up
        _, batch_took, batch_statuses = lookup_http.run_clients(1, post, total=batches)
    finally:
        _serve.stop(server)

    def ms(values, p):
        return round(1000 * lookup_http.percentile(values, p), 2)

    return {"get_n": len(took), "get_p50_ms": ms(took, 50), "get_p99_ms": ms(took, 99),
            "get_per_s": round(len(took) / sum(took)), "get_statuses": statuses,
            "post_n": len(batch_took), "post_ids": batch, "post_p50_s": round(ms(batch_took, 50) / 1000, 3),
            "post_max_s": round(max(batch_took), 3), "post_ids_per_s": round(batch * len(batch_took) / sum(batch_took)),
            "post_statuses": batch_statuses, "loadavg_before": load_before, "loadavg_after": loadavg()}


def run_child(args, database: str, keys: int, seed: int) -> dict:
    env = {**os.environ, "DATABASE_URL": f"{args.pg}/{database}", "DJANGO_SETTINGS_MODULE": "config.settings.local",
           "DEBUG": "0", "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, __file__, "--child-http", str(keys), "--http-singles",
                           str(args.http_singles), "--http-batches", str(args.http_batches), "--seed", str(seed),
                           "--broker", args.broker], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"HTTP lookups on {database} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def import_run(args, database: str, keys: int) -> dict:
    """bench/import_claims.py into the clone as it is: lookups before and after, the import, the floors."""
    command = [sys.executable, str(ROOT / "bench" / "import_claims.py"), "--db", database, "--pg", args.pg,
               "--keep-db", "--ie-rows", "0", "--lookup-keys", str(keys), "--rows", str(args.rows),
               "--broker", args.broker, "--singles", str(args.singles), "--batches", str(args.batches)]
    if args.chunk:
        command += ["--chunk", str(args.chunk)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True)  # its log on our stderr
    if done.returncode:
        raise SystemExit(f"bench/import_claims.py on {database} failed ({done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_registry(args, template: str, keys: int, round_: int) -> dict:
    name = f"{template}_run"
    figures = {"template": template, "keys": keys, "round": round_, "started": now_utc(), "loadavg_start": loadavg()}
    log(f"{template}: cloning into {name} (STRATEGY {args.strategy})")
    figures["clone_s"] = clone(args.pg, template, name, args.strategy)
    try:
        # The code may be newer than the template: its migrations first, so every step (gunicorn too) runs on the
        # schema it expects; the template itself is never changed.
        started = time.monotonic()
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"], check=True,
                       env={**os.environ, "DATABASE_URL": f"{args.pg}/{name}",
                            "DJANGO_SETTINGS_MODULE": "config.settings.local"})
        figures["migrate_s"] = round(time.monotonic() - started, 1)
        figures["database_bytes_before"] = database_bytes(args.pg, name)
        log(f"{name}: cloned in {figures['clone_s']} s; lookups over HTTP before the import")
        if args.http_singles or args.http_batches:
            figures["http_before"] = run_child(args, name, keys, seed=15 + round_)
        log(f"{name}: bench/import_claims.py ({args.rows:,} rows)")
        figures["import"] = import_run(args, name, keys)
        log(f"{name}: imported in {figures['import']['end_to_end_s']} s; lookups over HTTP after")
        if args.http_singles or args.http_batches:
            figures["http_after"] = run_child(args, name, keys, seed=15 + round_)
        figures["database_bytes_after"] = database_bytes(args.pg, name)
    finally:
        drop(args.pg, name)
        log(f"{name}: dropped")
    figures["finished"] = now_utc()
    return figures


def summary(run: dict) -> str:
    imp, before, after = run["import"], run.get("http_before", {}), run.get("http_after", {})
    lines = [f"{run['template']} ({run['keys']:,} works), round {run['round']}, {run['started']} - "
             f"{run['finished']}: clone {run['clone_s']} s, {run['database_bytes_before'] / 2**30:.1f} GB -> "
             f"{run['database_bytes_after'] / 2**30:.1f} GB",
             f"  import: {imp['end_to_end_s']} s ({imp['csv_rows_per_s']:,} rows/s), floor COPY {imp['floor_copy_s']} "
             f"s (ratio {imp['ratio_to_floor']}), worker peak {imp['worker_peak_rss_mb']} MB, load "
             f"{imp['load_average_before']} -> {imp['load_average_after']}"]
    for when, http, inproc in (("before", before, imp["lookups_before"]), ("after", after, imp["lookups_after"])):
        line = (f"  {when}: lookup_one p50 {inproc['single_p50_ms']} ms p99 {inproc['single_p99_ms']} ms "
                f"({inproc['single_per_s']}/s, floor {inproc['single_floor_per_s']}/s); lookup_many 10,000 p50 "
                f"{inproc['batch_p50_s']} s ({inproc['batch_ids_per_s']:,} ids/s, floor "
                f"{inproc['batch_floor_ids_per_s']:,} ids/s)")
        if http:
            line += (f"; GET p50 {http['get_p50_ms']} ms p99 {http['get_p99_ms']} ms; POST 10,000 p50 "
                     f"{http['post_p50_s']} s ({http['post_ids_per_s']:,} ids/s)")
        lines.append(line)
    return "\n".join(lines)


def markdown(result: dict) -> str:
    """The runs of one JSON as the table of docs/performance.md ("The same, re-run on today's code"), a column each."""
    def gb(n):
        return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"

    def lookups(run, when):
        return run["import"][f"lookups_{when}"]

    rows = {
        "copy of the template": lambda r: f"{r['clone_s']} s",
        "load average before / after the import": lambda r: f"{r['import']['load_average_before'][0]} / "
                                                            f"{r['import']['load_average_after'][0]}",
        "import end to end (submit → `done`), CSV rows/s": lambda r: f"**{r['import']['end_to_end_s']:,} s**, "
                                                                     f"{r['import']['csv_rows_per_s']:,}/s",
        "floor: bare `COPY` of the rows written (strict / indexed)":
            lambda r: f"{r['import']['floor_copy_s']} s / {r['import']['floor_indexed_copy_s']} s",
        "ratio to the strict floor": lambda r: f"{r['import']['ratio_to_floor']}",
        "worker peak memory (VmHWM)": lambda r: f"{r['import']['worker_peak_rss_mb']} MB",
        "database size before → after": lambda r: f"{gb(r['database_bytes_before'])} → "
                                                  f"{gb(r['database_bytes_after'])}",
        "`lookup_one` p50 / p99, rate (floor), before → after": lambda r: " → ".join(
            f"{x['single_p50_ms']} / {x['single_p99_ms']} ms, {x['single_per_s']}/s ({x['single_floor_per_s']}/s)"
            for x in (lookups(r, "before"), lookups(r, "after"))),
        "`lookup_many` 10,000: p50, ids/s (floor), before → after": lambda r: " → ".join(
            f"{x['batch_p50_s']} s, {x['batch_ids_per_s']:,}/s ({x['batch_floor_ids_per_s']:,}/s)"
            for x in (lookups(r, "before"), lookups(r, "after"))),
        "`GET /api/v1/lookup` p50 / p99, before → after": lambda r: " → ".join(
            f"{x['get_p50_ms']} / {x['get_p99_ms']} ms" for x in (r["http_before"], r["http_after"]))
        if "http_before" in r else "",
        "`POST /api/v1/lookup` 10,000 ids: p50, ids/s, before → after": lambda r: " → ".join(
            f"{x['post_p50_s']} s, {x['post_ids_per_s']:,}/s" for x in (r["http_before"], r["http_after"]))
        if "http_before" in r else "",
    }
    runs = result["runs"]
    head = [f"into {r['keys']:,} works ({r['started'][11:16]}-{r['finished'][11:16]} UTC)" for r in runs]
    lines = [f"| ({result['started'][:10]}, commit {result['commit']}) | " + " | ".join(head) + " |",
             "|---|" + "---|" * len(runs)]
    lines += [f"| {name} | " + " | ".join(cell(r) for r in runs) + " |" for name, cell in rows.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--template", action="append", metavar="NAME=KEYS",
                        help="a template database and the --keys bench/sync.py loaded it with (repeatable; default "
                             "kyodaku_scale_1m=1000000 and kyodaku_scale_10m=10000000)")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the claims file imported into each")
    parser.add_argument("--rounds", type=int, default=1, help="the templates in turn, this many times")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/10", help="Celery broker and gunicorn's Redis")
    parser.add_argument("--chunk", type=int, default=0, help="import chunk rows (0: bench/import_claims.py's)")
    parser.add_argument("--strategy", choices=("FILE_COPY", "WAL_LOG"), default="FILE_COPY",
                        help="CREATE DATABASE's strategy (FILE_COPY: a checkpoint and a file copy, for large ones)")
    parser.add_argument("--singles", type=int, default=2000, help="in-process lookup_one timed, before and after")
    parser.add_argument("--batches", type=int, default=10, help="in-process batches of 10,000, before and after")
    parser.add_argument("--http-singles", type=int, default=1000, help="GETs timed, before and after (0: none)")
    parser.add_argument("--http-batches", type=int, default=5, help="POSTs of 10,000 ids timed (0: none)")
    parser.add_argument("--seed", type=int, default=15, help=argparse.SUPPRESS)
    parser.add_argument("--child-http", type=int, metavar="KEYS", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--table", type=Path, metavar="JSON", help="only print an earlier run's JSON as a Markdown "
                                                                   "table (docs/performance.md's), measure nothing")
    args = parser.parse_args()
    if args.table:
        print(markdown(json.loads(args.table.read_text())))
        return
    if args.child_http:
        print(json.dumps(http_lookups(keys=args.child_http, singles=args.http_singles, batches=args.http_batches,
                                      batch=10_000, redis_url=args.broker, seed=args.seed)))
        return

    templates = [(name, int(keys)) for name, _, keys in (t.partition("=") for t in
                                                         args.template or ["kyodaku_scale_1m=1000000",
                                                                           "kyodaku_scale_10m=10000000"])]
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    result = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "commit": commit, "rows": args.rows,
              "started": now_utc(), "cpus": os.cpu_count(), "runs": []}
    for round_ in range(1, args.rounds + 1):
        for template, keys in templates:
            run = one_registry(args, template, keys, round_)
            result["runs"].append(run)
            print(summary(run), flush=True)
            if args.out:  # each registry's figures kept as soon as they are measured
                args.out.write_text(json.dumps(result) + "\n")
    result["finished"] = now_utc()
    print(markdown(result), flush=True)
    text = json.dumps(result)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
