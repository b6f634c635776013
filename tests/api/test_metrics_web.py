"""Metrics under the web server as the image runs it (`python -m config.serve`: granian, several worker processes,
keep-alive), and one scrape that adds up every worker's lookup counts (prometheus_client's multiprocess mode), with
JSON logs whose access lines carry the request id."""
import http.client
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from keys.services import api_key_create
from tests.conftest import redis_url
from tests.throwaway import BIN, free_port

pytestmark = [pytest.mark.redis, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "web-metrics-test-token"


@pytest.fixture
def web(transactional_db, tmp_path):
    """The image's web process with production settings on this test's database, 2 workers, metrics on."""
    port = free_port()
    db = connection.settings_dict
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KYODAKU_", "PROMETHEUS_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "web-metrics-test-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
                        f"{db['NAME']}",
        "REDIS_URL": redis_url(),
        "CELERY_BROKER_URL": redis_url(),
        "KYODAKU_BASE_URL": f"http://127.0.0.1:{port}",
        "KYODAKU_METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "WEB_CONCURRENCY": "2",
        "WEB_BIND": f"127.0.0.1:{port}",
        "CONN_MAX_AGE": "0",
    }
    log = open(tmp_path / "web.log", "wb")
    proc = subprocess.Popen([str(BIN / "python"), "-m", "config.serve"], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("the web process did not start: " + (tmp_path / "web.log").read_text()[-2000:])
                time.sleep(0.2)
        yield port, tmp_path / "web.log"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
        log.close()


def test_one_scrape_adds_up_the_lookups_of_every_web_worker(web):
    port, log = web
    _, key = api_key_create(name="Crawler Co", rate="none")
    statuses = []
    for n in range(20):  # a new connection each: the kernel spreads them over the workers
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/v1/lookup?id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=FR",
                     headers={"Authorization": f"Api-Key {key}", "X-Request-ID": f"crawl-{n}"})
        response = conn.getresponse()
        response.read()
        statuses.append((response.status, response.getheader("X-Request-ID")))
        conn.close()
    assert statuses == [(200, f"crawl-{n}") for n in range(20)]

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    response = conn.getresponse()
    assert response.status == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(response.read().decode()) for s in family.samples}
    assert samples[("kyodaku_lookups_total", (("outcome", "allowed"), ("path", "single")))] == 20
    # Keep-alive: the connection stays open and answers again.
    assert not response.will_close
    conn.request("GET", "/metrics")
    assert conn.getresponse().status == 401
    conn.close()

    time.sleep(0.5)
    access = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    lines = [r for r in access if r.get("logger") == "kyodaku.access"]
    line = next(r for r in lines if r["request_id"] == "crawl-7")
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/lookup", 200), line
    assert '"GET /api/v1/lookup?id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=FR HTTP/1.1" 200' in \
        line["message"]
    # Every response has its line, the ones Django answers itself too (a 401 problem).
    assert any(r["path"] == "/metrics" and r["status"] == 401 for r in lines), lines[-3:]
