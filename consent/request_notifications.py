"""E-mails about permission requests (domain.md "Licences and permission requests"), through Django's mail framework
like the dispute notices (registry/notifications.py): sent after the transaction commits; a mail server that is
down is logged and undoes nothing (the admin's inbox shows every open request either way).

- A new request: the holder's active users with an address, in Japanese and in English (users have no language
  of their own; the admin's language is a per-browser choice), with a link to the request in the admin.
- A decision (accepted, declined): the developer's `contact`, in the language the request was filed in (the
  `Accept-Language` of the POST), with the licence's public fields or the reason.
"""
import logging

from django.conf import settings
from django.core.mail import send_mail, send_mass_mail
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from registry.models import Membership

from .models import PermissionRequest

logger = logging.getLogger(__name__)

SUBJECTS = {
    "opened": gettext_noop("New permission request from %(organisation)s"),
    "accepted": gettext_noop("Your permission request to %(holder)s was accepted"),
    "declined": gettext_noop("Your permission request to %(holder)s was declined"),
}


def _scope_lines(request: PermissionRequest) -> list[str]:
    works = list(request.works.all())
    if works:
        lines = [gettext("Works: %(count)d") % {"count": len(works)}]
        lines += [f"- {work.title or work.work_ref} ({work.work_ref})" for work in works[:20]]
        if len(works) > 20:
            lines.append(gettext("… and %(count)d more.") % {"count": len(works) - 20})
    else:
        lines = [gettext("Works: the whole catalogue")]
    lines.append(gettext("Purposes: %(codes)s") % {"codes": ", ".join(request.purposes)})
    lines.append(gettext("Jurisdictions: %(codes)s") % {"codes": ", ".join(request.jurisdictions)})
    if request.effective_from or request.effective_until:
        lines.append(gettext("Period: %(start)s – %(end)s") % {
            "start": request.effective_from.isoformat() if request.effective_from else gettext("on acceptance"),
            "end": request.effective_until.isoformat() if request.effective_until else gettext("open-ended")})
    return lines


def _to_holder(request: PermissionRequest, language: str) -> tuple[str, str]:
    with translation.override(language):
        subject = gettext(SUBJECTS["opened"]) % {"organisation": request.organisation.name}
        lines = [subject, "", gettext("Holder: %(holder)s") % {"holder": request.holder}]
        lines += _scope_lines(request)
        if request.message:
            lines += ["", gettext("Message:"), request.message]
        lines += ["", gettext("Accept or decline it in the admin: %(url)s") % {
            "url": settings.KYODAKU_BASE_URL.rstrip("/") + reverse("admin:consent_permissionrequest_change",
                                                                   args=[request.pk])}]
        return subject, "\n".join(lines)


def _to_developer(request: PermissionRequest, language: str) -> tuple[str, str]:
    with translation.override(language):
        subject = gettext(SUBJECTS[request.state]) % {"holder": request.holder.name}
        lines = [subject, "", gettext("Request: %(id)s") % {"id": request.pk}]
        lines += _scope_lines(request)
        if request.state == "declined":
            lines += ["", gettext("Reason: %(reason)s") % {"reason": request.reason}]
        else:
            lines += ["", gettext("Licences filed for your organisation:")]
            for licence in request.licences.all().order_by("pk"):
                lines.append(f"- {licence.pk} ({licence.get_scope_display()}; {', '.join(licence.purposes)}; "
                             f"{', '.join(licence.jurisdictions)})")
                if licence.license_url:
                    lines.append("  " + gettext("Terms: %(url)s") % {"url": licence.license_url})
                if licence.conditions:
                    lines.append("  " + gettext("Conditions: %(conditions)s") % {"conditions": licence.conditions})
        lines += ["", gettext("Details: %(url)s") % {
            "url": settings.KYODAKU_BASE_URL.rstrip("/") + f"/api/v1/permission-requests/{request.pk}"}]
        return subject, "\n".join(lines)


def request_notify(*, request: PermissionRequest, event: str) -> int:
    """Mail about `event` (opened: the holder's users; accepted, declined: the developer's contact). Returns the
    messages sent; a withdrawal mails no one (the request leaves the holder's inbox)."""
    request = (PermissionRequest.objects.select_related("holder", "organisation")
               .prefetch_related("works", "licences").get(pk=request.pk))
    try:
        if event == "opened":
            recipients = sorted(set(
                Membership.objects.filter(holder_id=request.holder_id, user__is_active=True)
                .exclude(user__email="").values_list("user__email", flat=True)))
            if not recipients:
                return 0
            subject_ja, body_ja = _to_holder(request, "ja")
            subject_en, body_en = _to_holder(request, "en")
            subject = f"[Kyodaku] {subject_ja} / {subject_en}"
            body = f"{body_ja}\n\n---\n\n{body_en}\n"
            return send_mass_mail([(subject, body, settings.DEFAULT_FROM_EMAIL, [to]) for to in recipients])
        if event in ("accepted", "declined"):
            subject, body = _to_developer(request, request.language)
            return send_mail(f"[Kyodaku] {subject}", body + "\n", settings.DEFAULT_FROM_EMAIL, [request.contact])
    except OSError:
        logger.exception("permission request %s: the %s notice could not be sent", request.pk, event)
    return 0
