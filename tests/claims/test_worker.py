"""Fault tests with a real Celery worker process, the Redis broker and PostgreSQL (issue 5).

The worker runs `config.settings.test` against this test's database (DATABASE_URL points at it), with
TEST_CELERY_EAGER=0 so it consumes from the broker; the test dispatches through the same broker.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from audit.selectors import audit_verify
from claims.models import Submission
from claims.services import claims_submission_create
from consent.models import Declaration
from registry.models import Identifier, Work
from tests.conftest import redis_url

from .helpers import csv_text, isbn13

pytestmark = [pytest.mark.worker, pytest.mark.redis, pytest.mark.postgres]
# The developer's own Redis database (TEST_REDIS_URL): a fixed one would be shared with, and flushed by, every other
# test run on the machine, and another run's worker would take this test's task.
BROKER = os.environ.get("CLAIMS_TEST_BROKER_URL") or redis_url()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker(monkeypatch):
    """This process dispatches to the real broker (an empty queue) instead of running tasks eagerly."""
    import redis

    from config.celery import app

    redis.Redis.from_url(BROKER).flushdb()
    app.conf.task_always_eager  # noqa: B018 - loads the configuration, so the overrides below stick
    monkeypatch.setattr(app.conf, "CELERY_TASK_ALWAYS_EAGER", False)
    monkeypatch.setattr(app.conf, "CELERY_BROKER_URL", BROKER)
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    yield BROKER
    redis.Redis.from_url(BROKER).flushdb()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


class Worker:
    def __init__(self, media_root: Path, chunk_rows: int, pool: str = "solo", planner_min_rows: int | None = None):
        self.pool = pool
        name = connection.settings_dict["NAME"]
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": f"postgres://{connection.settings_dict['USER'] or 'postgres'}@"
                            f"{connection.settings_dict['HOST'] or '127.0.0.1'}:"
                            f"{connection.settings_dict['PORT'] or 5432}/{name}",
            "TEST_CELERY_EAGER": "0",
            "TEST_CELERY_BROKER_URL": BROKER,
            "MEDIA_ROOT": str(media_root),
            "KYODAKU_CLAIMS_CHUNK_ROWS": str(chunk_rows),
            # A killed worker's unacknowledged task comes back after this many seconds.
            "CELERY_VISIBILITY_TIMEOUT": "3",
            "CONN_MAX_AGE": "0",
        }
        if planner_min_rows is not None:
            self.env["KYODAKU_CLAIMS_PLANNER_PROCESS_MIN_ROWS"] = str(planner_min_rows)
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("celery")), "-A", "config", "worker", f"--pool={self.pool}",
             "--concurrency=1", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-n", f"claims-test-{os.getpid()}@%h", "--loglevel=WARNING"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return self

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _big_file(rows: int) -> bytes:
    header = "holder,work_ref,title,kind,identifiers,purpose,jurisdiction,consent"
    lines = [f"studio-kaze,KZ-{i},Title {i},book,isbn:{isbn13(i)};url:https://kaze.example/w/{i},"
             f"train-ai;search,JP,reserve" for i in range(rows)]
    return csv_text(header, *lines).encode()


# The planning side in the worker's process (threads), or in a second process (claims.planner), which the
# killed worker's child must not outlive for long nor let write anything.
@pytest.mark.parametrize("planner_min_rows", [None, 1], ids=["planned-in-worker", "planned-in-child-process"])
def test_studio_kaze_worker_killed_mid_file_finishes_after_restart_counting_every_row_once(
        transactional_db, studio_kaze, broker, media, planner_min_rows):
    rows = 12_000
    worker = Worker(media, chunk_rows=300, planner_min_rows=planner_min_rows).start()
    try:
        submission = claims_submission_create(
            user=studio_kaze.user, file=SimpleUploadedFile("big.csv", _big_file(rows)), holder_code=None)
        progress = _wait(lambda: Submission.objects.filter(pk=submission.pk, rows_done__gte=900)
                         .values_list("rows_done", flat=True).first(), 120, "the worker to start the file")
        worker.kill()
        submission.refresh_from_db()
        assert submission.status == "running" and 0 < submission.rows_done < rows, (progress, submission.rows_done)
        killed_at = submission.rows_done

        worker = Worker(media, chunk_rows=300, planner_min_rows=planner_min_rows).start()
        _wait(lambda: Submission.objects.filter(pk=submission.pk, status__in=["done", "done-with-errors"]).exists(),
              240, "the restarted worker to finish")
    finally:
        worker.stop()
    submission.refresh_from_db()
    assert submission.status == "done" and killed_at < rows
    assert (submission.rows_total, submission.rows_done, submission.rows_ok, submission.rows_failed) == (
        rows, rows, rows, 0)
    assert (submission.works_created, submission.declarations_created) == (rows, 2 * rows)
    assert Work.objects.count() == rows
    assert Identifier.objects.count() == 2 * rows
    assert Declaration.objects.count() == 2 * rows
    assert audit_verify() == []


def test_studio_kaze_duplicate_delivery_of_the_task_is_harmless(transactional_db, studio_kaze, broker, media):
    from claims.tasks import claims_submission_process_task

    worker = Worker(media, chunk_rows=50).start()
    try:
        submission = claims_submission_create(
            user=studio_kaze.user, file=SimpleUploadedFile("small.csv", _big_file(200)), holder_code=None)
        claims_submission_process_task.apply_async(args=[str(submission.pk)])  # a second, duplicate message
        _wait(lambda: Submission.objects.filter(pk=submission.pk, status="done").exists(), 120, "the worker")
        time.sleep(2)  # let the duplicate run too
    finally:
        worker.stop()
    submission.refresh_from_db()
    assert (submission.rows_done, submission.works_created) == (200, 200)
    assert Work.objects.count() == 200


def test_studio_kaze_file_planned_in_a_child_process_under_a_prefork_worker(transactional_db, studio_kaze, broker,
                                                                            media):
    """A prefork pool's process is daemonic (no `multiprocessing` children): claims.planner starts its planning
    process with `subprocess`, which works there. Rows rejected by the child reach the error report."""
    rows = 3_000
    body = _big_file(rows) + b"studio-kaze,KZ-bad,Bad,book,isbn:123,train-ai,JP,reserve\n"
    worker = Worker(media, chunk_rows=500, pool="prefork", planner_min_rows=1).start()
    try:
        submission = claims_submission_create(
            user=studio_kaze.user, file=SimpleUploadedFile("big.csv", body), holder_code=None)
        _wait(lambda: Submission.objects.filter(pk=submission.pk, status__in=["done", "done-with-errors", "failed"])
              .exists(), 240, "the prefork worker to finish")
    finally:
        worker.stop()
    submission.refresh_from_db()
    assert submission.status == "done-with-errors", submission.error
    assert (submission.rows_done, submission.rows_ok, submission.rows_failed) == (rows + 1, rows, 1)
    assert list(submission.row_errors.values_list("line", "column", "code")) == [(rows + 2, "identifiers",
                                                                                   "invalid-identifier")]
    assert Work.objects.count() == rows and Declaration.objects.count() == 2 * rows
    assert audit_verify() == []
