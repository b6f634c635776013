"""Check identifiers against Kyodaku before using the works; fail closed. Python 3.10+, standard library only.

    KYODAKU_URL=https://kyodaku.example.org KYODAKU_API_KEY=... \\
        python check_ids.py ids.txt --purpose train-genai --jurisdiction JP [--out DIR] [--receipts]

ids.txt: one identifier per line (`scheme:value`; an http(s) URL, an ISBN, a DOI... may leave out the scheme).
Writes into DIR (default: the current directory), every id of the input in exactly one of:
    allowed.txt    the registry answered "allowed": its terms are in answers.jsonl (license_url, conditions)
    denied.txt     the registry answered "denied"
    invalid.txt    the registry refused the id itself (not an identifier it can read): do not use the work
    unchecked.txt  no answer (network error, timeout, server error, refused request): do not use the work;
                   run the script again on unchecked.txt later
and answers.jsonl: every answer the registry gave, one JSON object per line (with --receipts each carries a
signed receipt: keep the file; `manage.py verify_receipt answers.jsonl --jwks keys.json` checks it offline).
Exit code: 0 when every id was answered, 1 when any id is unchecked, 2 for bad arguments.
"""
import argparse
import concurrent.futures
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

OUTCOMES = ("allowed", "denied", "invalid", "unchecked")


class Refused(Exception):
    """The registry refused the request itself (bad key, unknown purpose...): every other batch would fail too."""


