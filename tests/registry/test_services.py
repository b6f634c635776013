"""Registry services: holders, works, identifiers, disputes and mandates, told through the personas."""
from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import Conflict, NotAuthorizedForHolder, ReadOnlyRole, ValidationFailed
from registry.models import Dispute, Identifier, Work
from registry.selectors import holder_for_filing, holder_ids_visible_to
from registry.services import (
    dispute_resolve,
    holder_create,
    identifier_remove,
    mandate_create,
    mandate_end,
    work_register,
)

pytestmark = pytest.mark.django_db

ISBN = "isbn:978-4-9901661-3-7"


def test_studio_refiling_the_same_work_ref_updates_instead_of_creating_a_twin(studio_kaze):
    first = work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Wind", kind="film")
    again = work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="The Wind", identifiers=[ISBN])

    assert first.created and not again.created and again.updated
    assert Work.objects.filter(holder=studio_kaze.holder).count() == 1
    again.work.refresh_from_db()
    assert again.work.title == "The Wind" and again.work.kind == "film"
    assert [str(i) for i in again.identifiers_added] == ["isbn:9784990166137"]


def test_refiling_identical_work_changes_nothing(studio_kaze):
    work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Wind", identifiers=[ISBN])
    again = work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Wind", identifiers=[ISBN])
    assert not again.created and not again.updated and again.identifiers_added == []


def test_new_work_without_title_is_refused_with_missing_value(studio_kaze):
    with pytest.raises(ValidationFailed) as exc:
        work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="")
    assert exc.value.errors[0]["code"] == "missing-value"
    assert not Work.objects.exists()


def test_every_bad_identifier_is_reported_and_nothing_is_written(studio_kaze):
    with pytest.raises(ValidationFailed) as exc:
        work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Wind",
                      identifiers=["isbn:978-4-9901661-3-8", "nope:1", ISBN, "ref:studio-kaze/KZ-1"])
    fields = [e["field"] for e in exc.value.errors]
    assert fields == ["identifiers[0]", "identifiers[1]", "identifiers[3]"]
    assert all(e["code"] == "invalid-identifier" for e in exc.value.errors)
    assert not Work.objects.exists()


def test_identifier_of_another_holders_work_opens_one_dispute_and_does_not_move(studio_kaze, hoshi_pub):
    kaze_work = work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Wind", identifiers=[ISBN]).work

    claim = work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Art book", identifiers=[ISBN],
                          evidence="colophon")
    again = work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Art book", identifiers=[ISBN])

    assert claim.disputes_opened == 1 and again.disputes_opened == 0
    assert again.disputes == claim.disputes
    assert Dispute.objects.count() == 1
    dispute = Dispute.objects.get()
    assert (dispute.work, dispute.holder, dispute.claimant) == (kaze_work, studio_kaze.holder, hoshi_pub.holder)
    assert Identifier.objects.get(valid_until__isnull=True).work == kaze_work


def test_holder_moves_its_own_identifier_between_its_works_keeping_history(studio_kaze):
    first = work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Wind", identifiers=[ISBN]).work
    second = work_register(holder=studio_kaze.holder, work_ref="KZ-2", title="Wind (new)", identifiers=[ISBN]).work

    rows = Identifier.objects.order_by("valid_from")
    assert [(r.work_id, r.valid_until is None) for r in rows] == [(first.pk, False), (second.pk, True)]
    assert not Dispute.objects.exists()


def test_transfer_resolution_moves_the_identifier_to_the_claimant(studio_kaze, hoshi_pub, operator):
    work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Wind", identifiers=[ISBN])
    claim = work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Art book", identifiers=[ISBN])

    dispute_resolve(dispute=claim.disputes[0], resolution="transferred", note="ISBN agency confirmed",
                    actor=operator)

    current = Identifier.objects.get(valid_until__isnull=True)
    assert current.work == claim.work
    assert Identifier.objects.count() == 2
    with pytest.raises(Conflict):
        dispute_resolve(dispute=claim.disputes[0], resolution="kept", actor=operator)


def test_claim_kept_by_operators_is_not_reopened_by_the_same_refiling(studio_kaze, hoshi_pub, operator):
    work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Wind", identifiers=[ISBN])
    claim = work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Art book", identifiers=[ISBN])
    dispute_resolve(dispute=claim.disputes[0], resolution="kept", actor=operator)

    again = work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Art book", identifiers=[ISBN])

    assert again.disputes_opened == 0 and again.disputes == []
    assert Dispute.objects.filter(resolved_at__isnull=True).count() == 0


