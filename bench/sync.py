"""Benchmark of answers at dataset scale (issue 14): the change feed's throughput and a snapshot build, each beside
its floor, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_h14 \\
        .venv/bin/python bench/sync.py --keys 1000000 --feed-events 200000

1. Load (unless --skip-load; the database is dropped and created first, so give a scratch one): two holders,
   --keys works with one identifier each (99 % `doi:`, 1 % `domain:`), a work-scope grant (train-ai, JP) for every
   tenth work, a catalogue-wide reservation by the second holder; then --feed-events audit events
   (`identifier.add` for the first identifiers, `declaration.file` for their grants) through audit_record_bulk, as
   a bulk import writes them.
2. Change feed: read the whole feed from cursor 0 with sync.changes.changes_after, pages of 1,000, each page
   serialised to JSON as the API sends it: entries/s. Floor: the same pages of bare audit rows (the one indexed
   query on seq, no keys resolved, no JSON) with a bare psycopg cursor.
3. Snapshot for (train-genai, JP), built by sync.snapshots.snapshot_build in a child process (so its peak RSS is
   its own): time, peak RSS (VmHWM) and the RSS before the build, file and filter sizes. Floor, also in a child:
   the same keys streamed from a server-side cursor into gzip lines of the key alone (no answer decided).

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


LOAD_SQL = [
    # works, one identifier each, every tenth granted for train-ai in JP
    """INSERT INTO registry_work (id, work_ref, title, original_title, kind, created_at, updated_at, holder_id)
       SELECT gen_random_uuid(), 'BK-' || i, 'Bench ' || i, '', 'book', %(t0)s, %(t0)s,
              CASE WHEN i %% 2 = 0 THEN %(a)s::uuid ELSE %(b)s::uuid END
       FROM generate_series(1, %(n)s) AS i""",
    """INSERT INTO registry_identifier (id, scheme, value, host, valid_from, work_id)
       SELECT gen_random_uuid(),
              CASE WHEN n %% 100 = 0 THEN 'domain' ELSE 'doi' END,
              CASE WHEN n %% 100 = 0 THEN 'site' || n || '.example' ELSE '10.5555/bench-' || n END,
              CASE WHEN n %% 100 = 0 THEN 'site' || n || '.example' END, %(t0)s, id
       FROM (SELECT id, substr(work_ref, 4)::int AS n FROM registry_work) AS w""",
    """INSERT INTO consent_declaration (id, scope, purpose, jurisdiction, consent, license_url, conditions,
                                        effective_from, recorded_at, holder_id, work_id)
       SELECT gen_random_uuid(), 'work', 'train-ai', 'JP', 'grant', 'https://bench.example/l', '', %(t0)s, %(t0)s,
              holder_id, id
       FROM registry_work WHERE substr(work_ref, 4)::int %% 10 = 0""",
    """INSERT INTO consent_declaration (id, scope, purpose, jurisdiction, consent, license_url, conditions,
                                        effective_from, recorded_at, holder_id)
       VALUES (gen_random_uuid(), 'catalogue', 'train-ai', '*', 'reserve', '', '', %(t0)s, %(t0)s, %(b)s)""",
    "ANALYZE",
]

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
    with connection.cursor() as cursor:
        for sql in LOAD_SQL:
            cursor.execute(sql, {"t0": t0, "a": str(holders[0].pk), "b": str(holders[1].pk), "n": keys})
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
    return {"load_s": round(time.perf_counter() - started, 1), "feed_events": min(feed_events, len(events))}


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
    done = subprocess.run([sys.executable, __file__, flag], env=env, capture_output=True, text=True, check=True)
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
    log("change feed")
    figures |= feed_throughput()
    with tempfile.TemporaryDirectory(prefix="kyodaku-bench-sync-") as workdir:
        log("snapshot build (child process)")
        figures |= in_child("--child-build", workdir)
        log("floor: keys to gzip (child process)")
        figures |= in_child("--child-floor", workdir)
    figures["build_ratio_to_floor"] = round(figures["floor_s"] / figures["build_s"], 3)
    figures["loadavg"] = os.getloadavg()
    print(f"change feed: {figures['feed_entries']:,} entries in {figures['feed_s']} s = "
          f"{figures['feed_entries_per_s']:,}/s (bare audit rows: {figures['feed_floor_rows_per_s']:,}/s)")
    print(f"snapshot: {figures['answers']:,} answers in {figures['build_s']} s, peak RSS {figures['peak_rss_mb']} MB "
          f"(before the build {figures['rss_before_build_mb']} MB); answers {figures['answers_bytes']:,} bytes, "
          f"filter {figures['filter_bytes']:,} bytes for {figures['flagged']:,} keys; "
          f"floor (keys to gzip) {figures['floor_s']} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
