"""Persona: Mirai AI's crawler, holding a licence from Studio Kaze for one work (domain.md "Licences and permission
requests"). Rules: `kyodaku check` writes the `licensed` answer with its licence id in the `licence` column (and the
public answer for everyone else's ids); `kyodaku verify` shows the licence of batch and single receipts and fails
a result whose licence was swapped."""
import csv
import json

import httpx
import pytest
from kyodaku.cli import main

pytestmark = [pytest.mark.django_db(transaction=True)]
ISBN = "isbn:9784990166137"
OTHER = "isbn:9780306406157"


@pytest.fixture
def mirai(transactional_db, studio_kaze):
    from consent.licence_services import licence_file
    from consent.services import declaration_file
    from keys.services import api_key_create
    from registry.services import work_register

    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani", identifiers=[ISBN]).work
    work_register(holder=studio_kaze.holder, work_ref="SK-2", title="Umi", identifiers=[OTHER])
    declaration_file(holder=studio_kaze.holder, scope="catalogue", purpose="train-ai", consent="reserve")
    key, plain = api_key_create(name="Mirai crawler", rate="none", organisation="Mirai AI")
    licence = licence_file(holder=studio_kaze.holder, licensee=key.organisation, scope="work", work=work,
                           purposes=["train-genai"], jurisdictions=["JP"], actor=studio_kaze.user)
    return {"key": key, "plain": plain, "licence": str(licence.pk)}


def check(monkeypatch, registry, plain, tmp_path, receipts):
    monkeypatch.setenv("KYODAKU_URL", registry)
    monkeypatch.setenv("KYODAKU_API_KEY", plain)
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{ISBN}\n{OTHER}\n")
    out = tmp_path / f"answers-{receipts}.csv"
    assert main(["check", str(ids), "--purpose", "train-genai", "--jurisdiction", "JP", "--out", str(out),
                 "--receipts", receipts, "--quiet"]) == 0
    with open(out, newline="", encoding="utf-8") as f:
        rows = {row["id"]: row for row in csv.DictReader(f)}
    return rows, tmp_path / f"answers-{receipts}.csv.receipts.jsonl"


def test_check_writes_the_licensed_answer_and_its_licence_id(registry, mirai, monkeypatch, tmp_path):
    rows, _ = check(monkeypatch, registry, mirai["plain"], tmp_path, "none")
    assert (rows[ISBN]["outcome"], rows[ISBN]["basis"], rows[ISBN]["licence"]) == ("allowed", "licensed",
                                                                                   mirai["licence"])
    assert (rows[OTHER]["outcome"], rows[OTHER]["licence"]) == ("denied", "")


@pytest.mark.parametrize("receipts", ["batch", "single"])
def test_verify_shows_the_licence_and_refuses_a_swapped_one(registry, mirai, monkeypatch, tmp_path, capsys,
                                                            receipts):
    _, signed = check(monkeypatch, registry, mirai["plain"], tmp_path, receipts)
    jwks = tmp_path / "keys.json"
    jwks.write_text(httpx.get(f"{registry}/api/v1/keys").text)
    assert main(["verify", str(signed), "--jwks", str(jwks)]) == 0
    out = capsys.readouterr().out
    assert f"licence {mirai['licence']} for key {mirai['key'].prefix}" in out
    if receipts == "batch":
        document = json.loads(signed.read_text().splitlines()[0])
        document["results"][0]["licence"]["id"] = "01a24b8c-0000-7000-8000-000000000000"
        signed.write_text(json.dumps(document) + "\n")
        assert main(["verify", str(signed), "--jwks", str(jwks)]) == 1
        assert "is not the signed one" in capsys.readouterr().out
