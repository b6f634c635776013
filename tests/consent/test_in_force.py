"""One definition of "in force at T" in three forms that must agree (consent/models.py): the ORM's
(`Declaration.objects.in_force_at`), the raw SQL of the lookup path (`in_force_at_sql`) and the engine's
(`DeclarationFact.in_force_at`, fed as consent.lookup.results builds its facts). Every combination of a declaration's
five times around T (before, at, after, or unset where it may be) is filed once, and every form is asked at every T.
"Current" (neither superseded nor revoked) has two forms, the ORM's (`Declaration.objects.current`) and the SQL of the
claims planner (`current_sql`), compared on the same rows.
"""
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from consent.engine import OPT_OUT, DeclarationFact, RuleBook, RuleFact, decide
from consent.lookup.results import facts_by_work_and_holder
from consent.models import Declaration, current_sql, in_force_at_sql

pytestmark = [pytest.mark.django_db]

T = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=d) for d in range(4)]


def _combinations():
    """(recorded_at, effective_from, effective_until, superseded_at, revoked_at) as the database allows them."""
    for recorded, start in itertools.product(T, T):
        for until in [None, *[t for t in T if t > start]]:
            for superseded in [None, *[t for t in T if t >= recorded]]:
                for revoked in [None, *[t for t in T if t >= recorded]]:
                    yield recorded, start, until, superseded, revoked


@pytest.fixture
def every_declaration(studio_kaze):
    rows = []
    for n, (recorded, start, until, superseded, revoked) in enumerate(_combinations()):
        rows.append(Declaration(
            holder=studio_kaze.holder, scope="catalogue", purpose=f"p{n}", jurisdiction="JP", consent="reserve",
            recorded_at=recorded, effective_from=start, effective_until=until, superseded_at=superseded,
            revoked_at=revoked))
    return Declaration.objects.bulk_create(rows)


def _by_sql(at) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT d.id FROM {Declaration._meta.db_table} d WHERE {in_force_at_sql('d')}", {"at": at})
        return {str(pk) for (pk,) in cursor.fetchall()}


def _by_engine(declarations, at) -> set[str]:
    rows = [(str(d.pk), d.scope, None, str(d.holder_id), d.purpose, d.jurisdiction, d.consent, d.license_url,
             d.recorded_at, d.superseded_at, d.revoked_at, d.effective_from, d.effective_until, d.conditions)
            for d in declarations]
    _, by_holder = facts_by_work_and_holder(rows)
    return {fact.id for facts in by_holder.values() for fact in facts if fact.in_force_at(at)}


def test_studio_kaze_declarations_are_in_force_alike_by_queryset_sql_and_engine(every_declaration):
    assert len(every_declaration) > 500  # every combination, not a handful
    asked = sorted({*T, *(t + timedelta(hours=12) for t in T), T[0] - timedelta(hours=12)})
    seen_in_force = 0
    for at in asked:
        by_orm = {str(pk) for pk in Declaration.objects.in_force_at(at).values_list("pk", flat=True)}

        assert _by_sql(at) == by_orm, at
        assert _by_engine(every_declaration, at) == by_orm, at
        seen_in_force += len(by_orm)
    assert seen_in_force > 0


def test_studio_kaze_current_declarations_are_those_never_superseded_or_revoked(every_declaration):
    current = set(Declaration.objects.current().values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT x.id FROM {Declaration._meta.db_table} x WHERE {current_sql('x')}")
        by_sql = {pk for (pk,) in cursor.fetchall()}

    assert current == {d.pk for d in every_declaration if d.superseded_at is None and d.revoked_at is None}
    assert by_sql == current
    assert 0 < len(current) < len(every_declaration)


def test_the_engines_inlined_check_agrees_with_declaration_fact_in_force_at():
    """engine.decide inlines DeclarationFact.in_force_at for speed: a lone declaration decides exactly when the
    fact says it is in force."""
    book = RuleBook([RuleFact("*", None, OPT_OUT, "test", T[0] - timedelta(days=1), None)], {})
    asked = sorted({*T, *(t + timedelta(hours=12) for t in T), T[0] - timedelta(hours=12)})
    for n, (recorded, start, until, superseded, revoked) in enumerate(_combinations()):
        ended = min((t for t in (superseded, revoked) if t is not None), default=None)
        fact = DeclarationFact(n, "catalogue", "train-ai", "*", "reserve", None, recorded, ended, start, until)
        for at in asked:
            answer = decide(purpose="train-ai", jurisdiction="JP", as_of=at, rules=book, registered=True,
                            declarations=[fact])
            assert (answer.declaration is fact) == fact.in_force_at(at), (fact, at)
