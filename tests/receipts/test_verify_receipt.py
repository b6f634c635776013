"""`manage.py verify_receipt FILE`: exit code 0 when every receipt verifies, 1 otherwise, with the reason."""
import base64
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db import connection

from consent.lookup import lookup_many
from consent.services import declaration_file
from receipts.services import receipts_attach
from registry.services import work_register

pytestmark = [pytest.mark.django_db]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def lookup_response(studio_kaze):
    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani",
                         identifiers=["isbn:978-4-9901661-3-7"], at=T0).work
    declaration_file(holder=studio_kaze.holder, scope="work", work=work, purpose="train-ai", consent="grant", at=T0)
    results = lookup_many(ids=["isbn:978-4-9901661-3-7", "isbn:9780306406157"], purpose="train-ai",
                          jurisdiction="FR")
    receipts_attach(results)
    return {"results": results}


def run(*argv) -> int:
    """The command as a shell runs it; returns its exit code."""
    try:
        execute_from_command_line(["manage.py", *argv])
    except SystemExit as exc:
        return exc.code
    return 0


def test_verify_receipt_exits_0_for_a_good_receipt(lookup_response, tmp_path, capsys):
    path = tmp_path / "receipt.jws"
    path.write_text(lookup_response["results"][0]["receipt"] + "\n")

    assert run("verify_receipt", str(path)) == 0
    assert "OK   isbn:9784990166137 train-ai@FR" in capsys.readouterr().out


def test_verify_receipt_checks_every_receipt_of_a_saved_lookup_response(lookup_response, tmp_path):
    path = tmp_path / "response.json"
    path.write_text(json.dumps(lookup_response))

    call_command("verify_receipt", str(path), "--json")


def test_verify_receipt_exits_1_for_a_tampered_receipt(lookup_response, tmp_path, capsys):
    token = lookup_response["results"][0]["receipt"]
    head, payload, signature = token.split(".")
    path = tmp_path / "receipt.jws"
    path.write_text(".".join([head, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")]))

    assert run("verify_receipt", str(path)) == 1
    assert "signature does not verify" in capsys.readouterr().out


def test_verify_receipt_exits_1_for_a_receipt_of_another_registry(lookup_response, tmp_path, settings):
    path = tmp_path / "receipt.jws"
    path.write_text(lookup_response["results"][0]["receipt"])
    settings.KYODAKU_BASE_URL = "https://another-registry.example"

    with pytest.raises(CommandError) as failure:
        call_command("verify_receipt", str(path))
    assert failure.value.returncode == 1


def test_verify_receipt_exits_1_for_a_key_this_registry_never_published(lookup_response, tmp_path):
    from joserfc import jws
    from joserfc.jwk import OKPKey

    stranger = OKPKey.generate_key("Ed25519")
    forged = jws.serialize_compact({"alg": "EdDSA", "kid": stranger.thumbprint()}, b'{"outcome":"allowed"}',
                                   stranger, algorithms=["EdDSA"])
    path = tmp_path / "receipt.jws"
    path.write_text(forged)

    assert run("verify_receipt", str(path)) == 1


def test_verify_receipt_reports_an_unreadable_file(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("verify_receipt", str(tmp_path / "missing.jws"))


def test_verify_receipt_refuses_garbage(tmp_path):
    path = tmp_path / "receipt.jws"
    path.write_text("not a receipt")

    assert run("verify_receipt", str(path)) == 1


@pytest.mark.postgres
def test_verify_receipt_fails_when_the_audit_history_it_recorded_was_rewritten(lookup_response, tmp_path, capsys):
    token = lookup_response["results"][0]["receipt"]
    path = tmp_path / "receipt.jws"
    path.write_text(token)
    from receipts.selectors import receipt_verify
    seq = receipt_verify(token=token).payload["audit_head"]["seq"]
    with connection.cursor() as cursor:  # a DBA rewrites history, trigger and all
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        cursor.execute("UPDATE audit_auditevent SET hash = md5(hash) || md5(hash) WHERE seq = %s", [seq])
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")

    assert run("verify_receipt", str(path)) == 1
    assert f"event #{seq} no longer has the hash" in capsys.readouterr().out


# --- offline, from a saved JWKS, on JSON lines (issue 19) ---------------------------------------------------------

@pytest.fixture
def saved_run(lookup_response, tmp_path):
    """What an AI developer keeps: answers as JSON lines (an error entry without a receipt among them), as
    docs/examples/check_ids.py writes them, and a copy of GET /api/v1/keys."""
    from receipts.selectors import signing_keys_jwks

    answers = [*lookup_response["results"], {"id": "isbn:123", "error": {"code": "invalid-identifier",
                                                                          "detail": "ISBN checksum does not match"}}]
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps(answer) + "\n" for answer in answers))
    jwks = tmp_path / "keys.json"
    jwks.write_text(json.dumps(signing_keys_jwks()))
    return path, jwks, answers


def offline(*argv: str) -> subprocess.CompletedProcess:
    """`manage.py verify_receipt` in a process of its own whose database does not exist: nothing may touch it."""
    return subprocess.run(
        [sys.executable, "manage.py", "verify_receipt", *argv], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test",
             "DATABASE_URL": "postgres://nobody@127.0.0.1:1/no_such_database"}, timeout=120)


def test_ai_developer_verifies_json_lines_offline_from_a_saved_jwks_without_any_database(saved_run, settings):
    path, jwks, answers = saved_run
    done = offline(str(path), "--jwks", str(jwks), "--iss", settings.KYODAKU_BASE_URL)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len([line for line in lines if line.startswith("OK ")]) == 2  # the error entry carries no receipt
    assert f"issued by {settings.KYODAKU_BASE_URL}" in lines[0]
    done = offline(str(path), "--jwks", str(jwks), "--json")
    assert json.loads(done.stdout.splitlines()[-1])["offline"] is True


def test_offline_verification_names_a_tampered_line_another_issuer_and_a_broken_line(saved_run, tmp_path):
    path, jwks, answers = saved_run
    token = answers[1]["receipt"]
    head, payload, signature = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["outcome"] = "allowed"
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text(json.dumps(answers[0]) + "\n" + json.dumps({**answers[1], "receipt": ".".join(
        [head, forged_payload, signature])}) + "\n")
    done = offline(str(tampered), "--jwks", str(jwks))
    assert done.returncode == 1 and "signature does not verify" in done.stdout, done.stdout + done.stderr

    done = offline(str(path), "--jwks", str(jwks), "--iss", "https://another-registry.example")
    assert done.returncode == 1 and "not by 'https://another-registry.example'" in done.stdout

    broken = tmp_path / "broken.jsonl"
    broken.write_text(path.read_text() + '{"id": "isbn:97\n')
    done = offline(str(broken), "--jwks", str(jwks))
    assert done.returncode == 1 and "Line 4 is not JSON" in done.stderr, done.stderr


def test_one_compact_jws_per_line_is_a_file_of_receipts(lookup_response, tmp_path, capsys):
    path = tmp_path / "receipts.txt"
    path.write_text("".join(r["receipt"] + "\n" for r in lookup_response["results"]))

    assert run("verify_receipt", str(path)) == 0
    assert capsys.readouterr().out.count("OK ") == 2
