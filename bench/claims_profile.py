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
import resource
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
    parser.add_argument("--sample-ms", type=float, default=0,
                        help="Sample pg_stat_activity every N ms from a separate process: what each backend was "
                             "doing (on CPU, waiting for its client, for I/O, for a lock), as shares of samples.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--in-process", action="store_true",
                      help="Plan in this process's thread (KYODAKU_CLAIMS_PLANNER_PROCESS_MIN_ROWS=-1, the default).")
    mode.add_argument("--planner-process", action="store_true",
                      help="Plan in claims.planner's second process (KYODAKU_CLAIMS_PLANNER_PROCESS_MIN_ROWS=0).")
    parser.add_argument("--steps", action="store_true",
                        help="Time each step of a chunk on each side (planning thread, writer thread): calls, wall, "
                             "the thread's CPU and its connection's backend CPU, per chunk.")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="claims-profile-"))
    env = {"DJANGO_SETTINGS_MODULE": "config.settings.local", "DEBUG": "false", "LOG_LEVEL": "WARNING",
           "DATABASE_URL": f"{args.pg}/{args.db}", "MEDIA_ROOT": str(workdir),
           "KYODAKU_CLAIMS_CHUNK_ROWS": str(args.chunk)}
    if args.in_process or args.planner_process:
        env["KYODAKU_CLAIMS_PLANNER_PROCESS_MIN_ROWS"] = "0" if args.planner_process else "-1"
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

    from claims import copying, merging, planner, reading, services, validation, writing
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
    steps = instrument_steps() if args.steps else None

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
    sampler = start_sampler(args) if args.sample_ms else None
    # With claims.planner's process the planning side's Python is that child's (its CPU counted once it is waited
    # for), and this process's connection is the writer's; the child's own backend (its reads) is not measured.
    child_process = planner.uses_process(submission, args.rows)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    planner_before, cpu_before = backend_cpu(planner_pid), time.process_time()
    started = time.perf_counter()
    services.claims_submission_process(submission_id=submission.pk)
    wall = time.perf_counter() - started
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu = (children_after.ru_utime + children_after.ru_stime) - (children.ru_utime + children.ru_stime)
    main_backend_cpu = backend_cpu(planner_pid) - planner_before
    samples = stop_sampler(sampler, planner_pid) if sampler else None
    time.sleep(1.5)  # the writer's connection is closed: its table statistics reach pg_stat within a second
    with connection.cursor() as cursor:
        # How the import read the tables it writes and refers to: a sequential scan of registry_work per chunk
        # (seq_tup_read growing with the square of the import) is what core.keychecks' probes by key removed.
        cursor.execute("SELECT relname, seq_scan, seq_tup_read, idx_scan FROM pg_stat_user_tables WHERE relname = "
                       "ANY(%s) ORDER BY relname", [["registry_work", "registry_holder", "registry_identifier",
                                                     "consent_declaration", "audit_auditevent"]])
        table_reads = {name: {"seq_scan": seq, "seq_tup_read": tup, "idx_scan": idx}
                       for name, seq, tup, idx in cursor.fetchall()}
    submission.refresh_from_db()
    peak = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
    print(json.dumps({
        "rows": args.rows, "chunk_rows": args.chunk, "without": args.without, "status": submission.status,
        "wall_s": round(wall, 1),
        "phases_s": {name: round(value, 1) for name, value in seconds.most_common()},
        "planner_process": child_process,
        "python_cpu_s": round(time.process_time() - cpu_before, 1),
        "planner_process_cpu_s": round(child_cpu, 1) if child_process else None,
        "writer_backend_cpu_s": round(main_backend_cpu if child_process else sum(writer_cpu), 1),
        "planner_backend_cpu_s": None if child_process else round(main_backend_cpu, 1),
        "peak_rss_mb": round(peak / 1024, 1), "load_average": [round(x, 2) for x in os.getloadavg()],
        "backend_samples": samples, "table_reads": table_reads,
        "steps_ms_per_chunk": steps_report(steps, args) if steps is not None else None,
    }))


