"""Telling a holder's users about a claims upload that needs them (issue 17 "Needs attention and notifications").

An upload that fails (the file as a whole is refused, or its worker gave up) is mailed at once, when it fails:
the holder's users are waiting for it and nothing of the file was filed. An upload that finished with rejected rows
is in the daily digest (config.attention). Both go through registry.notifications.notice_send, so each user's
NotificationPreference (the `submissions` topic, the language) decides. Dry runs are never mailed: whoever ran one
is looking at its result.
"""
from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from registry.notifications import notice_send

from .models import Status, Submission

__all__ = ["submission_notice_send", "submission_failed_notify"]


def _submission_text(submission: Submission, language: str) -> tuple[str, str]:
    with translation.override(language):
        subject = gettext("A claims upload needs your attention: %(name)s") % {
            "name": submission.original_name or submission.pk}
        lines = [subject, "", gettext("Status: %(status)s") % {"status": submission.get_status_display()}]
        if submission.error:
            lines.append(submission.error)
        lines.append(gettext("Rows accepted: %(ok)d, rejected: %(failed)d") % {
            "ok": submission.rows_ok, "failed": submission.rows_failed})
        link = settings.KYODAKU_BASE_URL.rstrip("/") + reverse("admin:claims_submission_change",
                                                               args=[submission.pk])
        lines.append(gettext("Details: %(url)s") % {"url": link})
        return subject, "\n".join(lines)


def submission_notice_send(submission: Submission) -> int:
    """Mail the submission's state to its holder's users who want upload notices; returns messages sent."""
    return notice_send(holder_ids=[submission.holder_id], topic="submissions",
                       build=lambda language: _submission_text(submission, language),
                       what=f"submission {submission.pk}")


def submission_failed_notify(*, submission_id) -> int:
    """The notice of a submission that has just failed (claims.services, after its transaction commits)."""
    submission = Submission.objects.filter(pk=submission_id, status=Status.FAILED, dry_run=False).first()
    return 0 if submission is None else submission_notice_send(submission)
