"""Benchmark of the decision engine's batch path against a large registry in PostgreSQL (issue 3, "Speed").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_engine \\
        .venv/bin/python bench/decide.py --works 1000000 --declarations 2000000 --lookups 100000 --batch 10000

1. Load (unless --skip-load): migrate, empty the registry tables, then COPY holders, works (each with an ISBN),
   web identifiers (per site: a domain, two nested url-prefixes and an exact url), declarations (catalogue and
   work scope, several purposes and jurisdictions, some superseded) and a few open disputes. Rows go in with
   psycopg's COPY and triggers off (`session_replication_role = replica`): the data is consistent by construction,
   and this is a benchmark database, not a registry (nothing here is audited).
2. Decide --lookups random identifiers (registered and unregistered ISBNs, url matched exactly, by prefix and by
   domain, domain:, ref:, a few invalid) in batches of --batch through consent.lookup.lookup_many, each batch
   with its own purpose and jurisdiction. One untimed pass records the SQL of every batch and warms the caches.
3. Replay exactly that SQL with a bare psycopg cursor (execute + fetchall, no Django, no Python work on the rows):
   the physical floor. Report decisions/s for both and their ratio.
4. Unless --singles 0: the same for one id at a time (consent.lookup.lookup_one, one prepared statement per id)
   against a bare psycopg replay of the same prepared statements with the same parameters.

Refuses to load into a database whose name does not contain "bench" (it empties the registry tables).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "0"  # DEBUG would make Django keep every query's SQL

T0 = datetime(2025, 1, 1, tzinfo=UTC)
AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
PURPOSES = ("tdm", "train-ai", "train-genai", "ai-use", "search")
JURISDICTIONS = ("*", "JP", "EU", "US", "GB", "FR", "DE")
SLOTS = [(p, j) for p in PURPOSES for j in JURISDICTIONS]  # 35 (purpose, jurisdiction) slots
CATALOGUE_SLOTS_PER_HOLDER = 10
WORKS_PER_SITE = 4  # domain, url-prefix /a/, url-prefix /a/b/, url /a/b/page.html
KINDS = ("film", "series", "episode", "manga", "book", "music", "recording", "text", "game", "illustration")


def isbn13(n: int) -> str:
    body = f"978{n:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------------------------------------------------- load

def data_arguments(parser, *, works: int = 200_000, declarations: int = 400_000, sites: int = 50_000,
                   disputes: int = 1_000, seed: int = 3) -> None:
    """The options naming this benchmark's data, for every script that loads it with `load` or reuses it."""
    parser.add_argument("--works", type=int, default=works)
    parser.add_argument("--declarations", type=int, default=declarations)
    parser.add_argument("--holders", type=int, default=1_000)
    parser.add_argument("--sites", type=int, default=sites, help="web sites, each with 4 works (domain, prefixes, url)")
    parser.add_argument("--disputes", type=int, default=disputes)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--skip-load", action="store_true", help="reuse the data already loaded")


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("set DATABASE_URL=postgres://.../kyodaku_bench_<name>")
    return url


def load_unless_skipped(args) -> bool:
    """`load` the data `args` name (data_arguments), or with --skip-load migrate only (indexes added since the
    load). After django.setup(). True when it loaded."""
    if args.skip_load:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        return False
    load(database_url(), works=args.works, declarations=args.declarations, holders=args.holders, sites=args.sites,
         disputes=args.disputes, seed=args.seed)
    return True


