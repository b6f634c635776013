"""Benchmark: a holder's registry out (claims.export) on a generated registry: time, bytes, and the memory the
streamed export needs; optionally the round trip (the export imported back must create nothing).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_export \\
        .venv/bin/python bench/export_claims.py --works 100000 --declarations 200000 --import-back

1. Load (unless --skip-load) with bench/decide.py's loader, ONE holder: --works works with an ISBN each,
   --declarations declarations (catalogue-wide ones, ~2 per work, some with a superseded predecessor).
2. Export it twice as the admin / GET /api/v1/export stream it (claims_export_stream, pages of --chunk works):
   once under tracemalloc (peak Python allocation while streaming), once without (time, MB/s); and the process's
   peak RSS before and after (ru_maxrss).
3. --cp932: in the same run, the CP932 export's check (claims_export_unencodable: the values CP932 cannot write,
   read before the first byte) timed alone, and the CP932 export whole (check and stream); with --japanese-titles
   every work's title is made Japanese first (the worst case of the check: no title is plain ASCII).
4. --import-back: the exported file through the claims pipeline (claims_submission_create + the task, inline),
   then the counts of works, identifiers, declarations, disputes and audit events must be unchanged.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "0"

import decide  # noqa: E402


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--works", type=int, default=100_000)
    parser.add_argument("--declarations", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=2_000)
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--import-back", action="store_true")
    parser.add_argument("--cp932", action="store_true", help="also time the CP932 export and its check")
    parser.add_argument("--japanese-titles", action="store_true", help="make every title Japanese first")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    url = os.environ["DATABASE_URL"]
    if not args.skip_load:
        decide.load(url, works=args.works, declarations=args.declarations, holders=1, sites=0, disputes=0,
                    seed=args.seed)

    from claims.export import claims_export_stream
    from registry.models import Holder

    holder = Holder.objects.get()
    if args.japanese_titles:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("UPDATE registry_work SET title = '風の音 ' || work_ref WHERE title NOT LIKE '風の音 %%'")
    rss_before = rss_mb()

    tracemalloc.start()
    size = 0
    rows = 0
    for piece in claims_export_stream(holder=holder, chunk=args.chunk):
        size += len(piece)
        rows += piece.count(b"\r\n")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    log(f"export under tracemalloc: {rows - 1:,} rows, {size / 1e6:.1f} MB, peak Python allocation "
        f"{peak / 1e6:.1f} MB")

    started, cpu = time.perf_counter(), time.process_time()
    with tempfile.NamedTemporaryFile(suffix=".csv", delete=False) as out:
        for piece in claims_export_stream(holder=holder, chunk=args.chunk):
            out.write(piece)
    spent, spent_cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"export: {args.works:,} works, {rows - 1:,} rows, {size / 1e6:.1f} MB in {spent:.1f} s "
          f"({spent_cpu:.1f} s CPU; {size / 1e6 / spent:.1f} MB/s, {(rows - 1) / spent:,.0f} rows/s); peak Python "
          f"allocation while streaming {peak / 1e6:.1f} MB; process peak RSS {rss_before:.0f} MB before, "
          f"{rss_mb():.0f} MB after")

    if args.cp932:
        cp932(holder, args.chunk)
    if args.import_back:
        round_trip(Path(out.name), holder)
    os.unlink(out.name)
    print(f"load average: {os.getloadavg()}")


def cp932(holder, chunk: int) -> None:
    from claims.export import claims_export_stream, claims_export_unencodable

    started, cpu = time.perf_counter(), time.process_time()
    count, _ = claims_export_unencodable(holder=holder, codec="cp932")
    check = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    size = sum(len(piece) for piece in claims_export_stream(holder=holder, encoding="cp932", chunk=chunk))
    whole = time.perf_counter() - started, time.process_time() - cpu
    print(f"cp932: the check alone {check[0]:.2f} s ({check[1]:.2f} s CPU of this process; {count} values CP932 "
          f"lacks); the whole CP932 export {whole[0]:.1f} s ({whole[1]:.1f} s CPU), {size / 1e6:.1f} MB")


def round_trip(path: Path, holder) -> None:
    from django.core.files import File

    from audit.models import AuditEvent
    from claims.services import claims_submission_create, claims_submission_process
    from consent.models import Declaration
    from registry.models import Dispute, Identifier, Work

    def state():
        return {m.__name__: m.objects.count() for m in (Work, Identifier, Declaration, Dispute, AuditEvent)}

    before = state()
    started = time.perf_counter()
    with path.open("rb") as handle:
        submission = claims_submission_create(user=None, file=File(handle, name=path.name), holder_code=holder.code)
    claims_submission_process(submission_id=submission.pk)  # a no-op when the eager task already ran it
    submission.refresh_from_db()
    after = state()
    print(f"import back: {submission.status}, rows ok {submission.rows_ok:,}, failed {submission.rows_failed:,}, "
          f"in {time.perf_counter() - started:.0f} s; unchanged: {after == before} ({before} -> {after})")


if __name__ == "__main__":
    main()
