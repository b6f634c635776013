"""CPU cost of the lookup HTTP layer, before/after interleaved in one process (issue 15 items 3-4).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_<name> .venv/bin/python bench/lookup_http_cpu.py

On the data bench/lookup_http.py loaded (its --works/--sites must match): (1) render one batch answer of --batch
results with DRF's JSONRenderer and with api.renderers (orjson), alternating, --rounds times each; (2) GET
/api/v1/lookup through Django's test client (the whole view: middleware, API-key authentication, the query check,
the lookup, rendering), alternating the serializer check (before) and the lean check (after), --gets each. CPU time
of this process (`time.process_time`), which a shared machine's load disturbs much less than wall time; the wall
time is printed beside it, and the load average.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "0"

import decide  # noqa: E402


def timed(fn) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--works", type=int, default=200_000)
    parser.add_argument("--holders", type=int, default=1_000)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gets", type=int, default=300)
    args = parser.parse_args()

    import django

    django.setup()
    from django.test import Client
    from django.test.utils import setup_test_environment
    from rest_framework.renderers import JSONRenderer

    from api.renderers import orjson_bytes
    from api.views import lookup as lookup_view
    from consent.lookup import lookup_many
    from keys.services import api_key_create

    setup_test_environment()
    rng = random.Random(5)
    ids = decide.lookup_ids(args.batch, works=args.works, holders=args.holders, sites=args.sites, rng=rng)
    data = {"results": lookup_many(ids=ids, purpose="train-genai", jurisdiction="JP")}
    load = os.getloadavg()
    drf, fast = [], []
    for _ in range(args.rounds):
        drf.append(timed(lambda: JSONRenderer().render(data)))
        fast.append(timed(lambda: orjson_bytes(data)))
    size = len(orjson_bytes(data))
    print(f"render {args.batch:,} results ({size / 1e6:.1f} MB), best of {args.rounds}: DRF JSONRenderer "
          f"{min(c for c, _ in drf) * 1000:.0f} ms CPU ({min(w for _, w in drf) * 1000:.0f} ms wall); orjson "
          f"{min(c for c, _ in fast) * 1000:.0f} ms CPU ({min(w for _, w in fast) * 1000:.0f} ms wall)")

    _, key = api_key_create(name="bench lookup_http_cpu", rate="none")
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
    urls = [f"/api/v1/lookup?id={i}&purpose=train-genai&jurisdiction=JP"
            for i in ids[: args.gets] if i != "isbn:978-0-00-000000-0" and "&" not in i and "#" not in i]

    def gets():
        for url in urls:
            assert client.get(url).status_code == 200

    gets()  # warm-up: connection, prepared statements, rule book
    before, after = [], []
    for _ in range(3):
        with mock.patch.object(lookup_view, "_plain_get_query", return_value=None):
            before.append(timed(gets))
        after.append(timed(gets))
    n = len(urls)
    b_cpu, a_cpu = min(c for c, _ in before) / n * 1000, min(c for c, _ in after) / n * 1000
    print(f"GET /api/v1/lookup through the test client, {n} ids, best of 3: serializer check {b_cpu:.2f} ms CPU "
          f"per GET ({min(w for _, w in before) / n * 1000:.2f} ms wall); lean check {a_cpu:.2f} ms CPU "
          f"({min(w for _, w in after) / n * 1000:.2f} ms wall)")
    end = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; after: {end[0]:.2f} {end[1]:.2f} "
          f"{end[2]:.2f}")


if __name__ == "__main__":
    main()
