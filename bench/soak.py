"""Soak: mixed traffic with locust (bench/locustfile.py) against gunicorn on PostgreSQL with a real Celery worker,
sampling the memory of web and worker, then `verify_audit`. Not a test: a measurement for docs/security.md.

    .venv/bin/pip install -r bench/requirements.txt
    .venv/bin/python bench/soak.py [--minutes 30] [--users 12] [--works 2000] [--out /tmp/kyodaku-soak]

PostgreSQL and Redis are servers of its own (tests/throwaway.py: a throwaway cluster and redis-server on free
loopback ports), so the soak neither reads nor disturbs the machine's shared ones. Setup: migrate, two holders
with a token each, an API key without rate limit, WORKS works per holder (with an ISBN and a reservation) imported
as claims files through the worker. gunicorn runs production settings with 2 workers, the Celery worker 2
processes (prefork). RSS (VmRSS, MB) of every web and worker process is sampled every --sample seconds.

Prints a JSON summary on its last line: requests, failures, 5xx and transport errors (counted by the locustfile),
latency per request type, RSS first/last/max per process group, verify_audit's verdict.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.throwaway import Deployment, PostgresServer, RedisServer  # noqa: E402

HOLDERS = ("studio-kaze", "hoshi-pub")


def isbn13(n: int) -> str:
    body = f"978{n:09d}"
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return found


def group_rss(root: int) -> dict[int, float]:
    """RSS of a process and its children (gunicorn master and workers; celery's main process and pool)."""
    return {pid: mb for pid in [root, *children(root)] if (mb := rss_mb(pid)) is not None}


class Sampler(threading.Thread):
    def __init__(self, groups: dict[str, int], every: float):
        super().__init__(daemon=True)
        self.groups, self.every, self.samples, self.stopped = groups, every, [], threading.Event()

    def run(self):
        started = time.monotonic()
        while not self.stopped.is_set():
            self.samples.append({"t": round(time.monotonic() - started),
                                 **{name: group_rss(pid) for name, pid in self.groups.items()}})
            self.stopped.wait(self.every)

    def summary(self) -> dict:
        out = {}
        for name in self.groups:
            totals = [sum(s[name].values()) for s in self.samples if s[name]]
            per_process = [max(s[name].values()) for s in self.samples if s[name]]
            out[name] = {"total_mb_first": round(totals[0], 1), "total_mb_last": round(totals[-1], 1),
                         "total_mb_max": round(max(totals), 1),
                         "largest_process_mb_first": round(per_process[0], 1),
                         "largest_process_mb_last": round(per_process[-1], 1),
                         "processes_last": len(self.samples[-1][name])}
        return out


def seed(deployment: Deployment, works: int, out: Path) -> dict:
    tokens = {}
    for i, code in enumerate(HOLDERS):
        deployment.manage("create_holder", code, "--name", code.replace("-", " ").title(), "--kind", "studio",
                          "--country", "JP")
        tokens[code] = deployment.manage_json("create_holder_token", "--holder", code, "--user", f"{code}-bot")["token"]
        path = out / f"seed-{code}.csv"
        with path.open("w") as fh:
            fh.write("holder,work_ref,title,kind,identifiers,purpose,jurisdiction,consent\n")
            for n in range(i * works, (i + 1) * works):
                fh.write(f"{code},W-{n},Soak title {n},book,isbn:{isbn13(n)},train-ai,*,reserve\n")
        result = deployment.manage_json("import_claims", str(path), "--as", code, "--wait")
        assert result["status"] == "done", result
    key = deployment.manage_json("create_api_key", "Soak crawler", "--rate", "none")["key"]
    deployment.manage("rotate_signing_key")
    return {"tokens": tokens, "key": key}


def locust_stats(prefix: Path) -> dict:
    rows = {}
    with open(f"{prefix}_stats.csv") as fh:
        for row in csv.DictReader(fh):
            rows[f"{row['Type']} {row['Name']}".strip()] = {
                "requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "median_ms": float(row["Median Response Time"] or 0), "p95_ms": float(row["95%"] or 0),
                "p99_ms": float(row["99%"] or 0), "rps": round(float(row["Requests/s"] or 0), 2)}
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--users", type=int, default=12)
    parser.add_argument("--works", type=int, default=2000, help="works per holder")
    parser.add_argument("--sample", type=float, default=30, help="seconds between memory samples")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "kyodaku-soak")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="kyodaku-soak-") as tmp, PostgresServer() as pg, \
            RedisServer(Path(tmp)) as redis:
        deployment = Deployment(pg, redis, Path(tmp), web_workers=2, worker_args=["--concurrency=2"])
        try:
            deployment.start()
            data = seed(deployment, args.works, args.out)
            sampler = Sampler({"web": deployment.web.pid, "worker": deployment.worker.pid}, args.sample)
            sampler.start()
            env = {**os.environ, "SOAK_API_KEY": data["key"], "SOAK_TOKENS": json.dumps(data["tokens"]),
                   "SOAK_WORKS": str(args.works), "SOAK_RESULT": str(args.out / "errors.json")}
            started = time.monotonic()
            subprocess.run(
                [str(Path(sys.executable).with_name("locust")), "-f", str(ROOT / "bench" / "locustfile.py"),
                 "--headless", "--users", str(args.users), "--spawn-rate", "2",
                 "--run-time", f"{round(args.minutes * 60)}s",
                 "--host", f"http://127.0.0.1:{deployment.port}", "--csv", str(args.out / "soak"),
                 "--only-summary", "--stop-timeout", "30", "--loglevel", "WARNING"],
                env=env, check=False, cwd=ROOT)
            elapsed = time.monotonic() - started
            sampler.stopped.set()
            sampler.join()
            verify = subprocess.run([sys.executable, "manage.py", "verify_audit"], cwd=ROOT, env=deployment.env,
                                    capture_output=True, text=True, timeout=1800)
            alive = deployment.processes_alive()
        finally:
            deployment.stop()
    stats = locust_stats(args.out / "soak")
    errors = json.loads((args.out / "errors.json").read_text())
    (args.out / "memory.json").write_text(json.dumps(sampler.samples))
    total = stats.pop("Aggregated", stats.pop(" Aggregated", {}))
    summary = {
        "minutes": round(elapsed / 60, 1), "users": args.users, "works_per_holder": args.works,
        "requests": total.get("requests"), "failures": total.get("failures"),
        "server_errors_5xx": sum(errors["server_errors"].values()), "server_errors": errors["server_errors"],
        "transport_errors": errors["transport_errors"], "per_request": stats, "memory": sampler.summary(),
        "web_and_worker_alive_at_end": alive,
        "verify_audit": {"exit": verify.returncode, "last_line": (verify.stdout.strip().splitlines() or [""])[-1]},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
