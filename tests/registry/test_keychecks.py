"""The keys checked per statement (core.keychecks) refuse what the foreign-key constraints they replace refused:
an orphan work, identifier or declaration however it is written (ORM, raw SQL, COPY), and the removal or renaming
of a work or holder that rows refer to, also when the two race on separate connections."""
import os
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F, ProtectedError
from django.utils import timezone

from consent.models import Declaration
from registry.models import Holder, Identifier, Work

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOWHERE = "00000000-0000-7000-8000-000000000000"


def _work(holder, ref="KZ-1") -> Work:
    return Work.objects.create(holder=holder, work_ref=ref, title="Wind")


def _identifier_sql(work_id, value="9784990166137"):
    return ("INSERT INTO registry_identifier (id, work_id, scheme, value, valid_from) VALUES (%s, %s, 'isbn', %s, "
            "now())", [str(uuid.uuid4()), str(work_id), value])


def _refused(sql, params=None, copy_rows=None):
    # COPY goes to psycopg's cursor as it is (Django wraps execute's errors, not copy's).
    with pytest.raises((IntegrityError, psycopg.IntegrityError)) as caught, transaction.atomic(), \
            connection.cursor() as cursor:
        if copy_rows is None:
            cursor.execute(sql, params)
        else:
            with cursor.copy(sql) as copy:
                copy.write(copy_rows)
    return str(caught.value)


def test_an_identifier_of_no_work_is_refused_by_sql_and_by_copy(studio_kaze):
    work = _work(studio_kaze.holder)
    assert "is not present in table \"registry_work\"" in _refused(*_identifier_sql(NOWHERE))
    # One bad row among good ones, in one COPY statement: the whole statement is refused.
    rows = "".join(f"{uuid.uuid4()}\t{work_id}\tisbn\t{value}\t{timezone.now().isoformat()}\n"
                   for work_id, value in [(work.id, "9784990166137"), (NOWHERE, "9784990166144")])
    _refused("COPY registry_identifier (id, work_id, scheme, value, valid_from) FROM STDIN", copy_rows=rows)
    assert not Identifier.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute(*_identifier_sql(work.id))
    assert Identifier.objects.get().work == work


def test_a_work_of_no_holder_or_collective_is_refused(studio_kaze):
    insert = ("INSERT INTO registry_work (id, holder_id, work_ref, title, original_title, kind, filed_by_agent_id, "
              "created_at, updated_at) VALUES (%s, %s, 'KZ-9', 'Wind', '', 'other', %s, now(), now())")
    message = _refused(insert, [str(uuid.uuid4()), NOWHERE, None])
    assert "holder_id" in message and "registry_holder" in message
    assert "filed_by_agent_id" in _refused(insert, [str(uuid.uuid4()), str(studio_kaze.holder.id), NOWHERE])
    line = f"{uuid.uuid4()}\t{NOWHERE}\tKZ-8\tWind\t\tother\t\\N\t{timezone.now().isoformat()}\t{timezone.now()}\n"
    _refused("COPY registry_work (id, holder_id, work_ref, title, original_title, kind, filed_by_agent_id, "
             "created_at, updated_at) FROM STDIN", copy_rows=line)
    with pytest.raises(IntegrityError), transaction.atomic():  # the ORM path, as before
        Work.objects.create(holder_id=NOWHERE, work_ref="KZ-7", title="Wind")
    assert not Work.objects.exists()


