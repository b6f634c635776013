"""Cost of KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS on the batch lookup: the same url ids, the same run, the setting off
and on in alternation (in process: `consent.lookup.lookup_many`, the path every HTTP lookup takes).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_h13f \\
        .venv/bin/python bench/verified_web_claims.py --works 200000 --declarations 400000

1. Load (unless --skip-load) the engine benchmark's data (bench/decide.py `load`): every site's four web
   identifiers (domain, two url-prefixes, a url) belong to four different holders.
2. Record verified control of `siteN.example` for the holder of its `domain:` identifier, for every other site
   (one claim and one open operator verification each): on the other identifiers of a verified site, with the
   setting on, the id falls through to the verified domain's holder; on an unverified site it is unregistered.
3. Take --batches batches of --batch `url:` ids of the engine benchmark's mix and answer each batch with the setting
   off then on (the order alternating per batch). Report ids/s for both, their ratio, the queries per batch, and
   how many answers differ.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "0"

import decide  # noqa: E402

PURPOSE, JURISDICTION = "train-genai", "JP"


def verify_every_other_site(sites: int) -> int:
    """One claim and one operator verification (open since the data's T0) per even site, for its domain's holder."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE domains_domainverification, domains_domainclaim")
        cursor.execute(
            "SELECT host, w.holder_id FROM registry_identifier i JOIN registry_work w ON w.id = i.work_id "
            "WHERE i.scheme = 'domain'")
        rows = [(host, holder) for host, holder in cursor.fetchall()
                if int(host.removeprefix("site").split(".")[0]) % 2 == 0]
        claims = [(uuid.uuid4(), holder, host, uuid.uuid4().hex) for host, holder in rows]
        with cursor.copy("COPY domains_domainclaim (id, holder_id, domain, token, signals_public, created_at, "
                         "last_check) FROM STDIN") as copy:
            for claim_id, holder, host, token in claims:
                copy.write_row((claim_id, holder, host, token, False, decide.T0, ""))
        with cursor.copy("COPY domains_domainverification (id, claim_id, holder_id, domain, method, note, "
                         "verified_at, ended_reason, recorded_by) FROM STDIN") as copy:
            for claim_id, holder, host, _ in claims:
                copy.write_row((uuid.uuid4(), claim_id, holder, host, "operator", "bench", decide.T0, "", "bench"))
        cursor.execute("ANALYZE domains_domainclaim, domains_domainverification")
    return len(claims)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    decide.data_arguments(parser)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()
    decide.database_url()

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    from consent.lookup import lookup_many
    from consent.rulebook import rulebook

    decide.load_unless_skipped(args)
    verified = verify_every_other_site(args.sites)
    rng = random.Random(args.seed)
    wanted = args.batch * args.batches
    ids: list[str] = []
    while len(ids) < wanted:
        mix = decide.lookup_ids(wanted, works=args.works, holders=args.holders, sites=args.sites, rng=rng)
        ids += [i for i in mix if i.startswith("url:")]
    batches = [ids[k * args.batch:(k + 1) * args.batch] for k in range(args.batches)]
    rulebook()

    def run(batch, required: bool):
        with override_settings(KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS=required), \
                CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            results = lookup_many(ids=batch, purpose=PURPOSE, jurisdiction=JURISDICTION, as_of=decide.AS_OF)
            return time.perf_counter() - start, results, len(queries)

    run(batches[0], False)  # warm
    run(batches[0], True)
    times = {False: 0.0, True: 0.0}
    counts = {False: set(), True: set()}
    differ = fell_through = 0
    load_before = os.getloadavg()
    for k, batch in enumerate(batches):
        answers = {}
        for required in ((False, True) if k % 2 == 0 else (True, False)):
            seconds, answers[required], count = run(batch, required)
            times[required] += seconds
            counts[required].add(count)
        for off, on in zip(answers[False], answers[True], strict=True):
            differ += (off.get("holder"), off.get("basis")) != (on.get("holder"), on.get("basis"))
            fell_through += bool(off.get("holder") and on.get("holder") and off["holder"] != on["holder"])
    load_after = os.getloadavg()
    off_rate, on_rate = wanted / times[False], wanted / times[True]
    print()
    print(f"works: {args.works:,}; sites: {args.sites:,}, {verified:,} verified; {args.batches} batches of "
          f"{args.batch:,} url ids, each answered with the setting off and on (alternating order); "
          f"{os.cpu_count()} cores")
    print(f"off: {off_rate:,.0f} ids/s, queries per batch {sorted(counts[False])}")
    print(f"on:  {on_rate:,.0f} ids/s, queries per batch {sorted(counts[True])} "
          f"(ratio on/off {on_rate / off_rate:.2f})")
    print(f"answers that differ: {differ:,} of {wanted:,}; of them matched to another holder: {fell_through:,}")
    print(f"load average before (1, 5, 15 min): {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")


if __name__ == "__main__":
    main()
