"""The admin index's dashboard: lookup statistics for a holder's users (their holder and principals) or, for
operators, the whole registry (consent.usage_reports); and their CSV download. docs/admin.md, "Dashboard"."""
import csv

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from claims.export import (
    ExportUnencodable,
    claims_export_encoding,
    claims_export_filename,
    claims_export_holder,
    claims_export_stream,
)
from consent.labels import jurisdiction_name
from consent.usage_reports import PERIODS, lookup_report, lookup_report_rows, report_period
from core.errors import DomainError
from registry.admin_base import visible_holder_ids
from registry.models import NotificationPreference
from registry.selectors import is_operator


def _period(request):
    return report_period(request.GET.get("days"))


def dashboard_context(request) -> dict:
    since, until = _period(request)
    operator = is_operator(request.user)
    report = lookup_report(holder_ids=visible_holder_ids(request), since=since, until=until, names_for_all=operator)
    for row in report.by_jurisdiction:
        row["name"] = jurisdiction_name(row["jurisdiction"])
    chart = {
        "labels": [day.isoformat() for day in report.days],
        "series": [{"key": outcome, "label": label, "data": report.by_day.get(outcome, [])}
                   for outcome, label in (("allowed", _("allowed")), ("denied", _("denied")))],
        "purposes": {"labels": [row["purpose"] for row in report.by_purpose],
                     "allowed": [row["allowed"] for row in report.by_purpose],
                     "denied": [row["denied"] for row in report.by_purpose]},
        "jurisdictions": {"labels": [row["jurisdiction"] for row in report.by_jurisdiction],
                          "data": [row["total"] for row in report.by_jurisdiction]},
        "axis": _("lookups"),
    }
    days = (until - since).days + 1
    return {"report": report, "report_chart": chart, "report_days": days, "report_periods": PERIODS,
            "report_whole_registry": operator, "export_available": not operator}


def _csv_line(values) -> str:
    class Line:
        def write(self, text):
            return text

    return csv.writer(Line()).writerow(values)


def dashboard_csv(request):
    """The dashboard's figures as CSV (UTF-8 with a BOM, so that spreadsheet programs read Japanese)."""
    since, until = _period(request)
    rows = lookup_report_rows(holder_ids=visible_holder_ids(request), since=since, until=until)

    def lines():
        yield "\ufeff" + _csv_line(["day", "purpose", "jurisdiction", "outcome", "pointed_to_licence", "lookups"])
        for day, purpose, jurisdiction, outcome, pointed, n in rows:
            yield _csv_line([day.isoformat(), purpose, jurisdiction, outcome, "true" if pointed else "false", n])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="lookups-{since.isoformat()}-{until.isoformat()}.csv"'
    return response


def registry_export_csv(request):
    """The holder's registry as a claims CSV (claims.export): `?holder=` (default: the user's own), `?encoding=`."""
    try:
        holder = claims_export_holder(user=request.user, code=request.GET.get("holder"))
        encoding = claims_export_encoding(request.GET.get("encoding"))
    except DomainError as exc:
        raise Http404(str(exc)) from None
    try:
        pieces = claims_export_stream(holder=holder, encoding=encoding)
    except ExportUnencodable as exc:
        # Back to the page of the export box, saying what stops it: nothing is downloaded with `?` in it.
        first = exc.errors[0]
        messages.error(request, _(
            "Your registry cannot be exported in Shift_JIS (CP932): %(count)s value(s) hold characters it lacks, the "
            "first in row %(row)s, column %(column)s: %(character)s. Export it in UTF-8, or change these values.")
            % {"count": exc.count, "row": first["row"], "column": first["field"], "character": first["character"]})
        return HttpResponseRedirect(reverse("admin:index"))
    response = StreamingHttpResponse(pieces, content_type=f"text/csv; charset={encoding}")
    response["Content-Disposition"] = f'attachment; filename="{claims_export_filename(holder, encoding)}"'
    return response


class NotificationPreferenceForm(forms.ModelForm):
    class Meta:
        model = NotificationPreference
        fields = ["language", *NotificationPreference.TOPICS]


def notification_preferences_view(request, site):
    """The user's own notices: which topics are e-mailed, in which language (registry.notifications)."""
    preference = NotificationPreference.objects.filter(user=request.user).first() \
        or NotificationPreference(user=request.user)
    form = NotificationPreferenceForm(request.POST or None, instance=preference)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your notification settings were saved."))
        return HttpResponseRedirect(request.path)
    context = {**site.each_context(request), "title": _("Notifications"), "form": form,
               "email": request.user.email}
    return TemplateResponse(request, "admin/kyodaku/notification_preferences.html", context)
