"""Declarations' holder, work and collective keys: checked once per statement by triggers (core.keychecks)
instead of by per-row foreign-key constraints (issue 15 item 2). `superseded_by` keeps its constraint: a chunk
supersedes declarations before it inserts the ones that supersede them (deferred to commit)."""
import django.db.models.deletion
from django.db import migrations, models

from core import keychecks
from core.keychecks import Reference


# Frozen here as they were when this migration was written (core.keychecks builds the SQL from them).
REFERENCES = [
    [Reference("consent_declaration", "holder_id", "registry_holder"),
     Reference("consent_declaration", "work_id", "registry_work"),
     Reference("consent_declaration", "filed_by_agent_id", "registry_holder")],
]


forward, backward = keychecks.migration_functions(REFERENCES)


class Migration(migrations.Migration):

    dependencies = [
        ('consent', '0007_lookup_statistics'),
        ('registry', '0010_set_based_key_checks'),
    ]

    operations = [
        migrations.AlterField(
            model_name='declaration',
            name='filed_by_agent',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='declarations_filed_as_agent', to='registry.holder', verbose_name='filed by collective'),
        ),
        migrations.AlterField(
            model_name='declaration',
            name='holder',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='declarations', to='registry.holder', verbose_name='holder'),
        ),
        migrations.AlterField(
            model_name='declaration',
            name='work',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='declarations', to='registry.work', verbose_name='work'),
        ),
        migrations.RunPython(forward, backward),
    ]
