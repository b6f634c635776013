"""Disputes both sides can live with (domain.md "Disputes", issue 20 item 5): the current holder is told and sees
the dispute in its needs-attention list; the claimant may withdraw it, which closes it at once; the dispute page
names both works but links only the one the viewer may open; both holders get an e-mail when it opens and closes.

Personas: Hoshi Publishing holds isbn:9784990166137; Studio Kaze (an editor, and a viewer) claims it."""
import pytest
from django.core import mail
from django.urls import reverse

from audit.models import AuditEvent
from consent.lookup import work_decisions
from core.errors import NotAuthorizedForHolder, ReadOnlyRole
from registry.models import Dispute
from registry.services import dispute_withdraw

pytestmark = pytest.mark.django_db
ISBN = "isbn:9784990166137"


@pytest.fixture
def dispute(studio_kaze, hoshi_pub, make_work, django_capture_on_commit_callbacks):
    make_work(hoshi_pub.holder, "HP-1", title="星降る学園 1", identifiers=[ISBN])
    with django_capture_on_commit_callbacks(execute=True):
        make_work(studio_kaze.holder, "SK-1", title="風の谷", identifiers=[ISBN])
    return Dispute.objects.select_related("work", "claimant_work").get()


def withdraw(client, dispute):
    return client.post(reverse("admin:registry_dispute_withdraw", args=[dispute.pk]))


def test_both_holders_are_mailed_when_a_dispute_opens_in_japanese_and_english(dispute, studio_kaze, hoshi_pub,
                                                                              compiled_translations):
    assert len(mail.outbox) == 2
    assert {m.to[0] for m in mail.outbox} == {studio_kaze.user.email, hoshi_pub.user.email}
    body = mail.outbox[0].body
    assert "係争" in mail.outbox[0].subject and "dispute" in mail.outbox[0].subject
    assert ISBN in body and "星降る学園 1" in body and str(dispute.pk) in body


def test_the_claimant_withdraws_its_dispute_and_the_work_is_no_longer_denied(
        login, studio_kaze, dispute, django_capture_on_commit_callbacks):
    assert work_decisions(work=dispute.work, purposes=["search"], jurisdictions=["US"])[
        ("search", "US")]["basis"] == "disputed"
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = withdraw(login(studio_kaze.user), dispute)
    assert response.status_code == 302
    dispute.refresh_from_db()
    assert dispute.resolution == "withdrawn" and dispute.resolved_at is not None
    event = AuditEvent.objects.get(action="dispute.withdraw", object_id=str(dispute.pk))
    assert event.actor == f"user:{studio_kaze.user.pk}" and event.after["resolution"] == "withdrawn"
    assert work_decisions(work=dispute.work, purposes=["search"], jurisdictions=["US"])[
        ("search", "US")]["basis"] == "not-reserved"
    assert len(mail.outbox) == 2 and "withdrawn" in mail.outbox[0].subject


def test_only_the_claimants_writers_may_withdraw(login, hoshi_pub, kaze_viewer, tsubasa, dispute):
    """Rule: the current holder, a read-only user of the claimant and a third holder cannot withdraw; the
    third holder is not even told the dispute exists (404, as for any object outside its scope)."""
    assert withdraw(login(hoshi_pub.user), dispute).status_code == 404
    assert withdraw(login(kaze_viewer.user), dispute).status_code == 404
    assert withdraw(login(tsubasa.user), dispute).status_code == 404
    dispute.refresh_from_db()
    assert dispute.is_open
    with pytest.raises(NotAuthorizedForHolder):
        dispute_withdraw(dispute=dispute, actor=hoshi_pub.user)
    with pytest.raises(ReadOnlyRole):
        dispute_withdraw(dispute=dispute, actor=kaze_viewer.user)


def test_filing_the_same_claim_again_after_withdrawing_opens_no_new_dispute(studio_kaze, dispute, make_work):
    dispute_withdraw(dispute=dispute, actor=studio_kaze.user)
    make_work(studio_kaze.holder, "SK-1", title="風の谷", identifiers=[ISBN])
    assert Dispute.objects.count() == 1


def test_the_withdraw_button_is_shown_to_the_claimant_only(login, studio_kaze, hoshi_pub, dispute):
    url = reverse("admin:registry_dispute_change", args=[dispute.pk])
    assert 'id="withdraw-dispute"' in login(studio_kaze.user).get(url).content.decode()
    assert 'id="withdraw-dispute"' not in login(hoshi_pub.user).get(url).content.decode()


