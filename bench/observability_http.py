"""Issue 15 items 4-5: what metrics and request ids cost a lookup, and sync vs keep-alive (gthread) gunicorn workers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_<name> .venv/bin/python bench/observability_http.py

On the data bench/lookup_http.py loaded (--works/--holders/--sites must match what it was given):

(0) The added code alone (lookup counters for one GET and for a batch of 10,000 outcomes; the request-id
    middleware around a response that costs nothing), CPU per call.
(1) CPU per single GET /api/v1/lookup through Django's test client in this process, three stacks interleaved
    --rounds times: `before` (main before this change: no request-id middleware, no lookup counters), `metrics off`
    (the default: request ids and the lookup counters, no django-prometheus middleware, no token) and `metrics on`
    (KYODAKU_METRICS_TOKEN set: django-prometheus's middleware too). `time.process_time`, best round. (1a) the
    same three stacks around GET /healthz, a view that does nothing, so that the middleware's own cost shows.
(2) gunicorn over HTTP with wrk (Debian's `wrk`): the old command (2 sync workers, no keep-alive: one TCP connection
    per request) and config/gunicorn.conf.py (gthread, keep-alive), each --trials times alternating, production
    settings, --connections connections for --seconds; requests/s, p50/p99 from wrk, and the gunicorn processes' CPU
    (utime + stime from /proc) per request. wrk runs on the same 2 cores: every figure is a floor.
"""
from __future__ import annotations

import argparse
import atexit
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "0"

import _serve  # noqa: E402
import decide  # noqa: E402
from _serve import cpu_of_pids, pids_of_group  # noqa: E402
from _serve import loadavg as load  # noqa: E402

HOST = _serve.HOST