def test_a_declaration_of_no_work_or_holder_is_refused(studio_kaze):
    work = _work(studio_kaze.holder)
    now = timezone.now().isoformat()
    copy = ("COPY consent_declaration (id, holder_id, scope, work_id, purpose, jurisdiction, consent, license_url, "
            "conditions, effective_from, recorded_at) FROM STDIN")
    holder = studio_kaze.holder.id
    for holder_id, work_id, column in [(holder, NOWHERE, "work_id"), (NOWHERE, work.id, "holder_id")]:
        line = f"{uuid.uuid4()}\t{holder_id}\twork\t{work_id}\tai-training\tJP\treserve\t\t\t{now}\t{now}\n"
        assert column in _refused(copy, copy_rows=line)
    with pytest.raises(IntegrityError), transaction.atomic():
        Declaration.objects.create(holder=studio_kaze.holder, scope="work", work_id=NOWHERE, purpose="ai-training",
                                   jurisdiction="JP", consent="reserve", effective_from=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        Declaration.objects.create(holder=studio_kaze.holder, scope="catalogue", purpose="ai-training",
                                   jurisdiction="JP", consent="reserve", effective_from=timezone.now(),
                                   filed_by_agent_id=NOWHERE)
    line = f"{uuid.uuid4()}\t{holder}\twork\t{work.id}\tai-training\tJP\treserve\t\t\t{now}\t{now}\n"
    with connection.cursor() as cursor, cursor.copy(copy) as writer:
        writer.write(line)
    assert Declaration.objects.get().work == work


def test_studio_kaze_cannot_name_a_successor_that_does_not_exist_and_its_real_successors_are_unique(studio_kaze):
    # superseded_by is checked per statement (consent migration 0011), no longer by a deferred constraint: a
    # successor that is no declaration is refused when it is set, by UPDATE or by COPY; one in the same COPY is
    # found (the check runs at the statement's end); a declaration supersedes at most one.
    work = _work(studio_kaze.holder)
    now = timezone.now()
    first = Declaration.objects.create(holder=studio_kaze.holder, scope="work", work=work, purpose="ai-training",
                                       jurisdiction="JP", consent="reserve", effective_from=now)
    message = _refused("UPDATE consent_declaration SET superseded_at = recorded_at, superseded_by_id = %s "
                       "WHERE id = %s", [NOWHERE, str(first.id)])
    assert "superseded_by_id" in message and "consent_declaration" in message
    copy = ("COPY consent_declaration (id, holder_id, scope, work_id, purpose, jurisdiction, consent, license_url, "
            "conditions, effective_from, recorded_at, superseded_at, superseded_by_id) FROM STDIN")
    at = now.isoformat()

    def line(id_, purpose, superseded_by):
        ended = f"{at}\t{superseded_by}" if superseded_by else "\\N\t\\N"
        return (f"{id_}\t{studio_kaze.holder.id}\twork\t{work.id}\t{purpose}\tEU\treserve\t\t\t{at}\t{at}\t"
                f"{ended}\n")

    assert "superseded_by_id" in _refused(copy, copy_rows=line(uuid.uuid4(), "tdm", NOWHERE))
    old, new = uuid.uuid4(), uuid.uuid4()
    with connection.cursor() as cursor, cursor.copy(copy) as writer:  # the successor comes later in the statement
        writer.write(line(old, "tdm", new) + line(new, "tdm", None))
    assert Declaration.objects.get(pk=old).superseded_by_id == new
    successor = Declaration.objects.create(holder=studio_kaze.holder, scope="work", work=work, purpose="ai-training",
                                           jurisdiction="EU", consent="reserve", effective_from=now)
    Declaration.objects.filter(pk=first.pk).update(superseded_at=F("recorded_at"), superseded_by=successor)
    other = Declaration.objects.create(holder=studio_kaze.holder, scope="work", work=work, purpose="tdm",
                                       jurisdiction="JP", consent="reserve", effective_from=now)
    with pytest.raises(IntegrityError), transaction.atomic():  # one declaration supersedes at most one
        Declaration.objects.filter(pk=other.pk).update(superseded_at=F("recorded_at"), superseded_by=successor)


def test_moving_an_identifier_to_no_work_is_refused(studio_kaze):
    work = _work(studio_kaze.holder)
    identifier = Identifier.objects.create(work=work, scheme="isbn", value="9784990166137")
    with pytest.raises(IntegrityError), transaction.atomic():
        Identifier.objects.filter(pk=identifier.pk).update(work_id=NOWHERE)
    Identifier.objects.filter(pk=identifier.pk).update(valid_until=timezone.now())  # other columns: unchecked


def test_a_referenced_work_or_holder_cannot_be_deleted_renamed_or_truncated(studio_kaze):
    work = _work(studio_kaze.holder)
    Identifier.objects.create(work=work, scheme="isbn", value="9784990166137")
    with pytest.raises(ProtectedError):  # Django's PROTECT, as before
        work.delete()
    assert "still referenced from table \"registry_identifier\"" in _refused(
        "DELETE FROM registry_work WHERE id = %s", [str(work.id)])
    _refused("UPDATE registry_work SET id = %s WHERE id = %s", [str(uuid.uuid4()), str(work.id)])
    _refused("DELETE FROM registry_holder WHERE id = %s", [str(studio_kaze.holder.id)])
    _refused("TRUNCATE registry_work CASCADE")  # cascades through the constraints that remain
    # What nothing refers to still goes.
    spare = _work(studio_kaze.holder, "KZ-2")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM registry_work WHERE id = %s", [str(spare.id)])
    lone = Holder.objects.create(code="lone", name="Lone", kind="studio")
    lone.delete()
    assert set(Work.objects.values_list("id", flat=True)) == {work.id}


def test_a_referenced_holder_of_a_catalogue_declaration_cannot_be_deleted(hoshi_pub):
    Declaration.objects.create(holder=hoshi_pub.holder, scope="catalogue", purpose="ai-training",
                               jurisdiction="JP", consent="reserve", effective_from=timezone.now())
    assert "consent_declaration" in _refused("DELETE FROM registry_holder WHERE id = %s", [str(hoshi_pub.holder.id)])


def _connect():
    settings = connection.settings_dict
    return psycopg.connect(host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432,
                           user=settings["USER"], dbname=settings["NAME"], password=settings["PASSWORD"] or None,
                           options="-c lock_timeout=20s")


def _in_thread(function):
    outcome = {}

    def run():
        try:
            outcome["value"] = function()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc
    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _waits_for_lock(pid) -> None:
    """Until the backend `pid` waits for a lock (the race is then set up as the test means it)."""
    import time
    with _connect() as probe:
        for _ in range(400):
            if probe.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                             [pid]).fetchone()[0] == "Lock":
                return
            time.sleep(0.05)
    raise AssertionError("the second transaction never waited for the first")


