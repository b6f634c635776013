"""Receipts (api.md, "Evidence"): signed with the active key, verifiable with the published JWKS alone, by an
independent JOSE library (jwcrypto), and still verifiable after a key rotation."""
import json
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from joserfc import jws as joserfc_jws
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws

from consent.lookup import lookup_many
from consent.services import declaration_file
from core.errors import Conflict
from receipts import keystore
from receipts.models import KeyStatus, SigningKey
from receipts.selectors import receipt_verify, signing_keys_jwks
from receipts.services import (
    ReceiptSigner,
    receipt_signer,
    receipts_attach,
    signing_key_ensure,
    signing_key_rotate,
)
from registry.services import work_register

pytestmark = [pytest.mark.django_db]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ISBN = "978-4-9901661-3-7"


@pytest.fixture
def kaze_reserved_work(studio_kaze):
    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani", kind="manga",
                         identifiers=[f"isbn:{ISBN}"], at=T0).work
    declaration, _ = declaration_file(holder=studio_kaze.holder, scope="catalogue", purpose="train-ai",
                                      jurisdiction="*", consent="reserve", at=T0)
    return work, declaration


def answers(*ids, as_of=T0 + timedelta(days=30)):
    results = lookup_many(ids=list(ids), purpose="train-genai", jurisdiction="JP", as_of=as_of)
    receipts_attach(results)
    return results


def verify_with_jwcrypto(token: str, jwks: dict) -> dict:
    """What an AI developer does outside Kyodaku: jwcrypto, the JWKS, nothing else."""
    keyset = jwcrypto_jwk.JWKSet.from_json(json.dumps(jwks))
    signed = jwcrypto_jws.JWS()
    signed.deserialize(token)
    kid = signed.jose_header["kid"]
    key = keyset.get_key(kid)
    assert key is not None, f"kid {kid} is not in the JWKS"
    signed.verify(key, alg="EdDSA")  # raises InvalidJWSSignature when it does not verify
    return json.loads(signed.payload)


def test_ai_developer_receipt_payload_is_exactly_the_api_md_fields(kaze_reserved_work, settings):
    settings.KYODAKU_BASE_URL = "https://kyodaku.example.org"
    work, declaration = kaze_reserved_work
    [result] = answers(f"isbn:{ISBN}")

    payload = receipt_verify(token=result["receipt"]).payload

    assert set(payload) == {"id", "identifier", "purpose", "jurisdiction", "as_of", "outcome", "basis",
                            "declaration", "audit_head", "iat", "iss", "sub"}
    assert payload["id"] == f"isbn:{ISBN}"
    assert payload["identifier"] == "isbn:9784990166137"
    assert (payload["purpose"], payload["jurisdiction"]) == ("train-genai", "JP")
    assert payload["as_of"] == "2026-01-31T00:00:00Z" == result["as_of"]
    assert (payload["outcome"], payload["basis"]) == ("denied", "reserved")
    assert payload["declaration"] == str(declaration.pk)
    assert payload["iss"] == "https://kyodaku.example.org"
    from audit.selectors import audit_head
    assert payload["audit_head"] == audit_head()
    assert abs(payload["iat"] - datetime.now(UTC).timestamp()) < 60


def test_ai_developer_receipt_header_is_eddsa_with_the_active_kid(kaze_reserved_work):
    [result] = answers(f"isbn:{ISBN}")

    header = joserfc_jws.extract_compact(result["receipt"].encode()).headers()

    assert header["alg"] == "EdDSA"
    assert header["kid"] == SigningKey.objects.get(status=KeyStatus.ACTIVE).kid


def test_ai_developer_verifies_a_receipt_with_jwcrypto_and_the_jwks_only(kaze_reserved_work):
    [registered, unregistered] = answers(f"isbn:{ISBN}", "isbn:9780306406157")
    jwks = json.loads(json.dumps(signing_keys_jwks()))

    assert verify_with_jwcrypto(registered["receipt"], jwks)["outcome"] == "denied"
    assert verify_with_jwcrypto(unregistered["receipt"], jwks)["declaration"] is None


def test_a_changed_payload_does_not_verify_with_jwcrypto_nor_with_the_registry(kaze_reserved_work):
    [result] = answers(f"isbn:{ISBN}")
    header, payload, signature = result["receipt"].split(".")
    claims = json.loads(joserfc_jws.extract_compact(result["receipt"].encode()).payload)
    claims["outcome"] = "allowed"
    from joserfc.util import json_b64encode
    forged = ".".join([header, json_b64encode(claims).decode(), signature])

    with pytest.raises(jwcrypto_jws.InvalidJWSSignature):
        verify_with_jwcrypto(forged, signing_keys_jwks())
    check = receipt_verify(token=forged)
    assert not check.ok and "signature does not verify" in check.problems[0]


def test_bad_ids_in_a_batch_get_no_receipt(kaze_reserved_work):
    good, bad = answers(f"isbn:{ISBN}", "isbn:123")

    assert "receipt" in good
    assert "error" in bad and "receipt" not in bad


def test_the_fast_signer_produces_exactly_what_joserfc_serialize_compact_produces():
    signer = receipt_signer()
    payload = b'{"as_of":"2026-11-28T12:00:00Z","outcome":"allowed"}'

    ours = signer.sign(payload)
    library = joserfc_jws.serialize_compact(signer.header, payload, signer.key, algorithms=["EdDSA"])

    assert ours == library  # Ed25519 is deterministic: same key, header and payload give the same signature


def test_receipts_for_a_batch_cost_two_queries_whatever_its_size(kaze_reserved_work, django_assert_num_queries):
    signing_key_ensure()
    receipt_signer()
    results = lookup_many(ids=[f"isbn:{ISBN}"] * 500, purpose="train-genai", jurisdiction="JP")
    # 1: which key is active; 2: the audit log head
    with django_assert_num_queries(2):
        receipts_attach(results)
    assert all("receipt" in r for r in results)


