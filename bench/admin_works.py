"""Benchmark: the admin's work list on a large registry (issue 7: "fast on a million works").

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kyodaku_bench_admin \\
        .venv/bin/python bench/admin_works.py --works 1000000 [--skip-load] [--repeat 5]

1. Load (unless --skip-load): migrate, empty the registry tables, then write --works works in one SQL statement
   (generate_series), 90% for one studio and 10% for a publisher, each with a DOI, every seventh with a work-scope
   reservation in force, and an open dispute on a few. Set-wise SQL with triggers off: a benchmark database, not
   a registry (nothing is audited). Refuses a database whose name does not contain "bench".
2. Request the admin's work list pages with Django's test client, as an operator (every work) and as the studio's
   editor (its 90%): the plain list, a title search, an original-title search, an identifier search, the kind
   filter and the consent-state filters. Report the median and worst wall time of --repeat requests per page and
   the number of SQL queries of each (which must not depend on the number of rows).
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ["DEBUG"] = "false"

LOAD_SQL = """
SET session_replication_role = replica;
TRUNCATE registry_dispute, registry_identifier, consent_declaration, registry_work, registry_mandate,
         registry_membership, registry_holder CASCADE;
INSERT INTO registry_holder (id, code, name, kind, country, licensing_url, verified, created_at) VALUES
  ('00000000-0000-4000-8000-000000000001', 'studio-kaze', 'Studio Kaze', 'studio', 'JP', '', true, now()),
  ('00000000-0000-4000-8000-000000000002', 'hoshi-pub', 'Hoshi Publishing', 'publisher', 'JP', '', true, now());
INSERT INTO registry_work (id, holder_id, work_ref, title, original_title, kind, created_at, updated_at)
SELECT md5('work' || n)::uuid,
       CASE WHEN n % 10 = 0 THEN '00000000-0000-4000-8000-000000000002'::uuid
            ELSE '00000000-0000-4000-8000-000000000001'::uuid END,
       'W-' || lpad(n::text, 8, '0'),
       (ARRAY['Kaze no Tani', 'Sora no Uta', 'Umi no Koe', 'Hoshi no Ko', 'Mori no Oto'])[1 + n % 5] || ' ' || n,
       (ARRAY['風の谷', '空の歌', '海の声', '星の子', '森の音'])[1 + n % 5] || ' ' || n,
       (ARRAY['film', 'manga', 'book', 'music', 'game'])[1 + n % 5],
       now() - make_interval(secs => n), now()
FROM generate_series(1, %(works)s) AS n;
INSERT INTO registry_identifier (id, work_id, scheme, value, host, valid_from)
SELECT md5('id' || n)::uuid, md5('work' || n)::uuid, 'doi', '10.5555/kyodaku.' || n, NULL, now() - interval '1 day'
FROM generate_series(1, %(works)s) AS n;
INSERT INTO consent_declaration (id, holder_id, scope, work_id, purpose, jurisdiction, consent, license_url,
                                 conditions, effective_from, recorded_at)
SELECT md5('decl' || n)::uuid, w.holder_id, 'work', w.id, 'train-ai', '*', 'reserve', '', '',
       now() - interval '1 day', now() - interval '1 day'
FROM generate_series(3, %(works)s, 7) AS n JOIN registry_work w ON w.id = md5('work' || n)::uuid;
INSERT INTO registry_dispute (id, scheme, value, work_id, holder_id, claimant_id, evidence, opened_at, resolution,
                              resolution_note)
SELECT md5('disp' || n)::uuid, 'doi', '10.5555/kyodaku.' || n, md5('work' || n)::uuid,
       '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', '', now(), '', ''
FROM generate_series(7, %(works)s, 10007) AS n WHERE n % 10 <> 0;
SET session_replication_role = DEFAULT;
ANALYZE;
"""


def load(works: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    if "bench" not in connection.settings_dict["NAME"]:
        raise SystemExit("Refusing to load into a database whose name does not contain 'bench'.")
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(LOAD_SQL.replace("%(works)s", str(int(works))))
    print(f"loaded {works:,} works, identifiers and {works // 7:,} declarations in "
          f"{time.perf_counter() - started:.1f} s")


def users():
    from django.contrib.auth import get_user_model

    from registry.models import Holder, Membership

    User = get_user_model()
    operator, _ = User.objects.get_or_create(username="bench-operator",
                                             defaults={"is_staff": True, "is_superuser": True})
    editor, _ = User.objects.get_or_create(username="bench-kaze-editor")
    Membership.objects.get_or_create(user=editor, defaults={"holder": Holder.objects.get(code="studio-kaze"),
                                                            "role": "editor"})
    return {"operator": operator, "studio editor": editor}


PAGES = [
    ("list", {}),
    ("title search", {"q": "Umi no Koe 77"}),
    ("original-title search", {"q": "海の声 123"}),
    ("identifier search", {"q": "doi:10.5555/KYODAKU.424242"}),
    ("kind filter", {"kind": "manga"}),
    ("consent: reserved", {"consent": "reserved"}),
    ("consent: none", {"consent": "none"}),
    ("consent: disputed", {"consent": "disputed"}),
]


def measure(repeat: int) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    url = reverse("admin:registry_work_changelist")
    print(f"{'who':<14} {'page':<24} {'median ms':>10} {'worst ms':>9} {'queries':>8} {'rows':>5}")
    for who, user in users().items():
        client = Client()
        client.force_login(user)
        for name, params in PAGES:
            client.get(url, params)  # warm caches (content types, the holder's pages)
            times = []
            for _ in range(repeat):
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    response = client.get(url, params)
                    times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.status_code
            rows = response.content.count(b'<th class="field-title">')
            print(f"{who:<14} {name:<24} {statistics.median(times):>10.1f} {max(times):>9.1f} "
                  f"{len(queries):>8} {rows:>5}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--works", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    if not args.skip_load:
        load(args.works)
    measure(args.repeat)


if __name__ == "__main__":
    main()
