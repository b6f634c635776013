"""On PostgreSQL the database itself keeps licences append-only, like declarations (0003).

A licence is never deleted; its grant (holder, licensee, scope, work, purposes, jurisdictions, terms, period,
recording) never changes; `superseded_at`, `superseded_by` and `revoked_at` may each be set once, never cleared or
changed. `filed_by` (a user reference without a database constraint) may only be cleared: deleting the user who
filed it is Django's on_delete=SET_NULL.
"""
from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION licence_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'licences are never deleted' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF (NEW.id, NEW.holder_id, NEW.licensee_id, NEW.scope, NEW.work_id, NEW.purposes, NEW.jurisdictions,
      NEW.license_url, NEW.conditions, NEW.effective_from, NEW.effective_until, NEW.recorded_at)
     IS DISTINCT FROM
     (OLD.id, OLD.holder_id, OLD.licensee_id, OLD.scope, OLD.work_id, OLD.purposes, OLD.jurisdictions,
      OLD.license_url, OLD.conditions, OLD.effective_from, OLD.effective_until, OLD.recorded_at)
     OR (NEW.filed_by_id IS DISTINCT FROM OLD.filed_by_id AND NEW.filed_by_id IS NOT NULL)
     OR (OLD.superseded_at IS NOT NULL AND NEW.superseded_at IS DISTINCT FROM OLD.superseded_at)
     OR (OLD.superseded_by_id IS NOT NULL AND NEW.superseded_by_id IS DISTINCT FROM OLD.superseded_by_id)
     OR (OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at) THEN
    RAISE EXCEPTION 'licences are append-only: a licence is superseded or revoked, never edited'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER licence_append_only BEFORE UPDATE OR DELETE ON consent_licence
  FOR EACH ROW EXECUTE FUNCTION licence_append_only();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS licence_append_only ON consent_licence;
DROP FUNCTION IF EXISTS licence_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("consent", "0005_permission_request")]
    operations = [migrations.RunPython(forward, backward)]
