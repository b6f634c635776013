"""Salted commitments (api.md, "Evidence"): every event gets a random private salt inside its content hash, and the
events written before are re-chained with one, so that hashing guesses against the public feed recovers nothing.

Each re-chained event keeps the hash it had as `legacy_hash` (private): receipts issued before this migration
recorded those, and verify_audit recomputes them from the rows (docs/evidence.md, "Salting an existing log").
The append-only trigger is lifted for this one transaction only (PostgreSQL; SQLite has none).
"""
import hashlib
import secrets

from django.db import migrations, models

from audit.chain import canonical_json, canonical_time

TRIGGER = "audit_event_append_only"
CHUNK = 5000


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _event_hash(row, content: str, prev: str) -> str:
    # audit.chain.public_event_hash, keys in sorted order, written out so that this migration never changes.
    return _hash(
        f'{{"action":{canonical_json(row.action)},"at":{canonical_json(canonical_time(row.at))},'
        f'"content_hash":"{content}","object_id":{canonical_json(row.object_id)},'
        f'"object_type":{canonical_json(row.object_type)},"prev_hash":"{prev}","seq":{row.seq}}}')


def _write_pg(connection, rows) -> None:
    """One COPY and one UPDATE per chunk: bulk_update's CASE per column took 2 ms an event on PostgreSQL."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS audit_salting (seq bigint PRIMARY KEY, salt text, "
                       "legacy_hash text, prev_hash text, hash text) ON COMMIT DROP")
        cursor.execute("TRUNCATE audit_salting")
        with cursor.copy("COPY audit_salting (seq, salt, legacy_hash, prev_hash, hash) FROM STDIN") as copy:
            copy.write("".join(f"{r.seq}\t{r.salt}\t{r.legacy_hash}\t{r.prev_hash}\t{r.hash}\n" for r in rows))
        cursor.execute("UPDATE audit_auditevent e SET salt = s.salt, legacy_hash = s.legacy_hash, "
                       "prev_hash = s.prev_hash, hash = s.hash FROM audit_salting s WHERE e.seq = s.seq")


def salt_the_log(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditHead = apps.get_model("audit", "AuditHead")
    unsalted = AuditEvent.objects.filter(salt="").order_by("seq").values_list("seq", flat=True).first()
    if unsalted is None:
        return
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute(f"ALTER TABLE audit_auditevent DISABLE TRIGGER {TRIGGER}")
    before = AuditEvent.objects.filter(seq__lt=unsalted).order_by("-seq").values_list("hash", flat=True).first()
    prev = before or "0" * 64
    last = unsalted
    while True:
        rows = list(AuditEvent.objects.filter(seq__gte=last).order_by("seq")[:CHUNK])
        if not rows:
            break
        for row in rows:
            # Read back as Python values; canonical_json writes the very text that was stored and hashed.
            after = "null" if row.after is None else canonical_json(row.after)
            before_text = "null" if row.before is None else canonical_json(row.before)
            row.salt = row.salt or secrets.token_hex(16)
            row.legacy_hash = row.legacy_hash or row.hash
            content = _hash(f'{{"actor":{canonical_json(row.actor)},"after":{after},"before":{before_text},'
                            f'"salt":"{row.salt}"}}')
            row.prev_hash, row.hash = prev, _event_hash(row, content, prev)
            prev = row.hash
        if postgres:
            _write_pg(schema_editor.connection, rows)
        else:
            AuditEvent.objects.bulk_update(rows, ["salt", "legacy_hash", "prev_hash", "hash"])
        last = rows[-1].seq + 1
    AuditHead.objects.filter(id=1).update(seq=last - 1, hash=prev)
    if postgres:
        schema_editor.execute(f"ALTER TABLE audit_auditevent ENABLE TRIGGER {TRIGGER}")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_triggers")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="salt",
            field=models.CharField(default="", max_length=32, verbose_name="salt"),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="legacy_hash",
            field=models.CharField(blank=True, max_length=64, null=True, verbose_name="hash before salting"),
        ),
        migrations.RunPython(salt_the_log, migrations.RunPython.noop),
    ]
