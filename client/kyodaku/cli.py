"""The `kyodaku` command: check, sync, verify (docs/client.md)."""
from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import hashlib
import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from .checking import (
    BATCH_MAX,
    COLUMNS,
    Lines,
    StateFile,
    answer_batch,
    check_offline,
    csv_line,
    file_digest,
    run_batches,
    unchecked_count,
)
from .ids import IdUnits, read_id_list
from .offline import BadSnapshot, LocalCopy, StaleCopy, copy_dir

# rich, httpx and cryptography are imported where they are used: an offline check with --quiet needs none of them,
# and their imports cost more CPU than answering 100,000 ids from the copy.
OFFLINE_UNIT = 100_000
OFFLINE_UNIT_BYTES = 4 << 20  # offline, in bulk: ~100,000 ids of 40 bytes (ids.IdUnits)
DEFAULT_COPIES = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "kyodaku")
EPILOG = """environment:
  KYODAKU_URL       the registry, as https://kyodaku.example.org
  KYODAKU_API_KEY   your API key (check, sync)

exit status: 0 all answered (or verified); 1 some ids unchecked (or a receipt failed); 2 usage; 3 the local copy
was refused (stale, missing, or a snapshot that does not verify)."""


@functools.cache
def _console():
    from rich.console import Console

    return Console(stderr=True)


def say(text: str) -> None:
    _console().print(text)


class _Quiet:
    def add_task(self, *args, **kwargs):
        return None

    def advance(self, task, n):
        pass


@contextlib.contextmanager
def progress_bar(quiet: bool):
    """A rich progress bar with the rate and time left, or nothing at all with --quiet (rich not even imported)."""
    if quiet:
        yield _Quiet()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn

    class RateColumn(ProgressColumn):
        def render(self, task):
            return TextColumn(f"{task.speed or 0:,.0f} ids/s").render(task)

    with Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(), RateColumn(), TimeRemainingColumn(),
                  console=_console()) as progress:
        yield progress


