"""The rule tables' fingerprint kept by the database instead of computed by every lookup (issue 15 item 4).

Every one-id lookup statement, and query 1 of every batch, computed an md5 over every `consent_rule` row and the
jurisdiction -> region map (two aggregates, two sequential scans, each row through the record output function): a
third of the PostgreSQL CPU of a single GET's statement (docs/performance.md). Now one row,
`consent_rulebook_stamp`, holds a random uuid that a statement-level trigger on each of the two tables replaces after
every INSERT, UPDATE, DELETE or TRUNCATE, in the changing transaction: a reader's snapshot sees the new rows and the
new stamp together, or neither. A random value, not a counter: a change rolled back never leaves its stamp to be
reused by a later, different change (a process could have cached a book under it), and two databases never share
one. The triggers fire ALWAYS, also under `session_replication_role = replica` (bulk loads). The row is written by
an upsert, so a row deleted by hand comes back at the next change. No Django model: a test database's flush
(TRUNCATE of every model's table) must not remove the row. PostgreSQL only (elsewhere consent.rulebook compares the
rule rows themselves).
"""
from django.db import migrations

TABLES = ("consent_rule", "consent_jurisdiction")

FORWARD = [
    """CREATE TABLE consent_rulebook_stamp (
           id boolean PRIMARY KEY DEFAULT true CHECK (id),
           stamp uuid NOT NULL DEFAULT gen_random_uuid())""",
    "INSERT INTO consent_rulebook_stamp DEFAULT VALUES",
    """CREATE FUNCTION consent_rulebook_stamp_renew() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           INSERT INTO consent_rulebook_stamp (id, stamp) VALUES (true, gen_random_uuid())
               ON CONFLICT (id) DO UPDATE SET stamp = EXCLUDED.stamp;
           RETURN NULL;
       END $$""",
    *(statement for table in TABLES for statement in (
        f"""CREATE TRIGGER {table}_renews_rulebook_stamp
                AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION consent_rulebook_stamp_renew()""",
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_renews_rulebook_stamp",
    )),
]

BACKWARD = [
    *(f"DROP TRIGGER {table}_renews_rulebook_stamp ON {table}" for table in TABLES),
    "DROP FUNCTION consent_rulebook_stamp_renew()",
    "DROP TABLE consent_rulebook_stamp",
]


def _run(schema_editor, statements):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in statements:
        schema_editor.execute(statement, params=None)


def forward(apps, schema_editor):
    _run(schema_editor, FORWARD)


def backward(apps, schema_editor):
    _run(schema_editor, BACKWARD)


class Migration(migrations.Migration):

    dependencies = [
        ('consent', '0011_superseded_by_checked_per_statement'),
    ]

    operations = [
        migrations.RunPython(forward, backward),
    ]
