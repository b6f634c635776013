"""Persona: an AI developer's crawler. Rules: the server going away mid-check leaves no answer invented (the rest
is `denied` / `unchecked`, exit 1) and the next run asks only for what is missing; a 429 storm is waited out
honouring Retry-After; batch receipts written by `check` verify offline and a changed answer does not."""
import csv
import json

import httpx
import pytest
from kyodaku import Api
from kyodaku.cli import main

pytestmark = [pytest.mark.django_db(transaction=True)]
ORIGINAL_INIT = Api.__init__
PAIR = ["--purpose", "train-genai", "--jurisdiction", "JP"]


class Flaky(httpx.BaseTransport):
    """The real server, then gone after `serve` lookups (connection refused), or 429 for the first `storm`."""

    def __init__(self, *, serve=10**9, storm=0, retry_after="2"):
        self.real, self.serve, self.storm, self.retry_after = httpx.HTTPTransport(), serve, storm, retry_after
        self.lookups = []

    def handle_request(self, request):
        if request.url.path == "/api/v1/lookup":
            if self.storm > 0:
                self.storm -= 1
                return httpx.Response(429, headers={"Retry-After": self.retry_after}, json={"status": 429})
            if self.serve <= 0:
                raise httpx.ConnectError("connection refused", request=request)
            self.serve -= 1
            self.lookups.append(json.loads(request.content)["ids"])
        return self.real.handle_request(request)


def run_check(monkeypatch, registry, api_key, transport, *args):
    sleeps = []
    def patched(self, *a, **kw):
        ORIGINAL_INIT(self, *a, **{**kw, "transport": transport, "sleep": sleeps.append, "retries": 4})

    monkeypatch.setattr(Api, "__init__", patched)
    monkeypatch.setenv("KYODAKU_URL", registry)
    monkeypatch.setenv("KYODAKU_API_KEY", api_key)
    return main(["check", *args, *PAIR, "--quiet"]), sleeps


def test_server_going_away_mid_check_reports_nothing_unanswered_and_resumes(registry, api_key, monkeypatch,
                                                                            tmp_path, studio_kaze):
    from consent.services import declaration_file
    from registry.services import work_register

    for i in range(0, 50, 5):
        work = work_register(holder=studio_kaze.holder, work_ref=f"W{i}", title="t",
                             identifiers=[f"doi:10.5555/w-{i}"]).work
        declaration_file(holder=studio_kaze.holder, scope="work", work=work, purpose="train-genai", consent="grant")
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(f"doi:10.5555/w-{i}\n" for i in range(50)))
    out = tmp_path / "answers.csv"
    gone = Flaky(serve=2)
    code, _ = run_check(monkeypatch, registry, api_key, gone, str(ids), "--out", str(out), "--batch-size", "10",
                        "--concurrency", "1")
    assert code == 1
    rows = list(csv.DictReader(out.open()))
    assert [r["id"] for r in rows] == [f"doi:10.5555/w-{i}" for i in range(50)]
    unchecked = [r for r in rows if r["basis"] == "unchecked"]
    assert len(unchecked) == 30 and all(r["outcome"] == "denied" and "ConnectError" in r["reason"]
                                        for r in unchecked)
    answered = {r["id"] for r in rows if r["basis"] != "unchecked"}
    assert answered == {i for batch in gone.lookups for i in batch}  # nothing reported that was not answered

    back = Flaky()
    code, _ = run_check(monkeypatch, registry, api_key, back, str(ids), "--out", str(out), "--batch-size", "10",
                        "--concurrency", "1")
    assert code == 0
    assert sorted(i for batch in back.lookups for i in batch) == sorted(r["id"] for r in unchecked)  # not twice
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 50 and {r["basis"] for r in rows} == {"granted", "permission-required"}
    assert sum(r["outcome"] == "allowed" for r in rows) == 10
    assert not (tmp_path / "answers.csv.state.jsonl").exists()


def test_a_429_storm_is_waited_out_honouring_retry_after(registry, api_key, monkeypatch, tmp_path, studio_kaze):
    ids = tmp_path / "ids.txt"
    ids.write_text("doi:10.5555/a\ndoi:10.5555/b\n")
    out = tmp_path / "answers.csv"
    code, sleeps = run_check(monkeypatch, registry, api_key, Flaky(storm=3, retry_after="7"), str(ids),
                             "--out", str(out))
    assert code == 0 and sleeps == [7.0, 7.0, 7.0]
    code, sleeps = run_check(monkeypatch, registry, api_key, Flaky(storm=10, retry_after="7"), str(ids),
                             "--out", str(out), "--restart")
    assert code == 1 and sleeps == [7.0, 7.0, 7.0]  # four attempts, then unchecked: never allowed
    assert {r["basis"] for r in csv.DictReader(out.open())} == {"unchecked"}


def test_batch_receipts_written_by_check_verify_offline(registry, api_key, monkeypatch, tmp_path, studio_kaze,
                                                        capsys):
    ids = tmp_path / "ids.txt"
    ids.write_text("doi:10.5555/a\nisbn:9784990166137\nnot an id\n")
    out = tmp_path / "answers.csv"
    code, _ = run_check(monkeypatch, registry, api_key, Flaky(), str(ids), "--out", str(out), "--receipts", "batch")
    assert code == 0
    jwks = tmp_path / "keys.json"
    jwks.write_text(httpx.get(f"{registry}/api/v1/keys").text)
    receipts = tmp_path / "answers.csv.receipts.jsonl"
    assert main(["verify", str(receipts), "--jwks", str(jwks), "--iss", registry]) == 0
    assert "3 of 3 verified" in capsys.readouterr().out
    document = json.loads(receipts.read_text())
    document["results"][0]["outcome"] = "allowed" if document["results"][0]["outcome"] == "denied" else "denied"
    receipts.write_text(json.dumps(document) + "\n")
    assert main(["verify", str(receipts), "--jwks", str(jwks)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_verify_fetches_the_published_keys_from_kyodaku_url_without_jwks(registry, api_key, monkeypatch, tmp_path,
                                                                        studio_kaze, capsys):
    """sync.md: `kyodaku verify FILE` checks receipts against the published keys, the server coming from
    KYODAKU_URL; before, `--jwks` was required and `kyodaku verify FILE` was a usage error."""
    ids = tmp_path / "ids.txt"
    ids.write_text("doi:10.5555/a\nisbn:9784990166137\n")
    out = tmp_path / "answers.csv"
    code, _ = run_check(monkeypatch, registry, api_key, Flaky(), str(ids), "--out", str(out), "--receipts", "batch")
    assert code == 0
    capsys.readouterr()
    receipts = str(tmp_path / "answers.csv.receipts.jsonl")
    monkeypatch.setenv("KYODAKU_URL", registry)
    assert main(["verify", receipts]) == 0
    assert "2 of 2 verified" in capsys.readouterr().out
    monkeypatch.delenv("KYODAKU_URL")
    with pytest.raises(SystemExit) as refused:
        main(["verify", receipts])
    assert "--jwks" in str(refused.value.code) and "KYODAKU_URL" in str(refused.value.code)
