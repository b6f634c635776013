"""On PostgreSQL the database itself keeps declarations append-only.

A declaration is never deleted; its statement (holder, scope, work, purpose, jurisdiction, consent, licence,
conditions, period, recording) never changes; `superseded_*` and `revoked_*` may each be set once, never cleared.
"""
from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION declaration_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'declarations are never deleted' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF (NEW.holder_id, NEW.scope, NEW.work_id, NEW.purpose, NEW.jurisdiction, NEW.consent, NEW.license_url,
      NEW.conditions, NEW.effective_from, NEW.effective_until, NEW.recorded_at, NEW.filed_by_agent_id)
     IS DISTINCT FROM
     (OLD.holder_id, OLD.scope, OLD.work_id, OLD.purpose, OLD.jurisdiction, OLD.consent, OLD.license_url,
      OLD.conditions, OLD.effective_from, OLD.effective_until, OLD.recorded_at, OLD.filed_by_agent_id)
     OR (OLD.superseded_at IS NOT NULL AND NEW.superseded_at IS DISTINCT FROM OLD.superseded_at)
     OR (OLD.superseded_by_id IS NOT NULL AND NEW.superseded_by_id IS DISTINCT FROM OLD.superseded_by_id)
     OR (OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at) THEN
    RAISE EXCEPTION 'declarations are append-only: a statement is superseded or revoked, never edited'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER declaration_append_only BEFORE UPDATE OR DELETE ON consent_declaration
  FOR EACH ROW EXECUTE FUNCTION declaration_append_only();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS declaration_append_only ON consent_declaration;
DROP FUNCTION IF EXISTS declaration_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("consent", "0002_seed_jurisdictions_and_rules")]
    operations = [migrations.RunPython(forward, backward)]
