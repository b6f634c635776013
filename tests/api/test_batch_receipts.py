"""Batch receipts (sync.md, "Batch receipts"): an AI developer checking 10,000 ids gets one signature over the
Merkle root of the answers and a proof per answer; anyone can check any one answer against the signed root with
the published keys alone.

The tree is rebuilt here straight from RFC 6962's recursive definition (MTH and PATH, section 2.1), with leaves
canonicalised by the `rfc8785` library, not by the server's code: an independent second reading.
"""
import hashlib
import json
from datetime import UTC, datetime
from functools import cache

import pytest
import rfc8785
from django.core.management import call_command
from django.core.management.base import CommandError
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws

from consent.models import Declaration
from consent.services import declaration_file
from receipts import services as receipt_services
from registry.models import Identifier, Work
from registry.services import work_register
from tests.consent.test_lookup_queries import BATCH_QUERIES, isbn13

from .conftest import client_for

pytestmark = [pytest.mark.django_db]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
N = 10_000


@pytest.fixture(autouse=True)
def signing_key_dir(settings, tmp_path):
    settings.KYODAKU_SIGNING_KEY_DIR = tmp_path / "signing-keys"
    settings.KYODAKU_SIGNING_KEY = ""
    settings.KYODAKU_SIGNING_KEY_AUTOCREATE = True
    receipt_services._SIGNERS.clear()
    yield
    receipt_services._SIGNERS.clear()


