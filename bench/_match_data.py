"""The data of the near-match benchmarks (bench/match.py: phash, bench/match_dihedral.py: PDQ): a scratch database
made for the run and dropped after it, one holder and one image work, and fingerprint codes loaded by COPY with the
identifier table's indexes dropped for the load and rebuilt after it (as a bulk load would be done).

The search reads only identifier rows, so every code hangs on the one work.
"""
from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


@contextlib.contextmanager
def scratch_database(url: str, *, create: bool = True, keep: bool = False) -> Iterator[None]:
    """DATABASE_URL's database dropped and created (unless not `create`), migrated, and dropped at the end (unless
    `keep`). Refuses a database whose name lacks "bench": it is destroyed."""
    import django
    import psycopg

    name = url.rsplit("/", 1)[-1].split("?")[0]
    if "bench" not in name:
        raise SystemExit(f"refusing to use database {name!r}: its name must contain 'bench'")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    if create:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
    django.setup()
    try:
        if create:
            from django.core.management import call_command

            log("migrate")
            call_command("migrate", verbosity=0)
        yield
    finally:
        if not keep:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            log(f"dropped {name}")


def one_work(conn) -> uuid.UUID:
    """A holder and the one image work every loaded code belongs to."""
    holder, work = uuid.uuid4(), uuid.uuid4()
    conn.execute("INSERT INTO registry_holder (id, code, name, kind, country, licensing_url, verified, created_at) "
                 "VALUES (%s, 'bench', 'Bench', 'studio', 'JP', '', true, %s)", [holder, T0])
    conn.execute("INSERT INTO registry_work (id, holder_id, work_ref, title, original_title, kind, created_at, "
                 "updated_at) VALUES (%s, %s, 'W', 'W', '', 'image', %s, %s)", [work, holder, T0, T0])
    return work


def codes_load(conn, *, work: uuid.UUID, scheme: str, codes: Iterable[str], first: int = 0) -> tuple[float, float]:
    """COPY `codes` (hex) as `scheme` identifiers of `work`, row ids numbered from `first`, with the identifier
    table's indexes (the band indexes among them) dropped during the load and rebuilt after it, then VACUUM ANALYZE.

    Returns (COPY seconds, index rebuild and VACUUM ANALYZE seconds).
    """
    indexes = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'registry_identifier' "
                           "AND indexname <> 'registry_identifier_pkey'").fetchall()
    conn.execute("SET session_replication_role = replica")  # no FK checks during the load
    for index, _definition in indexes:
        conn.execute(f'ALTER TABLE registry_identifier DROP CONSTRAINT IF EXISTS "{index}"')
        conn.execute(f'DROP INDEX IF EXISTS "{index}"')
    started = time.perf_counter()
    with conn.cursor().copy("COPY registry_identifier (id, work_id, scheme, value, valid_from) FROM STDIN") as copy:
        for i, code in enumerate(codes, start=first):
            copy.write_row((uuid.UUID(int=(i << 64) | 1), work, scheme, code, T0))
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    for _index, definition in indexes:
        conn.execute(definition)
    conn.execute("SET session_replication_role = origin")
    conn.execute("VACUUM ANALYZE registry_identifier")
    return loaded, time.perf_counter() - started
