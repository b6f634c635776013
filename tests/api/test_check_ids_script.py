"""The documented checking script (docs/examples/check_ids.py, shown in docs/api.md) fails closed (issue 19).

An AI developer's legal team relies on it: every id lands in exactly one of allowed / denied / invalid /
unchecked, an id without an answer is `unchecked` (never `denied`, never lost), and the exit code is non-zero
whenever any id is unchecked. Proved against a real gunicorn serving this test's database and killed mid-run, a
port where nothing listens, and a local server that fails in each way a network can (no mock of the script).
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection

from consent.services import declaration_file
from keys.services import api_key_create
from registry.services import work_register

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "examples" / "check_ids.py"
OUTCOMES = ("allowed", "denied", "invalid", "unchecked")


def run_script(ids: list[str], out: Path, url: str, *extra: str, key: str = "test-key",
               wait: bool = True, timeout: float = 120):
    source = out / "ids.txt"
    out.mkdir(parents=True, exist_ok=True)
    source.write_text("".join(i + "\n" for i in ids))
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(source), "--purpose", "train-genai", "--jurisdiction", "JP",
         "--out", str(out), *extra],
        env={**os.environ, "KYODAKU_URL": url, "KYODAKU_API_KEY": key}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    if wait:
        stdout, stderr = process.communicate(timeout=timeout)
        return process.returncode, stderr
    return process


def read_outcomes(out: Path) -> dict[str, list[str]]:
    return {name: (out / f"{name}.txt").read_text().splitlines() for name in OUTCOMES}


def assert_every_id_once(ids: list[str], outcomes: dict[str, list[str]]) -> None:
    recorded = [i for name in OUTCOMES for i in outcomes[name]]
    assert sorted(recorded) == sorted(ids), "an id was lost or written twice"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_docs_show_the_script_that_is_tested():
    docs = (ROOT / "docs" / "api.md").read_text()
    assert "```python\n" + SCRIPT.read_text() + "```" in docs, "docs/api.md must embed docs/examples/check_ids.py"


# --- a real server, killed mid-run -------------------------------------------------------------------------------

class Gunicorn:
    """gunicorn (2 sync workers) on a port the OS picks, serving this test's database; in its own process group,
    so that killing it kills its workers too."""

    def __init__(self, signing_keys: Path):
        settings = connection.settings_dict
        self.env = {
            **os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "CONN_MAX_AGE": "0",
            "DATABASE_URL": f"postgres://{settings['USER'] or 'postgres'}@{settings['HOST'] or '127.0.0.1'}:"
                            f"{settings['PORT'] or 5432}/{settings['NAME']}",
            "KYODAKU_SIGNING_KEY_DIR": str(signing_keys),
        }
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "config.wsgi", "--bind", "127.0.0.1:0", "--workers",
             "2", "--timeout", "60"], cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, start_new_session=True)
        self.url = None
        deadline = time.monotonic() + 60
        while self.url is None and time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line and self.process.poll() is not None:
                break
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", line)
            self.url = found.group(1) if found else None
        if self.url is None:
            self.kill()
            pytest.fail("gunicorn did not start")
        threading.Thread(target=self.process.stderr.read, daemon=True).start()  # keep its pipe drained

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def registry_with_answers(transactional_db, studio_kaze, hoshi_pub):
    """Studio Kaze grants train-genai in JP for its 50 web pages (its control of kaze.example verified: a web grant
    counts only then, interop.md); Hoshi Publishing reserves its whole catalogue."""
    from domains.services import domain_claim_create, domain_verify_operator

    claim, _ = domain_claim_create(holder=studio_kaze.holder, domain="kaze.example")
    domain_verify_operator(claim=claim, note="registrar letter", actor="test")
    granted = [f"url:https://kaze.example/w/{i}" for i in range(50)]
    for i, identifier in enumerate(granted):
        work = work_register(holder=studio_kaze.holder, work_ref=f"KZ-{i}", title=f"Page {i}", kind="website",
                             identifiers=[identifier]).work
        declaration_file(holder=studio_kaze.holder, scope="work", work=work, purpose="train-genai",
                         jurisdiction="JP", consent="grant", conditions="Non-commercial research models only")
    work_register(holder=hoshi_pub.holder, work_ref="HP-100", title="Hoshi no Umi", kind="manga",
                  identifiers=["isbn:978-4-9901661-3-7"])
    declaration_file(holder=hoshi_pub.holder, scope="catalogue", purpose="train-ai", consent="reserve")
    _, key = api_key_create(name="Legal team's crawler", rate="none")
    return set(granted), key


@pytest.mark.postgres
def test_a_server_killed_mid_run_leaves_the_rest_unchecked_and_the_script_exits_non_zero(
        registry_with_answers, tmp_path):
    granted, key = registry_with_answers
    pattern = [*sorted(granted)[:5], "isbn:978-4-9901661-3-7", "url:https://nobody.example/x", "isbn:123"]
    ids = [f"{i}#{n}" if i.startswith("url:") else i for n in range(500) for i in pattern][:4000]
    ids = list(dict.fromkeys(ids))  # unique, so that each id's file can be checked
    server = Gunicorn(tmp_path / "keys")
    try:
        process = run_script(ids, tmp_path / "out", server.url, "--batch", "20", "--parallel", "1", "--retries",
                             "1", "--backoff", "0.01", "--receipts", key=key, wait=False)
        answers = tmp_path / "out" / "answers.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if answers.exists() and len(answers.read_text().splitlines()) >= 60:
                break
            time.sleep(0.005)
        keys = urllib.request.urlopen(server.url + "/api/v1/keys", timeout=30).read()  # what a developer keeps
        server.kill()  # SIGKILL, gunicorn and its workers: mid-request or between requests
        _, stderr = process.communicate(timeout=120)
    finally:
        server.kill()
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr, stderr
    outcomes = read_outcomes(tmp_path / "out")
    assert_every_id_once(ids, outcomes)
    assert outcomes["unchecked"], "the server died before the end: some ids must be unchecked"
    assert outcomes["allowed"] and outcomes["denied"] and outcomes["invalid"]
    assert "UNCHECKED" in stderr and "run again on unchecked.txt" in stderr
    # What was answered is what the registry said: grants allowed (with their terms), the rest denied.
    lines = [json.loads(line) for line in (tmp_path / "out" / "answers.jsonl").read_text().splitlines()]
    assert len(lines) == len(ids) - len(outcomes["unchecked"])
    by_id = {answer["id"]: answer for answer in lines}
    for identifier in outcomes["allowed"]:
        assert by_id[identifier]["outcome"] == "allowed" and by_id[identifier]["basis"] == "granted"
        assert identifier.split("#")[0] in granted
        assert by_id[identifier]["receipt"]
    for identifier in outcomes["denied"]:
        assert by_id[identifier]["outcome"] == "denied"
    assert all("error" in by_id[i] for i in outcomes["invalid"])
    # The receipts kept in answers.jsonl verify offline, with the keys saved from the server before it died.
    (tmp_path / "keys.json").write_bytes(keys)
    verified = subprocess.run([sys.executable, "manage.py", "verify_receipt", str(tmp_path / "out" / "answers.jsonl"),
                               "--jwks", str(tmp_path / "keys.json"), "--json"], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout[-2000:] + verified.stderr[-2000:]
    report = json.loads(verified.stdout.splitlines()[-1])
    assert len(report["receipts"]) == len(lines) - len(outcomes["invalid"])


def test_a_server_down_from_the_start_is_unchecked_not_denied(tmp_path):
    ids = ["isbn:978-4-9901661-3-7", "url:https://example.com/a", "url:https://example.com/b"]
    code, stderr = run_script(ids, tmp_path, f"http://127.0.0.1:{free_port()}", "--batch", "1", "--retries", "1",
                              "--backoff", "0.01")
    assert code == 1, stderr
    outcomes = read_outcomes(tmp_path)
    assert outcomes["unchecked"] == ids and not outcomes["denied"] and not outcomes["allowed"]
    assert "Traceback" not in stderr


# --- a local server that fails in every way a network can --------------------------------------------------------

class Misbehaving(BaseHTTPRequestHandler):
    """Answers POST /api/v1/lookup as `mode` says; `flaky-*` modes fail the first request only."""

    mode = "ok"
    requests = 0

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests += 1
        mode = self.mode
        if mode.startswith("flaky-"):
            mode = mode.removeprefix("flaky-") if type(self).requests == 1 else "ok"
        if mode == "disconnect":  # the connection drops before any answer: RemoteDisconnected
            self.close_connection = True
            return
        if mode == "slow":
            time.sleep(1.5)
            mode = "ok"
        answers = {"results": [{"id": i, "outcome": "allowed", "basis": "granted"} for i in body["ids"]]}
        if mode == "mismatch":
            answers["results"] = answers["results"][1:]
        payload = json.dumps(answers).encode()
        status = {"500": 500, "503": 503, "401": 401, "429": 429}.get(mode, 200)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if mode == "429":
            self.send_header("Retry-After", "0")
            type(self).mode = "ok"  # then the limit lifts
        if mode == "truncated":  # the connection drops mid-body: IncompleteRead
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            return
        if mode == "garbled":  # a complete response whose JSON is cut short
            payload = payload[: len(payload) // 2]
        if status >= 400 and mode != "429":
            payload = json.dumps({"detail": f"failure {status}"}).encode()
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def misbehaving():
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (Misbehaving,), {}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("mode", ["disconnect", "truncated", "garbled", "slow", "500", "503", "mismatch", "401"])
def test_every_failure_leaves_ids_unchecked_never_allowed(misbehaving, tmp_path, mode):
    misbehaving.RequestHandlerClass.mode = mode
    ids = [f"url:https://example.com/{n}" for n in range(7)]
    code, stderr = run_script(ids, tmp_path, f"http://127.0.0.1:{misbehaving.server_port}", "--batch", "3",
                              "--parallel", "2", "--retries", "1", "--backoff", "0.01", "--timeout", "0.5")
    assert code == 1, stderr
    assert "Traceback" not in stderr, stderr
    outcomes = read_outcomes(tmp_path)
    assert outcomes["unchecked"] == ids and not outcomes["allowed"] and not outcomes["denied"]
    assert (tmp_path / "answers.jsonl").read_text() == ""
    if mode == "401":  # a refused key: the script stops instead of asking again for every batch
        assert misbehaving.RequestHandlerClass.requests <= 2, misbehaving.RequestHandlerClass.requests


@pytest.mark.parametrize("mode", ["flaky-disconnect", "flaky-truncated", "flaky-503", "429"])
def test_a_failure_that_passes_is_retried_and_answered(misbehaving, tmp_path, mode):
    misbehaving.RequestHandlerClass.mode = mode
    ids = [f"url:https://example.com/{n}" for n in range(4)]
    code, stderr = run_script(ids, tmp_path, f"http://127.0.0.1:{misbehaving.server_port}", "--parallel", "1",
                              "--retries", "2", "--backoff", "0.01")
    assert code == 0, stderr
    assert read_outcomes(tmp_path)["allowed"] == ids
