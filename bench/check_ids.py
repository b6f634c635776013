"""The documented checking script (docs/examples/check_ids.py) end to end: ids/s for --ids identifiers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_h19 \\
        .venv/bin/python bench/check_ids.py --works 200000 --declarations 400000 --sites 10000 --ids 100000

1. Load (unless --skip-load) with the engine benchmark's loader (bench/decide.py `load`).
2. Start gunicorn (production settings, 2 sync workers, Redis cache for the rate limiter) on a port the OS picks,
   issue an API key with a high rate limit (so the Redis counter is on the path).
3. Write --ids identifiers of bench/decide.py's mix (registered and unregistered ISBNs, URLs under prefixes, exact
   URLs, sub-domains, domains, refs, 1 % invalid) to a file and run the docs' script on it as a developer would
   (`python docs/examples/check_ids.py ids.txt --purpose train-genai --jurisdiction JP`), once per --parallel
   value, with and without --receipts; report wall time, ids/s and how many ids landed in each file. Every run
   must exit 0 with nothing unchecked, or the figure is not reported as a success.

The script, gunicorn and PostgreSQL share the machine's cores: figures are for this machine, not a limit of the API.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "docs" / "examples" / "check_ids.py"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import _serve  # noqa: E402  (bench/_serve.py: gunicorn for the HTTP benchmarks)
import decide  # noqa: E402  (the engine benchmark: its loader and identifier mix)

log = decide.log
PURPOSE = "train-genai"


def start_gunicorn(redis_url: str, workers: int) -> tuple[subprocess.Popen, str]:
    from joserfc.jwk import OKPKey

    port = _serve.free_port()
    # A fresh signing key for each run, given as the setting: it is published (retiring the last run's) on first use.
    env = _serve.production_env(port=port, redis_url=redis_url,
                                KYODAKU_SIGNING_KEY=OKPKey.generate_key("Ed25519").as_pem(private=True).decode())
    proc = _serve.start_gunicorn(["--workers", str(workers), "--bind", f"{_serve.HOST}:{port}",
                                  "--access-logfile", "/dev/null", "--timeout", "300"], port=port, env=env)
    return proc, f"http://{_serve.HOST}:{port}"


def run_script(ids_file: Path, out: Path, url: str, key: str, extra: list[str]) -> tuple[float, int, dict]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(ids_file), "--purpose", PURPOSE, "--jurisdiction", "JP",
         "--out", str(out), *extra],
        env={**os.environ, "KYODAKU_URL": url, "KYODAKU_API_KEY": key}, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    counts = {name: len((out / f"{name}.txt").read_text().splitlines())
              for name in ("allowed", "denied", "invalid", "unchecked")}
    if done.returncode != 0:
        log(done.stderr[-2000:])
    return seconds, done.returncode, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    decide.data_arguments(parser, sites=10_000)
    parser.add_argument("--ids", type=int, default=100_000)
    parser.add_argument("--parallel", default="1,2,4", help="comma-separated --parallel values of the script")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    args = parser.parse_args()
    decide.database_url()

    import django

    django.setup()
    decide.load_unless_skipped(args)
    from keys.services import api_key_create

    ids = decide.lookup_ids(args.ids, works=args.works, holders=args.holders, sites=args.sites,
                            rng=random.Random(args.seed))
    _, key = api_key_create(name="bench check_ids", rate="1000000/s")
    proc, url = start_gunicorn(args.redis_url, args.workers)
    try:
        with tempfile.TemporaryDirectory(prefix="kyodaku-bench-check-") as tmp:
            ids_file = Path(tmp) / "ids.txt"
            ids_file.write_text("".join(i + "\n" for i in ids))
            # Warm-up, untimed: the workers' connections, rule books and the signing key.
            run_script(ids_file, Path(tmp) / "warm", url, key, ["--parallel", "2", "--receipts"])
            for receipts in (False, True):
                for parallel in [int(p) for p in args.parallel.split(",")]:
                    extra = ["--parallel", str(parallel), *(["--receipts"] if receipts else [])]
                    load = os.getloadavg()
                    seconds, code, counts = run_script(ids_file, Path(tmp) / f"run-{parallel}-{receipts}", url, key,
                                                       extra)
                    verdict = "ok" if code == 0 and counts["unchecked"] == 0 else f"FAILED (exit {code})"
                    log(f"--parallel {parallel}{' --receipts' if receipts else ''}: {len(ids):,} ids in "
                        f"{seconds:.1f} s = {len(ids) / seconds:,.0f} ids/s; {counts}; {verdict}; "
                        f"load before {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    finally:
        _serve.stop(proc)


if __name__ == "__main__":
    main()
