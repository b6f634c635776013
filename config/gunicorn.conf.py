"""gunicorn settings, kept for the benchmarks that compare servers (bench/lookup_rate.py `--servers
gunicorn-gthread`, bench/observability_http.py): `gunicorn --config config/gunicorn.conf.py config.wsgi`. The image
serves with granian instead (config/serve.py; docs/scaling.md, "Web workers"; docs/performance.md, "Issue 15 item 4:
the server").

Keep-alive needs a threaded worker: gunicorn's default `sync` worker closes the connection after every response,
so a client (or the proxy in front) pays a new TCP connection per lookup. `gthread` keeps connections open for
`keepalive` seconds and serves each worker's requests on `threads` threads; one worker per CPU the process may use.
Every setting can be overridden by the environment (GUNICORN_*, WEB_CONCURRENCY) or on the command line.
"""
import os
import shutil
import tempfile


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", _cpus()))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Longer than a client's pause between lookups, shorter than the proxy's own idle timeout towards us (nginx's
# upstream keepalive_timeout is 60 s): the proxy, not gunicorn, should be the side that closes an idle connection.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# A worker is replaced after this many requests (spread so that not all restart at once): bounds slow leaks.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10
# No access log of gunicorn's own: Django writes one line per response with its request id (config/request_id.py).
accesslog = None

_settings = os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.production")
if os.environ.get("LOG_FORMAT", "json" if _settings.endswith(".production") else "text") == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "pythonjsonlogger.json.JsonFormatter",
                                "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
                                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"}}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json",
                                 "stream": "ext://sys.stdout"}},
        "loggers": {"gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
                    "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    }

# Prometheus (api/metrics.py): with metrics on, every worker writes its counts under PROMETHEUS_MULTIPROC_DIR and
# a scrape of any worker adds them all up. The directory is emptied when gunicorn starts and a dead worker's
# gauges are dropped.
if os.environ.get("KYODAKU_METRICS_TOKEN"):
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), "kyodaku-prometheus"))

    def on_starting(server):
        path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)

    def child_exit(server, worker):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
