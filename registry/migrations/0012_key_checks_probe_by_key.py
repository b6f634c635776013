"""The set-based key checks of works and identifiers (0010) re-installed to probe the referenced table's primary key
once per distinct key, instead of a hash join over a sequential scan of it per statement (core.keychecks; issue 15
item 2). Same triggers, same invariant, same errors."""
from django.db import migrations

from core import keychecks
from core.keychecks import Reference

# Frozen here as they were when this migration was written (core.keychecks builds the SQL from them).
REFERENCES = [
    [Reference("registry_work", "holder_id", "registry_holder"),
     Reference("registry_work", "filed_by_agent_id", "registry_holder")],
    [Reference("registry_identifier", "work_id", "registry_work")],
]

forward, backward = keychecks.replacing_functions(REFERENCES)


class Migration(migrations.Migration):

    dependencies = [
        ("registry", "0011_filed_by_agent_partial_index"),
    ]

    operations = [
        migrations.RunPython(forward, backward),
    ]
