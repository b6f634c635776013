"""Telling both holders of a dispute when it opens and when it closes (domain.md "Disputes"); `notice_send`, the
one way every notice to holders' users goes out (each user's NotificationPreference: which topics, which language).

E-mail through Django's mail framework (`EMAIL_BACKEND`; the console by default, so nothing leaves the machine
until an operator configures SMTP). Each holder's active users with an address get one message, in Japanese and
in English, with a link to the dispute in the admin. Sent after the transaction commits; a mail server that is
down is logged and does not undo the dispute (the admin's needs-attention list shows it either way).
"""
import logging

from django.conf import settings
from django.core.mail import send_mass_mail
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from .models import Dispute, Membership, NotificationPreference

logger = logging.getLogger(__name__)

SUBJECTS = {
    "opened": gettext_noop("A dispute was opened: %(identifier)s"),
    "resolved": gettext_noop("A dispute was resolved: %(identifier)s"),
    "withdrawn": gettext_noop("A dispute was withdrawn: %(identifier)s"),
}


def _recipients(holder_ids, topic: str = "disputes") -> list[tuple[str, str]]:
    """(address, language) of the holders' active users with an address who want `topic` (their
    NotificationPreference; none: every topic, language "" = Japanese and English)."""
    rows = (Membership.objects.filter(holder_id__in=holder_ids, user__is_active=True).exclude(user__email="")
            .values_list("user__email", "user__notification_preference__language",
                         f"user__notification_preference__{topic}"))
    chosen = {}
    for email, language, wanted in rows:
        if wanted is not False:
            chosen[email] = language or ""
    return sorted(chosen.items())


def notice_send(*, holder_ids, topic: str, build, what: str) -> int:
    """Mail `topic`'s notice to the holders' users who want it, each in their language: `build(language)` gives
    (subject, body); a user without a choice gets Japanese and English in one message. Returns messages sent; a
    mail server that is down is logged (`what` says which notice), never raised."""
    assert topic in NotificationPreference.TOPICS
    recipients = _recipients(holder_ids, topic)
    if not recipients:
        return 0
    texts = {}

    def text(language):
        if language not in texts:
            if language:
                subject, body = build(language)
                texts[language] = (f"[Kyodaku] {subject}", body + "\n")
            else:
                (subject_ja, body_ja), (subject_en, body_en) = build("ja"), build("en")
                texts[language] = (f"[Kyodaku] {subject_ja} / {subject_en}", f"{body_ja}\n\n---\n\n{body_en}\n")
        return texts[language]

    messages = [(*text(language), settings.DEFAULT_FROM_EMAIL, [to]) for to, language in recipients]
    try:
        return send_mass_mail(messages)
    except OSError:
        logger.exception("%s: the notice could not be sent", what)
        return 0


def _text(dispute: Dispute, event: str, language: str) -> tuple[str, str]:
    with translation.override(language):
        identifier = f"{dispute.scheme}:{dispute.value}"
        subject = gettext(SUBJECTS[event]) % {"identifier": identifier}
        lines = [
            subject,
            "",
            gettext("Identifier: %(identifier)s") % {"identifier": identifier},
            gettext("Work: %(work)s (held by %(holder)s)") % {"work": dispute.work, "holder": dispute.holder},
            gettext("Claimed by: %(claimant)s") % {"claimant": dispute.claimant},
            gettext("Status: %(status)s") % {
                "status": dispute.get_resolution_display() if dispute.resolution else gettext("open")},
        ]
        if dispute.evidence:
            lines.append(gettext("Evidence: %(evidence)s") % {"evidence": dispute.evidence})
        if event == "opened":
            lines.append(gettext("While the dispute is open, AI developers are told that the work may not be used."))
        lines.append(gettext("Details: %(url)s") % {
            "url": settings.KYODAKU_BASE_URL.rstrip("/") + reverse("admin:registry_dispute_change",
                                                                   args=[dispute.pk])})
        return subject, "\n".join(lines)


def dispute_notify(*, dispute: Dispute, event: str) -> int:
    """Mail both holders' users about `event` (opened, resolved, withdrawn); returns the messages sent."""
    dispute = Dispute.objects.select_related("work", "holder", "claimant").get(pk=dispute.pk)
    return notice_send(holder_ids=[dispute.holder_id, dispute.claimant_id], topic="disputes",
                       build=lambda language: _text(dispute, event, language),
                       what=f"dispute {dispute.pk} {event}")


BATCH_LISTED = 50  # identifiers named in one summary; the needs-attention list has them all


def disputes_opened_notify(*, claimant_id, since) -> int:
    """One summary per current holder for the disputes a bulk claim opened (a CSV can open thousands: one
    message each would bury them). Sent to that holder's users and the claimant's; returns the messages sent."""
    opened = list(Dispute.objects.filter(claimant_id=claimant_id, opened_at__gte=since, resolved_at__isnull=True)
                  .select_related("work", "holder", "claimant").order_by("holder_id", "scheme", "value"))
    by_holder: dict = {}
    for dispute in opened:
        by_holder.setdefault(dispute.holder_id, []).append(dispute)
    sent = 0
    for holder_id, disputes in by_holder.items():
        sent += notice_send(holder_ids=[holder_id, claimant_id], topic="disputes",
                            build=lambda language, disputes=disputes: _summary(disputes, language),
                            what=f"bulk claim by holder {claimant_id}")
    return sent


def _summary(disputes: list[Dispute], language: str) -> tuple[str, str]:
    first = disputes[0]
    with translation.override(language):
        subject = gettext("%(count)d disputes were opened by a bulk claim of %(claimant)s") % {
            "count": len(disputes), "claimant": first.claimant.code}
        lines = [subject, "", gettext("Claimed by: %(claimant)s") % {"claimant": first.claimant},
                 gettext("Held by: %(holder)s") % {"holder": first.holder}, ""]
        for dispute in disputes[:BATCH_LISTED]:
            lines.append(f"- {dispute.scheme}:{dispute.value}  {dispute.work}")
        if len(disputes) > BATCH_LISTED:
            lines.append(gettext("… and %(count)d more.") % {"count": len(disputes) - BATCH_LISTED})
        lines += ["", gettext("While the dispute is open, AI developers are told that the work may not be used."),
                  gettext("Details: %(url)s") % {"url": settings.KYODAKU_BASE_URL.rstrip("/")
                                                 + reverse("admin:registry_dispute_changelist")}]
        return subject, "\n".join(lines)
