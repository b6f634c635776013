"""Two lanes through the middleware (docs/architecture.md, "Middleware").

A lookup asked by an AI developer's program (`GET`/`POST /api/v1/lookup`, Spawning's `/api/v2/query/urls/`) carries
an API key and no cookie. For such a request the middleware below has nothing to do: with no cookie there is no
session, no logged-in user, no flash message and no browser time zone, and the lookup views
authenticate by API key only (they never read `request.user` or the session). Each class here is Django's (or
ours) unchanged for every other request and passes a lean one straight through, so the lookup pays only for the
middleware that shapes its answer: the request id, security headers, CSP, problem+json errors, the language
negotiated from Accept-Language (problem details are translated), Content-Length and X-Frame-Options.

Subclasses, not replacements: Django's admin checks find Session-, Authentication- and MessageMiddleware by class.
CsrfViewMiddleware is not here: `check --deploy` looks for Django's by name (security.W003), and a lean request
costs it nothing (no cookie to read; the lookup views are CSRF-exempt DRF views).
"""
from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Message
from django.contrib.sessions.middleware import SessionMiddleware as _Session

from claims.uploads import ClaimsUploadGuardMiddleware as _ClaimsUploadGuard

from .timezones import UserTimeZoneMiddleware as _UserTimeZone

LEAN_PATHS = frozenset({"/api/v1/lookup", "/api/v2/query/urls/"})


def lean(request) -> bool:
    """Whether `request` takes the lean lane: a lookup path and no cookie at all."""
    return request.path_info in LEAN_PATHS and not request.META.get("HTTP_COOKIE")


def _web_only(cls: type) -> type:
    def __call__(self, request):
        if lean(request):
            return self.get_response(request)
        return super(lane_class, self).__call__(request)

    lane_class = type(cls.__name__, (cls,), {
        "__call__": __call__, "__module__": __name__,
        "__doc__": f"{cls.__module__}.{cls.__name__}, skipped by the lean lane (config.lanes)."})
    return lane_class


SessionMiddleware = _web_only(_Session)
UserTimeZoneMiddleware = _web_only(_UserTimeZone)
AuthenticationMiddleware = _web_only(_Authentication)
ClaimsUploadGuardMiddleware = _web_only(_ClaimsUploadGuard)
MessageMiddleware = _web_only(_Message)
