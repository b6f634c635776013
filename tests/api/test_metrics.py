"""GET /metrics (docs/scaling.md, "Metrics"): for the monitoring system's bearer token or an operator only; the
registry's own metrics (lookups by path and outcome, batch sizes, imports, queue depth, snapshot age) are there."""
from datetime import timedelta

import pytest
import redis
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from claims.models import Status, Submission
from sync.models import Snapshot, SnapshotStatus
from tests.conftest import redis_url

TOKEN = "metrics-test-token-0123456789"
ISBN = "isbn:978-4-9901661-3-7"


@pytest.fixture
def metrics_on(db, settings):
    settings.KYODAKU_METRICS_TOKEN = TOKEN
    return settings


@pytest.fixture
def monitoring():
    """Prometheus, scraping with the bearer token."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def scrape(client) -> dict[tuple, float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_anyone_gets_404_when_no_metrics_token_is_configured(db, anonymous, monitoring, staff):
    assert anonymous.get("/metrics").status_code == 404
    assert monitoring.get("/metrics").status_code == 404


def test_outsiders_without_the_right_token_get_401(metrics_on, anonymous, ai_developer, hoshi):
    response = anonymous.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert Client(HTTP_AUTHORIZATION="Bearer wrong-token").get("/metrics").status_code == 401
    assert Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").get("/metrics").status_code == 401
    assert Client(HTTP_AUTHORIZATION=f"Token {TOKEN}").get("/metrics").status_code == 401
    assert ai_developer.get("/metrics").status_code == 401  # an API key is not the monitoring token
    assert hoshi.get("/metrics").status_code == 401  # nor is a holder's token


def test_a_holders_user_logged_into_the_admin_gets_401_and_an_operator_gets_the_metrics(metrics_on, hoshi_pub,
                                                                                     operator):
    browser = Client()
    browser.force_login(hoshi_pub.user)
    assert browser.get("/metrics").status_code == 401
    browser.force_login(operator)
    assert browser.get("/metrics").status_code == 200


def test_monitoring_sees_lookups_counted_by_path_and_outcome_and_batch_sizes(metrics_on, monitoring, ai_developer):
    before = scrape(monitoring)
    response = ai_developer.get("/api/v1/lookup", {"id": ISBN, "purpose": "train-genai", "jurisdiction": "FR"})
    assert response.status_code == 200
    assert response.json()["outcome"] == "allowed"  # unregistered, opt-out regime
    response = ai_developer.post("/api/v1/lookup", {"ids": [ISBN, "isbn:123", "url:https://example.com/"],
                                                    "purpose": "train-genai", "jurisdiction": "FR"}, format="json")
    assert response.status_code == 200
    after = scrape(monitoring)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("kyodaku_lookups_total", path="single", outcome="allowed") == 1
    assert delta("kyodaku_lookups_total", path="batch", outcome="allowed") == 2
    assert delta("kyodaku_lookups_total", path="batch", outcome="error") == 1
    assert delta("kyodaku_lookup_batch_size_count", path="batch") == 1
    assert delta("kyodaku_lookup_batch_size_sum", path="batch") == 3
    assert delta("kyodaku_lookup_batch_size_bucket", path="batch", le="1.0") == 0
    assert delta("kyodaku_lookup_batch_size_bucket", path="batch", le="10.0") == 1


def test_monitoring_sees_the_spawning_path_counted(metrics_on, monitoring, ai_developer):
    before = scrape(monitoring)
    response = ai_developer.post("/api/v2/query/urls/?jurisdiction=FR", "https://example.com/a\nnot a url",
                                 content_type="text/plain")
    assert response.status_code == 200, response.content
    after = scrape(monitoring)
    for outcome, count in (("allowed", 1), ("error", 1)):
        key = ("kyodaku_lookups_total", (("outcome", outcome), ("path", "spawning")))
        assert after.get(key, 0) - before.get(key, 0) == count


def test_monitoring_sees_import_totals_and_the_last_import_rate(metrics_on, monitoring, hoshi_pub):
    before = scrape(monitoring)
    now = timezone.now()
    common = {"holder": hoshi_pub.holder, "original_name": "claims.csv"}
    Submission.objects.create(**common, status=Status.DONE, rows_total=1000, rows_done=1000, rows_ok=1000,
                              started_at=now - timedelta(seconds=20), finished_at=now - timedelta(seconds=10))
    Submission.objects.create(**common, status=Status.DONE, dry_run=True, rows_done=50, rows_ok=50,
                              started_at=now - timedelta(seconds=5), finished_at=now)  # a dry run: not counted
    Submission.objects.create(**common, status=Status.QUEUED)
    after = scrape(monitoring)
    assert value(after, "kyodaku_claims_import_rows_total") - value(before, "kyodaku_claims_import_rows_total") == 1000
    assert value(after, "kyodaku_claims_import_seconds_total") - value(
        before, "kyodaku_claims_import_seconds_total") == pytest.approx(10)
    assert value(after, "kyodaku_claims_last_import_rows_per_second") == pytest.approx(100)
    assert value(after, "kyodaku_claims_submissions", status="queued") == 1
    assert value(after, "kyodaku_claims_submissions", status="running") == 0


def test_monitoring_sees_the_age_of_the_newest_ready_snapshot_per_pair(metrics_on, monitoring):
    now = timezone.now()
    for minutes in (90, 30):
        Snapshot.objects.create(purpose="train-genai", jurisdiction="JP", status=SnapshotStatus.READY, cursor=1,
                                finished_at=now - timedelta(minutes=minutes))
    Snapshot.objects.create(purpose="tdm", jurisdiction="EU", status=SnapshotStatus.FAILED, error="disk full",
                            finished_at=now)
    samples = scrape(monitoring)
    age = value(samples, "kyodaku_snapshot_age_seconds", purpose="train-genai", jurisdiction="JP")
    assert 30 * 60 <= age < 31 * 60
    assert ("kyodaku_snapshot_age_seconds", (("jurisdiction", "EU"), ("purpose", "tdm"))) not in samples


@pytest.mark.redis
def test_monitoring_sees_the_celery_queue_depth_read_from_the_broker(metrics_on, monitoring):
    broker = redis.Redis.from_url(redis_url())
    broker.delete("celery")
    metrics_on.CELERY_BROKER_URL = redis_url()
    metrics_on.CELERY_TASK_ALWAYS_EAGER = False
    try:
        broker.rpush("celery", "a", "b", "c")
        samples = scrape(monitoring)
        assert value(samples, "kyodaku_celery_queue_depth", queue="celery") == 3
        assert value(samples, "kyodaku_celery_broker_up") == 1
    finally:
        broker.delete("celery")
    metrics_on.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    samples = scrape(monitoring)
    assert value(samples, "kyodaku_celery_broker_up") == 0

