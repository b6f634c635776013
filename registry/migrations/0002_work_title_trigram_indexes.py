"""Trigram indexes for the admin's work search: a title in either language containing the term.

Django writes `icontains` as UPPER(column::text) LIKE UPPER('%term%'), so the indexes are on that expression.
PostgreSQL only (pg_trgm ships with it); on SQLite, the local default, this does nothing and search scans.
"""
from django.db import migrations

INDEXES = {
    "work_title_trgm_idx": "title",
    "work_original_title_trgm_idx": "original_title",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON registry_work USING gin ((UPPER({column}::text)) gin_trgm_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):

    dependencies = [
        ("registry", "0001_initial"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
