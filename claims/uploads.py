"""Claims uploads refused before their body is read (issue 12 item 11).

Django reads a multipart body as soon as anything touches `request.POST` or `request.FILES` (the CSRF check of a
session-authenticated POST does), streaming the file to a temporary file. A claims upload is checked first: the
announced size (`Content-Length`), the user's right to submit (a writing role at a holder, or an operator) and the
holder named in the query string; then the body is read through `ClaimsUploadLimit`, which stops at the size
limit whatever the client announced (a chunked upload has no `Content-Length`).

`ClaimsUploadGuardMiddleware` does this for the admin's upload page (listed after the authentication middleware,
its `__call__` runs before the CSRF check reads the body); the API view calls `claims_upload_prepare` and
`claims_submission_admit` itself, before its parsers run.
"""
from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from core.errors import DomainError

from .services import FileTooLarge, claims_submission_admit, refuse_oversize

# Room for the multipart framing and the small form fields around the file.
MULTIPART_SLACK = 64 * 1024


class ClaimsUploadLimit(FileUploadHandler):
    """First upload handler of a claims upload: refuses a body or a file over the limit as it streams."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        _refuse_announced(content_length)

    def receive_data_chunk(self, raw_data, start):
        cap = settings.KYODAKU_CLAIMS_MAX_FILE_BYTES
        if start + len(raw_data) > cap:
            raise FileTooLarge(f"The file is over the limit of {cap:,} bytes.")
        return raw_data

    def file_complete(self, file_size):
        return None


def _refuse_announced(content_length) -> None:
    try:
        announced = int(content_length or 0)
    except (TypeError, ValueError):
        return
    if announced > MULTIPART_SLACK:
        refuse_oversize(announced - MULTIPART_SLACK)


def claims_upload_prepare(request) -> None:
    """Before the body is read: refuse an announced body over the limit; bound the reading of the rest."""
    _refuse_announced(request.META.get("CONTENT_LENGTH"))
    request.upload_handlers.insert(0, ClaimsUploadLimit(request))


class ClaimsUploadGuardMiddleware:
    """The admin's claims upload page, checked before the CSRF middleware reads its body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and request.path == _admin_upload_path():
            refused = _admin_refusal(request)
            if refused is not None:
                return refused
        return self.get_response(request)


def _admin_upload_path() -> str | None:
    try:
        return reverse("admin:claims_submission_add")
    except NoReverseMatch:
        return None


def _admin_refusal(request) -> HttpResponse | None:
    user = request.user
    if not user.is_authenticated:
        return HttpResponse(_("Log in to upload a claims file."), status=403, content_type="text/plain")
    try:
        claims_upload_prepare(request)
        claims_submission_admit(user=user, holder_code=request.GET.get("holder"), size=None)
        request.FILES  # noqa: B018 - read now, bounded, so that a file over the limit is answered here
    except DomainError as exc:
        return HttpResponse(exc.detail, status=exc.status, content_type="text/plain; charset=utf-8")
    return None
