"""Invariants the database itself keeps, whatever code writes to it."""
import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from registry.models import Dispute, Holder, Identifier, Mandate, Work
from registry.services import work_register

pytestmark = pytest.mark.django_db


def test_an_identifier_belongs_to_at_most_one_work_in_the_registry(studio_kaze, hoshi_pub):
    kaze = work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Wind",
                         identifiers=["isbn:9784990166137"]).work
    hoshi = Work.objects.create(holder=hoshi_pub.holder, work_ref="HP-1", title="Stars")
    with pytest.raises(IntegrityError), transaction.atomic():
        Identifier.objects.create(work=hoshi, scheme="isbn", value="9784990166137")
    # An ended registration does not block the value.
    Identifier.objects.filter(work=kaze).update(valid_until=timezone.now())
    Identifier.objects.create(work=hoshi, scheme="isbn", value="9784990166137")


def test_work_ref_is_unique_per_holder_but_not_across_holders(studio_kaze, hoshi_pub):
    Work.objects.create(holder=studio_kaze.holder, work_ref="X-1", title="A")
    Work.objects.create(holder=hoshi_pub.holder, work_ref="X-1", title="B")
    with pytest.raises(IntegrityError), transaction.atomic():
        Work.objects.create(holder=studio_kaze.holder, work_ref="X-1", title="C")


def test_holder_code_must_be_a_lower_case_slug():
    with pytest.raises(IntegrityError), transaction.atomic():
        Holder.objects.create(code="Studio Kaze", name="x", kind="studio")


def test_a_holder_cannot_hold_a_mandate_for_itself(collective):
    with pytest.raises(IntegrityError), transaction.atomic():
        Mandate.objects.create(agent=collective.holder, principal=collective.holder)


def test_one_open_dispute_per_claim(studio_kaze, hoshi_pub):
    work = Work.objects.create(holder=studio_kaze.holder, work_ref="KZ-1", title="A")
    fields = dict(scheme="isbn", value="9784990166137", work=work, holder=studio_kaze.holder,
                  claimant=hoshi_pub.holder)
    Dispute.objects.create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Dispute.objects.create(**fields)


def test_a_resolved_dispute_must_say_how(studio_kaze, hoshi_pub):
    work = Work.objects.create(holder=studio_kaze.holder, work_ref="KZ-1", title="A")
    with pytest.raises(IntegrityError), transaction.atomic():
        Dispute.objects.create(scheme="isbn", value="9784990166137", work=work, holder=studio_kaze.holder,
                               claimant=hoshi_pub.holder, resolved_at=timezone.now())