def hook_cpu() -> None:
    """The added code alone, without a request around it: the lookup counters and the request-id middleware."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    from config.request_id import RequestIdMiddleware, _request_id_clear
    from core.metrics import lookups_observe

    def per_call(fn, n: int) -> float:
        started = time.process_time()
        for _ in range(n):
            fn()
        return (time.process_time() - started) / n * 1e6

    outcomes = ["allowed", "denied", "error"] * 3_334
    request, response = RequestFactory().get("/api/v1/lookup"), HttpResponse()
    middleware = RequestIdMiddleware(lambda r: response)

    def with_request_id():
        middleware(request)
        _request_id_clear()

    single = min(per_call(lambda: lookups_observe(path="single", outcomes=("allowed",), batch=False), 20_000)
                 for _ in range(3))
    batch = min(per_call(lambda: lookups_observe(path="batch", outcomes=iter(outcomes)), 50) for _ in range(3))
    rid = min(per_call(with_request_id, 20_000) for _ in range(3))
    print(f"(0) added code alone, CPU per call, best of 3 (load {load()}): lookup counters for one GET "
          f"{single:.1f} us, for a batch of {len(outcomes):,} ids {batch:,.0f} us; request-id middleware (and its "
          f"clearing) {rid:.1f} us")


def _stacks(base: list[str]) -> dict[str, list[str]]:
    return {
        "before": base,
        "metrics off": ["config.request_id.RequestIdMiddleware", *base],
        "metrics on": ["config.request_id.RequestIdMiddleware",
                       "django_prometheus.middleware.PrometheusBeforeMiddleware", *base,
                       "django_prometheus.middleware.PrometheusAfterMiddleware"],
    }


def test_client_cpu(urls: list[str], key: str, rounds: int) -> None:
    from django.conf import settings
    from django.test import Client
    from django.test.utils import override_settings

    from api.views import lookup as lookup_view

    base = [m for m in settings.MIDDLEWARE if m != "config.request_id.RequestIdMiddleware"]
    stacks = _stacks(base)
    healthz = {}
    for name, middleware in stacks.items():
        with override_settings(MIDDLEWARE=middleware):
            healthz[name] = Client()
            assert healthz[name].get("/healthz").status_code == 200
    cheap = dict.fromkeys(stacks, float("inf"))
    for _ in range(rounds):
        for name, client in healthz.items():
            started = time.process_time()
            for _ in range(1_000):
                client.get("/healthz")
            cheap[name] = min(cheap[name], (time.process_time() - started) / 1_000)
    print(f"(1a) test client, GET /healthz (a view that does nothing: the middleware is all), 1,000 per round, best "
          f"of {rounds} (load {load()}): " + "; ".join(f"{name} {cheap[name] * 1e6:.0f} us CPU" for name in stacks))
    clients = {}
    for name, middleware in stacks.items():
        with override_settings(MIDDLEWARE=middleware):
            clients[name] = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
            assert clients[name].get(urls[0]).status_code == 200  # loads this client's middleware chain

    def run(name: str) -> float:
        client = clients[name]
        started = time.process_time()
        if name == "before":
            with mock.patch.object(lookup_view, "lookups_observe", lambda **kw: None):
                for url in urls:
                    assert client.get(url).status_code == 200
        else:
            for url in urls:
                assert client.get(url).status_code == 200
        return time.process_time() - started

    for name in stacks:
        run(name)  # warm-up
    best = dict.fromkeys(stacks, float("inf"))
    for _ in range(rounds):
        for name in stacks:
            best[name] = min(best[name], run(name))
    n = len(urls)
    print(f"(1) test client, {n} GETs per round, best of {rounds} (load {load()}): " + "; ".join(
        f"{name} {best[name] / n * 1e6:.0f} us CPU/GET" for name in stacks)
        + f"; ratio on/before {best['metrics on'] / best['before']:.3f}, off/before "
          f"{best['metrics off'] / best['before']:.3f}")


WRK_SCRIPT = """
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local i = 0
wrk.headers["Authorization"] = "Api-Key %(key)s"
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
"""


def wrk(script: Path, port: int, connections: int, seconds: int) -> dict:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
                          f"http://{HOST}:{port}"], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"requests": requests, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": ms("50"), "p99": ms("99"), "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "errors": errors.group(1) if errors else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--works", type=int, default=1_000_000)
    parser.add_argument("--holders", type=int, default=1_000)
    parser.add_argument("--sites", type=int, default=50_000)
    parser.add_argument("--gets", type=int, default=300, help="GETs per round of (1)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=2, help="alternating runs of each gunicorn setup in (2)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--port", type=int, default=8118)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--multiprocess", action="store_true",
                        help="(0)-(1) with PROMETHEUS_MULTIPROC_DIR set, as under gunicorn with metrics on")
    args = parser.parse_args()
    if args.multiprocess:  # before prometheus_client is first imported (django.setup below)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-prometheus-")
        atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], True)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("set DATABASE_URL=postgres://.../kyodaku_bench_<name> (loaded by bench/lookup_http.py)")

    import django

    django.setup()
    from django.test.utils import setup_test_environment

    from keys.services import api_key_create

    setup_test_environment()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # the data may have been loaded by an older tree
    ids = [i for i in decide.lookup_ids(5_000, works=args.works, holders=args.holders, sites=args.sites,
                                        rng=random.Random(7)) if i != "isbn:978-0-00-000000-0"]
    paths = ["/api/v1/lookup?" + urllib.parse.urlencode({"id": i, "purpose": "train-genai", "jurisdiction": "JP"})
             for i in ids]
    _, key = api_key_create(name="bench observability_http", rate="none")
    print(f"works {args.works:,}; {os.cpu_count()} cores; load average at start {load()}")
    if not args.skip_cpu:
        hook_cpu()
        test_client_cpu(paths[: args.gets], key, args.rounds)
    if args.skip_http:
        return

    workdir = Path(tempfile.mkdtemp(prefix="bench-observability-"))
    (workdir / "paths.txt").write_text("\n".join(paths) + "\n")
    script = workdir / "lookup.lua"
    script.write_text(WRK_SCRIPT % {"paths": workdir / "paths.txt", "key": key})
    env = _serve.production_env(port=args.port, redis_url=args.redis_url, WEB_CONCURRENCY="2")
    env.pop("KYODAKU_METRICS_TOKEN", None)
    setups = {
        "sync, 2 workers (old CMD)": ["--workers", "2", "--bind", f"{HOST}:{args.port}",
                                      "--access-logfile", "/dev/null"],
        "gthread, config/gunicorn.conf.py": ["--config", "config/gunicorn.conf.py", "--bind", f"{HOST}:{args.port}",
                                             "--access-logfile", "/dev/null"],
    }
    results = {name: [] for name in setups}
    for _ in range(args.trials):
        for name, gargs in setups.items():
            proc = _serve.start_gunicorn(gargs, port=args.port, env=env)
            try:
                wrk(script, args.port, args.connections, 3)  # warm-up: connections, prepared statements
                cpu = cpu_of_pids(pids_of_group(proc.pid))
                result = wrk(script, args.port, args.connections, args.seconds)
                result["cpu_per_request_ms"] = (cpu_of_pids(pids_of_group(proc.pid)) - cpu) / result["requests"] * 1000
                result["load"] = load()
                results[name].append(result)
                print(f"  {name}: {result}", flush=True)
            finally:
                _serve.stop(proc)
    print(f"(2) wrk -t2 -c{args.connections} -d{args.seconds}s, single GETs, {args.trials} trials each, "
          f"alternating:")
    for name, runs in results.items():
        best = max(runs, key=lambda r: r["rps"])
        print(f"  {name}: best {best['rps']:,.0f} req/s, p50 {best['p50']:.1f} ms, p99 {best['p99']:.1f} ms, "
              f"gunicorn CPU {min(r['cpu_per_request_ms'] for r in runs):.2f} ms/request, "
              f"non-2xx {sum(r['non2xx'] for r in runs)}, load {best['load']}")
    print(f"load average at end {load()}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