def instrument_steps() -> dict:
    """Wrap each step of a chunk: per (side, step) the calls, wall, the thread's CPU and the backend CPU of the
    thread's own connection (read from /proc, no query). Sides: `planner` (the task's thread: reading, validation,
    planning, preparing) and `writer` (claims.writing's thread: the chunk's transaction)."""
    import threading

    from django.db import connection
    from django.db.backends.postgresql.base import DatabaseWrapper

    from audit import services as audit_services
    from claims import copying, merging, reads, services, writing

    totals: dict = {}

    def side() -> str:
        return "writer" if threading.current_thread().name.startswith("claims-writer") else "planner"

    def backend() -> float:
        raw = getattr(connection, "connection", None)
        return backend_cpu(raw.info.backend_pid) if raw is not None and not raw.closed else 0.0

    def wrap(module, name, label=None):
        original = getattr(module, name)

        @functools.wraps(original)
        def wrapper(*a, **kw):
            wall, cpu, db = time.perf_counter(), time.thread_time(), backend()
            try:
                return original(*a, **kw)
            finally:
                key = (side(), label(*a) if callable(label) else (label or name))
                entry = totals.setdefault(key, [0, 0.0, 0.0, 0.0])
                entry[0] += 1
                entry[1] += time.perf_counter() - wall
                entry[2] += time.thread_time() - cpu
                entry[3] += backend() - db
        setattr(module, name, wrapper)

    for module, name in [(services, "_validate_lines"), (services, "_filing_rights"), (services, "_plan_ahead"),
                         (reads, "works_named"), (reads, "identifiers_named"), (reads, "disputes_by_claimants"),
                         (reads, "slots_in_force"), (merging, "_read_dispute_limits"), (merging, "plan_chunk"),
                         (copying, "copy_texts"), (copying, "audit_bundled"), (copying, "audit_bulk_prepare"),
                         (writing, "head_now"), (writing, "audit_head_lock"), (copying, "audit_bulk_write"),
                         (copying, "_write_changes"), (writing.ThreadedWriter, "submit"),
                         (copying, "analyze_written_tables"), (audit_services, "audit_head_lock")]:
        wrap(module, name)
    wrap(copying, "copy_table", lambda cursor, statement, text: "copy " + statement.split('"')[1])
    wrap(DatabaseWrapper, "commit")
    manager = writing.RowError.objects
    wrap(manager, "bulk_create", "row_errors")
    return totals


def steps_report(totals: dict, args) -> dict:
    chunks = -(-args.rows // args.chunk)
    return {f"{side}:{step}": {"calls": n, "wall": round(1000 * wall / chunks, 1), "cpu": round(1000 * cpu / chunks, 1),
                               "backend_cpu": round(1000 * db / chunks, 1)}
            for (side, step), (n, wall, cpu, db) in sorted(totals.items(), key=lambda kv: -kv[1][1])}


# A separate process (not a thread: it must not take the GIL from the import) that polls pg_stat_activity for the
# profiled database's backends and counts what each was doing; prints the counts as JSON when its stdin closes.
SAMPLER = """
import json, sys, threading, time, collections, psycopg
url, every = sys.argv[1], float(sys.argv[2]) / 1000
counts = collections.defaultdict(collections.Counter)
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
with psycopg.connect(url, autocommit=True) as conn:
    while not done.is_set():
        for pid, state, kind, event in conn.execute(
                "SELECT pid, state, wait_event_type, wait_event FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"):
            what = "cpu" if state == "active" and kind is None else (
                f"{state}" if kind is None else f"{state}:{kind}:{event}")
            counts[pid][what] += 1
        time.sleep(every)
print(json.dumps({pid: dict(c) for pid, c in counts.items()}))
"""


def start_sampler(args):
    return subprocess.Popen([sys.executable, "-c", SAMPLER, f"{args.pg}/{args.db}", str(args.sample_ms)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def stop_sampler(sampler, planner_pid: int) -> dict:
    """Shares of samples per state, for the planning connection's backend and for the others (the writer's)."""
    out, _ = sampler.communicate("")
    per_pid = json.loads(out)
    sides = {"planner": Counter(), "writer": Counter()}
    for pid, counts in per_pid.items():
        sides["planner" if int(pid) == planner_pid else "writer"].update(counts)
    return {side: {what: round(n / max(1, sum(counts.values())), 3) for what, n in counts.most_common()}
            | {"samples": sum(counts.values())} for side, counts in sides.items()}


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
