"""On PostgreSQL, audit documents are compressed with lz4 instead of pglz when they are stored out of line.

A bulk import's bundle (audit.bundles) holds a work's eight changes, about 3.5 KB of canonical JSON: above the 2 KB
at which PostgreSQL compresses a row's long values. pglz made that compression most of the bundles' `COPY` cost;
lz4 (PostgreSQL 14 and later) is several times faster and as compact here (docs/performance.md: writer backend
CPU of 20,000 bundles 0.7 s with pglz, 0.4 s with lz4, 30 MB either way; 1.4 s and 117 MB as 160,000 events of
one object each). Rows written before keep their pglz values (PostgreSQL reads both). A server built without lz4
keeps pglz: nothing else changes.
"""
from django.db import migrations

FORWARD = """
DO $$
BEGIN
  ALTER TABLE audit_auditevent ALTER COLUMN "after" SET COMPRESSION lz4;
  ALTER TABLE audit_auditevent ALTER COLUMN "before" SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  RAISE NOTICE 'lz4 is not available: audit documents keep pglz';
END
$$;
"""
BACKWARD = """
ALTER TABLE audit_auditevent ALTER COLUMN "after" SET COMPRESSION DEFAULT;
ALTER TABLE audit_auditevent ALTER COLUMN "before" SET COMPRESSION DEFAULT;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_salted_commitments")]

    operations = [migrations.RunPython(forward, backward)]
