"""What needs a holder's attention besides disputes (issue 17), on the admin's start page and by e-mail.

- claims uploads of the last ATTENTION_DAYS days that failed or rejected rows (a failed one is mailed at once,
  when it fails: claims.notifications);
- domains whose verification is not in force (never verified, or lapsed);
- mandates (as agent or principal) that end within MANDATE_WARNING_DAYS.

`attention_digest_send` (Celery beat, daily: `config.attention_digest` in config/tasks.py) mails what happened
in the day before `now`: uploads that finished with rejected rows, domain verifications that ended, and
mandates that now end in MANDATE_WARNING_DAYS days (each mandate is announced once, the day it enters that
window); each user as their NotificationPreference says (registry.notifications.notice_send). Disputes are
mailed when they happen (registry).

Lives in config, the one layer above both claims and domains (sync and claims are siblings and may not import
each other).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone, translation
from django.utils.translation import gettext

from claims.models import Status, Submission
from claims.notifications import submission_notice_send
from domains.models import DomainClaim, DomainVerification
from registry.models import Mandate
from registry.notifications import notice_send

ATTENTION_DAYS = 30
MANDATE_WARNING_DAYS = 14
LIMIT = 20
TROUBLED = (Status.FAILED, Status.DONE_WITH_ERRORS)


def _scoped(queryset, holder_ids, field="holder_id"):
    return queryset if holder_ids is None else queryset.filter(**{f"{field}__in": holder_ids})


def troubled_submissions(*, holder_ids, since: datetime):
    return _scoped(Submission.objects.filter(status__in=TROUBLED, finished_at__gte=since, dry_run=False),
                   holder_ids).select_related("holder").order_by("-finished_at")


def unverified_domains(*, holder_ids, at: datetime):
    in_force = DomainVerification.objects.filter(
        Q(claim_id=OuterRef("pk")), Q(verified_at__lte=at), Q(ended_at__isnull=True) | Q(ended_at__gt=at))
    return _scoped(DomainClaim.objects.filter(~Exists(in_force)), holder_ids).select_related("holder")


def expiring_mandates(*, holder_ids, start: datetime, end: datetime):
    mandates = Mandate.objects.filter(valid_until__gt=start, valid_until__lte=end).select_related("agent", "principal")
    if holder_ids is not None:
        mandates = mandates.filter(Q(agent_id__in=holder_ids) | Q(principal_id__in=holder_ids))
    return mandates.order_by("valid_until")


def attention_items(*, holder_ids, at: datetime | None = None) -> dict[str, list]:
    """The start page's lists beyond disputes; `holder_ids` None: operators, everything. Three queries."""
    at = at or timezone.now()
    return {
        "submissions": list(troubled_submissions(holder_ids=holder_ids, since=at - timedelta(days=ATTENTION_DAYS))
                            [:LIMIT]),
        "domains": list(unverified_domains(holder_ids=holder_ids, at=at)[:LIMIT]),
        "mandates": list(expiring_mandates(holder_ids=holder_ids, start=at,
                                           end=at + timedelta(days=MANDATE_WARNING_DAYS))[:LIMIT]),
    }


def _domain_text(verification, language):
    with translation.override(language):
        subject = gettext("The verification of %(domain)s lapsed") % {"domain": verification.domain}
        lines = [subject, "", verification.ended_reason,
                 gettext("Until it is verified again, its web claims and signals need the verification.")]
        return subject, "\n".join(line for line in lines if line is not None)


def _mandate_text(mandate, language):
    with translation.override(language):
        subject = gettext("The mandate of %(agent)s for %(principal)s ends on %(date)s") % {
            "agent": mandate.agent, "principal": mandate.principal,
            "date": timezone.localtime(mandate.valid_until).date().isoformat()}
        lines = [subject, "", gettext("Ask the registry's operators to renew it if it should go on.")]
        return subject, "\n".join(lines)


def attention_digest_send(*, now: datetime | None = None) -> int:
    """Mail the day's news (see the module's docstring); returns the messages sent."""
    now = now or timezone.now()
    since = now - timedelta(days=1)
    sent = 0
    # Failed uploads were mailed when they failed (claims.notifications); the digest tells of rejected rows.
    for submission in troubled_submissions(holder_ids=None, since=since).filter(
            finished_at__lte=now, status=Status.DONE_WITH_ERRORS):
        sent += submission_notice_send(submission)
    for verification in DomainVerification.objects.filter(ended_at__gt=since, ended_at__lte=now):
        sent += notice_send(holder_ids=[verification.holder_id], topic="domains",
                            build=lambda language, v=verification: _domain_text(v, language),
                            what=f"domain verification {verification.pk}")
    warning = timedelta(days=MANDATE_WARNING_DAYS)
    for mandate in expiring_mandates(holder_ids=None, start=since + warning, end=now + warning):
        sent += notice_send(holder_ids=[mandate.agent_id, mandate.principal_id], topic="mandates",
                            build=lambda language, m=mandate: _mandate_text(m, language),
                            what=f"mandate {mandate.pk}")
    return sent
