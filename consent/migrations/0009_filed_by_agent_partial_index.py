"""Deleting a holder reads the declarations that refer to it through indexes (docs/performance.md, "Deleting a
holder"):

- declarations filed by a collective, indexed where there is one (`filed_by_agent_id`, partial: a holder's own
  filings, the bulk of a registry, add nothing to it, so a holder's import maintains no more than before): Django's
  PROTECT and the key guard registry_holder_kept_for_consent_declaration look for `filed_by_agent_id = <holder>`,
  which had no index (EXPLAIN: a sequential scan of consent_declaration per delete);
- the key guards of core.keychecks probe each deleted id with a plan made for it (registry 0011 says why)."""
from django.db import migrations, models

from core import keychecks
from core.keychecks import Reference

# Frozen here as they were when this migration was written (core.keychecks builds the SQL from them).
REFERENCES = [
    [Reference("consent_declaration", "holder_id", "registry_holder"),
     Reference("consent_declaration", "work_id", "registry_work"),
     Reference("consent_declaration", "filed_by_agent_id", "registry_holder")],
]

forward, backward = keychecks.guard_migration_functions(REFERENCES)


class Migration(migrations.Migration):

    dependencies = [
        ('consent', '0008_set_based_key_checks'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='declaration',
            index=models.Index(condition=models.Q(('filed_by_agent__isnull', False)), fields=['filed_by_agent'], name='declaration_filed_by_agent_idx'),
        ),
        migrations.RunPython(forward, backward),
    ]
