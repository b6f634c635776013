"""The rule tables' fingerprint is kept by the database (consent migration 0012): every statement that writes to
`consent_rule` or `consent_jurisdiction` replaces the stamp in its own transaction, whoever sends it and however,
so a rule change is seen by every process's next lookup (consent.rulebook caches one book per stamp)."""
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from consent.lookup import lookup_many, lookup_one
from consent.models import Jurisdiction, Rule
from consent.rulebook import RULES_STAMP_SQL, rulebook

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

UNREGISTERED_ISBN = "9781861972712"


def stamp() -> str:
    with connection.cursor() as cursor:
        cursor.execute(RULES_STAMP_SQL)
        return cursor.fetchone()[0]


def sql(statement: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


JP_CURRENT = "jurisdiction_id = 'JP' AND valid_until IS NULL"


@pytest.mark.parametrize("write", [
    pytest.param(lambda: sql(f"UPDATE consent_rule SET regime = 'opt-out' WHERE {JP_CURRENT}"), id="rule update"),
    pytest.param(lambda: sql("UPDATE consent_rule SET basis = basis WHERE jurisdiction_id = 'JP'"),
                 id="rule update, same values"),
    pytest.param(lambda: sql("INSERT INTO consent_rule (id, jurisdiction_id, purpose, regime, basis, valid_from) "
                             "VALUES (gen_random_uuid(), 'JP', 'search', 'opt-out', 'test', now())"),
                 id="rule insert"),
    pytest.param(lambda: sql(f"DELETE FROM consent_rule WHERE {JP_CURRENT}"), id="rule delete"),
    pytest.param(lambda: sql("TRUNCATE consent_rule"), id="rule truncate"),
    pytest.param(lambda: sql("INSERT INTO consent_jurisdiction (code, name, parent_id) VALUES ('ZZ', 'Z', 'EU')"),
                 id="jurisdiction insert"),
    pytest.param(lambda: sql("UPDATE consent_jurisdiction SET parent_id = NULL WHERE parent_id = 'EU'"),
                 id="jurisdiction update"),
    pytest.param(lambda: Rule.objects.filter(jurisdiction_id="JP").update(regime="opt-out"), id="ORM update"),
    pytest.param(lambda: Jurisdiction.objects.create(code="ZY", name="Y"), id="ORM create"),
])
@pytest.mark.parametrize("role", ["origin", "replica"])
def test_every_write_to_the_rule_tables_renews_the_stamp(write, role):
    """Raw SQL or the ORM, one row or many or none changed, and under `session_replication_role = replica` (bulk
    loads turn ordinary triggers off with it): the stamp differs after the statement."""
    before = stamp()
    with transaction.atomic():
        sql(f"SET LOCAL session_replication_role = {role}")
        write()
        after = stamp()
    assert after != before


def test_writes_elsewhere_keep_the_stamp(studio_kaze):
    before = stamp()
    sql("UPDATE registry_holder SET name = name || '!'")
    assert stamp() == before


def test_a_rolled_back_change_never_leaves_its_stamp_to_a_later_change():
    """A process may have built and cached a book under the stamp of a change that was then rolled back (its own
    transaction read it); no later state of the tables may ever carry that stamp again."""
    before = stamp()
    with pytest.raises(RuntimeError), transaction.atomic():
        sql(f"UPDATE consent_rule SET regime = 'opt-out' WHERE {JP_CURRENT}")
        lost = stamp()
        raise RuntimeError
    assert stamp() == before != lost
    sql(f"UPDATE consent_rule SET regime = 'opt-out' WHERE {JP_CURRENT}")  # the same change, committed this time
    assert stamp() not in (before, lost)


def test_the_stamps_row_deleted_by_hand_comes_back_with_the_next_change_and_lookups_still_answer():
    sql("DELETE FROM consent_rulebook_stamp")
    assert stamp() is None
    # without a stamp the book is compared row by row: still right, only slower
    assert lookup_one(id=f"isbn:{UNREGISTERED_ISBN}", purpose="tdm", jurisdiction="JP")["regime"] == (
        "prior-permission")
    sql(f"UPDATE consent_rule SET regime = 'opt-out' WHERE {JP_CURRENT}")
    assert lookup_one(id=f"isbn:{UNREGISTERED_ISBN}", purpose="tdm", jurisdiction="JP")["regime"] == "opt-out"
    assert stamp() is not None


@pytest.mark.parametrize("role", ["origin", "replica"])
def test_a_rule_edited_by_raw_sql_is_seen_by_the_next_lookup_on_either_path(django_assert_num_queries, role):
    at = datetime.now(UTC)
    rulebook()
    asked = dict(purpose="tdm", jurisdiction="JP")
    assert lookup_one(id=f"isbn:{UNREGISTERED_ISBN}", **asked)["regime"] == "prior-permission"
    with transaction.atomic():
        sql(f"SET LOCAL session_replication_role = {role}")
        sql(f"UPDATE consent_rule SET regime = 'opt-out' WHERE {JP_CURRENT}")
    with django_assert_num_queries(2):  # the statement, then the rule rows with the region map: rebuilt once
        assert lookup_one(id=f"isbn:{UNREGISTERED_ISBN}", **asked)["regime"] == "opt-out"
    in_fr = dict(ids=[f"isbn:{UNREGISTERED_ISBN}", "isbn:123"], purpose="tdm", jurisdiction="FR", as_of=at)
    assert lookup_many(**in_fr)[0]["regime"] == "opt-out"  # the EU's rule
    sql("UPDATE consent_jurisdiction SET parent_id = NULL WHERE code = 'FR'")  # the region map changes
    assert lookup_many(**in_fr)[0]["regime"] == "prior-permission"  # '*', FR being in no region now
