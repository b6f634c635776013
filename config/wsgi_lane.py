"""The WSGI lane: a crawler's plain `GET /api/v1/lookup` answered before Django's handler (docs/architecture.md,
"Middleware: two lanes"; docs/performance.md, "Issue 15 item 4: a lane before Django's handler").

The lean lane (api.views.lookup.lookup_one_lean) already answers that GET without DRF's machinery, but it is still
reached through Django's handler and the whole middleware chain, which cost as much as the lookup itself. This
application, in front of Django's (config/wsgi.py), answers the same request through the same functions
(`lean_query`, `lean_key`, `lean_answer`: the key, the rate limit, `lookup_one_answer`, `problem_rendered`) and
does itself, by calling each middleware's own code, what the chain does for it:

- Django's handler: the script prefix, `request_started` (close_old_connections: CONN_MAX_AGE and the health
  check), the response's `close()` sending `request_finished`, a 4xx/5xx logged on `django.request`, an
  unexpected exception answered by Django's `response_for_exception`;
- the request id and the access line (config.request_id's `request_id_begin` / `request_id_end`);
- the language (the translation activated, Content-Language, Vary): what LocaleMiddleware's own `process_request`
  and `process_response` decided for the first request with the same Accept-Language (the only input they have
  for this request: no cookie, a fixed path), kept per header value;
- Content-Length (CommonMiddleware's `process_response`), problem+json for an error and the 503 of a database that
  cannot be reached (api.middleware: `problem_json_of`, `process_exception`);
- metrics (django-prometheus's middleware, when settings.MIDDLEWARE has it: its own methods, the view named as
  Django would resolve it);
- the constant headers (SecurityMiddleware's, CSP's, XFrameOptionsMiddleware's): these depend on the request only
  through `request.is_secure()` (HSTS), so they are captured once per process and per that answer, by calling
  the three middlewares' own `process_response` on an empty response with the first such request, and set on each
  answer where the answer has no header of that name (as their `setdefault` does). No header value is written here.

Each step is taken where the middleware list puts it: what sits inside ProblemJsonMiddleware shapes the answer
before a crash's 500 is replaced by its problem+json stand-in, what sits outside shapes the stand-in too.

Every class in settings.MIDDLEWARE must be one this module knows (`_ROLES`: what it does for this request); if the
list holds any other, the lane is off (a warning is logged once) and Django answers everything. The lane never
answers before it is sure to: anything that is not the plain GET (another path or method, a cookie, an `Accept` to
negotiate, a query that is not plain, an HTTPS redirect or another answer of the middleware's own requests, a key
that does not authenticate) is handed to Django untouched, before anything is counted. KYODAKU_WSGI_LANE=false
turns the lane off. tests/api/test_lookup_wsgi_lane.py compares the two, lane on and off, byte for byte.
"""
import logging
from functools import cache

from django.conf import settings
from django.core import signals
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest, get_script_name
from django.core.signals import setting_changed
from django.db import close_old_connections, connections, reset_queries
from django.dispatch import receiver
from django.dispatch.dispatcher import NONE_ID, _make_id
from django.http import HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.urls import resolve, set_script_prefix
from django.utils import translation
from django.utils.cache import cc_delim_re, patch_vary_headers
from django.utils.log import log_response
from django.utils.module_loading import import_string

from api.middleware import problem_json_of
from api.views.lookup import lean_answer, lean_key, lean_query

from .lanes import LEAN_PATHS
from .request_id import request_id_begin, request_id_end

PATH = "/api/v1/lookup"
assert PATH in LEAN_PATHS  # the middleware's lean lane (config.lanes) skips the web-only classes for it
logger = logging.getLogger(__name__)

# What each middleware does for the lane's request (a cookie-less plain GET of PATH). `before`: its process_request
# may answer alone (a redirect, a refusal); the lane then hands the request to Django. `each`: its methods are
# called for every answer. `headers`: its process_response adds constant headers, captured once. `own`: the lane
# calls the functions it is built from. `nothing`: it does nothing for this request (the reason beside it).
_ROLES = {
    "config.request_id.RequestIdMiddleware": {"own"},  # request_id_begin / request_id_end
    "django_prometheus.middleware.PrometheusBeforeMiddleware": {"each"},
    "django.middleware.security.SecurityMiddleware": {"before", "headers"},  # SECURE_SSL_REDIRECT; HSTS, nosniff...
    "config.csp_once.CSPMiddleware": {"headers"},  # a nonce is never asked for by the lookup
    "api.middleware.ProblemJsonMiddleware": {"own"},  # problem_json_of, process_exception (NUL: not a plain query)
    "whitenoise.middleware.WhiteNoiseMiddleware": {"nothing"},  # serves files under STATIC_URL only
    "config.lanes.SessionMiddleware": {"nothing"},  # the config.lanes classes pass a lean request through
    "django.middleware.locale.LocaleMiddleware": {"each"},
    "config.lanes.UserTimeZoneMiddleware": {"nothing"},
    "django.middleware.common.CommonMiddleware": {"before", "each"},  # DISALLOWED_USER_AGENTS...; Content-Length
    "django.middleware.csrf.CsrfViewMiddleware": {"nothing"},  # a csrf_exempt view and no cookie to read or set
    "config.lanes.AuthenticationMiddleware": {"nothing"},
    "config.lanes.ClaimsUploadGuardMiddleware": {"nothing"},
    "config.lanes.MessageMiddleware": {"nothing"},
    "django.middleware.clickjacking.XFrameOptionsMiddleware": {"headers"},
    "axes.middleware.AxesMiddleware": {"nothing"},  # acts on a locked-out login attempt only
    "django_prometheus.middleware.PrometheusAfterMiddleware": {"each"},
}


