"""X-Request-ID: kept from the request when sane (a proxy's or a client's), else made here; echoed on every response
and put in every log record written while the request is served (core.request_context). The first middleware, so
that even a redirect or a refused request carries it.

The id stays set until the response is finished (Django's `request_finished`), not only while the middleware runs:
Django logs a 4xx or 5xx answer (`django.request`) after the whole middleware chain has returned.

The access log is written here too, one record per response on the `kyodaku.access` logger (docs/scaling.md,
"Logs"): the server (granian, config/serve.py) calls the application and logs no access line of its own, and a line
written here carries the request id (generated or accepted) like every other record of the request, whatever server
runs the application. KYODAKU_ACCESS_LOG=false turns it off.
"""
import logging
import time

from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import receiver

from core.request_context import request_id_accept, request_id_var

HEADER = "X-Request-ID"
access_log = logging.getLogger("kyodaku.access")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = request_id_begin(request)
        response = self.get_response(request)
        request_id_end(request, response, started)
        return response


def request_id_begin(request) -> float:
    """The request's id (accepted or made) on `request` and in the log context; the clock for its access line.
    For this middleware and the WSGI lane (config.wsgi_lane)."""
    request_id = request_id_accept(request.META.get("HTTP_X_REQUEST_ID"))
    request.request_id = request_id
    request_id_var.set(request_id)
    return time.perf_counter()


def request_id_end(request, response, started: float) -> None:
    """The id echoed on `response` and the access line written (`started`: what request_id_begin returned)."""
    response[HEADER] = request.request_id
    if settings.KYODAKU_ACCESS_LOG:
        _access_line(request, response, time.perf_counter() - started)


def _access_line(request, response, seconds: float) -> None:
    """One line per response, the fields gunicorn's access log had: client address, request line, status, body
    bytes (`-` for a streamed body), milliseconds and user agent; as JSON fields too under LOG_FORMAT=json."""
    meta = request.META
    query = meta.get("QUERY_STRING")
    target = f"{request.path}?{query}" if query else request.path
    size = "-" if response.streaming else len(response.content)
    milliseconds = round(seconds * 1000, 1)
    access_log.info(
        '%s "%s %s %s" %s %s %sms "%s"', meta.get("REMOTE_ADDR", "-"), request.method, target,
        meta.get("SERVER_PROTOCOL", "-"), response.status_code, size, milliseconds, meta.get("HTTP_USER_AGENT", "-"),
        extra={"method": request.method, "path": request.path, "status": response.status_code, "bytes": size,
               "duration_ms": milliseconds, "remote_addr": meta.get("REMOTE_ADDR"),
               "user_agent": meta.get("HTTP_USER_AGENT")})


@receiver(request_finished, dispatch_uid="kyodaku-request-id-clear")
def _request_id_clear(**kwargs):
    request_id_var.set(None)
