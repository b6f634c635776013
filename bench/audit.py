"""Benchmark: `manage.py verify_audit` on a large registry, time and peak memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench .venv/bin/python bench/audit.py [--works 100000]

Migrates the database it is given (use a scratch one) and, unless --no-load, adds --works works, each with one
identifier and one work-scope declaration, written set-wise with their audit events (3 rows and 3 events per work).
Then runs `manage.py verify_audit --json` in a child process and reports its wall time and peak RSS.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "false"


def load(works: int, chunk: int = 5000) -> None:
    from django.db import transaction
    from django.utils import timezone

    from audit.services import PendingEvent, audit_record_many
    from consent.audit_tracking import declaration_snapshot
    from consent.models import Declaration
    from registry.audit_tracking import identifier_snapshot, work_snapshot
    from registry.models import Holder, Identifier, Work
    from registry.services import holder_create

    code = f"bench-{uuid.uuid4().hex[:8]}"
    holder = Holder.objects.filter(code=code).first() or holder_create(code=code, name="Bench", kind="studio")
    for start in range(0, works, chunk):
        at = timezone.now()
        with transaction.atomic():
            batch = [Work(holder=holder, work_ref=f"B-{i}", title=f"Bench work {i}", kind="text", created_at=at,
                          updated_at=at) for i in range(start, min(works, start + chunk))]
            Work.objects.bulk_create(batch)
            idents = [Identifier(work=w, scheme="doi", value=f"10.5555/{code}-{w.work_ref.lower()}", valid_from=at)
                      for w in batch]
            Identifier.objects.bulk_create(idents)
            decls = [Declaration(holder=holder, scope="work", work=w, purpose="train-ai", jurisdiction="*",
                                 consent="reserve", effective_from=at, recorded_at=at) for w in batch]
            Declaration.objects.bulk_create(decls)
            events = []
            for w, i, d in zip(batch, idents, decls, strict=True):
                events += [PendingEvent("work.register", "work", str(w.pk), None, work_snapshot(w)),
                           PendingEvent("identifier.add", "identifier", str(i.pk), None, identifier_snapshot(i)),
                           PendingEvent("declaration.file", "declaration", str(d.pk), None,
                                        declaration_snapshot(d))]
            audit_record_many(actor="system", events=events, at=at)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--works", type=int, default=100_000)
    parser.add_argument("--no-load", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if not args.no_load:
        started = time.perf_counter()
        load(args.works)
        print(f"loaded {args.works} works (+identifiers, declarations, events) "
              f"in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    out = subprocess.run([sys.executable, str(ROOT / "manage.py"), "verify_audit", "--json"], capture_output=True,
                         text=True, env=os.environ.copy(), cwd=ROOT)
    wall = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    report = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"verify_audit: exit {out.returncode}, ok={report['ok']}, {report['events']} events, "
          f"{wall:.1f} s wall ({report['seconds']:.1f} s inside), peak RSS {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
