"""`manage.py verify_audit`: exit code 0 on a clean registry; otherwise non-zero, naming the first broken event or
the row changed behind the services' back (domain.md, "Audit"). The tampering is done the way a DBA would: raw SQL,
append-only triggers disabled first."""
import json
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command, execute_from_command_line
from django.db import connection

from audit.models import AuditEvent
from audit.selectors import audit_head, audit_verify
from consent.models import Rule
from consent.services import declaration_file, declaration_revoke, rule_set
from registry.models import Dispute, Identifier
from registry.services import dispute_resolve, work_register

pytestmark = [pytest.mark.django_db]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@contextmanager
def trigger_disabled(table: str, trigger: str):
    with connection.cursor() as cursor:
        # the test's transaction holds deferred foreign-key checks; ALTER TABLE wants none pending
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        try:
            yield cursor
        finally:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")


def run(*argv) -> int:
    try:
        execute_from_command_line(["manage.py", *argv])
    except SystemExit as exc:
        return exc.code
    return 0


@pytest.fixture
def busy_registry(studio_kaze, hoshi_pub, collective, tsubasa):
    """A registry with a life behind it: works, identifiers, supersessions, a revocation, a transfer, a rule change."""
    kaze = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani", kind="film",
                         identifiers=["isbn:978-4-9901661-3-7", "url:https://studio-kaze.example/kaze"], at=T0).work
    hoshi = work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Hoshi", kind="manga",
                          identifiers=["isbn:978-4-9901661-3-7"], evidence="our ISBN", at=T0 + DAY).work
    first, _ = declaration_file(holder=studio_kaze.holder, scope="work", work=kaze, purpose="train-ai",
                                consent="reserve", at=T0 + DAY)
    declaration_file(holder=studio_kaze.holder, scope="work", work=kaze, purpose="train-ai", consent="grant",
                     conditions="Credit the studio.", at=T0 + 2 * DAY)
    catalogue, _ = declaration_file(holder=hoshi_pub.holder, scope="catalogue", purpose="tdm", consent="reserve",
                                    at=T0 + 2 * DAY)
    declaration_revoke(declaration=catalogue, at=T0 + 3 * DAY)
    work_register(holder=tsubasa.holder, work_ref="TS-1", title="Tsubasa", agent=collective.holder,
                  actor=collective.user, at=T0 + 3 * DAY)
    dispute = Dispute.objects.get()
    dispute_resolve(dispute=dispute, resolution="transferred", at=T0 + 4 * DAY)
    rule_set(jurisdiction="JP", regime="opt-out", basis="A hypothetical amendment.", at=T0 + 5 * DAY)
    return {"kaze": kaze, "hoshi": hoshi, "first": first}


def test_verify_audit_exits_0_on_a_clean_registry(busy_registry, capsys):
    assert run("verify_audit") == 0
    assert "Audit log OK" in capsys.readouterr().out


def test_verify_audit_reads_rows_and_events_in_small_chunks_just_the_same(busy_registry):
    # chunk boundaries fall everywhere: the chain and the per-type row comparison still agree
    assert audit_verify(chunk=2) == []


@pytest.mark.postgres
def test_verify_audit_names_the_first_event_changed_by_raw_sql(busy_registry, capsys):
    target = AuditEvent.objects.filter(object_type="declaration").order_by("seq").first()
    with trigger_disabled("audit_auditevent", "audit_event_append_only") as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET after = replace(after, '\"consent\":\"reserve\"', '\"consent\":\"grant\"') "
            "WHERE seq = %s", [target.seq])
        assert cursor.rowcount == 1

    assert run("verify_audit") == 1
    err = capsys.readouterr().err
    assert f"event #{target.seq}: content does not match its hash (rewritten)" in err


@pytest.mark.postgres
def test_verify_audit_catches_a_rewrite_that_recomputes_the_event_hash(busy_registry):
    # A smarter forger fixes the hash of the event they changed: the next event no longer chains to it.
    from audit.chain import event_hash

    target = AuditEvent.objects.get(action="rule.end")  # JP's seeded rule ended; the new version follows it
    forged_after = {**target.after, "valid_until": None}
    forged_hash = event_hash(seq=target.seq, at=target.at, actor=target.actor, action=target.action,
                             object_type=target.object_type, object_id=target.object_id, before=target.before,
                             after=forged_after, salt=target.salt, prev_hash=target.prev_hash)
    with trigger_disabled("audit_auditevent", "audit_event_append_only") as cursor:
        cursor.execute("UPDATE audit_auditevent SET after = %s, hash = %s WHERE seq = %s",
                       [json.dumps(forged_after), forged_hash, target.seq])

    assert str(audit_verify()[0]) == f"event #{target.seq + 1}: previous hash does not match the chain"


@pytest.mark.postgres
def test_verify_audit_names_a_gap_where_an_event_was_deleted(busy_registry):
    middle = AuditEvent.objects.order_by("seq")[5]
    with trigger_disabled("audit_auditevent", "audit_event_append_only") as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = %s", [middle.seq])

    assert str(audit_verify()[0]) == f"event #{middle.seq + 1}: sequence gap: expected #{middle.seq}"


