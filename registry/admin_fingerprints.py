"""Fingerprints from files in the admin (docs/match.md "Fingerprints from files"): an upload page reached from a
work's change page, and the list of uploads, each holder's users seeing their own holders' only."""
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError

from .admin_base import ScopedAdmin
from .fingerprinting import fingerprint_job_create
from .models import FingerprintJob

RECENT_JOBS = 20


class _MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class _MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented recipe)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", _MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, (list, tuple)):
            return [super(_MultipleFileField, self).clean(item, initial) for item in data]
        return [super().clean(data, initial)]


class FingerprintUploadForm(forms.Form):
    files = _MultipleFileField(label=_("files"),
                            help_text=_("Images (PNG, JPEG, GIF, WebP, BMP, TIFF) or UTF-8 text. Their sha256, iscc, "
                                        "phash and pdq codes are attached to this work."))
    keep = forms.BooleanField(label=_("keep the files after fingerprinting"), required=False,
                              help_text=_("Without this, each file is deleted once its codes are computed."))


class WorkFingerprintsMixin:
    """For WorkAdmin: `<work>/fingerprints/`, the upload form and the work's latest uploads."""

    def get_urls(self):
        return [path("<path:object_id>/fingerprints/", self.admin_site.admin_view(self.fingerprints_view),
                     name="registry_work_fingerprints"), *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {"fingerprints_url": reverse("admin:registry_work_fingerprints", args=[object_id]),
                   **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def fingerprints_view(self, request, object_id):
        work = self.get_object(request, admin.utils.unquote(object_id))  # 404 outside the user's holders
        may_upload = self.has_change_permission(request, work)
        form = FingerprintUploadForm()
        if request.method == "POST":
            if not may_upload:
                raise Http404(gettext("Not found."))
            form = FingerprintUploadForm(request.POST, request.FILES)
            if form.is_valid():
                queued = 0
                for upload in form.cleaned_data["files"]:
                    try:
                        fingerprint_job_create(work=work, user=request.user, upload=upload,
                                               keep=form.cleaned_data["keep"])
                        queued += 1
                    except DomainError as exc:
                        self.message_user(request, f"{upload.name}: {exc.detail}", messages.ERROR)
                if queued:
                    self.message_user(request, gettext("%(count)d file(s) queued for fingerprinting; the list below "
                                                       "shows each one's state.") % {"count": queued},
                                      messages.SUCCESS)
                return HttpResponseRedirect(request.get_full_path())
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Upload files for fingerprints: %(work)s") % {"work": work},
            "opts": self.model._meta, "original": work, "work": work, "form": form, "may_upload": may_upload,
            "jobs": FingerprintJob.objects.filter(work=work).order_by("-created_at")[:RECENT_JOBS],
            "max_bytes": settings.KYODAKU_FINGERPRINT_MAX_FILE_BYTES,
            "max_pixels": settings.KYODAKU_MATCH_MAX_PIXELS,
        }
        return TemplateResponse(request, "admin/registry/work/fingerprints.html", context)


@admin.register(FingerprintJob)
class FingerprintJobAdmin(ScopedAdmin):
    audit_object_type = "fingerprint_job"
    list_display = ("file_name", "work", "state", "error", "disputes_opened", "created_at", "finished_at")
    list_filter = ("state",)
    list_select_related = ("work", "holder")
    ordering = ("-created_at",)
    fields = ("work", "holder", "uploaded_by", "file_name", "file_size", "keep", "state", "error", "codes",
              "disputes_opened", "created_at", "finished_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # uploads start from the work's page

    def has_change_permission(self, request, obj=None):
        return False
