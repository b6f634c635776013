"""The seeded jurisdictions and rules are there for every test, also after a transactional test's flush."""
import pytest

from consent.models import Rule


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_sees_the_seeded_rules():
    assert Rule.objects.filter(valid_until__isnull=True).count() == 5


@pytest.mark.django_db
def test_the_next_test_still_sees_the_seeded_rules_after_that_flush():
    assert Rule.objects.filter(valid_until__isnull=True).count() == 5
    from audit.selectors import audit_verify

    assert audit_verify() == []
