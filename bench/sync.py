"""Benchmark of answers at dataset scale (issue 14): the change feed's throughput and a snapshot build, each beside
its floor, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_h14 \\
        .venv/bin/python bench/sync.py --keys 1000000 --feed-events 200000

1. Load (unless --skip-load; the database is dropped and created first, so give a scratch one): two holders,
   --keys works with one identifier each (99 % `doi:`, 1 % `domain:`), a work-scope grant (train-ai, JP) for every
   tenth work, a catalogue-wide reservation by the second holder (so a tenth of the keys answer otherwise than the
   regime), all by COPY into the tables stripped of their indexes, keys and foreign keys, which are then created
   again (each index built once, not maintained row by row) before ANALYZE; then --feed-events audit events
   (`identifier.add` for the first identifiers, `declaration.file` for their grants) through audit_record_bulk, as
   a bulk import writes them.
2. Change feed: read the whole feed from cursor 0 with sync.changes.changes_after, pages of 1,000, each page
   serialised to JSON as the API sends it: entries/s. Floor: the same pages of bare audit rows (the one indexed
   query on seq, no keys resolved, no JSON) with a bare psycopg cursor.
3. Snapshot for (train-genai, JP), built by sync.snapshots.snapshot_build in a child process (so its peak RSS is
   its own): time, peak RSS (VmHWM) and the RSS before the build, file and filter sizes. Floor, also in a child:
   the same keys streamed from a server-side cursor into gzip lines of the key alone (no answer decided).
4. Lookups (issue 15 item 6; --singles, --batches; before the feed): `lookup_one` one id at a time (p50, p99) and
   `lookup_many` batches of --batch ids, each beside the same statements replayed on a bare psycopg connection.
   To compare registry sizes, load two databases and run `--skip-load --skip-feed --skip-snapshot` on each in turn.

Prints a human summary and, on the last line, JSON with every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "0"  # DEBUG would keep every query's SQL in memory


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


TABLES = ("registry_work", "registry_identifier", "consent_declaration")
# What the key-check triggers of TABLES guard (registry 0010, consent 0008), checked once after a load.
KEY_CHECKS = [("registry_work", "holder_id", "registry_holder"),
              ("registry_work", "filed_by_agent_id", "registry_holder"),
              ("registry_identifier", "work_id", "registry_work"),
              ("consent_declaration", "holder_id", "registry_holder"),
              ("consent_declaration", "work_id", "registry_work"),
              ("consent_declaration", "filed_by_agent_id", "registry_holder")]
COPY_ROWS = 200_000  # rows per COPY write


def uuid_of(kind: int, n: int) -> str:
    """A deterministic uuid (version 4 layout) per (table, row number): rows can name each other without a join."""
    return f"{kind:08x}-0000-4000-8000-{n:012x}"


def _drop_keys_and_indexes(cursor) -> list[str]:
    """Drop the loaded tables' indexes, primary/unique keys and foreign keys (to or from them); return the
    statements that create them again, in an order that works (indexes, then keys, then foreign keys)."""
    cursor.execute("""SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
                      FROM pg_constraint c
                      WHERE c.contype IN ('p', 'u', 'f')
                        AND (c.conrelid::regclass::text = ANY(%(t)s) OR c.confrelid::regclass::text = ANY(%(t)s))""",
                   {"t": list(TABLES)})
    constraints = cursor.fetchall()
    cursor.execute("""SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%(t)s)
                      AND indexname NOT IN (SELECT conname FROM pg_constraint)""", {"t": list(TABLES)})
    indexes = cursor.fetchall()
    for table, name, _, _kind in sorted(constraints, key=lambda c: c[3] != "f"):  # foreign keys first
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    # The set-based key checks (core.keychecks) are triggers, not constraints: with the referenced tables'
    # primary keys gone, each COPY's check would join without an index. Off during the load, like the foreign
    # keys, and the same invariant checked once at the end, set-based (the load is the only writer).
    for table in TABLES:
        cursor.execute(f'ALTER TABLE {table} DISABLE TRIGGER "{table}_keys_exist"')
    order = {"p": 0, "u": 1, "f": 2}
    return ([definition for _, definition in indexes]
            + [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
               for table, name, definition, kind in sorted(constraints, key=lambda c: order[c[3]])]
            + [f'ALTER TABLE {table} ENABLE TRIGGER "{table}_keys_exist"' for table in TABLES]
            + [f"""DO $$ BEGIN IF EXISTS (SELECT 1 FROM {table} r WHERE r.{column} IS NOT NULL AND NOT EXISTS
                       (SELECT 1 FROM {target} t WHERE t.id = r.{column})) THEN
                     RAISE EXCEPTION 'bench load: {table}.{column} refers to a missing {target} row'; END IF; END $$"""
               for table, column, target in KEY_CHECKS])


def _copy(cursor, sql: str, rows) -> int:
    """COPY text rows (each ending in a newline) in blocks of COPY_ROWS."""
    count, block = 0, []
    with cursor.copy(sql) as copy:
        for row in rows:
            block.append(row)
            if len(block) >= COPY_ROWS:
                copy.write("".join(block))
                count, block = count + len(block), []
        if block:
            copy.write("".join(block))
            count += len(block)
    return count


def copy_load(*, keys: int, holders: list[str], t0) -> dict:
    """The catalogue by COPY into tables stripped of their indexes and keys, which are then built once, and
    ANALYZE: works `BK-<n>` (holders alternate), one identifier each (every hundredth `domain:site<n>.example`,
    the rest `doi:10.5555/bench-<n>`), a work-scope grant (train-ai, JP) on every tenth work, and a catalogue-wide
    reservation (train-ai, everywhere) by the second holder. Returns the seconds of each step."""
    from django.db import connection

    times, at = {}, t0.isoformat()
    a, b = holders
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg's own cursor, for COPY
        cursor.execute("SET maintenance_work_mem = '512MB'")
        started = time.perf_counter()
        recreate = _drop_keys_and_indexes(cursor)
        _copy(cursor, "COPY registry_work (id, work_ref, title, original_title, kind, created_at, updated_at, "
                      "holder_id) FROM STDIN",
              (f"{uuid_of(1, n)}\tBK-{n}\tBench {n}\t\tbook\t{at}\t{at}\t{a if n % 2 == 0 else b}\n"
               for n in range(1, keys + 1)))
        times["copy_works_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        _copy(cursor, "COPY registry_identifier (id, scheme, value, host, valid_from, work_id) FROM STDIN",
              ((f"{uuid_of(2, n)}\tdomain\tsite{n}.example\tsite{n}.example\t{at}\t{uuid_of(1, n)}\n"
                if n % 100 == 0 else f"{uuid_of(2, n)}\tdoi\t10.5555/bench-{n}\t\\N\t{at}\t{uuid_of(1, n)}\n")
               for n in range(1, keys + 1)))
        times["copy_identifiers_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        declarations = _copy(
            cursor, "COPY consent_declaration (id, scope, purpose, jurisdiction, consent, license_url, conditions, "
                    "effective_from, recorded_at, holder_id, work_id) FROM STDIN",
            (f"{uuid_of(3, n)}\twork\ttrain-ai\tJP\tgrant\thttps://bench.example/l\t\t{at}\t{at}\t"
             f"{a if n % 2 == 0 else b}\t{uuid_of(1, n)}\n" for n in range(10, keys + 1, 10)))
        cursor.execute("""INSERT INTO consent_declaration (id, scope, purpose, jurisdiction, consent, license_url,
                                                           conditions, effective_from, recorded_at, holder_id)
                          VALUES (gen_random_uuid(), 'catalogue', 'train-ai', '*', 'reserve', '', '', %s, %s, %s)""",
                       (t0, t0, b))
        times["copy_declarations_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        for statement in recreate:
            cursor.execute(statement)
        times["indexes_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        cursor.execute("ANALYZE")
        times["analyze_s"] = round(time.perf_counter() - started, 1)
    return times | {"declarations": declarations + 1}


FEED_ROWS_SQL = """
    SELECT i.id::text, i.scheme, i.value, i.work_id::text, d.id::text, d.holder_id::text
    FROM registry_identifier i LEFT JOIN consent_declaration d ON d.work_id = i.work_id
    ORDER BY i.value LIMIT %(limit)s"""


def load(*, keys: int, feed_events: int) -> dict:
    from datetime import UTC, datetime

    from django.db import connection, transaction

    from audit.services import PendingEvent, audit_record_bulk
    from registry.models import Holder
    from registry.services import holder_create

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    holders = [Holder.objects.filter(code=code).first() or holder_create(code=code, name=code, kind="publisher")
               for code in ("bench-a", "bench-b")]
    steps = copy_load(keys=keys, holders=[str(h.pk) for h in holders], t0=t0)
    with connection.cursor() as cursor:
        cursor.execute(FEED_ROWS_SQL, {"limit": feed_events})
        rows = cursor.fetchall()
    events = []
    for identifier_id, scheme, value, work_id, declaration_id, holder_id in rows:
        events.append(PendingEvent("identifier.add", "identifier", identifier_id, None,
                                   {"work": work_id, "scheme": scheme, "value": value,
                                    "valid_from": t0.isoformat(), "valid_until": None}))
        if declaration_id:
            events.append(PendingEvent("declaration.file", "declaration", declaration_id, None,
                                       {"holder": holder_id, "scope": "work", "work": work_id, "purpose": "train-ai",
                                        "jurisdiction": "JP", "consent": "grant"}))
    with transaction.atomic():
        audit_record_bulk(actor="system:bench", events=events[:feed_events], at=t0)
    return steps | {"load_s": round(time.perf_counter() - started, 1),
                    "feed_events": min(feed_events, len(events))}


def feed_throughput() -> dict:
    import orjson
    import psycopg

    from sync.changes import ANSWER_ACTIONS, changes_after

    started, after, entries, keys = time.perf_counter(), 0, 0, 0
    while True:
        page, after_next = changes_after(after=after, limit=1000)
        if not page:
            break
        orjson.dumps({"results": page, "next": str(after_next)})
        entries += len(page)
        keys += sum(len(e["keys"]) for e in page)
        after = after_next
    ours = time.perf_counter() - started

    started, after, rows = time.perf_counter(), 0, 0
    with psycopg.connect(os.environ["DATABASE_URL"]) as raw, raw.cursor() as cursor:
        while True:
            cursor.execute("SELECT seq, at, action, object_id, before, after FROM audit_auditevent "
                           "WHERE seq > %s AND action = ANY(%s) ORDER BY seq LIMIT 1000",
                           (after, list(ANSWER_ACTIONS)))
            page = cursor.fetchall()
            if not page:
                break
            rows += len(page)
            after = page[-1][0]
    floor = time.perf_counter() - started
    return {"feed_entries": entries, "feed_keys": keys, "feed_s": round(ours, 2),
            "feed_entries_per_s": round(entries / ours), "feed_floor_rows_per_s": round(rows / floor),
            "feed_ratio_to_floor": round((entries / ours) / (rows / floor), 3)}


def mixed_id(rng, keys: int) -> str:
    """One id of the lookup mix over a catalogue loaded with `keys` keys: 40 % registered `doi:`, 20 % unregistered
    `doi:`, 40 % `url:` under a site (one in a hundred registered as a `domain:`)."""
    roll = rng.random()
    if roll < 0.4:
        return f"doi:10.5555/bench-{rng.randint(1, keys)}"
    if roll < 0.6:
        return f"doi:10.5555/bench-{keys + rng.randint(1, keys)}"
    return f"url:https://site{rng.randint(1, keys // 100) * 100}.example/p/{rng.randint(1, 10**6)}"


def lookup_latency(*, keys: int, singles: int, batches: int, batch: int, seed: int = 15) -> dict:
    """Issue 15 item 6: one id at a time (`lookup_one`, every GET's path) and batches (`lookup_many`, the POST's),
    latency per call, each beside its floor: the same statements replayed on a bare psycopg connection
    (bench/decide.py). Ids: 40 % registered `doi:`, 20 % unregistered `doi:`, 40 % `url:` under a site (one in a
    hundred registered as a `domain:`), for (train-genai, JP)."""
    import random

    import psycopg
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from consent.lookup import lookup_many, lookup_one

    decide = _bench_module("decide")
    rng = random.Random(seed)

    def one_id() -> str:
        return mixed_id(rng, keys)

    pair = {"purpose": "train-genai", "jurisdiction": "JP"}
    ids = [one_id() for _ in range(singles)]
    for one in ids[:200]:  # warm up: plans cached, the statement prepared
        lookup_one(id=one, **pair)
    took = []
    for one in ids:
        started = time.perf_counter()
        lookup_one(id=one, **pair)
        took.append(time.perf_counter() - started)
    took.sort()
    one_rate, one_floor, _ = decide.single_rates(ids, **pair)

    asked = [[one_id() for _ in range(batch)] for _ in range(batches)]
    recorded = []
    for ids_ in asked[:1]:  # warm up: the rule book
        lookup_many(ids=ids_, **pair)
    batch_took = []
    for ids_ in asked:
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            lookup_many(ids=ids_, **pair)
            batch_took.append(time.perf_counter() - started)
        recorded.append([q["sql"] for q in queries.captured_queries])
    floor_took = []
    with psycopg.connect(os.environ["DATABASE_URL"]) as raw:
        for statements in recorded:
            started = time.perf_counter()
            for sql in statements:
                raw.execute(sql).fetchall()
            floor_took.append(time.perf_counter() - started)
    batch_took.sort()
    floor_took.sort()

    def ms(values, q):
        return round(1000 * values[min(len(values) - 1, int(q * len(values)))], 2)

    return {"single_n": len(took), "single_p50_ms": ms(took, 0.5), "single_p99_ms": ms(took, 0.99),
            "single_per_s": round(one_rate), "single_floor_per_s": round(one_floor),
            "batch_n": len(batch_took), "batch_size": batch,
            "batch_p50_s": round(batch_took[len(batch_took) // 2], 3), "batch_max_s": round(batch_took[-1], 3),
            "batch_ids_per_s": round(batch * len(batch_took) / sum(batch_took)),
            "batch_floor_p50_s": round(floor_took[len(floor_took) // 2], 3),
            "batch_floor_ids_per_s": round(batch * len(floor_took) / sum(floor_took))}


def _bench_module(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def child_build(purpose: str, jurisdiction: str) -> dict:
    """Runs in its own process: one snapshot build, its time and the process's memory."""
    from django.conf import settings

    from sync.models import Snapshot
    from sync.snapshots import snapshot_build

    Snapshot.objects.all().delete()  # a scratch database: earlier runs' rows go
    before = rss_mb("VmRSS")
    snapshot = Snapshot.objects.create(purpose=purpose, jurisdiction=jurisdiction)  # queued, not dispatched
    started = time.perf_counter()
    snapshot = snapshot_build(snapshot_id=snapshot.pk)
    seconds = time.perf_counter() - started
    files = {f["name"]: f for f in snapshot.files}
    return {"build_s": round(seconds, 1), "rss_before_build_mb": round(before, 1),
            "peak_rss_mb": round(rss_mb("VmHWM"), 1), "answers": files["answers"]["count"],
            "answers_bytes": files["answers"]["bytes"], "flagged": files["filter"]["count"],
            "filter_bytes": files["filter"]["bytes"], "filter_bits": files["filter"]["bits"],
            "filter_hash_functions": files["filter"]["hash_functions"],
            "chunk": settings.KYODAKU_SNAPSHOT_CHUNK}


