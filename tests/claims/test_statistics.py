"""Issue 15 item 1: after the last chunk of a bulk import the touched tables are analysed, so the lookup path's batch
statements are planned with the rows the import wrote (PostgreSQL, autovacuum off as when it is behind)."""
import pytest
from django.db import connection

from claims.copying import ANALYZED_AFTER_IMPORT
from consent.lookup.sql import MATCH_SQL
from registry.lookups import pg_array_literal

from .helpers import csv_text, isbn13

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]
ROWS = 20_000


def _estimated_rows(table: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


def test_studio_kaze_import_leaves_statistics_the_batch_lookup_uses(studio_kaze, submit):
    tables = [model._meta.db_table for model in ANALYZED_AFTER_IMPORT]
    with connection.cursor() as cursor:
        for table in tables:  # as on a server whose autovacuum has not come round yet
            cursor.execute(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)')
    rows = [f"studio-kaze,KZ-{i},Title {i},,book,isbn:{isbn13(i)},train-ai,JP,reserve,work" for i in range(ROWS)]
    submission = submit(studio_kaze, csv_text(
        "holder,work_ref,title,original_title,kind,identifiers,purpose,jurisdiction,consent,scope", *rows))
    assert submission.status == "done" and submission.works_created == ROWS

    # The planner's row counts are the import's, not the empty tables' (reltuples -1 or 0 without ANALYZE).
    assert _estimated_rows("registry_identifier") >= ROWS * 0.9
    assert _estimated_rows("consent_declaration") >= ROWS * 0.9

    # A batch of 20 ids probes the identifier index, never a scan of the whole table.
    ids = [isbn13(i) for i in range(0, ROWS, ROWS // 20)]
    params = {"schemes": pg_array_literal(["isbn"] * len(ids)), "values": pg_array_literal(ids),
              "hosts": pg_array_literal([]), "codes": pg_array_literal([]), "work_refs": pg_array_literal([]),
              "at": submission.finished_at}
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + MATCH_SQL, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    identifier_scans = [line for line in plan.splitlines() if "registry_identifier" in line]
    assert identifier_scans and all("Index" in line for line in identifier_scans), plan