@pytest.mark.django_db(transaction=True)
def test_a_delete_racing_an_insert_that_refers_to_it_is_refused_either_way(studio_kaze):
    insert_first, delete_first = _work(studio_kaze.holder, "KZ-1"), _work(studio_kaze.holder, "KZ-2")
    # The insert first (uncommitted): the delete waits for its key-share lock, then sees the row and refuses.
    with _connect() as inserting, _connect() as deleting:
        inserting.execute(*_identifier_sql(insert_first.id))
        pid = deleting.info.backend_pid
        thread, outcome = _in_thread(
            lambda: deleting.execute("DELETE FROM registry_work WHERE id = %s", [str(insert_first.id)]))
        _waits_for_lock(pid)
        inserting.commit()
        thread.join()
        assert isinstance(outcome.get("error"), psycopg.errors.ForeignKeyViolation), outcome
    # The delete first (uncommitted): the insert waits for the row, then finds it gone and refuses.
    with _connect() as inserting, _connect() as deleting:
        deleting.execute("DELETE FROM registry_work WHERE id = %s", [str(delete_first.id)])
        pid = inserting.info.backend_pid
        thread, outcome = _in_thread(lambda: inserting.execute(*_identifier_sql(delete_first.id, "9784990166144")))
        _waits_for_lock(pid)
        deleting.commit()
        thread.join()
        assert isinstance(outcome.get("error"), psycopg.errors.ForeignKeyViolation), outcome
    assert list(Identifier.objects.values_list("work_id", flat=True)) == [insert_first.id]
    assert not Work.objects.filter(pk=delete_first.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_delete_under_repeatable_read_is_refused(studio_kaze):
    """Its snapshot predates rows committed while it waited: the guard cannot see them, so it does not try."""
    work = _work(studio_kaze.holder)
    with _connect() as deleting:
        deleting.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="READ COMMITTED"):
            deleting.execute("DELETE FROM registry_work WHERE id = %s", [str(work.id)])


