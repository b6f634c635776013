"""Benchmark: what salted commitments cost (issue 12, item 4).

    .venv/bin/python bench/audit_salting.py prepare [--events 100000]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_scratch .venv/bin/python bench/audit_salting.py \\
        migrate [--events 100000]

`prepare`: numbers, salts and hashes --events events for a COPY (`audit.services.audit_bulk_prepare`, the bulk
claims path), no database; best of 3, CPU seconds. Run it from an older checkout (PYTHONPATH=<old tree>) for the
figure before salting.
`migrate`: migrates the database it is given (use a scratch one), writes --events unsalted events as the log held
them before salting (COPY), then times migration audit.0003's `salt_the_log` over them and runs verify_audit's
chain pass.
"""
import argparse
import importlib
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, os.environ.get("PYTHONPATH") or str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "false"

AT = datetime(2026, 11, 1, tzinfo=UTC)


def _events(n: int):
    from audit.services import PendingEvent

    return [PendingEvent("declaration.file", "declaration", f"d-{i}", None,
                         {"consent": "reserve", "purpose": "train-ai", "jurisdiction": "JP", "work": f"w-{i}"})
            for i in range(n)]


def prepare(n: int) -> None:
    from audit.services import audit_bulk_prepare

    events = _events(n)
    best = None
    for _ in range(3):
        started = time.process_time()
        audit_bulk_prepare(actor="user:1", events=events, at=AT, after_seq=0, after_hash="0" * 64)
        spent = time.process_time() - started
        best = spent if best is None else min(best, spent)
    print(f"audit_bulk_prepare: {n:,} events in {best:.2f} s CPU ({best / n * 1e6:.1f} us/event)")


def migrate(n: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from audit.chain import GENESIS_HASH, canonical_json, legacy_event_hash
    from audit.models import AuditEvent, AuditHead
    from audit.selectors import _chain_problem
    from audit.services import copy_cell

    call_command("migrate", verbosity=0)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
            cursor.execute("DELETE FROM audit_auditevent")
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
        prev, lines = GENESIS_HASH, []
        for seq, event in enumerate(_events(n), start=1):
            digest = legacy_event_hash(seq=seq, at=AT, actor="user:1", action=event.action,
                                       object_type=event.object_type, object_id=event.object_id, before=None,
                                       after=event.after, prev_hash=prev)
            lines.append(f"{seq}\t{AT.isoformat()}\tuser:1\t{event.action}\t{event.object_type}\t{event.object_id}"
                         f"\t\\N\t{copy_cell(canonical_json(event.after))}\t\t{prev}\t{digest}\n")
            prev = digest
        with connection.cursor() as cursor, cursor.copy(
                'COPY audit_auditevent (seq, at, actor, action, object_type, object_id, before, after, salt, '
                'prev_hash, hash) FROM STDIN') as copy:
            copy.write("".join(lines))
        AuditHead.objects.update_or_create(id=1, defaults={"seq": n, "hash": prev})
    salting = importlib.import_module("audit.migrations.0003_salted_commitments")
    from django.apps import apps

    started = time.monotonic()
    with transaction.atomic(), connection.schema_editor(atomic=False) as editor:
        salting.salt_the_log(apps, editor)
    spent = time.monotonic() - started
    print(f"salt_the_log: {n:,} unsalted events re-chained in {spent:.1f} s ({spent / n * 1e6:.0f} us/event)")
    started = time.monotonic()
    problem, checked = _chain_problem(chunk=5000)
    print(f"chain pass after: {checked:,} events, problem: {problem}, {time.monotonic() - started:.1f} s; "
          f"legacy hashes kept: {AuditEvent.objects.filter(legacy_hash__isnull=False).count():,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["prepare", "migrate"])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    if args.what == "prepare":
        import django

        django.setup()
        prepare(args.events)
    else:
        migrate(args.events)


if __name__ == "__main__":
    main()
