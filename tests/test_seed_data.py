"""The seeded jurisdictions and rules are there for every test, also after a transactional test's flush.

pytest-django runs transactional tests after the others, so the second and third test here each start after a
flush.
"""
import pytest

from consent.models import Rule


@pytest.mark.django_db
def test_a_test_in_a_transaction_sees_the_seeded_rules():
    assert Rule.objects.filter(valid_until__isnull=True).count() == 5


@pytest.mark.parametrize("run", [1, 2])
@pytest.mark.django_db(transaction=True)
def test_each_transactional_test_sees_the_seeded_rules_and_a_clean_chain(run):
    from audit.selectors import audit_verify

    assert Rule.objects.filter(valid_until__isnull=True).count() == 5
    assert audit_verify() == []


def test_a_test_asking_for_transactional_db_by_name_sees_the_seeded_rules(transactional_db):
    assert Rule.objects.filter(valid_until__isnull=True).count() == 5
