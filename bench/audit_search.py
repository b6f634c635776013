"""The admin's audit-log search by a bundled object's id (audit.selectors.audit_bundles_holding), beside the scan it
avoids, in the same run, on a registry a bulk import filled (one `bundle` event per work and chunk).

    .venv/bin/python bench/import_claims.py --rows 1000000 --db kyodaku_bench_audit_search --ie-rows 0
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_audit_search \\
        .venv/bin/python bench/audit_search.py [--searches 200] [--scans 3]

For --searches random identifiers and declarations of the imported works (half each): the selector's wall time
(p50 / p99), its queries, and that it found the one bundle holding the object. Then the alternative with no index
of its own, for --scans of the same ids: the bundles whose text holds the id (`action = 'bundle' AND after LIKE
'%"object_id":"<id>"%'`, a sequential scan of the audit table), wall time and what it found (the same bundles).
Finally the admin's changelist (GET admin:audit_auditevent_changelist ?q=<id> through Django's test client, as an
operator) for a few of the ids. Reads only (but for that operator user); the load average before and after.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "0"

# A scan of the bundles' text for one id: what a search would cost without the bundle key and its index.
SCAN_SQL = """SELECT seq FROM audit_auditevent WHERE action = 'bundle' AND "after" LIKE %s ORDER BY seq"""


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--scans", type=int, default=3)
    parser.add_argument("--pages", type=int, default=20, help="admin changelist searches")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.urls import reverse

    from audit.models import AuditEvent
    from audit.selectors import audit_bundles_holding
    from consent.models import Declaration
    from registry.models import Identifier

    setup_test_environment()
    load_before = os.getloadavg()
    events = AuditEvent.objects.count()
    bundles = AuditEvent.objects.filter(action="bundle").count()
    rng = random.Random(args.seed)
    # Random rows: the first id above a random bound between the smallest and the largest (an ORDER BY random()
    # would sort millions of rows).
    bounds = {model: [model.objects.order_by(key).values_list("pk", flat=True).first().int for key in ("pk", "-pk")]
              for model in (Identifier, Declaration)}
    ids = []
    for n in range(args.searches):
        model = Identifier if n % 2 == 0 else Declaration
        bound = uuid.UUID(int=rng.randint(*bounds[model]))
        ids.append(str(model.objects.filter(pk__gte=bound).order_by("pk").values_list("pk", flat=True).first()))
    audit_bundles_holding(object_id=ids[0])  # warm: connection, plans
    times, queries, found = [], [], 0
    for object_id in ids:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            seqs = audit_bundles_holding(object_id=object_id)
            times.append((time.perf_counter() - started) * 1000)
        queries.append(len(captured.captured_queries))
        found += len(seqs) == 1
    print(f"audit log: {events:,} events, {bundles:,} bundles; {len(ids)} searches (identifiers and declarations)")
    print(f"audit_bundles_holding: p50 {percentile(times, 50):.2f} ms, p99 {percentile(times, 99):.2f} ms, mean "
          f"{statistics.mean(times):.2f} ms; queries {min(queries)}-{max(queries)}; found exactly one bundle for "
          f"{found}/{len(ids)}")
    scan_times, agree = [], 0
    with connection.cursor() as cursor:
        for object_id in ids[: args.scans]:
            started = time.perf_counter()
            cursor.execute(SCAN_SQL, [f'%"object_id":"{object_id}"%'])
            scanned = [seq for (seq,) in cursor.fetchall()]
            scan_times.append(time.perf_counter() - started)
            agree += scanned == audit_bundles_holding(object_id=object_id)
    print(f"scan of the bundles' text (LIKE, no index): median {statistics.median(scan_times):.1f} s over "
          f"{len(scan_times)} ids; the same bundles as the selector for {agree}/{len(scan_times)}")
    from django.contrib.auth import get_user_model

    operator, _ = get_user_model().objects.get_or_create(username="bench-audit-operator",
                                                         defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(operator)
    changelist = reverse("admin:audit_auditevent_changelist")
    page_times = []
    for object_id in ids[: args.pages]:
        started = time.perf_counter()
        response = client.get(changelist, {"q": object_id})
        page_times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and len(response.context["cl"].result_list) >= 1, object_id
    print(f"admin changelist ?q=<id> (test client): p50 {percentile(page_times, 50):.1f} ms, max "
          f"{max(page_times):.1f} ms over {len(page_times)} searches")
    load_after = os.getloadavg()
    print(f"load average before {' / '.join(f'{x:.2f}' for x in load_before)}; after "
          f"{' / '.join(f'{x:.2f}' for x in load_after)}")


if __name__ == "__main__":
    main()