def test_the_sqlite_default_refuses_orphans_too(tmp_path):
    import sqlite3

    database = tmp_path / "embedded.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "registry", "-v0"], check=True, env=env,
                   cwd=ROOT)
    db = sqlite3.connect(database)
    db.create_function("REGEXP", 2, lambda pattern, text: re.search(pattern, text) is not None)  # as Django's
    db.execute("INSERT INTO registry_holder (id, code, name, kind, country, licensing_url, verified, created_at) "
               "VALUES ('h1', 'h1', 'H', 'studio', 'JP', '', 0, '2026-01-01')")
    work = ("INSERT INTO registry_work (id, holder_id, work_ref, title, original_title, kind, created_at, "
            "updated_at) VALUES (?, ?, ?, 'T', '', 'other', '2026-01-01', '2026-01-01')")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(work, ["w0", "nobody", "R0"])
    db.execute(work, ["w1", "h1", "R1"])
    identifier = "INSERT INTO registry_identifier (id, work_id, scheme, value, valid_from) VALUES (?, ?, 'isbn', ?, 0)"
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(identifier, ["i0", "nowhere", "1"])
    db.execute(identifier, ["i1", "w1", "2"])
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE registry_identifier SET work_id = 'nowhere' WHERE id = 'i1'")
    # Deletes are Django's PROTECT's there (core.keychecks.sqlite_forward says why).
    db.close()