def load(url: str, *, works: int, declarations: int, holders: int, sites: int, disputes: int, seed: int) -> None:
    import psycopg
    from django.core.management import call_command

    name = url.rsplit("/", 1)[-1].split("?")[0]
    if "bench" not in name:
        raise SystemExit(f"refusing to empty database {name!r}: its name must contain 'bench'")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            admin.execute(f'CREATE DATABASE "{name}"')
    log("migrate")
    call_command("migrate", verbosity=0)

    rng = random.Random(seed)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK or trigger work during the load
        conn.execute("SET synchronous_commit = off")
        conn.execute("TRUNCATE registry_dispute, consent_declaration, registry_identifier, registry_work, "
                     "registry_mandate, registry_membership, registry_holder CASCADE")

        holder_ids = [uuid.uuid4() for _ in range(holders)]
        with conn.cursor().copy("COPY registry_holder (id, code, name, kind, country, licensing_url, verified, "
                                "created_at) FROM STDIN") as copy:
            for h, hid in enumerate(holder_ids):
                copy.write_row((hid, f"holder-{h}", f"Holder {h}", "studio", "JP",
                                f"https://holder-{h}.example/licensing" if h % 2 else "", True, T0))
        log(f"holders: {holders}")

        work_ids = [uuid.uuid4() for _ in range(works)]
        with conn.cursor().copy("COPY registry_work (id, holder_id, work_ref, title, original_title, kind, "
                                "created_at, updated_at) FROM STDIN") as copy:
            for i, wid in enumerate(work_ids):
                copy.write_row((wid, holder_ids[i % holders], f"W{i}", f"Work {i}", "", KINDS[i % len(KINDS)],
                                T0, T0))
        log(f"works: {works}")

        web_works = min(sites * WORKS_PER_SITE, works)
        with conn.cursor().copy("COPY registry_identifier (id, work_id, scheme, value, host, valid_from) "
                                "FROM STDIN") as copy:
            for i, wid in enumerate(work_ids):
                copy.write_row((uuid.uuid4(), wid, "isbn", isbn13(i), None, T0))
            for i in range(web_works):
                site, role = divmod(i, WORKS_PER_SITE)
                host = f"site{site}.example"
                scheme, value = (
                    ("domain", host),
                    ("url-prefix", f"https://{host}/a/"),
                    ("url-prefix", f"https://{host}/a/b/"),
                    ("url", f"https://{host}/a/b/page.html"),
                )[role]
                copy.write_row((uuid.uuid4(), work_ids[i], scheme, value, host, T0))
        log(f"identifiers: {works + web_works}")

        with conn.cursor().copy("COPY consent_declaration (id, holder_id, scope, work_id, purpose, jurisdiction, "
                                "consent, license_url, conditions, effective_from, effective_until, recorded_at, "
                                "superseded_at) FROM STDIN") as copy:
            written = 0
            for hid in holder_ids:
                for purpose, jurisdiction in rng.sample(SLOTS, CATALOGUE_SLOTS_PER_HOLDER):
                    copy.write_row((uuid.uuid4(), hid, "catalogue", None, purpose, jurisdiction,
                                    rng.choice(("grant", "reserve")), "", "", T0, None, T0, None))
                    written += 1
            # Work-scope: ~2 per work in distinct slots; one in ten slots also keeps a superseded predecessor.
            i = 0
            while written < declarations:
                wid, hid = work_ids[i % works], holder_ids[i % holders]
                first = SLOTS[(i * 7) % len(SLOTS)]
                second = SLOTS[(i * 7 + 1 + i % 5) % len(SLOTS)]
                slots = (first, second) if written + 1 < declarations else (first,)
                for k, (purpose, jurisdiction) in enumerate(slots):
                    if i % 10 == 0 and k == 0 and written + 2 <= declarations:
                        copy.write_row((uuid.uuid4(), hid, "work", wid, purpose, jurisdiction, "grant",
                                        "", "", T0, None, T0, T0 + timedelta(days=30)))
                        written += 1
                        recorded = T0 + timedelta(days=30)
                    else:
                        recorded = T0
                    copy.write_row((uuid.uuid4(), hid, "work", wid, purpose, jurisdiction,
                                    "reserve" if (i + k) % 3 else "grant",
                                    f"https://holder-{i % holders}.example/licence/{i}" if i % 4 == 0 else "", "",
                                    recorded, None, recorded, None))
                    written += 1
                i += 1
                if i >= works and i % works == 0:  # more declarations than two per work: reuse other slots
                    break
        log(f"declarations: {written}")

        with conn.cursor().copy("COPY registry_dispute (id, scheme, value, work_id, holder_id, claimant_id, "
                                "evidence, opened_at, resolution, resolution_note) FROM STDIN") as copy:
            for i in rng.sample(range(works), min(disputes, works)):
                copy.write_row((uuid.uuid4(), "isbn", isbn13(i), work_ids[i], holder_ids[i % holders],
                                holder_ids[(i + 1) % holders], "", T0 + timedelta(days=10), "", ""))
        log(f"disputes: {disputes}")
        conn.commit()
        conn.autocommit = True
        conn.execute("SET session_replication_role = DEFAULT")
        conn.execute("VACUUM ANALYZE registry_holder, registry_work, registry_identifier, consent_declaration, "
                     "registry_dispute")
    log(f"loaded in {time.perf_counter() - started:.0f} s")


