"""CPU per single GET in one process: the WSGI lane, the lean lane and the DRF view, interleaved (issue 15 item 4).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_<name> \\
        .venv/bin/python bench/lookup_lean_cpu.py --works 200000 --sites 10000 --gets 2000 --rounds 5

On the data bench/lookup_http.py loaded (`--load-only`). Production settings (bench/_serve.production_env: Redis
cache and rate limiter, the JSON access line written to /dev/null), the whole middleware chain, Django's WSGI
handler called in this process with the environ a server would give (no HTTP, no server). Each round sends the
same --gets requests of the engine benchmark's mix (an organisation's key with a limit, so licences, counting and
the rate limiter are on the path) through the WSGI lane (config.wsgi_lane, in front of Django's handler), then
through Django's handler with KYODAKU_LEAN_GET on (the lean lane), then off (the DRF view), then `GET /healthz`
(the floor: Django's handler and the middleware with no view work); reports the process's CPU time per request
(time.process_time, which a loaded machine disturbs far less than wall time), best and median of the rounds. Every
answer must be a 200.
"""
from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import _serve  # noqa: E402
import decide  # noqa: E402

PURPOSE, JURISDICTION = "train-genai", "JP"
INVALID = "isbn:978-0-00-000000-0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--works", type=int, default=200_000)
    parser.add_argument("--holders", type=int, default=1_000)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--gets", type=int, default=2_000, help="requests per lane and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/4")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("set DATABASE_URL=postgres://.../kyodaku_bench_<name> (loaded by bench/lookup_http.py)")
    os.environ.update(_serve.production_env(port=8000, redis_url=args.redis_url, log_level="INFO",
                                            LOG_FORMAT="json"))
    sys.stderr = open(os.devnull, "w")  # the access lines (and any other record): formatted, then dropped

    import django

    django.setup()
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    from config.wsgi_lane import WsgiLane
    from keys.services import api_key_create
    from registry.models import Organisation

    rng = random.Random(args.seed)
    ids = [i for i in decide.lookup_ids(args.gets, works=args.works, holders=args.holders, sites=args.sites, rng=rng)
           if i != INVALID]
    organisation, _ = Organisation.objects.get_or_create(name="bench lookup_lean_cpu")
    _, key = api_key_create(name="bench lookup_lean_cpu", rate="1000000/s", organisation=organisation)
    handler = WSGIHandler()
    lane = WsgiLane(handler)

    def environ(path: str, query: str = "", **headers: str) -> dict:
        return {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": _serve.HOST,
                "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
                "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http", "HTTP_HOST": _serve.HOST,
                "HTTP_USER_AGENT": "kyodaku-bench", **headers}

    lookups = [environ("/api/v1/lookup", urllib.parse.urlencode(
        {"id": i, "purpose": PURPOSE, "jurisdiction": JURISDICTION}), HTTP_AUTHORIZATION=f"Api-Key {key}",
        HTTP_ACCEPT="application/json") for i in ids]
    healthz = [environ("/healthz")] * len(lookups)

    def run(environs: list[dict], application) -> float:
        statuses = []

        def start_response(status, headers, exc_info=None):
            statuses.append(status)

        started = time.process_time()
        for env in environs:
            env["wsgi.input"] = io.BytesIO(b"")
            body = application(dict(env), start_response)
            b"".join(body)
            body.close()
        spent = time.process_time() - started
        bad = [s for s in statuses if not s.startswith("200")]
        if bad:
            raise SystemExit(f"not all answers were 200: {bad[:5]}")
        return spent / len(environs) * 1e6

    results: dict[str, list[float]] = {"WSGI lane": [], "lean lane": [], "DRF view": [], "floor /healthz": []}
    variants = (("WSGI lane", True, lookups, lane), ("lean lane", True, lookups, handler),
                ("DRF view", False, lookups, handler), ("floor /healthz", True, healthz, handler))
    for _, lean, environs, application in variants:  # warm: connection, prepared statements, rule book
        settings.KYODAKU_LEAN_GET = lean
        run(environs[:200], application)
    print(f"{len(lookups)} GETs per lane and round, {args.rounds} rounds; load {_serve.loadavg()}", flush=True)
    for round_ in range(args.rounds):
        for name, lean, environs, application in variants:
            settings.KYODAKU_LEAN_GET = lean
            results[name].append(run(environs, application))
        print(f"round {round_ + 1}: " + ", ".join(f"{n} {v[-1]:,.0f} us" for n, v in results.items()), flush=True)
    print(f"load {_serve.loadavg()}")
    print("| CPU per request (us) | best | median |")
    print("|---|---|---|")
    for name, values in results.items():
        print(f"| {name} | {min(values):,.0f} | {statistics.median(values):,.0f} |")


if __name__ == "__main__":
    main()
