"""HTTP to a Kyodaku registry: the API key, Retry-After, and retries that give up with a reason (never an answer)."""
from __future__ import annotations

import os
import random
import time
from urllib.parse import urlsplit

import httpx

RETRY_STATUSES = {429, 502, 503, 504}
MAX_RETRY_AFTER = 300.0  # seconds; a longer Retry-After is waited in steps of this at most


class ApiError(Exception):
    """The registry refused the request (a 4xx problem other than 429): asking again would not help."""

    def __init__(self, status: int, problem: dict | None, text: str = ""):
        self.status, self.problem = status, problem or {}
        detail = self.problem.get("detail") or self.problem.get("title") or text[:200]
        super().__init__(f"HTTP {status}: {detail}")


class Unavailable(Exception):
    """No answer after every retry (connection refused, timeouts, 5xx, 429 beyond the deadline)."""


def retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return default


class Api:
    """One registry: `base_url` (KYODAKU_URL) and `api_key` (KYODAKU_API_KEY).

    Every call retries 429 and 5xx answers after their `Retry-After` (or an exponential backoff with jitter) and
    connection errors with backoff, for up to `retries` attempts; then it raises `Unavailable`.
    """

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 60.0, retries: int = 8,
                 backoff: float = 0.5, transport: httpx.BaseTransport | None = None, sleep=time.sleep):
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": "kyodaku-client/0.1"}
        if api_key:
            headers["Authorization"] = f"Api-Key {api_key}"
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)
        self.retries, self.backoff, self.sleep = retries, backoff, sleep
        self.waited = 0.0  # seconds spent honouring Retry-After (reported by the CLI)

    @classmethod
    def from_env(cls, **options) -> Api:
        url = os.environ.get("KYODAKU_URL", "").strip()
        if not url:
            raise SystemExit("KYODAKU_URL is not set: the registry's address, as https://kyodaku.example.org")
        return cls(url, os.environ.get("KYODAKU_API_KEY", "").strip() or None, **options)

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        last = "no attempt made"
        for attempt in range(self.retries):
            delay = self.backoff * (2 ** attempt) * (0.5 + random.random())
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400 or response.status_code == 202:
                    return response
                if response.status_code not in RETRY_STATUSES:
                    try:
                        problem = response.json()
                    except ValueError:
                        problem = None
                    raise ApiError(response.status_code, problem, response.text)
                last = f"HTTP {response.status_code}"
                if "Retry-After" in response.headers:
                    delay = retry_after(response, delay)
                    self.waited += delay
            if attempt + 1 < self.retries:
                self.sleep(delay)
        raise Unavailable(f"no answer after {self.retries} attempts ({last})")

    def get_json(self, path: str, **params) -> dict:
        return self.request("GET", path, params=params).json()

    def lookup(self, ids: list[str], *, purpose: str, jurisdiction: str, receipt: str = "none") -> dict:
        """`POST /api/v1/lookup` for up to 10,000 ids: the whole response (`results`, maybe `batch_receipt`)."""
        body = {"ids": ids, "purpose": purpose, "jurisdiction": jurisdiction}
        if receipt == "single":
            body["receipt"] = True
        elif receipt == "batch":
            body["receipt"] = "batch"
        return self.request("POST", "/api/v1/lookup", json=body).json()

    def match(self, code_sets: list[dict], *, purpose: str, jurisdiction: str, **options) -> list[dict]:
        """`POST /api/v1/match` for up to 1,000 code sets (kyodaku.codes): per set `{"matches", "answer"}`."""
        body = {"batch": code_sets, "purpose": purpose, "jurisdiction": jurisdiction, **options}
        return self.request("POST", "/api/v1/match", json=body).json()["results"]

    def keys(self) -> dict:
        return self.get_json("/api/v1/keys")

    def download(self, url: str) -> bytes:
        """A snapshot file, by its path on this registry (the manifest's host may be a public name for it)."""
        parts = urlsplit(url)
        return self.request("GET", parts.path + (f"?{parts.query}" if parts.query else "")).content
