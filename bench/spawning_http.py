"""Throughput of the Spawning-compatible endpoint beside the native batch lookup: same URLs, same run, same server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_h13 \\
        .venv/bin/python bench/spawning_http.py --works 200000 --declarations 400000

1. Load (unless --skip-load) the engine benchmark's data (bench/decide.py `load`).
2. Take the `url:` identifiers of the engine benchmark's mix (exact URLs, longest url-prefix, nearest domain,
   unregistered), --batches batches of --batch.
3. Start gunicorn as bench/lookup_http.py does (2 sync workers, production settings, Redis rate limiter) on a free
   port, and send, alternating batch by batch so that both see the same load: `POST /api/v1/lookup` with the ids
   as JSON, and `POST /api/v2/query/urls/` with the same URLs as text lines. Report ids/s for each and their ratio;
   check every answer (200, one entry per id, and the two endpoints agree on optOut = denied).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "0"

import _serve  # noqa: E402
import decide  # noqa: E402
import lookup_http  # noqa: E402

PURPOSE, JURISDICTION = "train-genai", "JP"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    decide.data_arguments(parser)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=10, help="batches per endpoint")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    args = parser.parse_args()
    decide.database_url()
    lookup_http.PORT = _serve.free_port()

    import django

    django.setup()
    decide.load_unless_skipped(args)
    from keys.services import api_key_create

    rng = random.Random(args.seed)
    wanted = args.batch * args.batches
    ids: list[str] = []
    while len(ids) < wanted:
        mix = decide.lookup_ids(wanted, works=args.works, holders=args.holders, sites=args.sites, rng=rng)
        ids += [i for i in mix if i.startswith("url:")]
    ids = ids[:wanted]
    batches = [ids[k * args.batch:(k + 1) * args.batch] for k in range(args.batches)]
    native_bodies = [json.dumps({"ids": b, "purpose": PURPOSE, "jurisdiction": JURISDICTION}).encode()
                     for b in batches]
    spawning_bodies = ["\n".join(i.removeprefix("url:") for i in b).encode() for b in batches]

    _, key = api_key_create(name="bench spawning_http", rate="1000000/s", default_purpose=PURPOSE,
                            default_jurisdiction=JURISDICTION)
    native_headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    spawning_headers = {"Authorization": f"API {key}", "Content-Type": "text/plain"}
    proc = lookup_http.start_gunicorn(args.redis_url)
    times = {"native": 0.0, "spawning": 0.0}
    mismatches = 0
    try:
        lookup_http._request("POST", "/api/v1/lookup", native_headers, native_bodies[0])  # warm both workers
        lookup_http._request("POST", "/api/v2/query/urls/", spawning_headers, spawning_bodies[0])
        load_before = os.getloadavg()
        for k in range(args.batches):
            t = time.perf_counter()
            status, body = lookup_http._request("POST", "/api/v1/lookup", native_headers, native_bodies[k])
            times["native"] += time.perf_counter() - t
            assert status == 200, (status, body[:300])
            native = json.loads(body)["results"]
            t = time.perf_counter()
            status, body = lookup_http._request("POST", "/api/v2/query/urls/", spawning_headers, spawning_bodies[k])
            times["spawning"] += time.perf_counter() - t
            assert status == 200, (status, body[:300])
            spawning = json.loads(body)["urls"]
            assert len(native) == len(spawning) == args.batch
            mismatches += sum((n.get("outcome", "denied") == "denied") != s["optOut"]
                              for n, s in zip(native, spawning, strict=True))
        load_after = os.getloadavg()
    finally:
        _serve.stop(proc)
    native_rate = wanted / times["native"]
    spawning_rate = wanted / times["spawning"]
    print()
    print(f"works: {args.works:,}; {args.batches} batches of {args.batch:,} url ids per endpoint, alternating, "
          f"one client; gunicorn 2 sync workers; {os.cpu_count()} cores")
    print(f"native POST /api/v1/lookup:      {native_rate:,.0f} ids/s")
    print(f"Spawning POST /api/v2/query/urls/: {spawning_rate:,.0f} ids/s (ratio {spawning_rate / native_rate:.2f})")
    print(f"answers that disagree on optOut: {mismatches}")
    print(f"load average before (1, 5, 15 min): {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")


if __name__ == "__main__":
    main()
