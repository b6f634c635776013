"""`manage.py verify_receipt FILE`: exit code 0 when every receipt verifies, 1 otherwise, with the reason."""
import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db import connection

from consent.selectors import lookup_many
from consent.services import declaration_file
from receipts.services import receipts_attach
from registry.services import work_register

pytestmark = [pytest.mark.django_db]

T0 = datetime(2026, 1, 1, tzinfo=UTC)


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
