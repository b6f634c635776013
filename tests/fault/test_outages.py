"""Faults with real processes: the registry's PostgreSQL and Redis are stopped and restarted under lookup traffic,
against the image's web process (config.serve) and a Celery worker with production settings
(tests/fault/conftest.py: servers of their own).

Rules proven:
- PostgreSQL down: every API request gets a 503 problem+json with Retry-After within a second or two, never a 500
  nor a hang; once it is back, web and worker answer and process again by themselves (no restart).
- Redis down: lookups keep answering (the cache misses instead of failing); rate limits fail open meanwhile and
  are enforced again once Redis is back; the worker reconnects to the broker by itself.
"""
import time
import uuid

import pytest

from tests.throwaway import wait_for

pytestmark = [pytest.mark.fault]

ISBN = "isbn:9784990166137"
LOOKUP = f"/api/v1/lookup?id={ISBN}&purpose=train-ai&jurisdiction=JP"
QUICK = 2.0  # seconds: "quickly" for an answer during an outage (connection refused is immediate; a hang is not)


@pytest.fixture(scope="module")
def registry(deployment):
    """Studio Kaze (a token), a reserved work, an AI developer's unlimited key and a key limited to 3/hour."""
    deployment.manage("create_holder", "studio-kaze", "--name", "Studio Kaze", "--kind", "studio", "--country", "JP")
    token = deployment.manage_json("create_holder_token", "--holder", "studio-kaze", "--user", "kaze-bot")["token"]
    key = deployment.manage_json("create_api_key", "Crawler", "--rate", "none")["key"]
    limited = deployment.manage_json("create_api_key", "Small crawler", "--rate", "3/hour")["key"]
    holder = {"Authorization": f"Token {token}"}
    work = deployment.post_json("/api/v1/works", {"holder": "studio-kaze", "work_ref": "SK-1", "title": "Kaze",
                                                  "kind": "book", "identifiers": [ISBN]}, headers=holder)
    assert work.status in (200, 201), work.body
    filed = deployment.post_json("/api/v1/declarations", {
        "holder": "studio-kaze", "scope": "work", "work": work.json()["id"], "purpose": "train-ai",
        "jurisdiction": "*", "consent": "reserve"}, headers=holder)
    assert filed.status == 201, filed.body
    return {"holder": holder, "key": {"Authorization": f"Api-Key {key}"},
            "limited": {"Authorization": f"Api-Key {limited}"}}


def lookup(deployment, headers):
    return deployment.get(LOOKUP, headers=headers, timeout=30)


def submit_claims(deployment, headers) -> str:
    """A small claims file through the API; returns the submission's URL."""
    ref = uuid.uuid4().hex[:8]
    csv = ("holder,work_ref,title,kind,identifiers,purpose,jurisdiction,consent\n"
           f"studio-kaze,C-{ref},Claimed {ref},book,url:https://kaze.example/{ref},train-ai,JP,reserve\n")
    boundary = "kyodaku" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n").encode()
    answer = deployment.request("POST", "/api/v1/claims", body=body, headers={
        **headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert answer.status == 202, answer.body
    return answer.json()["url"]


def processed(deployment, headers, url: str) -> dict:
    path = url.split(f":{deployment.port}", 1)[-1]
    return wait_for(lambda: (lambda s: s if s["status"] in ("done", "done-with-errors", "failed") else None)(
        deployment.get(path, headers=headers).json()), 120, "the worker to process the claims file", interval=0.5)


def test_postgres_outage_gives_quick_503_problems_and_web_and_worker_recover_alone(deployment, registry):
    before = [lookup(deployment, registry["key"]) for _ in range(10)]
    assert [a.status for a in before] == [200] * 10
    assert before[0].json()["outcome"] == "denied" and before[0].json()["basis"] == "reserved"
    web_pid, worker_pid = deployment.web.pid, deployment.worker.pid

    deployment.pg.stop(mode="fast")  # every connection is cut, as in a restart or failover
    try:
        during = [lookup(deployment, registry["key"]) for _ in range(10)]
        during += [deployment.get("/api/v1/works", headers=registry["holder"]),
                   deployment.post_json("/api/v1/lookup", {"ids": [ISBN], "purpose": "train-ai",
                                                           "jurisdiction": "JP"}, headers=registry["key"])]
        for answer in during:
            assert answer.status == 503, (answer.status, answer.body, deployment.logs())
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["code"] == "service-unavailable" and answer.headers["retry-after"] == "5"
            assert answer.seconds < QUICK, answer.seconds
        assert deployment.get("/readyz").status == 503
        assert deployment.get("/healthz").status == 200  # alive, so that no orchestrator kills it for this
    finally:
        deployment.pg.start()

    started = time.monotonic()
    wait_for(lambda: lookup(deployment, registry["key"]).status == 200, 30, "lookups to answer again")
    recovered_after = time.monotonic() - started
    assert [lookup(deployment, registry["key"]).status for _ in range(20)] == [200] * 20
    assert deployment.get("/readyz").status == 200
    # The worker's database connection died too; it processes the next file without being restarted.
    assert processed(deployment, registry["holder"], submit_claims(deployment, registry["holder"]))["status"] == "done"
    assert (deployment.web.pid, deployment.worker.pid) == (web_pid, worker_pid) and deployment.processes_alive()
    print(f"PostgreSQL outage: 503 in at most {max(a.seconds for a in during):.3f} s; "
          f"lookups answered again {recovered_after:.2f} s after the restart")


def test_redis_outage_lookups_keep_answering_rate_limits_fail_open_then_hold_again(deployment, registry):
    # A key limited to 3/hour is refused within 8 requests (at least one 429 even across an hour boundary).
    assert 429 in [lookup(deployment, registry["limited"]).status for _ in range(8)]
    worker_pid = deployment.worker.pid

    deployment.redis.stop()
    try:
        during = [lookup(deployment, registry["key"]) for _ in range(10)]
        assert [a.status for a in during] == [200] * 10, deployment.logs()
        assert max(a.seconds for a in during) < QUICK
        assert during[0].json()["outcome"] == "denied"  # the same answer, from the database
        # Rate limits are counted in Redis: without it they are not enforced (fail open; docs/security.md).
        limited = [lookup(deployment, registry["limited"]) for _ in range(5)]
        assert [a.status for a in limited] == [200] * 5
        assert deployment.get("/readyz").json()["broker"] != "ok"
    finally:
        deployment.redis.start()  # empty: counters and cached key records are gone

    assert 429 in [lookup(deployment, registry["limited"]).status for _ in range(8)]
    assert deployment.get("/readyz").status == 200
    # The worker lost its broker connection and reconnects by itself.
    assert processed(deployment, registry["holder"], submit_claims(deployment, registry["holder"]))["status"] == "done"
    assert deployment.worker.pid == worker_pid and deployment.processes_alive()
