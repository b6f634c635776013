"""Needs attention and notifications (issue 17): Studio Kaze's editor finds failed uploads, unverified domains and
mandates about to end on her start page (never Hoshi's), chooses in her profile which notices she is mailed and in
which language, and the daily digest mails each thing once."""
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from claims.models import Submission
from config.attention import attention_digest_send
from domains.models import DomainClaim, DomainVerification
from registry.models import Dispute, Mandate, NotificationPreference
from registry.notifications import dispute_notify

pytestmark = pytest.mark.django_db


@pytest.fixture
def kaze_troubles(studio_kaze, hoshi_pub, tsubasa):
    now = timezone.now()
    failed = Submission.objects.create(holder=studio_kaze.holder, status="failed", error="Not a CSV file.",
                                       original_name="kaze.csv", finished_at=now - timedelta(hours=2))
    Submission.objects.create(holder=hoshi_pub.holder, status="failed", error="Not a CSV file.",
                              original_name="hoshi.csv", finished_at=now - timedelta(hours=2))
    DomainClaim.objects.create(holder=studio_kaze.holder, domain="studio-kaze.example")
    mandate = Mandate.objects.create(agent=studio_kaze.holder, principal=tsubasa.holder,
                                     valid_from=now - timedelta(days=300), valid_until=now + timedelta(days=13,
                                                                                                        hours=12))
    return failed, mandate


def test_the_start_page_lists_her_failed_upload_unverified_domain_and_ending_mandate(login, studio_kaze,
                                                                                     kaze_troubles):
    page = login(studio_kaze.user).get(reverse("admin:index")).content.decode()
    assert 'id="attention-submissions"' in page and "kaze.csv" in page and "hoshi.csv" not in page
    assert 'id="attention-domains"' in page and "studio-kaze.example" in page
    assert 'id="attention-mandates"' in page and "Tsubasa Animation" in page


def test_another_holder_sees_none_of_it(login, hoshi_pub, kaze_troubles):
    page = login(hoshi_pub.user).get(reverse("admin:index")).content.decode()
    assert "kaze.csv" not in page and "studio-kaze.example" not in page and 'id="attention-mandates"' not in page


def test_she_chooses_her_notices_and_language_in_her_profile(login, studio_kaze, compiled_translations):
    client = login(studio_kaze.user)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="notification-preferences-link"' in page
    response = client.post(reverse("admin:notification-preferences"),
                           {"language": "ja", "submissions": "on", "domains": "on"})
    assert response.status_code == 302
    preference = NotificationPreference.objects.get(user=studio_kaze.user)
    assert (preference.language, preference.disputes, preference.submissions, preference.mandates) == (
        "ja", False, True, False)
    client.cookies["django_language"] = "ja"
    page = client.get(reverse("admin:notification-preferences")).content.decode()
    assert "<title>通知 |" in page and "係争の申立て・解決・取下げ" in page


def test_dispute_mail_follows_each_users_choice(studio_kaze, hoshi_pub, make_work):
    studio_kaze.user.email = "kaze@example.com"
    studio_kaze.user.save()
    hoshi_pub.user.email = "hoshi@example.com"
    hoshi_pub.user.save()
    work = make_work(hoshi_pub.holder, "HP-1")
    dispute = Dispute.objects.create(scheme="doi", value="10.5555/x", work=work, holder=hoshi_pub.holder,
                                     claimant=studio_kaze.holder)
    NotificationPreference.objects.create(user=hoshi_pub.user, disputes=False)
    NotificationPreference.objects.create(user=studio_kaze.user, language="en")
    mail.outbox.clear()
    assert dispute_notify(dispute=dispute, event="opened") == 1
    message, = mail.outbox
    assert message.to == ["kaze@example.com"]
    assert message.subject == "[Kyodaku] A dispute was opened: doi:10.5555/x"  # English only, as she chose


def test_the_daily_digest_mails_each_thing_once_in_the_users_language(studio_kaze, tsubasa, kaze_troubles,
                                                                       compiled_translations):
    studio_kaze.user.email = "kaze@example.com"
    studio_kaze.user.save()
    NotificationPreference.objects.create(user=studio_kaze.user, language="ja", domains=False)
    claim = DomainClaim.objects.get()
    DomainVerification.objects.create(claim=claim, holder=studio_kaze.holder, domain=claim.domain, method="dns",
                                      verified_at=timezone.now() - timedelta(days=90),
                                      ended_at=timezone.now() - timedelta(hours=1), ended_reason="TXT record gone")
    Submission.objects.create(holder=studio_kaze.holder, status="done-with-errors", rows_total=3, rows_done=3,
                              rows_ok=2, rows_failed=1, original_name="kaze-rows.csv",
                              finished_at=timezone.now() - timedelta(hours=3))
    mail.outbox.clear()
    attention_digest_send()
    subjects = sorted(m.subject for m in mail.outbox if m.to == ["kaze@example.com"])
    # the upload with rejected rows and the mandate; domains: she said no; the failed upload was mailed when it
    # failed (tests/claims/test_failure_notice.py), not again here
    assert len(subjects) == 2, subjects
    assert any("kaze-rows.csv" in s for s in subjects) and not any(" / " in s for s in subjects)  # Japanese only
    assert not any("kaze.csv" in s or "hoshi.csv" in s for s in subjects)
    mail.outbox.clear()
    attention_digest_send(now=timezone.now() + timedelta(days=1))
    assert [m for m in mail.outbox if m.to == ["kaze@example.com"]] == []  # each thing announced once