# ---------------------------------------------------------------------------------------------------- lookups

def lookup_ids(n: int, *, works: int, holders: int, sites: int, rng: random.Random) -> list[str]:
    """A mix of every kind of identifier the resolver handles (shares in the comments)."""
    sites = max(1, min(sites, works // WORKS_PER_SITE))
    ids = []
    for _ in range(n):
        roll = rng.random()
        site = rng.randrange(sites)
        if roll < 0.45:  # registered ISBN
            ids.append(f"isbn:{isbn13(rng.randrange(works))}")
        elif roll < 0.60:  # valid ISBN nobody registered
            ids.append(f"isbn:{isbn13(works + rng.randrange(10 * works))}")
        elif roll < 0.70:  # longest url-prefix
            ids.append(f"url:https://site{site}.example/a/{'b/' if rng.random() < 0.5 else ''}{rng.randrange(10**6)}")
        elif roll < 0.75:  # exact url
            ids.append(f"url:https://site{site}.example/a/b/page.html")
        elif roll < 0.85:  # url on a sub-domain: nearest domain
            ids.append(f"url:https://www.site{site}.example/news/{rng.randrange(10**6)}")
        elif roll < 0.90:  # domain: nearest parent
            ids.append(f"domain:cdn.site{site}.example")
        elif roll < 0.95:  # url nobody registered
            ids.append(f"url:https://unknown{rng.randrange(10**6)}.example/")
        elif roll < 0.99:  # ref:
            i = rng.randrange(works)
            ids.append(f"ref:holder-{i % holders}/W{i}")
        else:  # invalid
            ids.append("isbn:978-0-00-000000-0")
    return ids


def single_rates(ids: list[str], *, purpose: str, jurisdiction: str, as_of=None) -> tuple[float, float, int]:
    """(lookup_one lookups/s, bare SQL lookups/s, statements per id) for one id at a time on one connection.

    An untimed pass records every statement lookup_one sends, with its parameters (a connection execute wrapper),
    and warms the caches; then lookup_one is timed over the same ids, then the recorded statements are replayed with
    a bare psycopg connection, prepared as lookup_one prepares them (`prepare=True`, after one untimed pass):
    the physical floor of answering one id at a time.
    """
    import psycopg
    from django.db import connection

    from consent.lookup import lookup_one

    recorded: list[list] = []

    def record(execute, sql, params, many, context):
        recorded[-1].append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        for one in ids:
            recorded.append([])
            lookup_one(id=one, purpose=purpose, jurisdiction=jurisdiction, as_of=as_of)
    started = time.perf_counter()
    for one in ids:
        lookup_one(id=one, purpose=purpose, jurisdiction=jurisdiction, as_of=as_of)
    engine = len(ids) / (time.perf_counter() - started)
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as raw:
        for statements in recorded:  # untimed: prepare every statement, as lookup_one's connection has them
            for sql, params in statements:
                raw.execute(sql, params, prepare=True).fetchall()
        started = time.perf_counter()
        for statements in recorded:
            for sql, params in statements:
                raw.execute(sql, params, prepare=True).fetchall()
        sql_rate = len(ids) / (time.perf_counter() - started)
    return engine, sql_rate, max(len(statements) for statements in recorded)


def run_lookups(*, works: int, holders: int, sites: int, lookups: int, batch: int, seed: int, profile: bool,
                singles: int = 0) -> None:
    import psycopg
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from consent.lookup import lookup_many

    rng = random.Random(seed + 1)
    ids = lookup_ids(lookups, works=works, holders=holders, sites=sites, rng=rng)
    batches = [ids[k:k + batch] for k in range(0, len(ids), batch)]
    asks = [SLOTS[(k * 11) % len(SLOTS)] for k in range(len(batches))]

    # Untimed: warm every cache (PostgreSQL's, the rule book) and record the SQL of each batch.
    log("recording the SQL of every batch (untimed)")
    recorded, outcomes = [], {}
    for ids_, (purpose, jurisdiction) in zip(batches, asks, strict=True):
        with CaptureQueriesContext(connection) as queries:
            results = lookup_many(ids=ids_, purpose=purpose, jurisdiction=jurisdiction, as_of=AS_OF)
        recorded.append([q["sql"] for q in queries.captured_queries])
        for r in results:
            key = "error" if "error" in r else (r["registered"], r["basis"])
            outcomes[key] = outcomes.get(key, 0) + 1
    log(f"queries per batch: {sorted({len(r) for r in recorded})}; answers: {outcomes}")

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    engine_time = engine_cpu = 0.0
    for ids_, (purpose, jurisdiction) in zip(batches, asks, strict=True):
        t, c = time.perf_counter(), time.process_time()
        lookup_many(ids=ids_, purpose=purpose, jurisdiction=jurisdiction, as_of=AS_OF)
        engine_time += time.perf_counter() - t
        engine_cpu += time.process_time() - c
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)

    with psycopg.connect(os.environ["DATABASE_URL"]) as raw:
        sql_time = 0.0
        rows = 0
        for statements in recorded:
            t = time.perf_counter()
            for sql in statements:
                rows += len(raw.execute(sql).fetchall())
            sql_time += time.perf_counter() - t
    engine_rate, sql_rate = lookups / engine_time, lookups / sql_time
    if singles:
        log(f"one id at a time: {singles} ids")
        one_ids = [i for i in ids[:singles] if i != "isbn:978-0-00-000000-0"]
        one_rate, one_sql_rate, one_statements = single_rates(one_ids, purpose="train-genai", jurisdiction="JP",
                                                              as_of=AS_OF)
    load1, load5, load15 = os.getloadavg()
    print(f"\n{lookups} lookups in {len(batches)} batches of {batch}")
    print(f"engine (lookup_many): {engine_time:.2f} s, {engine_rate:,.0f} decisions/s "
          f"(of which Python CPU in this process: {engine_cpu:.2f} s, i.e. {lookups / engine_cpu:,.0f} decisions per "
          f"CPU-second)")
    print(f"bare SQL (same statements, execute + fetchall, {rows} rows): {sql_time:.2f} s, {sql_rate:,.0f} ids/s")
    print(f"ratio engine / bare SQL: {engine_rate / sql_rate:.2f}")
    if singles:
        print(f"one id at a time ({len(one_ids)} valid ids, train-genai/JP): lookup_one {one_rate:,.0f}/s; bare SQL "
              f"(the same prepared statements, {one_statements} per id) {one_sql_rate:,.0f}/s; "
              f"ratio {one_rate / one_sql_rate:.2f}")
    print(f"load average (1, 5, 15 min): {load1:.2f} {load5:.2f} {load15:.2f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_arguments(parser, works=1_000_000, declarations=2_000_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--profile", action="store_true", help="cProfile the timed engine pass")
    parser.add_argument("--singles", type=int, default=2_000, help="also time lookup_one on this many ids, one at "
                                                                   "a time, against its bare-SQL floor (0: skip)")
    args = parser.parse_args()
    database_url()

    import django

    django.setup()
    load_unless_skipped(args)
    run_lookups(works=args.works, holders=args.holders, sites=args.sites, lookups=args.lookups, batch=args.batch,
                seed=args.seed, profile=args.profile, singles=args.singles)


if __name__ == "__main__":
    main()
