"""Bulk claims in the admin: an upload page (file, holder, dry run) that starts a submission through
claims.services, a progress page whose bar polls a small JSON status view while the worker runs, and the error
report as a CSV download. A submission is its submitter's: only users of its holder (or of the collective that
filed it) and operators see it; anyone else gets a 404.
"""
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Q
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, NotFound
from registry.admin import mark_saved
from registry.admin_base import holders_for_filing, may_look, may_write, request_membership
from registry.models import Holder
from registry.selectors import is_operator

from . import template
from .models import FINAL_STATUSES, Submission
from .selectors import (
    claims_errors_csv,
    claims_errors_csv_content_type,
    claims_submission_get_for_user,
    claims_submission_status,
)
from .services import claims_submission_create


class UploadForm(forms.ModelForm):
    holder = forms.ModelChoiceField(label=_("holder"), queryset=Holder.objects.none(),
                                    help_text=_("The holder the rows are filed for: yours, or a principal your "
                                                "collective holds a mandate for."))
    file = forms.FileField(label=_("CSV file"),
                           help_text=_("UTF-8 (with or without BOM), UTF-16 or Shift_JIS; the columns are "
                                       "described in the claims CSV format."))

    class Meta:
        model = Submission
        fields = ("holder", "file", "dry_run")
        help_texts = {"dry_run": _("Check every row and report the counts and errors without writing anything.")}

    def clean_file(self):
        # The one file problem refused at upload (claims.services says the same); every other is the submission's.
        upload = self.cleaned_data["file"]
        cap = settings.KYODAKU_CLAIMS_MAX_FILE_BYTES
        if upload.size > cap:
            raise forms.ValidationError(_("The file is over the limit of %(cap)s bytes.") % {"cap": f"{cap:,}"})
        return upload


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("original_name", "holder_label", "status", "progress", "rows_ok_label", "rows_failed_label",
                    "dry_run", "created_at")
    list_filter = ("status", "dry_run")
    list_select_related = ("holder",)
    search_fields = ("original_name",)
    show_full_result_count = False
    form = UploadForm
    change_form_template = "admin/claims/submission/change_form.html"
    # Status, counts and error are in the progress panel above these fields, which it keeps current while the
    # worker runs; these do not change.
    readonly_fields = ("original_name", "holder_label", "agent_label", "submitter", "dry_run", "encoding",
                       "created_at")

    # ---- scope: the submitter's holder (or the collective that filed it), as claims.selectors decides ----
    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if is_operator(request.user):
            return queryset
        membership = request_membership(request)
        if membership is None:
            return queryset.none()
        return queryset.filter(Q(holder_id=membership.holder_id) | Q(agent_id=membership.holder_id))

    def get_object(self, request, object_id, from_field=None):
        try:
            return claims_submission_get_for_user(user=request.user, submission_id=object_id)
        except NotFound:
            raise Http404(_("Not found.")) from None

    def has_module_permission(self, request):
        return may_look(request)

    def has_view_permission(self, request, obj=None):
        return may_look(request)

    def has_add_permission(self, request):
        return may_write(request)

    def has_change_permission(self, request, obj=None):
        return False  # a submission is processed, never edited

    def has_delete_permission(self, request, obj=None):
        return False

    # The model's counters and keys have no translatable names (a label change would be a migration of a table
    # that bulk imports write); the admin names them here.
    @admin.display(description=_("holder"), ordering="holder__code")
    def holder_label(self, obj):
        return str(obj.holder)

    @admin.display(description=_("filed by collective"))
    def agent_label(self, obj):
        return str(obj.agent) if obj.agent_id else "–"

    @admin.display(description=_("submitted by"))
    def submitter(self, obj):
        return obj.submitted_by.get_username() if obj.submitted_by_id else "–"

    @admin.display(description=_("rows accepted"), ordering="rows_ok")
    def rows_ok_label(self, obj):
        return f"{obj.rows_ok:,}"

    @admin.display(description=_("rows rejected"), ordering="rows_failed")
    def rows_failed_label(self, obj):
        return f"{obj.rows_failed:,}"

    @admin.display(description=_("progress"))
    def progress(self, obj):
        if obj.rows_total:
            return f"{obj.rows_done:,} / {obj.rows_total:,}"
        return f"{obj.rows_done:,}"

    # ---- upload ----
    def get_fields(self, request, obj=None):
        return ("holder", "file", "dry_run") if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        if obj is not None:
            return form_class
        holders = holders_for_filing(request)
        membership = request_membership(request)

        class Upload(form_class):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.fields["holder"].queryset = holders
                self.fields["file"].help_text = format_html(
                    '{} <span id="claims-template-links">{} <a href="{}?encoding=cp932">Excel (Shift_JIS)</a> · '
                    '<a href="{}?encoding=utf-8">UTF-8</a> · <a href="{}?encoding=cp932">{}</a></span>',
                    self.fields["file"].help_text, _("Template with a sample row:"),
                    reverse("admin:claims_submission_template"), reverse("admin:claims_submission_template"),
                    reverse("admin:claims_submission_template_columns"), _("what each column means"))
                if membership is not None:
                    self.fields["holder"].initial = membership.holder_id

            def _post_clean(self):
                pass  # the service validates and writes the submission; the model form does not

        return Upload

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        submission = claims_submission_create(user=request.user, file=data["file"], holder_code=data["holder"].code,
                                              dry_run=data.get("dry_run", False))
        mark_saved(obj, submission)

    def response_add(self, request, obj, post_url_continue=None):
        return HttpResponseRedirect(reverse("admin:claims_submission_change", args=[obj.pk]))

    def log_addition(self, request, obj, message):
        return None  # the submission row itself records who submitted what and when

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except DomainError as exc:
            if exc.status == 404:
                raise Http404(exc.detail) from exc
            self.message_user(request, exc.detail, level="error")
            return HttpResponseRedirect(request.get_full_path())

    # ---- progress: a JSON status view the page polls, and the error report ----
    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("template.csv", self.admin_site.admin_view(self.template_view), name=f"{prefix}_template"),
            path("template-columns.csv", self.admin_site.admin_view(self.template_columns_view),
                 name=f"{prefix}_template_columns"),
            path("<path:object_id>/status/", self.admin_site.admin_view(self.status_view), name=f"{prefix}_status"),
            path("<path:object_id>/errors.csv", self.admin_site.admin_view(self.errors_view),
                 name=f"{prefix}_errors"),
            *super().get_urls(),
        ]

    # ---- the template: a CSV with a sample row, and the columns explained in Japanese (claims.template) ----
    def _template_response(self, request, body, name: str, encoding: str):
        if not may_look(request):
            raise Http404(_("Not found."))
        response = HttpResponse(body, content_type=template.content_type(encoding))
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    @staticmethod
    def _template_encoding(request) -> str:
        encoding = request.GET.get("encoding", "")
        return encoding if encoding in template.ENCODINGS else "utf-8"

    def template_view(self, request):
        encoding = self._template_encoding(request)
        membership = request_membership(request)
        body = template.claims_template_csv(encoding=encoding,
                                            holder_code=membership.holder.code if membership else "")
        return self._template_response(request, body, f"claims-template-{encoding}.csv", encoding)

    def template_columns_view(self, request):
        encoding = self._template_encoding(request)
        body = template.claims_template_guide_csv(encoding=encoding)
        return self._template_response(request, body, f"claims-columns-{encoding}.csv", encoding)

    def status_payload(self, submission) -> dict:
        payload = claims_submission_status(
            submission=submission, errors_url=reverse("admin:claims_submission_errors", args=[submission.pk]))
        payload["final"] = submission.status in FINAL_STATUSES
        payload["status_label"] = submission.get_status_display()
        return payload

    def status_view(self, request, object_id):
        submission = self.get_object(request, unquote(object_id))
        return JsonResponse(self.status_payload(submission), headers={"Cache-Control": "no-store"})

    def errors_view(self, request, object_id):
        submission = self.get_object(request, unquote(object_id))
        response = StreamingHttpResponse(claims_errors_csv(submission=submission),
                                         content_type=claims_errors_csv_content_type(submission=submission))
        response["Content-Disposition"] = f'attachment; filename="errors-{submission.pk}.csv"'
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        submission = self.get_object(request, unquote(object_id))
        context = {"submission_status": self.status_payload(submission),
                   "status_url": reverse("admin:claims_submission_status", args=[submission.pk]),
                   **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)
