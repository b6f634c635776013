"""A declaration's `superseded_by` key checked once per statement by core.keychecks, like its holder, work and
collective keys (0008), instead of by a deferred foreign-key constraint (issue 15 item 2). The constraint queued a
check for every inserted row, NULL or not, and PostgreSQL ran each at commit (a heap fetch and a function call
per row: 4,000,000 of them for a 1,000,000-row claims import, all but a few NULL). Its unique index becomes
partial: the rows that name a successor (the superseded ones), not every current row's NULL.

The checks of the table are re-installed with the fourth reference (the update trigger's column list changes);
the delete guards of declarations refused by superseding ones are added. On SQLite, Django rebuilds the table to
alter the field, dropping its triggers: they are installed again, all four references.
"""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from core import keychecks
from core.keychecks import Reference

# Frozen here as they were when this migration was written (core.keychecks builds the SQL from them).
BEFORE = [Reference("consent_declaration", "holder_id", "registry_holder"),
          Reference("consent_declaration", "work_id", "registry_work"),
          Reference("consent_declaration", "filed_by_agent_id", "registry_holder")]
AFTER = [*BEFORE, Reference("consent_declaration", "superseded_by_id", "consent_declaration")]


def _install(schema_editor, drop, install):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = [keychecks.postgresql_backward(drop), keychecks.postgresql_forward(install)]
    elif vendor == "sqlite":
        statements = [*keychecks.sqlite_backward(AFTER), *keychecks.sqlite_forward(install)]
    else:
        statements = []
    for statement in statements:
        schema_editor.execute(statement, params=None)


def forward(apps, schema_editor):
    _install(schema_editor, BEFORE, AFTER)


def backward(apps, schema_editor):
    _install(schema_editor, AFTER, BEFORE)


class Migration(migrations.Migration):

    dependencies = [
        ('consent', '0010_key_checks_probe_by_key'),
        ('registry', '0012_key_checks_probe_by_key'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='declaration',
            name='superseded_by',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='supersedes', to='consent.declaration', verbose_name='superseded by'),
        ),
        migrations.AddConstraint(
            model_name='declaration',
            constraint=models.UniqueConstraint(condition=models.Q(('superseded_by__isnull', False)), fields=('superseded_by',), name='declaration_superseded_by_unique'),
        ),
        migrations.RunPython(forward, backward),
    ]
