"""Where a claims import spends its time: phase by phase, Python against PostgreSQL (issue 5).

    .venv/bin/python bench/claims_profile.py [--rows 100000] [--db kyodaku_claims_profile] [--chunk 2500]

Drops and re-creates the database named by --db (a scratch one!), generates the same file as
bench/import_claims.py and runs `claims_submission_process` in this process (no broker, no worker: the phases are
timed by wrapping the functions that make them). Prints one JSON object: wall time, seconds inside each phase
(summed over both threads, so they overlap), this process's CPU time (both threads), the CPU time of the writer's
PostgreSQL backend and of the planning connection's, and peak RSS. Use it to see which side of the pipeline
limits a run; use bench/import_claims.py for the end-to-end figure.

`--without` removes one cost from the run, to measure what it costs (never a way to import; issue 15 item 2):
`audit-copy` skips the audit log's `COPY` (the chain head still moves, as if written), `trigram` drops the two
trigram indexes of works, `fk` drops the foreign keys of works, identifiers and declarations and the set-based
checks that replace most of them (core.keychecks). Give it several times to remove several.
"""
import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", default="kyodaku_claims_profile")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--chunk", type=int, default=2500)
    parser.add_argument("--without", action="append", default=[], choices=["audit-copy", "trigram", "fk"])
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="claims-profile-"))
    env = {"DJANGO_SETTINGS_MODULE": "config.settings.local", "DEBUG": "false", "LOG_LEVEL": "WARNING",
           "DATABASE_URL": f"{args.pg}/{args.db}", "MEDIA_ROOT": str(workdir),
           "KYODAKU_CLAIMS_CHUNK_ROWS": str(args.chunk)}
    os.environ.update(env)
    host = args.pg.split("@")[-1].split(":")[0]
    subprocess.run(["dropdb", "-h", host, "-U", "postgres", "--if-exists", args.db], check=True)
    subprocess.run(["createdb", "-h", host, "-U", "postgres", args.db], check=True)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], check=True, env={**os.environ})

    import django

    django.setup()
    from django.core.files import File
    from django.db import connection, transaction
    from import_claims import generate

    from claims import copying, merging, reading, services, validation, writing
    from claims.models import Submission
    from registry.services import holder_create, holder_user_set

    seconds = Counter()

    def timed(module, name):
        original = getattr(module, name)

        @functools.wraps(original)
        def wrapper(*a, **kw):
            started = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                seconds[name] += time.perf_counter() - started
        setattr(module, name, wrapper)

    ablate(args.without)
    for module, name in [(reading, "scan"), (validation, "validate_row"), (merging, "plan_chunk"),
                         (copying, "prepare_plan"), (copying, "write_plan"), (writing, "write_chunk")]:
        timed(module, name)
    services.validate_row = validation.validate_row  # imported by name there

    writer_cpu = []

    class Connections:
        """Stands in for django.db.connections in claims.writing: reads the writer backend's CPU before closing."""

        def close_all(self):
            from django.db import connection as own
            from django.db import connections
            with own.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                writer_cpu.append(backend_cpu(cursor.fetchone()[0]))
            connections.close_all()

    writing.connections = Connections()

    holder = holder_create(code="bench-studio", name="Bench Studio", kind="studio")
    user = holder_user_set(holder=holder, username="bench-editor", role="editor")
    path = workdir / "claims.csv"
    generate(path, args.rows, holder.code)
    with path.open("rb") as handle, transaction.atomic():
        submission = Submission(holder=holder, original_name=path.name, size_bytes=path.stat().st_size,
                                submitted_by=user)
        submission.file.save(path.name, File(handle), save=False)
        submission.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        planner_pid = cursor.fetchone()[0]
    planner_before, cpu_before = backend_cpu(planner_pid), time.process_time()
    started = time.perf_counter()
    services.claims_submission_process(submission_id=submission.pk)
    wall = time.perf_counter() - started
    submission.refresh_from_db()
    peak = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
    print(json.dumps({
        "rows": args.rows, "chunk_rows": args.chunk, "without": args.without, "status": submission.status,
        "wall_s": round(wall, 1),
        "phases_s": {name: round(value, 1) for name, value in seconds.most_common()},
        "python_cpu_s": round(time.process_time() - cpu_before, 1),
        "writer_backend_cpu_s": round(sum(writer_cpu), 1),
        "planner_backend_cpu_s": round(backend_cpu(planner_pid) - planner_before, 1),
        "peak_rss_mb": round(peak / 1024, 1), "load_average": [round(x, 2) for x in os.getloadavg()],
    }))


def ablate(without: list[str]) -> None:
    """Take the named costs out of this (scratch) database and process: a measurement, never an import."""
    from django.db import connection

    from claims import copying
    from consent.models import Declaration
    from registry.models import Identifier, Work

    statements = []
    if "trigram" in without:
        statements += ["DROP INDEX work_title_trgm_idx", "DROP INDEX work_original_title_trgm_idx"]
    if "fk" in without:
        with connection.cursor() as cursor:
            cursor.execute("SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' AND "
                           "conrelid = ANY(%s::regclass[])",
                           [[m._meta.db_table for m in (Work, Identifier, Declaration)]])
            statements += [f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"' for table, name in cursor.fetchall()]
            # and the set-based checks that replace most of them (core.keychecks)
            cursor.execute("SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal AND "
                           "tgname LIKE '%%keys_exist%%' AND tgrelid = ANY(%s::regclass[])",
                           [[m._meta.db_table for m in (Work, Identifier, Declaration)]])
            statements += [f'DROP TRIGGER "{name}" ON "{table}"' for table, name in cursor.fetchall()]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    if "audit-copy" in without:
        from audit.models import AuditHead
        from audit.services import HeadMoved, audit_head_lock

        def head_only(batch):
            head = audit_head_lock()
            if (head.seq, head.hash) != (batch.after_seq, batch.after_hash):
                raise HeadMoved(f"head #{head.seq}, batch prepared after #{batch.after_seq}")
            AuditHead.objects.filter(id=1).update(seq=batch.seq, hash=batch.hash)

        copying.audit_bulk_write = head_only


if __name__ == "__main__":
    main()
