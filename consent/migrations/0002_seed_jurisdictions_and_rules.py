"""Seed the jurisdictions and rules of domain.md, each rule written into the audit log like any other change."""
import secrets
from datetime import datetime, timezone

from django.db import migrations

from audit.chain import event_hash, legacy_event_hash
from consent.audit_tracking import rule_snapshot

SEEDED_AT = datetime(2000, 1, 1, tzinfo=timezone.utc)  # rules apply to every answer the registry can be asked for

EU_MEMBER_STATES = {
    "AT": "Austria", "BE": "Belgium", "BG": "Bulgaria", "HR": "Croatia", "CY": "Cyprus", "CZ": "Czechia",
    "DK": "Denmark", "EE": "Estonia", "FI": "Finland", "FR": "France", "DE": "Germany", "GR": "Greece",
    "HU": "Hungary", "IE": "Ireland", "IT": "Italy", "LV": "Latvia", "LT": "Lithuania", "LU": "Luxembourg",
    "MT": "Malta", "NL": "Netherlands", "PL": "Poland", "PT": "Portugal", "RO": "Romania", "SK": "Slovakia",
    "SI": "Slovenia", "ES": "Spain", "SE": "Sweden",
}

RULES = [
    ("*", "prior-permission",
     "Protective default: where no rule of its own applies, a use needs the holder's prior permission."),
    ("JP", "prior-permission",
     "Prior permission generally required, as the Content Overseas Distribution Association's letter of "
     "2025-10-28 describes Japan's system."),
    ("EU", "opt-out",
     "Directive (EU) 2019/790 Art. 4(3): text and data mining is permitted unless the rightholder has reserved "
     "it in a machine-readable way."),
    ("GB", "opt-out", "Reservation honoured as industry practice."),
    ("US", "opt-out", "Reservation honoured as industry practice."),
]


def seed(apps, schema_editor):
    Jurisdiction = apps.get_model("consent", "Jurisdiction")
    Rule = apps.get_model("consent", "Rule")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditHead = apps.get_model("audit", "AuditHead")

    Jurisdiction.objects.create(code="*", name="Everywhere else (default)")
    eu = Jurisdiction.objects.create(code="EU", name="European Union")
    for code, name in EU_MEMBER_STATES.items():
        Jurisdiction.objects.create(code=code, name=name, parent=eu)
    Jurisdiction.objects.create(code="JP", name="Japan")
    Jurisdiction.objects.create(code="GB", name="United Kingdom")
    Jurisdiction.objects.create(code="US", name="United States")

    head, _ = AuditHead.objects.get_or_create(id=1)
    seq, prev = head.seq, head.hash
    for code, regime, basis in RULES:
        rule = Rule.objects.create(jurisdiction_id=code, purpose="*", regime=regime, basis=basis,
                                   valid_from=SEEDED_AT)
        seq += 1
        fields = dict(seq=seq, at=SEEDED_AT, actor="system", action="rule.set", object_type="rule",
                      object_id=str(rule.pk), before=None, after=rule_snapshot(rule))
        # Salted when the log already is (audit.0003 ran first); otherwise audit.0003 salts these with the rest.
        salted = any(f.name == "salt" for f in AuditEvent._meta.get_fields())
        if salted:
            salt = secrets.token_hex(16)
            digest = event_hash(**fields, salt=salt, prev_hash=prev)
            AuditEvent.objects.create(**fields, salt=salt, prev_hash=prev, hash=digest)
        else:
            digest = legacy_event_hash(**fields, prev_hash=prev)
            AuditEvent.objects.create(**fields, prev_hash=prev, hash=digest)
        prev = digest
    AuditHead.objects.filter(id=1).update(seq=seq, hash=prev)


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0001_initial"),
        ("audit", "0001_initial"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
