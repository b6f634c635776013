"""GET /metrics: Prometheus exposition, for a bearer token (KYODAKU_METRICS_TOKEN) or an operator's session.

Unset token: 404, as if the URL did not exist (docs/scaling.md, "Metrics"). What is exposed: django-prometheus's
request metrics (when its middleware is on, which it is exactly when the token is set), the registry's lookup
counters (core.metrics), and, read at scrape time, the claims imports, the Celery queue depth and the age of the
newest snapshot per (purpose, jurisdiction).
"""
import hmac
import os

from django.conf import settings
from django.http import Http404, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from claims.selectors import submissions_import_totals
from registry.selectors import is_operator
from sync.selectors import snapshots_newest_ready

BROKER_TIMEOUT = 0.5  # seconds: a hung broker costs the scrape this much, then reports itself down


def _authorised(request, token: str) -> bool:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    return is_operator(getattr(request, "user", None))


class RegistryCollector:
    """Gauges and counters read from the database and the broker when Prometheus scrapes."""

    def collect(self):
        from django.utils import timezone

        now = timezone.now()
        totals = submissions_import_totals()
        rows = CounterMetricFamily("kyodaku_claims_import_rows", "Rows processed by finished claims imports "
                                   "(dry runs left out), from the submissions table.")
        rows.add_metric([], totals["rows"])
        yield rows
        seconds = CounterMetricFamily("kyodaku_claims_import_seconds", "Processing time of those imports "
                                      "(started to finished); rate(rows) / rate(seconds) is the import rate.")
        seconds.add_metric([], totals["seconds"])
        yield seconds
        last = GaugeMetricFamily("kyodaku_claims_last_import_rows_per_second",
                                 "Rows per second of the most recently finished import (0: none yet).")
        last.add_metric([], totals["last_rows_per_second"])
        yield last
        pending = GaugeMetricFamily("kyodaku_claims_submissions", "Claims submissions waiting or being processed.",
                                    labels=["status"])
        for status, count in totals["pending"].items():
            pending.add_metric([status], count)
        yield pending

        age = GaugeMetricFamily("kyodaku_snapshot_age_seconds", "Seconds since the newest ready snapshot of each "
                                "(purpose, jurisdiction) was finished.", labels=["purpose", "jurisdiction"])
        for purpose, jurisdiction, finished_at in snapshots_newest_ready():
            age.add_metric([purpose, jurisdiction], (now - finished_at).total_seconds())
        yield age

        depth, up = _queue_depth()
        queue = GaugeMetricFamily("kyodaku_celery_queue_depth", "Tasks waiting in the broker's queue, by queue.",
                                  labels=["queue"])
        for name, count in depth.items():
            queue.add_metric([name], count)
        yield queue
        broker = GaugeMetricFamily("kyodaku_celery_broker_up", "1 when the broker answered the scrape's question.")
        broker.add_metric([], up)
        yield broker


def _queue_depth() -> tuple[dict[str, int], int]:
    """LLEN of Celery's queue in a Redis broker, its priority sub-queues included (kombu names them
    `celery\\x06\\x16N`). No broker (tasks run eagerly): nothing waits, reported as up."""
    url = settings.CELERY_BROKER_URL
    if not url or settings.CELERY_TASK_ALWAYS_EAGER:
        return {}, 1
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return {}, 0  # another transport: not read (docs/scaling.md)
    import redis

    queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    client = redis.Redis.from_url(url, socket_connect_timeout=BROKER_TIMEOUT, socket_timeout=BROKER_TIMEOUT)
    try:
        with client.pipeline(transaction=False) as pipe:
            for suffix in ("", "\x06\x163", "\x06\x166", "\x06\x169"):
                pipe.llen(queue + suffix)
            return {queue: sum(pipe.execute())}, 1
    except redis.RedisError:
        return {}, 0
    finally:
        client.close()


def metrics(request):
    token = settings.KYODAKU_METRICS_TOKEN
    if not token:
        raise Http404
    if not _authorised(request, token):
        return HttpResponse("Authentication required.\n", status=401, content_type="text/plain; charset=utf-8",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Default())
    registry.register(RegistryCollector())
    response = HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


class _Default:
    """The process's own registry (lookup counters, django-prometheus, process metrics) in single-process mode."""

    def collect(self):
        return REGISTRY.collect()