def test_the_dispute_page_names_both_works_but_links_only_the_viewers_own(login, studio_kaze, hoshi_pub, dispute):
    url = reverse("admin:registry_dispute_change", args=[dispute.pk])
    own = reverse("admin:registry_work_change", args=[dispute.claimant_work.pk])
    other = reverse("admin:registry_work_change", args=[dispute.work.pk])
    claimant_page = login(studio_kaze.user).get(url).content.decode()
    assert "星降る学園 1" in claimant_page and f'href="{own}"' in claimant_page
    assert f'href="{other}"' not in claimant_page
    holder_page = login(hoshi_pub.user).get(url).content.decode()
    assert "風の谷" in holder_page and f'href="{other}"' in holder_page
    assert f'href="{own}"' not in holder_page
    for page, hidden in ((claimant_page, hoshi_pub.holder), (holder_page, studio_kaze.holder)):
        assert str(hidden) in page  # the other holder is named, not linked to a page it would 404
        assert reverse("admin:registry_holder_change", args=[hidden.pk]) not in page


def test_the_current_holder_finds_the_dispute_in_its_needs_attention_list(login, studio_kaze, hoshi_pub, tsubasa,
                                                                            dispute):
    holder_index = login(hoshi_pub.user).get(reverse("admin:index")).content.decode()
    assert 'id="attention-about"' in holder_index and ISBN in holder_index and "Studio Kaze" in holder_index
    claimant_index = login(studio_kaze.user).get(reverse("admin:index")).content.decode()
    assert 'id="attention-claimed"' in claimant_index and 'id="attention-about"' not in claimant_index
    assert 'id="needs-attention"' not in login(tsubasa.user).get(reverse("admin:index")).content.decode()
    dispute_withdraw(dispute=dispute, actor=studio_kaze.user)
    assert 'id="needs-attention"' not in login(hoshi_pub.user).get(reverse("admin:index")).content.decode()


def test_operators_cannot_resolve_a_dispute_as_withdrawn(login, operator, dispute):
    response = login(operator).post(reverse("admin:registry_dispute_change", args=[dispute.pk]),
                                    {"resolution": "withdrawn", "resolution_note": ""})
    assert response.status_code == 200  # the form refuses the choice
    dispute.refresh_from_db()
    assert dispute.is_open


def test_a_bulk_claim_tells_both_holders_once_with_every_claimed_identifier(
        login, studio_kaze, hoshi_pub, make_work, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from claims.models import Submission

    make_work(hoshi_pub.holder, "HP-1", title="星降る学園 1", identifiers=[ISBN])
    make_work(hoshi_pub.holder, "HP-2", title="星降る学園 2", identifiers=["isbn:9784991860911"])
    mail.outbox.clear()
    csv_text = ("holder,work_ref,title,identifiers\n"
                f"studio-kaze,SK-1,風の谷,{ISBN}\n"
                "studio-kaze,SK-2,空の歌,9784991860911\n")
    with django_capture_on_commit_callbacks(execute=True):
        login(studio_kaze.user).post(reverse("admin:claims_submission_add"), {
            "holder": studio_kaze.holder.pk, "file": SimpleUploadedFile("c.csv", csv_text.encode(), "text/csv")})
    assert Submission.objects.get().disputes_opened == 2
    assert sorted(m.to[0] for m in mail.outbox) == sorted([studio_kaze.user.email, hoshi_pub.user.email])
    body = mail.outbox[0].body
    assert ISBN in body and "isbn:9784991860911" in body and "2 disputes" in mail.outbox[0].subject


def test_a_dry_run_tells_nobody(login, studio_kaze, hoshi_pub, make_work, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    make_work(hoshi_pub.holder, "HP-1", title="星降る学園 1", identifiers=[ISBN])
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        login(studio_kaze.user).post(reverse("admin:claims_submission_add"), {
            "holder": studio_kaze.holder.pk, "dry_run": "on", "file": SimpleUploadedFile(
                "c.csv", f"holder,work_ref,title,identifiers\nstudio-kaze,SK-1,T,{ISBN}\n".encode(), "text/csv")})
    assert mail.outbox == []
