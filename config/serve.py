"""The web process: granian serving config.wsgi (the Dockerfile's CMD: `python -m config.serve`; docs/scaling.md,
"Web workers").

granian parses HTTP and keeps connections alive in Rust and calls the WSGI application on a few Python threads per
worker process; gunicorn's gthread worker did that work in Python. Measured on the same lookups (bench/lookup_rate.py,
docs/performance.md "Issue 15 item 4: the server"), granian answered 27 % more GETs at 500/s offered on 2 cores and
its empty /healthz cost a quarter to a third less CPU; a GET's own CPU was 28 % lower in one run and within noise
in another. Each setting can be overridden by the environment:

- WEB_BIND (host:port, default 0.0.0.0:8000), WEB_CONCURRENCY (worker processes, default one per CPU the process may
  use), WEB_THREADS (threads per worker calling Django, default 4: each holds its own database connection);
- WEB_RUNTIME_MODE (granian's Rust runtime per worker: `mt`, the default and what granian picks for WSGI, or `st`),
  WEB_RUNTIME_THREADS (its Rust threads, default 1), WEB_BACKPRESSURE (requests a worker takes in at once; unset:
  granian's, its backlog 1024 / workers). None of them made the server's CPU per GET measurably lower
  (docs/performance.md, "Issue 15 item 4: the server's own cost per GET"); they are there to be measured again;
- WEB_KEEPALIVE (seconds an idle keep-alive connection may wait for its next request, at most 60, default 60: as
  long as nginx's upstream keepalive_timeout, so the proxy is not the side surprised by a close);
- WEB_MAX_RSS_MB (a worker over this much memory is replaced; unset: never). Off by default: granian documents that
  a respawn can drop connections queued for the old worker unless the kernel's `net.ipv4.tcp_migrate_req` is on.
  A worker that dies is always replaced.
"""
import logging
import os
import shutil
import tempfile

from django.http import HttpResponse

logger = logging.getLogger(__name__)

# granian copies the whole process environment (SECRET_KEY, DATABASE_URL with its password...) into every WSGI
# environ, as CGI did; Django would then carry it in request.META (error reports, debug views). The application the
# server calls (`wsgi_application()` below) hands Django the request's own keys only.
_CGI_KEYS = frozenset({"CONTENT_LENGTH", "CONTENT_TYPE", "PATH_INFO", "QUERY_STRING", "REMOTE_ADDR", "REMOTE_HOST",
                       "REQUEST_METHOD", "SCRIPT_NAME", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
                       "SERVER_SOFTWARE", "GATEWAY_INTERFACE"})


def request_environ_only(app, process_env=None):
    """`app` called with the request's WSGI environ minus the process environment that granian merged into it
    (request headers, HTTP_*, always pass: they are the client's)."""
    inherited = tuple(sorted(key for key in (os.environ if process_env is None else process_env)
                             if key not in _CGI_KEYS and not key.startswith("HTTP_")))
    pop = dict.pop

    def application(environ, start_response):
        # granian builds a new dict per request (its process environment | the request's scope): the keys are
        # removed from it in place, a third of the CPU of copying the rest into another dict (docs/performance.md,
        # "Issue 15 item 4: the server's own cost per GET").
        for key in inherited:
            pop(environ, key, None)
        return whole_body(app(environ, start_response))

    return application


def whole_body(response):
    """A response whose body is already in memory (Django's HttpResponse, not a streaming or file response) handed
    to granian as a list of one bytes object, its `close()` called here first.

    granian sends a list in one piece (`response_bytes`: the head and the body in one write); any other iterable it
    streams (`response_iter`): the head goes out at once, then each chunk through a channel to its Rust thread, so a
    10-byte answer costs a second hand-over between the Python thread and the runtime and a second write to the
    socket (docs/performance.md, "Issue 15 item 4: where the server's CPU goes over HTTP"). granian does not call
    `close()` on a list, so it is called here: `request_finished` (close_old_connections, the request id cleared)
    then runs before the bytes are handed over instead of after, in the same thread. An exception from it is logged
    as granian logs one from `close()`, and the answer still goes out."""
    if not isinstance(response, HttpResponse):  # StreamingHttpResponse, FileResponse, anything not Django's
        return response
    body = response.content
    try:
        response.close()
    except Exception:  # noqa: BLE001 (a request_finished receiver failed: logged, the answer is already made)
        logger.exception("closing the response failed")
    return [body]


def wsgi_application():
    """What granian calls in each worker process (a factory, so Django is set up there, never in the launcher)."""
    from config.wsgi import application
    from core.gc_policy import frozen_after_start

    frozen_after_start()
    return request_environ_only(application)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _metrics_dir() -> None:
    """Prometheus (api/metrics.py): with metrics on, every worker writes its counts under PROMETHEUS_MULTIPROC_DIR
    and a scrape of any worker adds them all up. The directory is emptied before the workers start."""
    if not os.environ.get("KYODAKU_METRICS_TOKEN"):
        return
    path = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), "kyodaku-prometheus"))
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


def runtime_options(env) -> dict:
    """granian's worker, thread and queue settings from the environment (`env`: os.environ), as the docstring
    above lists them."""
    from granian.constants import RuntimeModes

    workers = int(env.get("WEB_CONCURRENCY") or _cpus())
    options = {
        "workers": workers,
        "blocking_threads": int(env.get("WEB_THREADS") or 4),
        "runtime_mode": RuntimeModes(env.get("WEB_RUNTIME_MODE") or "mt"),
        "runtime_threads": int(env.get("WEB_RUNTIME_THREADS") or 1),
    }
    if env.get("WEB_BACKPRESSURE"):
        options["backpressure"] = int(env["WEB_BACKPRESSURE"])
    return options


def main() -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    _metrics_dir()
    host, _, port = os.environ.get("WEB_BIND", "0.0.0.0:8000").rpartition(":")
    keepalive = max(1, min(60, int(os.environ.get("WEB_KEEPALIVE", "60"))))
    max_rss = os.environ.get("WEB_MAX_RSS_MB")
    log_config = None
    settings = os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.production")
    if os.environ.get("LOG_FORMAT", "json" if settings.endswith(".production") else "text") == "json":
        # granian's own records (start, workers, errors) as JSON lines like Django's; the access log is Django's
        # (config/request_id.py), with the request id.
        json_lines = {"()": "pythonjsonlogger.json.JsonFormatter",
                      "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
                      "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"}}
        log_config = {"formatters": {"generic": json_lines, "access": json_lines}}
    Granian(
        "config.serve:wsgi_application",
        factory=True,
        address=host.strip("[]") or "0.0.0.0",
        port=int(port),
        interface=Interfaces.WSGI,
        **runtime_options(os.environ),
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(header_read_timeout=keepalive * 1000),
        log_level=LogLevels.info,
        log_dictconfig=log_config,
        log_access=False,
        respawn_failed_workers=True,
        workers_max_rss=int(max_rss) if max_rss else None,
    ).serve()


if __name__ == "__main__":
    main()