def _not_called(request):  # the middleware instances here are never called as a chain
    raise AssertionError("the WSGI lane calls a middleware's methods, never its get_response")


class _Chain:
    """The middleware of settings.MIDDLEWARE, instantiated once, grouped by what the lane calls."""

    def __init__(self):
        self.usable = True
        self.before, self.each, self.headers, self.exception = [], [], [], []
        unknown = [path for path in settings.MIDDLEWARE if path not in _ROLES]
        if unknown:
            logger.warning("WSGI lane off: settings.MIDDLEWARE has %s, whose effect on a lookup it does not know",
                           ", ".join(unknown))
            self.usable = False
            return
        # What sits inside ProblemJsonMiddleware in the list shapes a response before it may be replaced by its
        # problem+json stand-in (a crash's 500), what sits outside shapes the stand-in too.
        problem_json = settings.MIDDLEWARE.index(_PROBLEM_JSON) if _PROBLEM_JSON in settings.MIDDLEWARE else None
        self.problem_json = problem_json is not None
        inner = set()
        for position, path in enumerate(settings.MIDDLEWARE):
            roles = _ROLES[path]
            if roles == {"nothing"}:
                continue
            try:
                middleware = import_string(path)(_not_called)
            except MiddlewareNotUsed:
                continue
            if problem_json is not None and position > problem_json:
                inner.add(middleware)
            if "before" in roles:
                self.before.append(middleware)
            if "each" in roles:
                self.each.append(middleware)
            if "headers" in roles:
                self.headers.append(middleware)
            if hasattr(middleware, "process_exception") and "nothing" not in roles:
                self.exception.insert(0, middleware)  # as Django: the innermost first
        self.secure_headers: dict[bool, tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]] = {}
        # LocaleMiddleware's answer depends on the request only through Accept-Language (no cookie, a fixed path):
        # its own process_request and process_response, once per header value (at most _LANGUAGES_KEPT of them).
        self.locale = next((m for m in self.each if isinstance(m, LocaleMiddleware)), None)
        self.locale_inner = self.locale in inner
        # process_request of `each` for every answer, but for those asked already: `before`, and LocaleMiddleware
        # (`language` below did what its process_request does, from what it decided for the same Accept-Language)
        self.requesting = [m for m in self.each if hasattr(m, "process_request") and m not in self.before
                           and m is not self.locale]
        responding = [m for m in reversed(self.each) if hasattr(m, "process_response") and m is not self.locale]
        self.respond_inner = [m for m in responding if m in inner]
        self.respond_outer = [m for m in responding if m not in inner]
        self.headers_inner = [m for m in self.headers if m in inner]
        self.headers_outer = [m for m in self.headers if m not in inner]
        self.languages: dict[str | None, tuple[str, tuple[str, ...], str | None]] = {}

    def constant_headers(self, request):
        """The headers SecurityMiddleware, CSP and X-Frame-Options add to an answer of `request`: what their own
        process_response adds to an empty response, once per process and per `request.is_secure()`; (those inside
        ProblemJsonMiddleware, those outside)."""
        secure = request.is_secure()
        headers = self.secure_headers.get(secure)
        if headers is None:
            headers = self.secure_headers[secure] = (_added(request, self.headers_inner),
                                                     _added(request, self.headers_outer))
        return headers


    def language(self, request) -> None:
        """What LocaleMiddleware.process_request does for `request` (the language activated, request.LANGUAGE_CODE),
        from what its own code decided for the first request with the same Accept-Language."""
        accept = request.META.get("HTTP_ACCEPT_LANGUAGE")
        known = self.languages.get(accept)
        if known is None:
            self.locale.process_request(request)
            probe = self.locale.process_response(request, HttpResponse())
            known = (request.LANGUAGE_CODE, tuple(cc_delim_re.split(probe.get("Vary", ""))) if probe.has_header("Vary")
                     else (), probe.get("Content-Language"))
            if len(self.languages) < _LANGUAGES_KEPT:
                self.languages[accept] = known
            request._lane_language = known
            return
        translation.activate(known[0])
        request.LANGUAGE_CODE = known[0]
        request._lane_language = known

    @staticmethod
    def language_headers(request, response) -> None:
        """What LocaleMiddleware.process_response adds to an answer of `request` (Vary, Content-Language)."""
        _, vary, content_language = request._lane_language
        if vary:
            patch_vary_headers(response, vary)
        if content_language is not None:
            response.headers.setdefault("Content-Language", content_language)


_LANGUAGES_KEPT = 256
_PROBLEM_JSON = "api.middleware.ProblemJsonMiddleware"