# ------------------------------------------------------------------------------------------------------- keys

def test_first_use_creates_a_private_key_file_readable_by_its_owner_only(signing_key_dir):
    row = signing_key_ensure()

    path = signing_key_dir / f"{row.kid}.pem"
    assert path.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(signing_key_dir).st_mode) == 0o700
    assert row.kid == keystore.kid_of(keystore.load_key(row.kid))


def test_the_database_holds_no_private_key_material(signing_key_dir):
    row = signing_key_ensure()
    pem = (signing_key_dir / f"{row.kid}.pem").read_text()
    private_d = keystore.load_key(row.kid).as_dict(private=True)["d"]

    published = json.dumps(row.public_jwk) + json.dumps(signing_keys_jwks())
    from audit.models import AuditEvent
    logged = json.dumps(list(AuditEvent.objects.values_list("after", flat=True)))
    assert set(row.public_jwk) == {"kty", "crv", "x"}
    assert private_d not in published + logged and pem not in published + logged


def test_no_key_and_autocreate_off_is_a_configuration_error(settings):
    settings.KYODAKU_SIGNING_KEY_AUTOCREATE = False

    with pytest.raises(ImproperlyConfigured, match="rotate_signing_key"):
        receipt_signer()


def test_a_key_from_the_setting_signs_and_is_published_without_any_file(settings, signing_key_dir):
    key = keystore.generate_key()
    settings.KYODAKU_SIGNING_KEY = key.as_pem(private=True).decode()

    signer = receipt_signer()

    assert signer.kid == keystore.kid_of(key)
    assert [k["kid"] for k in signing_keys_jwks()["keys"]] == [signer.kid]
    assert not signing_key_dir.exists() or not any(signing_key_dir.iterdir())
    with pytest.raises(Conflict, match="KYODAKU_SIGNING_KEY"):
        signing_key_rotate()


def test_replacing_the_setting_retires_the_previous_key(settings):
    first, second = keystore.generate_key(), keystore.generate_key()
    settings.KYODAKU_SIGNING_KEY = first.as_pem(private=True).decode()
    receipt_signer()
    settings.KYODAKU_SIGNING_KEY = second.as_pem(private=True).decode()

    receipt_signer()

    status = {k["kid"]: k["status"] for k in signing_keys_jwks()["keys"]}
    assert status == {keystore.kid_of(second): "active", keystore.kid_of(first): "retired"}


def test_a_malformed_key_setting_is_reported_not_used(settings):
    settings.KYODAKU_SIGNING_KEY = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"

    with pytest.raises(ImproperlyConfigured, match="KYODAKU_SIGNING_KEY"):
        receipt_signer()


def test_an_active_key_whose_private_file_is_gone_is_a_configuration_error(signing_key_dir):
    row = signing_key_ensure()
    (signing_key_dir / f"{row.kid}.pem").unlink()

    with pytest.raises(ImproperlyConfigured, match=row.kid):
        receipt_signer()


# -------------------------------------------------------------------------------------------------- rotation

def test_a_receipt_survives_rotate_signing_key(kaze_reserved_work, signing_key_dir, tmp_path):
    [before] = answers(f"isbn:{ISBN}")
    old_kid = SigningKey.objects.get(status=KeyStatus.ACTIVE).kid

    call_command("rotate_signing_key")

    [after] = answers(f"isbn:{ISBN}")
    jwks = signing_keys_jwks()
    status = {k["kid"]: k["status"] for k in jwks["keys"]}
    new_kid = joserfc_jws.extract_compact(after["receipt"].encode()).headers()["kid"]
    assert new_kid != old_kid
    assert status == {new_kid: "active", old_kid: "retired"}
    assert verify_with_jwcrypto(before["receipt"], jwks)["outcome"] == "denied"
    assert verify_with_jwcrypto(after["receipt"], jwks)["outcome"] == "denied"
    assert not (signing_key_dir / f"{old_kid}.pem").exists()  # a retired key never signs again
    receipt_file = tmp_path / "old-receipt.jws"
    receipt_file.write_text(before["receipt"])
    call_command("verify_receipt", str(receipt_file))  # exit code 0: no CommandError


def test_rotate_signing_key_can_keep_the_retired_private_key(signing_key_dir):
    first = signing_key_ensure()

    call_command("rotate_signing_key", "--keep-retired-private-key")

    assert (signing_key_dir / f"{first.kid}.pem").exists()
    assert SigningKey.objects.get(kid=first.kid).status == KeyStatus.RETIRED


def test_a_receipt_signed_with_a_retired_key_after_its_retirement_is_refused(kaze_reserved_work):
    old = signing_key_ensure()
    old_key = keystore.load_key(old.kid)
    signing_key_rotate(keep_retired_private_key=True)
    [result] = answers(f"isbn:{ISBN}")
    claims = receipt_verify(token=result["receipt"]).payload
    claims["iat"] = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    from receipts.services import canonical_payload
    backdated_thief = ReceiptSigner.for_key(old_key).sign(canonical_payload(claims))

    check = receipt_verify(token=backdated_thief)

    assert not check.ok
    assert "after it was retired" in check.problems[0]


def test_rotation_is_in_the_audit_log_and_verify_audit_stays_clean():
    signing_key_ensure()
    signing_key_rotate()

    from audit.models import AuditEvent
    actions = list(AuditEvent.objects.filter(object_type="signing_key").values_list("action", flat=True))
    assert actions == ["signing_key.create", "signing_key.retire", "signing_key.create"]
    call_command("verify_audit")