def mth(leaves: list[bytes]):
    """RFC 6962 2.1: MTH and PATH over `leaves`, memoised per subtree (each subtree hash is computed once)."""

    @cache
    def tree_hash(lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 1:
            return hashlib.sha256(b"\x00" + leaves[lo]).digest()
        k = 1 << ((n - 1).bit_length() - 1)  # the largest power of two smaller than n
        return hashlib.sha256(b"\x01" + tree_hash(lo, lo + k) + tree_hash(lo + k, hi)).digest()

    def path(m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = 1 << ((n - 1).bit_length() - 1)
        if m < k:
            return path(m, lo, lo + k) + [tree_hash(lo + k, hi)]
        return path(m - k, lo + k, hi) + [tree_hash(lo, lo + k)]

    return tree_hash, path


def independent_leaf(result: dict) -> bytes:
    if "error" in result:
        return rfc8785.dumps({"id": result["id"], "error": result["error"]["code"]})
    declaration = result["declaration"]["id"] if result["declaration"] else None
    return rfc8785.dumps({"id": result["id"], "identifier": result["identifier"], "purpose": result["purpose"],
                          "jurisdiction": result["jurisdiction"], "as_of": result["as_of"],
                          "outcome": result["outcome"], "basis": result["basis"], "declaration": declaration})


def verify_with_jwcrypto(token: str, jwks_json: str) -> tuple[dict, dict]:
    keyset = jwcrypto_jwk.JWKSet.from_json(jwks_json)
    signed = jwcrypto_jws.JWS()
    signed.deserialize(token)
    signed.verify(keyset.get_key(signed.jose_header["kid"]), alg="EdDSA")
    return signed.jose_header, json.loads(signed.payload)


@pytest.fixture
def big_catalogue(studio_kaze, hoshi_pub):
    """Studio Kaze's 4,000 books (half granted for train-ai in JP, half reserved), Hoshi's catalogue-wide
    reservation, one dispute."""
    works = Work.objects.bulk_create(
        Work(holder=studio_kaze.holder, work_ref=f"SK-{i}", title=f"Book {i}", kind="book", created_at=T0)
        for i in range(4000))
    Identifier.objects.bulk_create(Identifier(work=w, scheme="isbn", value=isbn13(i), valid_from=T0)
                                   for i, w in enumerate(works))
    Declaration.objects.bulk_create(
        Declaration(holder=studio_kaze.holder, scope="work", work=w, purpose="train-ai", jurisdiction="JP",
                    consent="grant" if i % 2 else "reserve", effective_from=T0, recorded_at=T0)
        for i, w in enumerate(works))
    declaration_file(holder=hoshi_pub.holder, scope="catalogue", purpose="train-ai", consent="reserve", at=T0)
    work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Claim", identifiers=[f"isbn:{isbn13(7)}"],
                  at=T0)  # opens a dispute on SK-7
    return works


def ten_thousand_ids() -> list[str]:
    ids = []
    for i in range(N):
        kind = i % 10
        if kind == 0:
            ids.append("isbn:978-0-00-000000-1")  # bad checksum: an error leaf
        elif kind == 1:
            ids.append(f"isbn:{isbn13(50_000 + i)}")  # unregistered
        elif kind == 2:
            ids.append(f"url:https://example.com/{i}")  # unregistered url
        else:
            ids.append(f"isbn:{isbn13(i % 4000)}")
    return ids


@pytest.mark.postgres
def test_ai_developer_checks_every_proof_of_a_10000_id_batch_against_an_independent_rfc6962_tree(
        ai_developer, anonymous, big_catalogue):
    ids = ten_thousand_ids()
    response = ai_developer.post("/api/v1/lookup?receipt=batch",
                                 {"ids": ids, "purpose": "train-genai", "jurisdiction": "JP"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    results = body["results"]
    header, claims = verify_with_jwcrypto(body["batch_receipt"], anonymous.get("/api/v1/keys").content.decode())

    leaves = [independent_leaf(r) for r in results]
    tree_hash, path = mth(leaves)
    assert header["typ"] == "kyodaku-batch-receipt+jwt"
    assert claims["root"] == tree_hash(0, N).hex()
    assert claims["count"] == N == len(results)
    assert (claims["purpose"], claims["jurisdiction"], claims["as_of"]) == ("train-genai", "JP",
                                                                            results[1]["as_of"])
    assert claims["audit_head"] == anonymous.get("/api/v1/audit/head").json()
    assert set(claims) == {"root", "count", "purpose", "jurisdiction", "as_of", "audit_head", "iat", "iss", "sub"}
    for i, result in enumerate(results):
        assert result["proof"] == {"index": i, "hashes": [h.hex() for h in path(i, 0, N)]}, i
        assert "receipt" not in result
    outcomes = {r.get("basis", "error") for r in results}
    assert outcomes == {"error", "granted", "reserved", "disputed", "permission-required"}


def test_the_batch_receipt_names_the_key_that_asked(studio_kaze, anonymous):
    from keys.services import api_key_create

    key, plain = api_key_create(name="Crawler Co", rate="none")
    body = client_for(api_key=plain).post(
        "/api/v1/lookup", {"ids": ["isbn:9780306406157", "isbn:123"], "purpose": "tdm", "jurisdiction": "FR",
                           "receipt": "batch"}, format="json").json()
    _, claims = verify_with_jwcrypto(body["batch_receipt"], anonymous.get("/api/v1/keys").content.decode())
    assert claims["sub"] == key.prefix
    assert [r["proof"]["index"] for r in body["results"]] == [0, 1]
    assert body["results"][1]["error"]["code"] == "invalid-identifier"


def test_receipt_takes_true_false_or_batch_and_nothing_else(ai_developer):
    body = {"ids": ["isbn:9780306406157", "isbn:9784990166137"], "purpose": "tdm", "jurisdiction": "FR"}
    single = ai_developer.post("/api/v1/lookup?receipt=true", body, format="json").json()
    none = ai_developer.post("/api/v1/lookup", {**body, "receipt": False}, format="json").json()
    bad = ai_developer.post("/api/v1/lookup?receipt=maybe", body, format="json")

    assert "batch_receipt" not in single and all("receipt" in r for r in single["results"])
    assert "batch_receipt" not in none and not any("receipt" in r or "proof" in r for r in none["results"])
    assert bad.status_code == 400 and bad["Content-Type"] == "application/problem+json"


@pytest.mark.postgres
def test_a_batch_receipt_costs_two_queries_more_than_the_batch(ai_developer, big_catalogue,
                                                                django_assert_max_num_queries):
    ai_developer.post("/api/v1/lookup?receipt=batch", {"ids": ["isbn:123", "isbn:9780306406157"], "purpose": "tdm",
                                                       "jurisdiction": "FR"}, format="json")  # key and rules warm
    # The batch's own queries, then the active signing key and the audit head; plus the API key's look-up (cached
    # after the first request, so at most one) and nothing per id.
    with django_assert_max_num_queries(BATCH_QUERIES + 2 + 1):
        response = ai_developer.post("/api/v1/lookup", {"ids": ten_thousand_ids()[:5000], "purpose": "train-genai",
                                                        "jurisdiction": "JP", "receipt": "batch"}, format="json")
    assert response.status_code == 200


@pytest.fixture
def saved_batch(ai_developer, anonymous, studio_kaze, tmp_path):
    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani",
                         identifiers=["isbn:978-4-9901661-3-7"], at=T0).work
    declaration_file(holder=studio_kaze.holder, scope="work", work=work, purpose="train-ai", consent="reserve",
                     at=T0)
    body = ai_developer.post("/api/v1/lookup?receipt=batch", {
        "ids": ["isbn:978-4-9901661-3-7", "isbn:9780306406157", "isbn:123", "doi:10.1000/x"],
        "purpose": "train-genai", "jurisdiction": "FR"}, format="json").json()
    jwks = tmp_path / "keys.json"
    jwks.write_text(anonymous.get("/api/v1/keys").content.decode())
    return body, jwks


def write(tmp_path, document) -> str:
    path = tmp_path / "response.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_verify_receipt_checks_a_saved_batch_online_and_offline(saved_batch, tmp_path, capsys):
    body, jwks = saved_batch
    path = write(tmp_path, body)

    call_command("verify_receipt", path)
    assert "OK   batch of 4 train-genai@FR" in capsys.readouterr().out
    call_command("verify_receipt", path, "--jwks", str(jwks), "--json")
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["offline"] is True


def test_verify_receipt_catches_an_answer_altered_after_signing(saved_batch, tmp_path, capsys):
    body, jwks = saved_batch
    assert body["results"][0]["outcome"] == "denied"
    body["results"][0]["outcome"] = "allowed"
    path = write(tmp_path, body)

    for extra in ([], ["--jwks", str(jwks)]):
        with pytest.raises(CommandError):
            call_command("verify_receipt", path, *extra)
        assert "result 0 ('isbn:978-4-9901661-3-7'): its proof does not lead to the signed root" in \
            capsys.readouterr().out


def test_verify_receipt_catches_a_dropped_or_reordered_answer(saved_batch, tmp_path, capsys):
    body, _ = saved_batch
    with pytest.raises(CommandError):
        call_command("verify_receipt", write(tmp_path, {**body, "results": body["results"][1:]}))
    assert "covers 4 answers, the file holds 3" in capsys.readouterr().out
    swapped = [body["results"][1], body["results"][0], *body["results"][2:]]
    with pytest.raises(CommandError):
        call_command("verify_receipt", write(tmp_path, {**body, "results": swapped}))
    assert "result 0 ('isbn:9780306406157'): no proof for its position" in capsys.readouterr().out


def test_offline_verification_refuses_a_key_the_saved_jwks_does_not_hold(saved_batch, tmp_path, capsys):
    body, jwks = saved_batch
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"keys": []}))
    with pytest.raises(CommandError):
        call_command("verify_receipt", write(tmp_path, body), "--jwks", str(other))
    assert "is not one of this registry's published keys" in capsys.readouterr().out
