"""Batch receipts of licensed answers (api.md: "Receipts carry the licence id and `sub`, so a licensed answer is
provably the licensee's own"; sync.md fixes the leaf's fields, so the licence id is signed in the payload).

Personas: Studio Kaze licenses a work to Mirai AI; Mirai and Kumo Labs each check a batch with `receipt=batch`.
Rules proven: Mirai's batch receipt signs `sub` (its key) and `licences` {leaf index: licence id} for its licensed
answers, the leaves stay sync.md's; `verify_receipt` accepts it and refuses a result whose licence was swapped
or whose basis was changed; Kumo's receipt has no `licences` at all.
"""
import base64
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from consent.licence_services import licence_file
from consent.services import declaration_file
from keys.services import api_key_create
from receipts.batch import LEAF_FIELDS
from registry.services import work_register

from .conftest import client_for
from .test_batch_receipts import signing_key_dir  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db]
ISBN = "isbn:978-4-9901661-3-7"
OTHER = "isbn:978-0-306-40615-7"


def payload_of(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


@pytest.fixture
def world(studio_kaze):
    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani", identifiers=[ISBN]).work
    work_register(holder=studio_kaze.holder, work_ref="SK-2", title="Umi", identifiers=[OTHER])
    declaration_file(holder=studio_kaze.holder, scope="catalogue", purpose="train-ai", consent="reserve")
    mirai_key, mirai_plain = api_key_create(name="Mirai crawler", rate="none", organisation="Mirai AI")
    _, kumo_plain = api_key_create(name="Kumo crawler", rate="none", organisation="Kumo Labs")
    licence = licence_file(holder=studio_kaze.holder, licensee=mirai_key.organisation, scope="work", work=work,
                           purposes=["train-genai"], jurisdictions=["JP"], actor=studio_kaze.user)
    return {"mirai": client_for(api_key=mirai_plain), "kumo": client_for(api_key=kumo_plain),
            "mirai_key": mirai_key, "licence": licence}


def batch(client):
    response = client.post("/api/v1/lookup?receipt=batch", {"ids": [ISBN, OTHER, "isbn:123"],
                                                            "purpose": "train-genai", "jurisdiction": "JP"},
                           format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_mirais_batch_receipt_signs_its_licence_and_its_key(world, tmp_path, capsys):
    body = batch(world["mirai"])
    first = body["results"][0]
    assert (first["basis"], first["licence"]["id"]) == ("licensed", str(world["licence"].pk))
    payload = payload_of(body["batch_receipt"])
    assert payload["licences"] == {"0": str(world["licence"].pk)}
    assert payload["sub"] == world["mirai_key"].prefix
    assert LEAF_FIELDS == ("id", "identifier", "purpose", "jurisdiction", "as_of", "outcome", "basis",
                           "declaration")  # sync.md's leaf, unchanged
    path = tmp_path / "mirai.json"
    path.write_text(json.dumps(body))
    call_command("verify_receipt", str(path))
    out = capsys.readouterr().out
    assert "OK   batch of 3" in out and f"1 licensed to key {world['mirai_key'].prefix}" in out
    assert str(world["licence"].pk) in out


def test_a_swapped_licence_or_basis_fails_verification(world, tmp_path, capsys):
    body = batch(world["mirai"])
    swapped = json.loads(json.dumps(body))
    swapped["results"][0]["licence"]["id"] = "01a24b8c-0000-7000-8000-000000000000"
    path = tmp_path / "swapped.json"
    path.write_text(json.dumps(swapped))
    with pytest.raises(CommandError):
        call_command("verify_receipt", str(path))
    assert "is not the signed one" in capsys.readouterr().out


def test_kumos_batch_receipt_knows_no_licence(world):
    body = batch(world["kumo"])
    assert all(r.get("licence") is None for r in body["results"])
    assert "licences" not in payload_of(body["batch_receipt"])