def processes_default() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="kyodaku", description="Check identifiers against the Kyodaku consent registry, keep an offline copy "
        "of its answers, and verify its signed receipts.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help="answer every id in a file (online, or from a synced copy)",
                           description="Answer every id of FILE (one a line, or a CSV column) and write a CSV row "
                           "per id. Ids without an answer are written `denied` / `unchecked` with the reason; "
                           "the command then exits 1, and running it again asks only for those.",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("file", metavar="FILE", help="ids, one a line (lines starting with # are skipped), or CSV")
    question(check)
    check.add_argument("--out", default="answers.csv", help="CSV to write (default: %(default)s); its state file "
                       "is OUT.state.jsonl, its receipts OUT.receipts.jsonl")
    check.add_argument("--column", help="read ids from this column of a CSV file with a header")
    check.add_argument("--receipts", choices=("batch", "single", "none"), default="none",
                       help="batch: one signed Merkle root per batch; single: a receipt per id (default: none)")
    check.add_argument("--batch-size", type=int, default=BATCH_MAX, help="ids per request, at most 10,000")
    check.add_argument("--concurrency", type=int, default=4, help="requests in flight (default: %(default)s)")
    check.add_argument("--offline", action="store_true", help="answer from the copy `kyodaku sync` keeps, asking "
                       "the API only for ids it cannot answer")
    check.add_argument("--processes", type=int, default=processes_default(), help="offline: how many units of "
                       "~100,000 ids are answered from the copy at once, by threads of this process with the "
                       "compiled accelerator, by processes without it (default: the CPUs available, %(default)s)")
    check.add_argument("--max-age", type=float, default=86400, help="offline: refuse a copy brought up to date "
                       "more than this many seconds ago (default: %(default)s)")
    check.add_argument("--dir", default=DEFAULT_COPIES, help="where synced copies live (default: %(default)s)")
    check.add_argument("--restart", action="store_true", help="discard the state of an earlier interrupted run")
    check.add_argument("--quiet", action="store_true", help="no progress bar")
    sync = sub.add_parser("sync", help="download and verify a snapshot, then follow the change feed",
                          description="Keep a local copy of the registry's answers for one purpose and "
                          "jurisdiction: the signed snapshot (signature, sha256 and size checked), then every "
                          "change since. Run it as often as --max-age of `check --offline` requires.",
                          epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    question(sync)
    sync.add_argument("--dir", default=DEFAULT_COPIES, help="where copies live (default: %(default)s)")
    verify = sub.add_parser("verify", help="check receipts and batch proofs offline against published keys",
                            description="Verify every receipt in FILE: compact JWS lines, a saved lookup "
                            "response, or JSON lines such as OUT.receipts.jsonl of `kyodaku check`.",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("file", metavar="FILE", help="receipts to verify (- for standard input)")
    verify.add_argument("--jwks", help="the registry's keys: a saved GET /api/v1/keys or its URL (default: "
                                       "$KYODAKU_URL/api/v1/keys, fetched once; the receipts are checked offline)")
    verify.add_argument("--iss", help="fail receipts issued by any other registry URL")
    return top


def question(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--purpose", required=True, help="the use, as train-genai, train-ai or tdm")
    sub.add_argument("--jurisdiction", required=True, help="where the use happens, as JP, FR or EU")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return {"check": cmd_check, "sync": cmd_sync, "verify": cmd_verify}[args.command](args)
    except StaleCopy as exc:
        say(f"[red]refused:[/] {exc}")
        return 3
    except BadSnapshot as exc:
        say(f"[red]snapshot refused:[/] {exc}")
        return 3
    except KeyboardInterrupt:
        say("interrupted: run the same command again to resume")
        return 130


def cmd_check(args) -> int:
    if not 1 <= args.batch_size <= BATCH_MAX:
        raise SystemExit("--batch-size must be 1 to 10,000")
    if args.processes < 1:
        raise SystemExit("--processes must be 1 or more")
    local = None
    if args.offline:
        directory = copy_dir(args.dir, args.purpose, args.jurisdiction)
        if not (directory / "state.json").exists():
            raise StaleCopy(f"no local copy in {directory}: run `kyodaku sync` first")
        local = LocalCopy(directory)
        local.require_fresh(args.max_age)
        if args.receipts != "single":  # single receipts are written row by row: the path below
            return check_offline_bulk(args, local)
    if local is not None:
        local.all_answers()
    ids = read_id_list(args.file, column=args.column)
    api = None
    if os.environ.get("KYODAKU_URL"):
        from .http import Api

        api = Api.from_env()
    if api is None and not args.offline:
        raise SystemExit("KYODAKU_URL is not set: the registry's address, as https://kyodaku.example.org")
    header = {"input": file_digest(args.file), "column": args.column, "purpose": args.purpose,
              "jurisdiction": args.jurisdiction, "receipts": args.receipts, "batch_size": args.batch_size,
              "offline": args.offline}
    state = StateFile(args.out + ".state.jsonl", header, restart=args.restart)
    unchecked = 0
    with progress_bar(args.quiet) as progress:
        task = progress.add_task("check", total=len(ids))

        def answer(number, batch):
            return answer_batch(api, batch, number=number, purpose=args.purpose, jurisdiction=args.jurisdiction,
                                receipts=args.receipts, local=local)

        tmp = args.out + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="") as out, \
                open(args.out + ".receipts.jsonl", "w", encoding="utf-8") as receipts:
            writer = csv.writer(out)
            writer.writerow(COLUMNS)
            # Offline, ids are taken in units of OFFLINE_UNIT so that the few the copy cannot answer reach the
            # API in large batches (10,000 a request at most) rather than a small request per 10,000 ids.
            unit = max(args.batch_size, OFFLINE_UNIT) if args.offline else args.batch_size
            for _, rows, signed in run_batches(ids, answer=answer, state=state, batch_size=unit,
                                                 concurrency=args.concurrency,
                                                 progress=lambda n: progress.advance(task, n)):
                if isinstance(rows, Lines):
                    out.writelines(rows)
                else:
                    writer.writerows(rows)
                unchecked += unchecked_count(rows)
                for document in signed:
                    receipts.write(json.dumps(document, separators=(",", ":")) + "\n")
                if args.receipts == "single":
                    for row in rows:
                        if row[7]:
                            receipts.write(json.dumps({"id": row[0], "receipt": row[7]}) + "\n")
        os.replace(tmp, args.out)
    state.close()
    return finish(args, state, unchecked=unchecked, total=len(ids))


def check_offline_bulk(args, local: LocalCopy) -> int:
    """`check --offline` without single receipts: the file read as bytes in one piece, units of OFFLINE_UNIT ids
    answered from the copy by --processes threads or processes (checking.check_offline), the CSV written as bytes.
    The same rows as the path of cmd_check (client/tests/test_client_offline_lines.py)."""
    with open(args.file, "rb") as handle:
        data = handle.read()
    if args.column is None:
        units = IdUnits(data, args.file, unit_bytes=OFFLINE_UNIT_BYTES, unit_ids=OFFLINE_UNIT)
        quote = b"," in data or b'"' in data
    else:
        units = IdUnits(data, args.file, unit_bytes=OFFLINE_UNIT_BYTES, unit_ids=OFFLINE_UNIT,
                        listed=read_id_list(args.file, column=args.column))
        quote = True
    header = {"input": None, "column": args.column, "purpose": args.purpose,
              "jurisdiction": args.jurisdiction, "receipts": args.receipts, "batch_size": args.batch_size,
              "offline": True, "kept": "api-lines", "unit": [OFFLINE_UNIT_BYTES, OFFLINE_UNIT]}
    # The input's sha256 names the run in the state file; hashlib computes it without the GIL, in a thread of its
    # own while the first units are answered. The state file is opened (and checked) before any unit is written.
    hashing = ThreadPoolExecutor(1)
    digest = hashing.submit(lambda: hashlib.sha256(data).hexdigest())

    @functools.cache
    def state_file() -> StateFile:
        return StateFile(args.out + ".state.jsonl", {**header, "input": digest.result()}, restart=args.restart)

    lock, made = threading.Lock(), []

    def api():
        # called by checking._Asker's first request thread, when the first id only the API answers is found: a check
        # none of whose ids needs the API does not import httpx at all
        with lock:
            if not made:
                if os.environ.get("KYODAKU_URL"):
                    from .http import Api

                    made.append(Api.from_env())
                else:
                    made.append(None)
            return made[0]

    tmp = args.out + ".tmp"
    try:
        unchecked, total = _write_offline(args, local, units, quote, api, state_file, tmp)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)  # nothing is left half-written by a run that stopped (another run's state file, ...)
        raise
    finally:
        hashing.shutdown()
    state = state_file()
    state.close()
    return finish(args, state, unchecked=unchecked, total=total)


def _write_offline(args, local: LocalCopy, units: IdUnits, quote: bool, api, state_file, tmp: str) -> tuple[int, int]:
    """check_offline_bulk's CSV, written to `tmp` then moved to --out: (ids unchecked, ids)."""
    unchecked = total = 0
    with progress_bar(args.quiet) as progress:
        # lines: as near as the bar needs (a pass over the file: not made for --quiet, which shows no bar)
        task = progress.add_task("check", total=None if args.quiet else units.data.count(b"\n") + 1)
        with open(tmp, "wb") as out, contextlib.ExitStack() as later:
            receipts = None  # opened once the state file is (check_offline opens it before the first unit)
            out.write(csv_line(list(COLUMNS)).encode())
            for chunks, signed, missed, count in check_offline(
                    units, local=local, api=api, purpose=args.purpose, jurisdiction=args.jurisdiction,
                    receipts=args.receipts, state=state_file, processes=args.processes,
                    concurrency=args.concurrency, quote=quote):
                if receipts is None:
                    receipts = later.enter_context(open(args.out + ".receipts.jsonl", "w", encoding="utf-8"))
                out.writelines(chunks)
                unchecked += missed
                total += count
                for document in signed:
                    receipts.write(json.dumps(document, separators=(",", ":")) + "\n")
                progress.advance(task, count)
            state_file()  # opened, and checked, even when the file has no unit at all
            if receipts is None:
                later.enter_context(open(args.out + ".receipts.jsonl", "w", encoding="utf-8"))
        os.replace(tmp, args.out)
    return unchecked, total


def finish(args, state: StateFile, *, unchecked: int, total: int) -> int:
    if args.receipts == "none":
        os.remove(args.out + ".receipts.jsonl")
    if unchecked:
        say(f"[yellow]{unchecked:,} of {total:,} ids unchecked[/] (written denied / unchecked with the reason in "
            f"{args.out}); run the same command again to ask for them")
        return 1
    os.remove(state.path)
    print(f"{total:,} ids answered: {args.out}", file=sys.stderr)  # plain: rich is not imported for this line
    return 0


def cmd_sync(args) -> int:
    from .http import Api, ApiError, Unavailable

    api = Api.from_env()
    try:
        copy = LocalCopy.sync(api, args.dir, purpose=args.purpose, jurisdiction=args.jurisdiction)
    except (Unavailable, ApiError) as exc:
        say(f"[red]sync failed:[/] {exc}; the copy keeps its last state")
        return 1
    say(f"{copy.dir}: snapshot {copy.manifest['created_at']} (cursor {copy.manifest['cursor']}), "
              f"up to date to cursor {copy.state['cursor']}, {len(copy.all_answers()):,} registered keys")
    return 0


def cmd_verify(args) -> int:
    from .verify import documents, verify_document

    source = args.jwks
    if not source:
        if not os.environ.get("KYODAKU_URL"):
            raise SystemExit("give --jwks (a saved GET /api/v1/keys or its URL) or set KYODAKU_URL, the registry's "
                             "address, as https://kyodaku.example.org")
        source = os.environ["KYODAKU_URL"].rstrip("/") + "/api/v1/keys"
    if source.startswith(("http://", "https://")):
        import httpx
        response = httpx.get(source, timeout=30)
        response.raise_for_status()
        jwks = response.json()
    else:
        with open(source, encoding="utf-8") as handle:
            jwks = json.load(handle)
    text = sys.stdin.read() if args.file == "-" else open(args.file, encoding="utf-8").read()  # noqa: SIM115
    failed = checked = 0
    for document in documents(text):
        for ok, message in verify_document(document, jwks, iss=args.iss):
            checked += 1
            failed += not ok
            print(("OK   " if ok else "FAIL ") + message)
    print(f"{checked - failed} of {checked} verified")
    return 1 if failed or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
