"""Mixed traffic for the soak (bench/soak.py runs it; not a test): AI developers' single and batch lookups (some
with receipts), two rights holders filing declarations, registering works, listing them and importing claims.

Configured by the environment soak.py sets: SOAK_API_KEY, SOAK_TOKENS (JSON {holder code: token}), SOAK_WORKS
(works per holder, numbered as bench/soak.py seeds them), SOAK_RESULT (where the 5xx and error counts are written).
"""
import itertools
import json
import os
import random
import uuid
from collections import Counter

from locust import HttpUser, between, events, task

API_KEY = os.environ.get("SOAK_API_KEY", "")
TOKENS = json.loads(os.environ.get("SOAK_TOKENS", "{}"))
WORKS = int(os.environ.get("SOAK_WORKS", "1000"))
PURPOSES = ["train-ai", "train-genai", "ai-use", "search", "tdm"]
JURISDICTIONS = ["JP", "EU", "US", "GB", "DE", "*"]
BAD_ID = "isbn:9780000000000"
server_errors: Counter = Counter()
transport_errors: Counter = Counter()
_holders = itertools.cycle(sorted(TOKENS))


def isbn13(n: int) -> str:
    body = f"978{n:09d}"
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def some_id() -> str:
    """Mostly registered works of either holder, some unregistered ids, a few invalid ones."""
    roll = random.random()
    if roll < 0.8:
        return f"isbn:{isbn13(random.randrange(2 * WORKS))}"
    if roll < 0.95:
        return f"isbn:{isbn13(10_000_000 + random.randrange(1_000_000))}"
    return BAD_ID  # bad checksum: an error entry in a batch, a 400 alone


@events.request.add_listener
def count_errors(request_type, name, response, exception, **kwargs):
    if response is not None and getattr(response, "status_code", 0) >= 500:
        server_errors[f"{request_type} {name} {response.status_code}"] += 1
    elif exception is not None and (response is None or not getattr(response, "status_code", 0)):
        transport_errors[f"{request_type} {name} {type(exception).__name__}"] += 1


@events.test_stop.add_listener
def write_result(environment, **kwargs):
    path = os.environ.get("SOAK_RESULT")
    if path:
        with open(path, "w") as out:
            json.dump({"server_errors": dict(server_errors), "transport_errors": dict(transport_errors)}, out)


class AIDeveloper(HttpUser):
    weight = 4
    wait_time = between(0.05, 0.3)

    def on_start(self):
        self.client.headers["Authorization"] = f"Api-Key {API_KEY}"

    def _single(self, name: str, **params):
        """One id; an invalid one is answered 400 (invalid-identifier), which is right, not a failure."""
        params["id"] = some_id()
        with self.client.get("/api/v1/lookup", name=name, params=params, catch_response=True) as answer:
            if answer.status_code == 200 or (answer.status_code == 400 and params["id"] == BAD_ID):
                answer.success()

    @task(10)
    def single(self):
        self._single("GET /api/v1/lookup", purpose=random.choice(PURPOSES), jurisdiction=random.choice(JURISDICTIONS))

    @task(1)
    def single_with_receipt(self):
        self._single("GET /api/v1/lookup?receipt", purpose="train-ai", jurisdiction="JP", receipt="true")

    @task(3)
    def batch_100(self):
        self.client.post("/api/v1/lookup", name="POST /api/v1/lookup (100)", json={
            "ids": [some_id() for _ in range(100)], "purpose": random.choice(PURPOSES),
            "jurisdiction": random.choice(JURISDICTIONS)})

    @task(1)
    def batch_1000(self):
        self.client.post("/api/v1/lookup", name="POST /api/v1/lookup (1000)", json={
            "ids": [some_id() for _ in range(1000)], "purpose": "train-ai", "jurisdiction": "EU"})


class RightsHolder(HttpUser):
    weight = 1
    wait_time = between(0.5, 2)

    def on_start(self):
        self.code = next(_holders)
        self.offset = sorted(TOKENS).index(self.code) * WORKS
        self.client.headers["Authorization"] = f"Token {TOKENS[self.code]}"
        listing = self.client.get("/api/v1/works", name="GET /api/v1/works", params={"holder": self.code})
        self.work_ids = [w["id"] for w in listing.json().get("results", [])] if listing.ok else []

    @task(6)
    def file_declaration(self):
        if not self.work_ids:
            return
        self.client.post("/api/v1/declarations", name="POST /api/v1/declarations", json={
            "holder": self.code, "scope": "work", "work": random.choice(self.work_ids),
            "purpose": random.choice(PURPOSES[:3]), "jurisdiction": random.choice(JURISDICTIONS),
            "consent": random.choice(["reserve", "grant"])})

    @task(2)
    def register_work(self):
        n = self.offset + random.randrange(WORKS)
        self.client.post("/api/v1/works", name="POST /api/v1/works", json={
            "holder": self.code, "work_ref": f"W-{n}", "title": f"Soak title {n} rev {random.randrange(1000)}",
            "kind": "book", "identifiers": [f"isbn:{isbn13(n)}"]})

    @task(2)
    def list_works(self):
        self.client.get("/api/v1/works", name="GET /api/v1/works", params={"holder": self.code})

    @task(1)
    def import_claims(self):
        """A 200-row file through the worker; waits for it as a client would (polling every 2 s)."""
        batch = uuid.uuid4().hex[:8]
        rows = "".join(f"{self.code},C-{batch}-{i},Claimed {i},book,url:https://{self.code}.example/{batch}/{i},"
                       f"train-ai,JP,reserve\n" for i in range(200))
        csv = "holder,work_ref,title,kind,identifiers,purpose,jurisdiction,consent\n" + rows
        answer = self.client.post("/api/v1/claims", name="POST /api/v1/claims",
                                  files={"file": ("claims.csv", csv.encode(), "text/csv")})
        if answer.status_code != 202:
            return
        path = "/api/v1/claims/" + answer.json()["id"]
        for _ in range(60):
            status = self.client.get(path, name="GET /api/v1/claims/[id]").json().get("status")
            if status in ("done", "done-with-errors", "failed"):
                break
            self._sleep(2)

    def _sleep(self, seconds):
        import gevent

        gevent.sleep(seconds)
