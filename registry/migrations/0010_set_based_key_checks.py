"""Works' holder keys and identifiers' work key: checked once per statement by triggers (core.keychecks)
instead of by per-row foreign-key constraints (issue 15 item 2)."""
import django.db.models.deletion
from django.db import migrations, models

from core import keychecks
from core.keychecks import Reference


# Frozen here as they were when this migration was written (core.keychecks builds the SQL from them).
REFERENCES = [
    [Reference("registry_work", "holder_id", "registry_holder"),
     Reference("registry_work", "filed_by_agent_id", "registry_holder")],
    [Reference("registry_identifier", "work_id", "registry_work")],
]


forward, backward = keychecks.migration_functions(REFERENCES)


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0009_fingerprint_job'),
    ]

    operations = [
        migrations.AlterField(
            model_name='identifier',
            name='work',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='identifiers', to='registry.work', verbose_name='work'),
        ),
        migrations.AlterField(
            model_name='work',
            name='filed_by_agent',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='works_filed_as_agent', to='registry.holder', verbose_name='filed by collective'),
        ),
        migrations.AlterField(
            model_name='work',
            name='holder',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='works', to='registry.holder', verbose_name='holder'),
        ),
        migrations.RunPython(forward, backward),
    ]
