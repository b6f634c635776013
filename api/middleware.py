"""Errors that never reach a DRF view (an unknown /api/ URL, a crash) are problem+json under /api/ too; a database
that cannot be reached is a 503 with Retry-After, not a 500."""
from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.db import InterfaceError, OperationalError
from django.dispatch import receiver
from django.http import HttpResponsePermanentRedirect
from django.urls import Resolver404, get_urlconf, resolve

from .errors import PROBLEM_CONTENT_TYPE, problem_http_response

_CODES = {400: "malformed-request", 404: "not-found", 405: "method-not-allowed", 413: "request-too-large",
          500: "internal-error"}
_DETAILS = {
    400: "The request could not be understood.",
    404: "There is nothing at this URL. The API lives under /api/v1/; see /api/v1/docs/.",
    405: "This URL does not accept that method.",
    413: "The request body is larger than this server accepts.",
    500: "The server failed to answer this request. Treat the answer as unknown (denied) and retry later.",
}


def _routed(path: str) -> bool:
    """Whether `path` is one of the API's own URLs (the admin's catch-all at the root matches everything)."""
    return _routed_in(get_urlconf(settings.ROOT_URLCONF), path)


@lru_cache(maxsize=4096)  # a URLconf's patterns are fixed for the process's life: resolve each path once
def _routed_in(urlconf: str, path: str) -> bool:
    try:
        return resolve(path, urlconf).app_name != "admin"
    except Resolver404:
        return False


@receiver(setting_changed, dispatch_uid="kyodaku-routed-forget")
def _routed_forget(*, setting, **kwargs):
    if setting == "ROOT_URLCONF":
        _routed_in.cache_clear()


def _has_nul(request) -> bool:
    return "%00" in request.META.get("QUERY_STRING", "") and any(
        "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists())


def problem_json_of(request, response):
    """`response`, or its problem+json stand-in when it is an error under /api/ that is not problem+json yet (a
    404 or 405 of Django's, a crash's 500). For ProblemJsonMiddleware and the WSGI lane (config.wsgi_lane)."""
    if (
        response.status_code >= 400
        and request.path.startswith("/api/")
        and not response.get("Content-Type", "").startswith(PROBLEM_CONTENT_TYPE)
    ):
        status = response.status_code
        code = _CODES.get(status, "error" if status < 500 else "internal-error")
        detail = _DETAILS.get(status, "The request failed." if status < 500 else _DETAILS[500])
        headers = {h: response[h] for h in ("Allow", "Retry-After", "WWW-Authenticate") if response.has_header(h)}
        return problem_http_response(status, detail, code=code, headers=headers)
    return response


DATABASE_DOWN_RETRY_AFTER = 5  # seconds; a restart of PostgreSQL takes a few


class ProblemJsonMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/") and _has_nul(request):
            # PostgreSQL text cannot hold NUL: refused here, once, instead of failing in whichever query reads it.
            return problem_http_response(400, "The query string contains a NUL character (%00).",
                                         code="malformed-request")
        if request.path.startswith("/api/") and not _routed(request.path_info):
            # Not an API URL: answer here, before the admin's catch-all turns it into a login redirect.
            if not request.path_info.endswith("/") and _routed(request.path_info + "/"):
                if request.method in ("GET", "HEAD"):
                    return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
                return problem_http_response(404, f"Did you mean {request.path}/ ?", code="not-found")
            return problem_http_response(404, _DETAILS[404], code="not-found")
        return problem_json_of(request, self.get_response(request))

    def process_exception(self, request, exception):
        """The database unreachable (stopped, restarting, connection lost: psycopg's OperationalError, or a closed
        connection's InterfaceError) is the service being unavailable, not a bug: 503, answered at once."""
        if request.path.startswith("/api/") and isinstance(exception, OperationalError | InterfaceError):
            return problem_http_response(
                503, "The registry's database cannot be reached right now. Treat the answer as unknown (denied) "
                     "and retry later.", code="service-unavailable",
                headers={"Retry-After": str(DATABASE_DOWN_RETRY_AFTER)})
        return None