@pytest.mark.postgres
def test_verify_audit_notices_the_newest_events_cut_off(busy_registry):
    last = audit_head()["seq"]
    with trigger_disabled("audit_auditevent", "audit_event_append_only") as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = %s", [last])

    assert str(audit_verify()[0]) == f"audit head: head #{last} does not match the last event #{last - 1}"


@pytest.mark.postgres
def test_verify_audit_names_a_declaration_changed_behind_the_services_back(busy_registry, capsys):
    first = busy_registry["first"]
    with trigger_disabled("consent_declaration", "declaration_append_only") as cursor:
        cursor.execute("UPDATE consent_declaration SET consent = 'grant' WHERE id = %s", [first.pk])

    assert run("verify_audit") == 1
    assert f"declaration {first.pk}: row differs from its latest audit event" in capsys.readouterr().err


@pytest.mark.postgres
def test_verify_audit_names_an_identifier_moved_to_another_work_by_raw_sql(busy_registry):
    row = Identifier.objects.get(scheme="url", valid_until__isnull=True)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_identifier SET work_id = %s WHERE id = %s", [busy_registry["hoshi"].pk,
                                                                                      row.pk])

    assert [str(p) for p in audit_verify()] == [f"identifier {row.pk}: row differs from its latest audit event"]


def test_verify_audit_names_an_ended_identifier_brought_back_by_raw_sql(busy_registry):
    ended = Identifier.objects.get(scheme="isbn", valid_until__isnull=False)
    Identifier.objects.filter(pk=ended.pk).update(valid_until=None, value="9780306406157")  # bypasses services

    assert [str(p) for p in audit_verify()] == [f"identifier {ended.pk}: row differs from its latest audit event"]


def test_verify_audit_names_a_rule_changed_behind_the_services_back(busy_registry):
    rule = Rule.objects.get(jurisdiction_id="EU", valid_until__isnull=True)
    Rule.objects.filter(pk=rule.pk).update(regime="prior-permission")

    assert [str(p) for p in audit_verify()] == [f"rule {rule.pk}: row differs from its latest audit event"]


def test_verify_audit_names_a_row_inserted_without_an_audit_event(busy_registry):
    sneaked = Identifier.objects.create(work=busy_registry["kaze"], scheme="doi", value="10.1234/sneaked")

    assert [str(p) for p in audit_verify()] == [f"identifier {sneaked.pk}: row has no audit event"]


def test_verify_audit_names_a_row_deleted_behind_the_services_back(busy_registry):
    row = Identifier.objects.get(scheme="url", valid_until__isnull=True)
    Identifier.objects.filter(pk=row.pk).delete()

    assert [str(p) for p in audit_verify()] == [
        f"identifier {row.pk}: row is missing, but its latest audit event says it exists"]


def test_verify_audit_json_names_the_first_problem(busy_registry, capsys):
    rule = Rule.objects.get(jurisdiction_id="US")
    Rule.objects.filter(pk=rule.pk).update(basis="Rewritten.")

    assert run("verify_audit", "--json") == 1
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["ok"] is False
    assert report["first_problem"] == f"rule {rule.pk}: row differs from its latest audit event"


def test_verify_audit_is_clean_on_a_fresh_database(db):
    # the seeded rules are audited too
    assert audit_verify() == []
    call_command("verify_audit")


def test_a_bogus_object_id_in_the_log_is_reported_not_crashed_on(db):
    from audit.services import audit_record

    audit_record(actor="system", action="rule.set", object_type="rule", object_id="not-a-uuid", after={"x": 1})
    audit_record(actor="system", action="rule.set", object_type="rule", object_id=str(uuid.uuid4()), after={"x": 1})

    problems = [str(p) for p in audit_verify()]
    assert len(problems) == 2 and all("row is missing" in p for p in problems)


def test_verify_audit_is_clean_after_bulk_claims_that_register_supersede_and_dispute(
        studio_kaze, hoshi_pub, settings, tmp_path, django_capture_on_commit_callbacks):
    """The set-based claims path writes rows and events the same way the services do."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from claims.services import claims_submission_create

    settings.MEDIA_ROOT = tmp_path / "media"
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", identifiers=["isbn:978-4-9901661-3-7"])

    def submit(persona, text):
        upload = SimpleUploadedFile("claims.csv", text.encode(), content_type="text/csv")
        with django_capture_on_commit_callbacks(execute=True):
            submission = claims_submission_create(user=persona.user, file=upload)
        submission.refresh_from_db()
        return submission

    header = "holder,work_ref,title,identifiers,purpose,jurisdiction,consent\n"
    first = submit(hoshi_pub, header
                   + "hoshi-pub,HP-1,Hoshi,isbn:978-4-9901661-3-7;doi:10.5555/hp-1,train-ai;search,JP;*,reserve\n"
                   + "hoshi-pub,HP-2,Tsuki,url:https://hoshi-pub.example/tsuki,tdm,*,grant\n")
    second = submit(hoshi_pub, header + "hoshi-pub,HP-1,Hoshi (2nd ed.),,train-ai,JP,grant\n")

    assert (first.status, second.status) == ("done", "done")
    assert Dispute.objects.count() == 1
    assert audit_verify() == []


@pytest.mark.postgres
def test_verify_audit_warns_when_the_append_only_trigger_is_left_disabled(busy_registry):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")

    assert [str(p) for p in audit_verify()] == ["audit_auditevent: the append-only trigger is disabled"]