def child_floor() -> dict:
    """Runs in its own process: the keys alone, server-side cursor to gzip lines."""
    import gzip

    import psycopg

    before = rss_mb("VmRSS")
    started, count = time.perf_counter(), 0
    with psycopg.connect(os.environ["DATABASE_URL"]) as raw, raw.cursor(name="keys") as cursor, \
            tempfile.TemporaryFile() as handle, gzip.GzipFile(fileobj=handle, mode="wb") as out:
        cursor.itersize = 5000
        cursor.execute("SELECT scheme || ':' || value FROM registry_identifier ORDER BY scheme, value")
        for (key,) in cursor:
            out.write(key.encode() + b"\n")
            count += 1
    return {"floor_s": round(time.perf_counter() - started, 1), "floor_keys": count,
            "floor_rss_before_mb": round(before, 1), "floor_peak_rss_mb": round(rss_mb("VmHWM"), 1)}


def in_child(flag: str, workdir: str) -> dict:
    from receipts.keystore import generate_key

    if "KYODAKU_SIGNING_KEY" not in os.environ:  # one key for the run, given as a setting (never a file to lose)
        os.environ["KYODAKU_SIGNING_KEY"] = generate_key().as_pem(private=True).decode()
    env = {**os.environ, "KYODAKU_SNAPSHOT_ROOT": workdir}
    done = subprocess.run([sys.executable, __file__, flag], env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{flag} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def recreate_database(url: str) -> None:
    """Drop and create the scratch database, so the audit log (append-only) starts empty."""
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--feed-events", type=int, default=200_000)
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--singles", type=int, default=2000, help="single lookups timed (0: none)")
    parser.add_argument("--batches", type=int, default=10, help="batches of --batch ids timed (0: none)")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--skip-feed", action="store_true")
    parser.add_argument("--skip-snapshot", action="store_true")
    parser.add_argument("--child-build", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-floor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (it is dropped and created again).")
    if not (args.skip_load or args.child_build or args.child_floor):
        recreate_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    if args.child_build or args.child_floor:
        print(json.dumps(child_build("train-genai", "JP") if args.child_build else child_floor()))
        return
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    figures = {"keys": args.keys}
    if not args.skip_load:
        log(f"loading {args.keys:,} keys and {args.feed_events:,} feed events")
        figures |= load(keys=args.keys, feed_events=args.feed_events)
    if args.singles or args.batches:
        log("lookups: one id at a time and batches")
        figures |= lookup_latency(keys=args.keys, singles=args.singles, batches=args.batches, batch=args.batch)
        print(f"lookups: single p50 {figures['single_p50_ms']} ms, p99 {figures['single_p99_ms']} ms "
              f"({figures['single_per_s']:,}/s, floor {figures['single_floor_per_s']:,}/s); batch of "
              f"{args.batch:,}: p50 {figures['batch_p50_s']} s ({figures['batch_ids_per_s']:,} ids/s, floor "
              f"{figures['batch_floor_ids_per_s']:,} ids/s)")
    if not args.skip_feed:
        log("change feed")
        figures |= feed_throughput()
        print(f"change feed: {figures['feed_entries']:,} entries in {figures['feed_s']} s = "
              f"{figures['feed_entries_per_s']:,}/s (bare audit rows: {figures['feed_floor_rows_per_s']:,}/s)")
    if not args.skip_snapshot:
        with tempfile.TemporaryDirectory(prefix="kyodaku-bench-sync-") as workdir:
            log("snapshot build (child process)")
            figures |= in_child("--child-build", workdir)
            log("floor: keys to gzip (child process)")
            figures |= in_child("--child-floor", workdir)
        figures["build_ratio_to_floor"] = round(figures["floor_s"] / figures["build_s"], 3)
        print(f"snapshot: {figures['answers']:,} answers in {figures['build_s']} s, peak RSS "
              f"{figures['peak_rss_mb']} MB (before the build {figures['rss_before_build_mb']} MB); answers "
              f"{figures['answers_bytes']:,} bytes, filter {figures['filter_bytes']:,} bytes for "
              f"{figures['flagged']:,} keys; floor (keys to gzip) {figures['floor_s']} s")
    figures["loadavg"] = os.getloadavg()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
