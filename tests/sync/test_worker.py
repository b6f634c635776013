"""Snapshots built by a real Celery worker process through the Redis broker, against PostgreSQL (sync.md,
"Snapshots and filters"): the AI developer's first request is a 202 with Retry-After; the worker builds; the next
request gets the signed manifest, and the files the worker wrote are served by the web process."""
import base64
import gzip
import hashlib
import json

import pytest

from consent.services import declaration_file
from receipts import services as receipt_services
from receipts.keystore import generate_key
from registry.services import work_register
from tests.claims.test_worker import Worker, _wait, broker  # noqa: F401  (broker is a fixture)

pytestmark = [pytest.mark.worker, pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PAIR = {"purpose": "train-genai", "jurisdiction": "JP"}


def test_ai_developer_waits_for_the_worker_then_downloads_its_snapshot(broker, settings, tmp_path,  # noqa: F811
                                                                       ai_developer, studio_kaze):
    pem = generate_key().as_pem(private=True).decode()  # the web process and the worker sign with one key
    snapshots = tmp_path / "snapshots"
    settings.KYODAKU_SIGNING_KEY = pem
    settings.STORAGES = {**settings.STORAGES, "snapshots": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(snapshots)}}}
    receipt_services._SIGNERS.clear()
    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze",
                         identifiers=["doi:10.5555/k1", "doi:10.5555/k2"]).work
    declaration_file(holder=studio_kaze.holder, scope="work", work=work, purpose="train-ai", consent="grant")
    worker = Worker(tmp_path / "media", chunk_rows=300)
    worker.env.update({"KYODAKU_SNAPSHOT_ROOT": str(snapshots), "KYODAKU_SIGNING_KEY": pem})
    worker.start()
    try:
        first = ai_developer.get("/api/v1/snapshots", PAIR)
        assert first.status_code == 202 and first["Retry-After"] == "30"
        ready = _wait(lambda: (r := ai_developer.get("/api/v1/snapshots", PAIR)).status_code == 200 and r, 120,
                      "the worker's snapshot")
    finally:
        worker.stop()
        receipt_services._SIGNERS.clear()
    token = ready.json()["manifest"]
    segment = token.split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    answers = next(f for f in payload["files"] if f["name"] == "answers")
    response = ai_developer.get(answers["url"].removeprefix("http://testserver"))
    data = b"".join(response.streaming_content)
    assert hashlib.sha256(data).hexdigest() == answers["sha256"]
    lines = [json.loads(line) for line in gzip.decompress(data).splitlines()]
    assert [(a["key"], a["outcome"], a["basis"]) for a in lines] == [
        ("doi:10.5555/k1", "allowed", "granted"), ("doi:10.5555/k2", "allowed", "granted")]