def post_batch(api: str, key: str, body: bytes, timeout: float) -> list:
    """The `results` of one POST, checked for shape; raises on anything else."""
    request = urllib.request.Request(api, data=body, method="POST", headers={
        "Authorization": f"Api-Key {key}", "Content-Type": "application/json", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        results = json.loads(response.read())["results"]  # truncated or garbled: ValueError / KeyError
    if not isinstance(results, list):
        raise ValueError("`results` is not a list")
    return results


class Run:
    """What the threads share: the stop signal, and how many batches in a row found no answer."""

    def __init__(self, give_up_after: int):
        self.stop, self.lock = threading.Event(), threading.Lock()
        self.failed_in_a_row, self.give_up_after = 0, give_up_after

    def batch_ended(self, answered: bool) -> None:
        with self.lock:
            self.failed_in_a_row = 0 if answered else self.failed_in_a_row + 1
            if self.failed_in_a_row >= self.give_up_after and not self.stop.is_set():
                log(f"{self.failed_in_a_row} batches in a row found no answer: stopping; run again on unchecked.txt")
                self.stop.set()


def check_batch(ids: list, args, run: Run) -> list:
    """One (outcome, answer or None) per id, in order. Never raises; never answers "allowed" without the
    registry's explicit answer for that very id."""
    checked = ask(ids, args, run.stop)
    run.batch_ended(answered=checked is not None)
    return [("unchecked", None)] * len(ids) if checked is None else checked


def ask(ids: list, args, stop: threading.Event):
    """The answers for one batch, retried with growing waits; None when there is no answer for it."""
    body = json.dumps({"ids": ids, "purpose": args.purpose, "jurisdiction": args.jurisdiction,
                       **({"as_of": args.as_of} if args.as_of else {}),
                       **({"receipt": True} if args.receipts else {})}).encode()
    attempt = rate_limited = 0
    while not stop.is_set():
        try:
            results = post_batch(args.api, args.key, body, args.timeout)
            if len(results) != len(ids) or any(not isinstance(r, dict) or r.get("id") != i
                                               for r, i in zip(results, ids, strict=True)):
                raise ValueError("the answers do not match the ids sent")
            return [(answer_outcome(r), r) for r in results]
        except urllib.error.HTTPError as exc:
            if exc.code == 429 and rate_limited < 100:  # over the key's rate: wait as told, then ask again
                rate_limited += 1
                stop.wait(min(retry_after(exc), args.max_wait))
                continue
            if exc.code < 500 and exc.code != 408:
                stop.set()  # a refused request (key, purpose, size...): the next batches would be refused too
                log(f"request refused: {exc.code} {read_detail(exc)}; stopping")
                break
            log(f"server answered {exc.code}; retrying")
        except Exception as exc:  # any failure (RemoteDisconnected, refused, timeout, bad JSON...)
            log(f"batch failed: {exc!r}; retrying")
        if attempt >= args.retries:
            log(f"giving up on a batch of {len(ids)} ids after {attempt + 1} attempts: recorded as unchecked")
            break
        stop.wait(min(args.backoff * 2 ** attempt, args.max_wait))
        attempt += 1
    return None


def answer_outcome(result: dict) -> str:
    if "error" in result:
        return "invalid"
    return "allowed" if result.get("outcome") == "allowed" else "denied"  # anything else: denied


def retry_after(exc: urllib.error.HTTPError) -> float:
    try:
        return max(0.0, float(exc.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def read_detail(exc: urllib.error.HTTPError) -> str:
    try:
        return json.loads(exc.read()).get("detail", "")
    except Exception:  # the reason is only for the log
        return ""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Check identifiers against Kyodaku; fail closed.")
    parser.add_argument("ids", help="file with one identifier per line")
    parser.add_argument("--purpose", required=True)
    parser.add_argument("--jurisdiction", required=True)
    parser.add_argument("--as-of", help="answer as of this time (ISO 8601 with a zone)")
    parser.add_argument("--out", default=".", help="directory for the result files")
    parser.add_argument("--receipts", action="store_true", help="ask for a signed receipt with every answer")
    parser.add_argument("--batch", type=int, default=10_000, help="ids per request (at most 10,000)")
    parser.add_argument("--parallel", type=int, default=2, help="requests in flight (2-4 at most)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for one answer")
    parser.add_argument("--retries", type=int, default=5, help="retries of a failed batch")
    parser.add_argument("--backoff", type=float, default=2, help="first wait before a retry, doubled each time")
    parser.add_argument("--max-wait", type=float, default=120, help="longest wait before a retry")
    parser.add_argument("--give-up-after", type=int, default=3,
                        help="stop when this many batches in a row found no answer (the rest: unchecked)")
    args = parser.parse_args(argv)
    args.key = os.environ.get("KYODAKU_API_KEY", "")
    if not args.key:
        parser.error("set KYODAKU_API_KEY")
    if not 1 <= args.batch <= 10_000 or args.parallel < 1:
        parser.error("--batch is 1..10000 and --parallel at least 1")
    args.api = os.environ.get("KYODAKU_URL", "http://127.0.0.1:8000").rstrip("/") + "/api/v1/lookup"
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    with open(args.ids, encoding="utf-8") as source:
        ids = [line.strip() for line in source if line.strip()]
    os.makedirs(args.out, exist_ok=True)
    files = {name: open(os.path.join(args.out, f"{name}.txt"), "w", encoding="utf-8") for name in OUTCOMES}
    answers = open(os.path.join(args.out, "answers.jsonl"), "w", encoding="utf-8")
    counts = dict.fromkeys(OUTCOMES, 0)
    batches = [ids[k:k + args.batch] for k in range(0, len(ids), args.batch)]
    run, recorded, started = Run(args.give_up_after), 0, time.monotonic()
    pool = concurrent.futures.ThreadPoolExecutor(args.parallel)
    try:
        for batch, checked in zip(batches, pool.map(lambda b: check_batch(b, args, run), batches), strict=True):
            for id_, (outcome, answer) in zip(batch, checked, strict=True):
                if answer is not None:
                    answers.write(json.dumps(answer, ensure_ascii=False) + "\n")
                files[outcome].write(id_ + "\n")
                counts[outcome] += 1
                recorded += 1
    finally:  # interrupted (Ctrl-C) or failed: every id not yet recorded is unchecked, never lost
        run.stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        files["unchecked"].writelines(id_ + "\n" for id_ in ids[recorded:])
        counts["unchecked"] += len(ids) - recorded
        for handle in (*files.values(), answers):
            handle.close()
        seconds = time.monotonic() - started
        log(f"{len(ids)} ids in {seconds:.1f} s ({len(ids) / max(seconds, 1e-9):,.0f} ids/s): "
            + ", ".join(f"{counts[name]} {name}" for name in OUTCOMES))
    if counts["unchecked"]:
        log(f"{counts['unchecked']} ids are UNCHECKED: do not use those works; run again on unchecked.txt")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
