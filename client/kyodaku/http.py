"""HTTP to a Kyodaku registry: the API key, Retry-After, and retries that give up with a reason (never an answer)."""
from __future__ import annotations

import os
import random
import time
from typing import BinaryIO
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

    def request(self, method: str, path: str, *, sink: BinaryIO | None = None, **kwargs) -> httpx.Response:
        """The response, after the retries above. With `sink`, a successful response's body is written into it as
        it arrives (`_send`) instead of being read into memory."""
        last = "no attempt made"
        for attempt in range(self.retries):
            delay = self.backoff * (2 ** attempt) * (0.5 + random.random())
            try:
                response = self._send(method, path, sink, kwargs)
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

    def _send(self, method: str, path: str, sink: BinaryIO | None, kwargs: dict) -> httpx.Response:
        """One attempt. With `sink`: a successful response's body streamed into it, emptied first (an attempt cut
        short and retried starts again from the first byte); any other response read as usual (its problem+json,
        its Retry-After)."""
        if sink is None:
            return self.client.request(method, path, **kwargs)
        with self.client.stream(method, path, **kwargs) as response:
            if response.status_code >= 400:
                response.read()
                return response
            sink.seek(0)
            sink.truncate()
            for chunk in response.iter_bytes(1 << 20):
                sink.write(chunk)
        return response

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

    def download(self, url: str, sink: BinaryIO) -> None:
        """A snapshot file, by its path on this registry (the manifest's host may be a public name for it), streamed
        into `sink`: never the whole file in memory (the filter is 360 MB at 100 million flagged keys; httpx's
        `.content` held it, and twice over while it joined the chunks)."""
        parts = urlsplit(url)
        self.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), sink=sink)