def test_hoshi_refiling_a_claim_still_open_after_kaze_moved_the_identifier_opens_no_second_dispute(
        studio_kaze, hoshi_pub):
    """domain.md "Disputes": re-filing the same claim does not open a second dispute. The claim is the
    identifier's, not the work's: Studio Kaze moving the ISBN to another of its works leaves Hoshi's open dispute
    standing (found by tests/sync/test_changes_property.py, seed 7: it raised IntegrityError
    `dispute_one_open_per_claim`)."""
    work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Wind", identifiers=[ISBN])
    claim = work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Art book", identifiers=[ISBN])
    kz2 = work_register(holder=studio_kaze.holder, work_ref="KZ-2", title="Wind (new)", identifiers=[ISBN]).work

    again = work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Art book", identifiers=[ISBN])

    assert again.disputes_opened == 0 and again.disputes == claim.disputes
    assert Dispute.objects.count() == 1 and Dispute.objects.get().resolved_at is None
    assert Identifier.objects.get(valid_until__isnull=True).work == kz2


def test_removed_identifier_keeps_its_row_for_past_answers(studio_kaze):
    work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Wind", identifiers=[ISBN])
    row = Identifier.objects.get()
    identifier_remove(identifier=row)
    row.refresh_from_db()
    assert row.valid_until is not None
    # The value is free again for a new registration.
    work_register(holder=studio_kaze.holder, work_ref="KZ-2", title="Other", identifiers=[ISBN])
    assert Identifier.objects.filter(valid_until__isnull=True).count() == 1


def test_collective_files_for_its_principal_under_an_active_mandate(collective, tsubasa):
    holder, agent = holder_for_filing(user=collective.user, code="tsubasa-anime")
    assert holder == tsubasa.holder and agent == collective.holder


def test_collective_cannot_file_for_a_holder_without_a_mandate(collective, hoshi_pub):
    with pytest.raises(NotAuthorizedForHolder):
        holder_for_filing(user=collective.user, code="hoshi-pub")


def test_unknown_holder_looks_the_same_as_a_forbidden_one(studio_kaze, hoshi_pub):
    with pytest.raises(NotAuthorizedForHolder) as forbidden:
        holder_for_filing(user=studio_kaze.user, code="hoshi-pub")
    with pytest.raises(NotAuthorizedForHolder) as unknown:
        holder_for_filing(user=studio_kaze.user, code="no-such-holder")
    assert forbidden.value.detail.replace("hoshi-pub", "X") == unknown.value.detail.replace("no-such-holder", "X")


def test_viewer_cannot_file(kaze_viewer):
    with pytest.raises(ReadOnlyRole):
        holder_for_filing(user=kaze_viewer.user, code="studio-kaze")


def test_ended_mandate_no_longer_lets_the_collective_file(collective, tsubasa):
    mandate = collective.holder.mandates_held.get()
    mandate_end(mandate=mandate)
    with pytest.raises(NotAuthorizedForHolder):
        holder_for_filing(user=collective.user, code="tsubasa-anime")


def test_future_mandate_is_not_yet_active(tsubasa, hoshi_pub):
    from tests.factories import HolderFactory, MembershipFactory, UserFactory

    agent = HolderFactory(code="future-coll", kind="collective")
    user = UserFactory(username="future-editor")
    MembershipFactory(user=user, holder=agent)
    mandate_create(agent=agent, principal=hoshi_pub.holder, valid_from=timezone.now() + timedelta(days=1))
    with pytest.raises(NotAuthorizedForHolder):
        holder_for_filing(user=user, code="hoshi-pub")


def test_only_a_collective_can_hold_a_mandate(studio_kaze, hoshi_pub):
    with pytest.raises(ValidationFailed):
        mandate_create(agent=studio_kaze.holder, principal=hoshi_pub.holder)


def test_holders_see_their_own_and_their_principals_data_only(studio_kaze, hoshi_pub, collective, tsubasa, operator):
    assert holder_ids_visible_to(studio_kaze.user) == {studio_kaze.holder.pk}
    assert holder_ids_visible_to(collective.user) == {collective.holder.pk, tsubasa.holder.pk}
    assert holder_ids_visible_to(operator) is None


@pytest.mark.parametrize(
    "code,kind,country,field",
    [("Bad Code", "studio", "JP", "code"), ("ok", "museum", "JP", "kind"), ("ok", "studio", "XX", "country")],
    ids=["code-not-a-slug", "unknown-kind", "unknown-country"],
)
def test_holder_create_rejects_invalid_fields(code, kind, country, field):
    with pytest.raises(ValidationFailed) as exc:
        holder_create(code=code, name="N", kind=kind, country=country)
    assert [e["field"] for e in exc.value.errors] == [field]


def test_holder_codes_are_unique(studio_kaze):
    with pytest.raises(Conflict):
        holder_create(code="studio-kaze", name="Other", kind="studio")
