"""Deleting a holder reads what refers to it through indexes (docs/performance.md, "Deleting a holder"):

- works filed by a collective, indexed where there is one (`filed_by_agent_id`, partial: a holder's own works, the
  bulk of a registry, add nothing to it): Django's PROTECT and the key guard registry_holder_kept_for_registry_work
  look for `filed_by_agent_id = <holder>`, which had no index (EXPLAIN: a sequential scan of registry_work);
- the key guards of core.keychecks probe each deleted id with a plan made for it (`_probe`): planned once for any
  id they read every row where one holder owns most of them. Replaced here for the registry's tables (consent 0009
  for the declarations'); a new database gets them from 0010 already."""
from django.db import migrations, models

from core import keychecks
from core.keychecks import Reference

# Frozen here as they were when this migration was written (core.keychecks builds the SQL from them).
REFERENCES = [
    [Reference("registry_work", "holder_id", "registry_holder"),
     Reference("registry_work", "filed_by_agent_id", "registry_holder")],
    [Reference("registry_identifier", "work_id", "registry_work")],
]

forward, backward = keychecks.guard_migration_functions(REFERENCES)


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0010_set_based_key_checks'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='work',
            index=models.Index(condition=models.Q(('filed_by_agent__isnull', False)), fields=['filed_by_agent'], name='work_filed_by_agent_idx'),
        ),
        migrations.RunPython(forward, backward),
    ]
