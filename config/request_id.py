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

import orjson
from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import receiver

from core.request_context import RequestContextFilter, request_id_accept, request_id_var, task_id_var

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
    args = (meta.get("REMOTE_ADDR", "-"), request.method, target, meta.get("SERVER_PROTOCOL", "-"),
            response.status_code, size, milliseconds, meta.get("HTTP_USER_AGENT", "-"))
    extra = {"method": request.method, "path": request.path, "status": response.status_code, "bytes": size,
             "duration_ms": milliseconds, "remote_addr": meta.get("REMOTE_ADDR"),
             "user_agent": meta.get("HTTP_USER_AGENT")}
    handler = _direct_handler()
    if handler is None or not _access_line_direct(handler, _ACCESS_FORMAT % args, extra):
        access_log.info(_ACCESS_FORMAT, *args, extra=extra)


_ACCESS_FORMAT = '%s "%s %s %s" %s %s %sms "%s"'


def _direct_handler() -> logging.StreamHandler | None:
    """The one handler an access record reaches, when writing the line directly gives what logging would write:
    the record is enabled, no logger on its way has a filter or handler of its own, and the root's only handler is
    a plain StreamHandler with the project's request-context filter and its JSON formatter as LOGGING makes them
    (config.log_format.logging_config, LOG_FORMAT=json). None otherwise (the text format, pytest's capture, a
    handler or filter added by anyone): logging then writes the line (docs/performance.md, "the access line and
    the request signals")."""
    if not access_log.isEnabledFor(logging.INFO) or access_log.filters or access_log.disabled:
        return None
    logger = access_log
    while logger.parent is not None:  # the loggers callHandlers would visit before the root
        if logger.handlers or not logger.propagate:
            return None
        logger = logger.parent
    handlers = logger.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if handler is _verified[0] and handler.formatter is _verified[1] and handler.filters == _verified[2]:
        return handler if logging.INFO >= handler.level else None
    if not _direct_possible(handler):
        return None
    _verified[:] = [handler, handler.formatter, list(handler.filters)]
    return handler if logging.INFO >= handler.level else None


_verified: list = [None, None, None]  # the handler last found fit, its formatter and filters then


def _direct_possible(handler) -> bool:
    from config.log_format import json_formatter

    formatter = handler.formatter
    reference = json_formatter()
    return (
        type(handler) is logging.StreamHandler
        and len(handler.filters) == 1 and type(handler.filters[0]) is RequestContextFilter
        and type(formatter) is type(reference)
        and vars(formatter).keys() == vars(reference).keys()
        and all(getattr(formatter, name) == getattr(reference, name) for name in _FORMATTER_STATE)
        and formatter._style._fmt == reference._style._fmt
        and formatter.converter is time.localtime and formatter.json_default is reference.json_default
    )


# What python-json-logger's formatter output depends on (pythonjsonlogger.core.BaseJsonFormatter.format and
# add_fields, OrjsonFormatter.jsonify_log_record), compared with the formatter config.log_format makes.
_FORMATTER_STATE = ("_fmt", "datefmt", "default_time_format", "default_msec_format", "rename_fields",
                    "static_fields", "defaults", "reserved_attrs", "_required_fields", "_skip_fields", "timestamp",
                    "prefix", "json_indent", "exc_info_as_array", "stack_info_as_array", "rename_fields_keep_missing")


def _access_line_direct(handler: logging.StreamHandler, message: str, extra: dict) -> bool:
    """The access record written to `handler`'s stream as its formatter would write it, without a LogRecord, the
    loggers' walk or the formatter's generic field merge. False when it could not be written (logging then tries)."""
    now = time.time()
    second = int(now)
    clock = _clock[0]  # one read: another thread may replace it meanwhile
    if clock[0] != second:
        clock = _clock[0] = (second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)))
    fields = {"time": f"{clock[1]},{int((now - second) * 1000):03d}", "level": "INFO", "logger": access_log.name,
              "message": message, "request_id": request_id_var.get(), "task_id": task_id_var.get(), **extra}
    try:
        line = orjson.dumps(fields, default=handler.formatter.json_default, option=orjson.OPT_NON_STR_KEYS).decode()
        with handler.lock:
            handler.stream.write(line + handler.terminator)
            handler.flush()
    except Exception:  # noqa: BLE001 (a closed or failing stream: logging's own handling of it)
        return False
    return True


_clock: list = [(None, "")]  # (a second, its strftime), the last one written


@receiver(request_finished, dispatch_uid="kyodaku-request-id-clear")
def _request_id_clear(**kwargs):
    request_id_var.set(None)
