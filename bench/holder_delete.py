"""What registry 0011 and consent 0009 change, on a full registry, in one run: the partial indexes on
`filed_by_agent_id` and the key guards that plan each deleted id's probe for that id (core.keychecks). Deleting a
holder (the guards and Django's PROTECT look for rows that name it), and writing a collective's declarations (each
such row now also enters an index).

    .venv/bin/python bench/import_claims.py --rows 1000000 --db kyodaku_bench_holder_delete --ie-rows 0
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_holder_delete \\
        .venv/bin/python bench/holder_delete.py [--rounds 5] [--rows 100000] [--before b089b94]

1. `migrate` (on a registry loaded before the indexes: the time it takes to build them is printed).
2. --rounds times, alternating, each in a transaction rolled back: as migrated ("after"), and as before them
   ("before": the indexes dropped and the guards' functions of core/keychecks.py at commit --before put back,
   inside the transaction): a holder nothing refers to is created and deleted by SQL (the guards alone), and
   another through Django (`Holder.delete()`: PROTECT's queries, then the guards); wall time of each delete.
3. --rounds times, alternating (indexes kept or dropped): a COPY of --rows declarations filed by a collective
   (historic rows of the registry's works: revoked when recorded, so no slot's current declaration changes), wall
   time.

Writes nothing that stays (every round is rolled back); the load average before and after.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "0"

INDEXES = ("declaration_filed_by_agent_idx", "work_filed_by_agent_idx")
# The tables whose guards protect holders and works, as registry 0010 and consent 0008 installed them.
GUARDED = (("registry_work", "registry_holder", ("holder_id", "filed_by_agent_id")),
           ("registry_identifier", "registry_work", ("work_id",)),
           ("consent_declaration", "registry_holder", ("holder_id", "filed_by_agent_id")),
           ("consent_declaration", "registry_work", ("work_id",)))


def old_guard_functions(commit: str) -> str:
    """The guards' functions as core/keychecks.py at `commit` wrote them (CREATE OR REPLACE; no trigger)."""
    source = subprocess.run(["git", "show", f"{commit}:core/keychecks.py"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(source)
    spec = importlib.util.spec_from_file_location("keychecks_before", handle.name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    os.unlink(handle.name)
    sql = "".join(module._guards(table, target, [module.Reference(table, column, target) for column in columns])
                  for table, target, columns in GUARDED)
    return re.sub(r"CREATE TRIGGER [^;]*;", "", sql)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Rollback(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=100_000, help="declarations per COPY in 3.")
    parser.add_argument("--before", default="b089b94", help="the commit whose guards are 'before'")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from registry.models import Holder

    load_before = os.getloadavg()
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrate (builds the indexes where missing): {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("SELECT (SELECT count(*) FROM registry_work), (SELECT count(*) FROM consent_declaration), "
                       "(SELECT count(*) FROM consent_declaration WHERE filed_by_agent_id IS NOT NULL)")
        works, declarations, by_agent = cursor.fetchone()
    print(f"registry: {works:,} works, {declarations:,} declarations ({by_agent:,} filed by a collective)")

    before_guards = old_guard_functions(args.before)

    def in_rolled_back_transaction(indexed: bool, body, *, guards: bool = False):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                if not indexed:
                    for index in INDEXES:
                        cursor.execute(f'DROP INDEX "{index}"')
                    if guards:
                        cursor.execute(before_guards)
                result = body(cursor)
                raise Rollback(result)
        except Rollback as done:
            return done.args[0]

    def delete_sql(cursor) -> float:
        holder = Holder.objects.create(code=f"bench-lone-{uuid.uuid4().hex[:8]}", name="Lone", kind="collective")
        started = time.perf_counter()
        cursor.execute("DELETE FROM registry_holder WHERE id = %s", [holder.pk])
        return time.perf_counter() - started

    def delete_orm(cursor) -> float:
        holder = Holder.objects.create(code=f"bench-lone-{uuid.uuid4().hex[:8]}", name="Lone", kind="collective")
        started = time.perf_counter()
        holder.delete()
        return time.perf_counter() - started

    def copy_by_collective(cursor) -> float:
        agent = Holder.objects.create(code=f"bench-agent-{uuid.uuid4().hex[:8]}", name="Agent", kind="collective")
        cursor.execute("SELECT id, holder_id FROM registry_work LIMIT %s", [args.rows])
        works = cursor.fetchall()
        columns = ("id, holder_id, scope, work_id, purpose, jurisdiction, consent, license_url, conditions, "
                   "effective_from, effective_until, recorded_at, filed_by_agent_id, superseded_at, revoked_at")
        started = time.perf_counter()
        with cursor.copy(f"COPY consent_declaration ({columns}) FROM STDIN") as copy:
            for work_id, holder_id in works:
                copy.write_row((uuid.uuid4(), holder_id, "work", work_id, "tdm", "JP", "reserve", "", "", T0, None,
                                T0, agent.pk, None, T0))
        return time.perf_counter() - started

    results: dict[tuple[str, bool], list[float]] = {}
    for _ in range(args.rounds):
        for indexed in (True, False):
            for name, body in (("DELETE by SQL", delete_sql), ("Holder.delete()", delete_orm)):
                results.setdefault((name, indexed), []).append(in_rolled_back_transaction(indexed, body,
                                                                                          guards=True))
    for _ in range(args.rounds):
        for indexed in (True, False):
            results.setdefault((f"COPY of {args.rows:,} collective declarations", indexed), []).append(
                in_rolled_back_transaction(indexed, copy_by_collective))
    for name in dict.fromkeys(name for name, _ in results):
        with_index, without = results[(name, True)], results[(name, False)]
        before = "without the indexes" if name.startswith("COPY") else f"before (indexes and guards of {args.before})"
        print(f"{name}: median {statistics.median(with_index) * 1000:,.1f} ms as migrated, "
              f"{statistics.median(without) * 1000:,.1f} ms {before} ({args.rounds} rounds each, alternating)")
    load_after = os.getloadavg()
    print(f"load average before {' / '.join(f'{x:.2f}' for x in load_before)}; after "
          f"{' / '.join(f'{x:.2f}' for x in load_after)}")


if __name__ == "__main__":
    main()