def _added(request, middlewares) -> tuple[tuple[str, str], ...]:
    """The headers `middlewares`' own process_response (innermost first) add to an empty response to `request`."""
    probe = HttpResponse()
    present = set(probe.headers)
    for middleware in reversed(middlewares):
        probe = middleware.process_response(request, probe)
    return tuple((k, v) for k, v in probe.items() if k not in present)


def _set_absent(response, headers) -> None:
    for name, value in headers:
        if name not in response:
            response[name] = value


@cache
def _chain() -> _Chain:
    return _Chain()


@cache
def _resolved(urlconf: str, path: str):
    return resolve(path, urlconf)


@receiver(setting_changed, dispatch_uid="kyodaku-wsgi-lane-forget")
def _forget(**kwargs):
    _chain.cache_clear()
    _resolved.cache_clear()


class WsgiLane:
    """The WSGI application: the lane for the plain lookup GET, `django` (Django's WSGIHandler) for the rest."""

    def __init__(self, django):
        self.django = django

    def __call__(self, environ, start_response):
        if (
            environ.get("PATH_INFO") != PATH
            or environ.get("REQUEST_METHOD") != "GET"
            or environ.get("HTTP_COOKIE")
            or not settings.KYODAKU_WSGI_LANE
        ):
            return self.django(environ, start_response)
        response = self._answer(environ)
        if response is None:
            return self.django(environ, start_response)
        response._handler_class = type(self.django)  # the sender of request_finished, as Django's handler
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return response  # closed by the server (under granian by config.serve.whole_body): request_finished

    def _answer(self, environ) -> HttpResponse | None:
        chain = _chain()
        if not chain.usable:
            return None
        request = WSGIRequest(environ)
        query = lean_query(request)
        if query is None:
            return None
        try:
            if any(middleware.process_request(request) is not None for middleware in chain.before):
                return None
        except Exception:  # noqa: BLE001 (a refusal of theirs, e.g. a disallowed user agent: Django answers it)
            return None
        set_script_prefix(get_script_name(environ))
        _request_started(type(self.django), environ)
        started = request_id_begin(request)
        try:
            api_key = lean_key(request)
        except Exception:  # noqa: BLE001 (e.g. the database unreachable while the key is read: nothing counted yet)
            return None  # Django answers it as it would (its 503)
        if api_key is None:  # Django answers (request_started again: close_old_connections twice, harmless)
            return None
        request.resolver_match = _resolved(settings.ROOT_URLCONF, request.path_info)
        if chain.locale is not None:
            chain.language(request)
        try:
            response = self._view(chain, request, query, api_key)
        except Exception as exc:  # noqa: BLE001 (as Django's handler: process_exception, then its 500)
            response = next((r for m in chain.exception if (r := m.process_exception(request, exc)) is not None),
                            None) or response_for_exception(request, exc)
        inner_headers, outer_headers = chain.constant_headers(request)
        _set_absent(response, inner_headers)
        for middleware in chain.respond_inner:
            response = middleware.process_response(request, response)
        if chain.locale is not None and chain.locale_inner:
            chain.language_headers(request, response)
        if chain.problem_json:
            response = problem_json_of(request, response)
        if chain.locale is not None and not chain.locale_inner:
            chain.language_headers(request, response)
        for middleware in chain.respond_outer:
            response = middleware.process_response(request, response)
        _set_absent(response, outer_headers)
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        request_id_end(request, response, started)
        return response

    @staticmethod
    def _view(chain: _Chain, request, query: dict, api_key) -> HttpResponse:
        match = request.resolver_match
        for middleware in chain.requesting:
            middleware.process_request(request)
        for middleware in chain.each:
            if hasattr(middleware, "process_view"):
                middleware.process_view(request, match.func, match.args, match.kwargs)
        return lean_answer(request, query, api_key)


# Django's own receivers of request_started (django.db), in the order it connects them, as Signal.receivers keys them
_STARTED_KEYS = ((_make_id(reset_queries), NONE_ID), (_make_id(close_old_connections), NONE_ID))


def _request_started(sender, environ) -> None:
    """Django's `request_started` for the lane's request. When its receivers are Django's own two (reset_queries,
    close_old_connections: a deployment's), what they do is done here in one pass over the connections this thread
    opened (each one's query log emptied, then closed when past CONN_MAX_AGE, broken or failing its health check),
    without the signal's dispatch and a second walk of the connections (12 -> 6 us: docs/performance.md, "the
    access line and the request signals"); with any other receiver list (the test client's, one added by anyone)
    the signal is sent."""
    receivers = signals.request_started.receivers
    if len(receivers) == 2 and receivers[0][0] == _STARTED_KEYS[0] and receivers[1][0] == _STARTED_KEYS[1]:
        for connection in connections.all(initialized_only=True):
            connection.queries_log.clear()
            connection.close_if_unusable_or_obsolete()
    else:
        signals.request_started.send(sender=sender, environ=environ)


def wsgi_lane(django):
    """Django's WSGI application `django` with the lane in front (config/wsgi.py)."""
    return WsgiLane(django)
