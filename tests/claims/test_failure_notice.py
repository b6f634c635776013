"""A failed claims upload reaches the holder's users by e-mail at once, not in the next day's digest (issue 17's
notifications): through registry.notifications.notice_send, so each user's NotificationPreference decides (the
`submissions` topic, the language). Mail through Django's locmem backend (mail.outbox).

Personas: Studio Kaze's editor (Japanese), its admin (English) and its viewer (no upload notices, thank you)
upload a file that is not CSV; Hoshi Publishing's editor must hear nothing of it.
"""
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from claims.models import Submission
from claims.services import claims_submission_fail
from config.attention import attention_digest_send
from registry.models import NotificationPreference
from tests.factories import MembershipFactory, UserFactory

from .conftest import HEADER

pytestmark = pytest.mark.django_db
NOT_CSV = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture(autouse=True)
def _locmem_mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox.clear()


@pytest.fixture
def kaze_users(studio_kaze, hoshi_pub):
    """Kaze's editor reads Japanese, its admin English; its viewer turned upload notices off. Hoshi's editor
    gets every notice."""
    studio_kaze.user.email = "editor@kaze.example"
    studio_kaze.user.save()
    NotificationPreference.objects.create(user=studio_kaze.user, language="ja")
    admin = UserFactory(username="kaze-admin", email="admin@kaze.example")
    MembershipFactory(user=admin, holder=studio_kaze.holder, role="admin")
    NotificationPreference.objects.create(user=admin, language="en")
    viewer = UserFactory(username="kaze-viewer", email="viewer@kaze.example")
    MembershipFactory(user=viewer, holder=studio_kaze.holder, role="viewer")
    NotificationPreference.objects.create(user=viewer, submissions=False)
    hoshi_pub.user.email = "editor@hoshi.example"
    hoshi_pub.user.save()


def _mails_to(address: str) -> list:
    return [m for m in mail.outbox if m.to == [address]]


def test_a_failed_upload_is_mailed_at_once_to_each_user_who_wants_it(studio_kaze, kaze_users, submit,
                                                                     compiled_translations):
    submission = submit(studio_kaze, NOT_CSV, name="kaze-catalogue.csv")
    assert submission.status == "failed"

    ja, = _mails_to("editor@kaze.example")
    assert ja.subject == "[Kyodaku] 一括登録の確認が必要です：kaze-catalogue.csv"
    en, = _mails_to("admin@kaze.example")
    assert en.subject == "[Kyodaku] A claims upload needs your attention: kaze-catalogue.csv"
    assert submission.error in en.body and f"/claims/submission/{submission.pk}/change/" in en.body
    assert _mails_to("viewer@kaze.example") == []  # she chose no upload notices
    assert _mails_to("editor@hoshi.example") == []  # another holder's upload is none of Hoshi's business
    assert len(mail.outbox) == 2


def test_the_next_digest_does_not_mail_it_again(studio_kaze, kaze_users, submit):
    submit(studio_kaze, NOT_CSV)
    assert len(mail.outbox) == 2
    mail.outbox.clear()
    attention_digest_send(now=timezone.now() + timedelta(minutes=5))
    assert mail.outbox == []


def test_rejected_rows_wait_for_the_digest_and_a_dry_run_is_never_mailed(studio_kaze, kaze_users, submit):
    with_errors = submit(studio_kaze, f"{HEADER}\nstudio-kaze,KZ-1,Kaze,,film,isbn:123,,,,work\n")
    assert with_errors.status == "done-with-errors"
    dry = submit(studio_kaze, NOT_CSV, dry_run=True)
    assert dry.status == "failed"
    assert mail.outbox == []  # neither is mailed at once
    attention_digest_send(now=timezone.now() + timedelta(minutes=5))
    assert sorted(m.to[0] for m in mail.outbox) == ["admin@kaze.example", "editor@kaze.example"]
    en, = _mails_to("admin@kaze.example")  # the rejected row, once; nothing of the dry run
    assert "Rows accepted: 0, rejected: 1" in en.body and str(with_errors.pk) in en.body


def test_a_worker_that_gives_up_mails_once(studio_kaze, kaze_users, django_capture_on_commit_callbacks):
    submission = Submission.objects.create(holder=studio_kaze.holder, status="running", original_name="big.csv",
                                           submitted_by=studio_kaze.user)
    for _ in range(2):  # the task's last resort, reached twice (a redelivered task): one notice
        with django_capture_on_commit_callbacks(execute=True):
            claims_submission_fail(submission_id=submission.pk, reason="Processing stopped by an internal error.")
    submission.refresh_from_db()
    assert submission.status == "failed"
    assert len(_mails_to("admin@kaze.example")) == 1 and len(mail.outbox) == 2
