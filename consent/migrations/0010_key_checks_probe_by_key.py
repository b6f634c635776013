"""The set-based key checks of declarations (0008) re-installed to probe the referenced tables' primary keys once per
distinct key, instead of a hash join over a sequential scan of works per statement (core.keychecks; issue 15 item 2).
Same triggers, same invariant, same errors."""
from django.db import migrations

from core import keychecks
from core.keychecks import Reference

# Frozen here as they were when this migration was written (core.keychecks builds the SQL from them).
REFERENCES = [
    [Reference("consent_declaration", "holder_id", "registry_holder"),
     Reference("consent_declaration", "work_id", "registry_work"),
     Reference("consent_declaration", "filed_by_agent_id", "registry_holder")],
]

forward, backward = keychecks.replacing_functions(REFERENCES)


class Migration(migrations.Migration):

    dependencies = [
        ("consent", "0009_filed_by_agent_partial_index"),
        ("registry", "0012_key_checks_probe_by_key"),
    ]

    operations = [
        migrations.RunPython(forward, backward),
    ]
