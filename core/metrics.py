"""The registry's own Prometheus metrics that are counted where the work happens (docs/scaling.md, "Metrics").

Only the lookup path counts here: one `Counter.inc` per outcome present in an answer and one histogram sample per
batch, a few microseconds per request. Metrics read from the database or the broker (imports, queue depth,
snapshot age) are collected at scrape time by api/metrics.py. Under gunicorn the values live in
PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py sets it), so every worker's counts add up in one scrape.
"""
from collections import Counter as _Tally
from collections.abc import Iterable

from prometheus_client import Counter, Histogram

LOOKUPS = Counter("kyodaku_lookups", "Identifiers answered, by lookup path (single, batch, spawning) and outcome "
                  "(allowed, denied, error: an id that could not be read).", ["path", "outcome"])
LOOKUP_BATCH_SIZE = Histogram("kyodaku_lookup_batch_size", "Identifiers per batch request, by lookup path.",
                              ["path"], buckets=(1, 10, 100, 500, 1_000, 2_500, 5_000, 10_000))


def lookups_observe(*, path: str, outcomes: Iterable[str], batch: bool = True) -> None:
    """Count the answers of one request: `outcomes` holds one outcome per id, in any order."""
    tally = _Tally(outcomes)
    for outcome, count in tally.items():
        LOOKUPS.labels(path, outcome).inc(count)
    if batch:
        LOOKUP_BATCH_SIZE.labels(path).observe(tally.total())