def _guard_probe(function: str) -> str:
    """The query an installed delete guard (core.keychecks) runs for each deleted id, as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = %s", [function])
        (source,), = cursor.fetchall()
    (probe,) = re.findall(r"EXECUTE '((?:[^']|'')*)' INTO referenced USING candidate", source)
    return probe.replace("''", "'")


def _plan(cursor, sql: str, params) -> str:
    cursor.execute("EXPLAIN " + sql, params)
    return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(("function", "index"), [
    ("registry_holder_kept_for_consent_declaration", "declaration_filed_by_agent_idx"),
    ("registry_holder_kept_for_registry_work", "work_filed_by_agent_idx"),
])
def test_deleting_a_holder_looks_for_what_it_filed_as_a_collective_through_an_index(function, index, collective):
    """Rule: removing a holder reads the rows that name it through indexes, never by scanning every declaration or
    work. The installed guard's probe (its holder key and its collective key) and Django's PROTECT query are planned
    with sequential scans priced out: without an index on filed_by_agent_id PostgreSQL would still have to scan."""
    probe = _guard_probe(function)
    assert '"filed_by_agent_id" = $1' in probe, probe
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = _plan(cursor, probe.replace("$1", "%(id)s::uuid"), {"id": str(collective.holder.id)})
        assert "Seq Scan" not in plan and index in plan, plan
        model = Declaration if "declaration" in function else Work
        plan = model.objects.filter(filed_by_agent=collective.holder).explain()
        assert index in plan and "Seq Scan" not in plan, plan


def test_a_holder_nothing_refers_to_is_deleted_without_reading_every_declaration_of_the_one_that_owns_them(
        studio_kaze):
    """Rule: one holder owning most declarations (a registry's largest studio) does not make deleting another
    holder read them all. A plan made for any holder guesses that holder's share of rows from the number of
    distinct holders (here one: all of them) and scans the table for an EXISTS; the guard plans its probe for the
    deleted id (EXECUTE ... USING), which the statistics say has no row: an index lookup."""
    work = _work(studio_kaze.holder)
    now = timezone.now()
    Declaration.objects.bulk_create(
        Declaration(holder=studio_kaze.holder, work=work, scope="work", purpose="train-ai", jurisdiction="JP",
                    consent="reserve", effective_from=now, recorded_at=now, revoked_at=now) for _ in range(3000))
    lone = Holder.objects.create(code="lone", name="Lone", kind="studio")
    probe = _guard_probe("registry_holder_kept_for_consent_declaration")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE consent_declaration")
        # The same probe planned for any id: what the guard's set-based query (and a cached plan) do.
        cursor.execute("PREPARE any_holder(uuid) AS " + probe)
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        try:
            generic = _plan(cursor, "EXECUTE any_holder(%s)", [str(lone.id)])
        finally:
            cursor.execute("RESET plan_cache_mode")
            cursor.execute("DEALLOCATE any_holder")
        assert "Seq Scan on consent_declaration" in generic, generic  # the data is the case this test is about
        planned_for_id = _plan(cursor, probe.replace("$1", "%(id)s::uuid"), {"id": str(lone.id)})
        assert "Seq Scan" not in planned_for_id, planned_for_id
    lone.delete()
    assert not Holder.objects.filter(code="lone").exists()


def test_a_collective_that_filed_a_declaration_cannot_be_deleted(collective, tsubasa):
    """The collective key of a declaration keeps its holder, as the holder key does (no mandate left to do it)."""
    lone = Holder.objects.create(code="lone-collective", name="Lone", kind="collective")
    work = _work(tsubasa.holder)
    Declaration.objects.create(holder=tsubasa.holder, work=work, scope="work", purpose="ai-training",
                               jurisdiction="JP", consent="reserve", effective_from=timezone.now(),
                               filed_by_agent=lone)
    with pytest.raises(ProtectedError):
        lone.delete()
    assert "still referenced from table \"consent_declaration\"" in _refused(
        "DELETE FROM registry_holder WHERE id = %s", [str(lone.id)])


def test_studio_kaze_copy_checks_its_works_by_key_not_by_scanning_every_work(studio_kaze):
    """Rule: a statement's key check costs a probe per distinct key, whatever the referenced table's size (issue 15
    item 2: the lock query was a sequential scan of all works per statement, so every chunk of an import read
    every work before it). Studio Kaze's COPY of identifiers and declarations scans no work, even with the works
    analysed as a small table (the plan most inclined to scan), and with the check's plan made then."""
    works = [_work(studio_kaze.holder, f"KZ-{n}") for n in range(40)]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE registry_work")
    now = timezone.now().isoformat()

    def scans() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'registry_work'")
            row = cursor.fetchone()
        return row[0] if row else 0

    before = scans()
    with connection.cursor() as cursor:
        for start in (0, 20):  # twice: the second statement runs the plan the first one made
            batch = works[start:start + 20]
            rows = "".join(f"{uuid.uuid4()}\t{w.id}\turl\thttps://kaze.example/works/{start + n}\t{now}\n"
                           for n, w in enumerate(batch))
            with cursor.copy("COPY registry_identifier (id, work_id, scheme, value, valid_from) FROM STDIN") as copy:
                copy.write(rows)
            lines = "".join(f"{uuid.uuid4()}\t{studio_kaze.holder.id}\twork\t{w.id}\ttrain-ai\tJP\treserve\t\t\t"
                            f"{now}\t{now}\n" for w in batch)
            with cursor.copy("COPY consent_declaration (id, holder_id, scope, work_id, purpose, jurisdiction, "
                             "consent, license_url, conditions, effective_from, recorded_at) FROM STDIN") as copy:
                copy.write(lines)
    assert Identifier.objects.count() == 40 and Declaration.objects.count() == 40
    assert scans() == before
