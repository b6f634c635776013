"""Evidence over HTTP (api.md, "Evidence"): the JWKS, the audit head and public events need no key; a receipt from
the lookup API verifies with an independent JOSE library (jwcrypto) using only what GET /api/v1/keys publishes."""
import hashlib
import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws

from audit.models import AuditEvent
from consent.services import declaration_file
from receipts import services as receipt_services
from registry.services import holder_user_set, work_register

from .conftest import assert_problem

pytestmark = [pytest.mark.django_db]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ISBN = "978-4-9901661-3-7"
PUBLIC_EVENT_FIELDS = {"seq", "at", "action", "object_type", "object_id", "content_hash", "prev_hash", "hash"}


@pytest.fixture(autouse=True)
def signing_key_dir(settings, tmp_path):
    settings.KYODAKU_SIGNING_KEY_DIR = tmp_path / "signing-keys"
    settings.KYODAKU_SIGNING_KEY = ""
    settings.KYODAKU_SIGNING_KEY_AUTOCREATE = True
    receipt_services._SIGNERS.clear()
    yield
    receipt_services._SIGNERS.clear()


@pytest.fixture
def reserved_manga(hoshi_pub):
    work = work_register(holder=hoshi_pub.holder, work_ref="HP-100", title="Hoshi no Koe", kind="manga",
                         identifiers=[f"isbn:{ISBN}"], at=T0).work
    declaration, _ = declaration_file(holder=hoshi_pub.holder, scope="catalogue", purpose="train-ai",
                                      consent="reserve", conditions="Write to Ms Aoki at aoki@hoshi-pub.example",
                                      license_url="https://hoshi-pub.example/licensing", at=T0)
    return work, declaration


def verify_with_jwcrypto(token: str, jwks_json: str) -> dict:
    keyset = jwcrypto_jwk.JWKSet.from_json(jwks_json)
    signed = jwcrypto_jws.JWS()
    signed.deserialize(token)
    signed.verify(keyset.get_key(signed.jose_header["kid"]), alg="EdDSA")
    return json.loads(signed.payload)


def test_ai_developer_verifies_a_lookup_receipt_with_jwcrypto_and_the_published_jwks(ai_developer, anonymous,
                                                                                     reserved_manga):
    _, declaration = reserved_manga
    answer = ai_developer.get("/api/v1/lookup", {"id": f"isbn:{ISBN}", "purpose": "train-genai",
                                                 "jurisdiction": "JP", "receipt": "true"}).json()

    jwks = anonymous.get("/api/v1/keys")
    claims = verify_with_jwcrypto(answer["receipt"], jwks.content.decode())

    assert {k: claims[k] for k in ("identifier", "purpose", "jurisdiction", "as_of", "outcome", "basis")} == {
        k: answer[k] for k in ("identifier", "purpose", "jurisdiction", "as_of", "outcome", "basis")}
    assert claims["declaration"] == str(declaration.pk) == answer["declaration"]["id"]
    assert claims["audit_head"] == anonymous.get("/api/v1/audit/head").json()


def test_a_batch_asks_for_receipts_in_the_body_or_the_query(ai_developer, anonymous, reserved_manga):
    body = {"ids": [f"isbn:{ISBN}", "isbn:123", "doi:10.1000/unregistered"], "purpose": "tdm", "jurisdiction": "FR"}
    in_body = ai_developer.post("/api/v1/lookup", {**body, "receipt": True}, format="json").json()["results"]
    in_query = ai_developer.post("/api/v1/lookup?receipt=true", body, format="json").json()["results"]
    without = ai_developer.post("/api/v1/lookup", body, format="json").json()["results"]
    jwks = anonymous.get("/api/v1/keys").content.decode()

    for results in (in_body, in_query):
        assert "receipt" not in results[1]  # a bad id has an error, not a receipt
        assert [verify_with_jwcrypto(r["receipt"], jwks)["id"] for r in (results[0], results[2])] == [
            f"isbn:{ISBN}", "doi:10.1000/unregistered"]
    assert not any("receipt" in r for r in without)


def test_anyone_reads_the_jwks_without_a_key_and_it_holds_no_private_part(anonymous):
    receipt_services.signing_key_ensure()
    anonymous.credentials(HTTP_AUTHORIZATION="Api-Key not-a-real-key")  # a bad key does not stand in the way

    response = anonymous.get("/api/v1/keys")

    assert response.status_code == 200
    [key] = response.json()["keys"]
    assert key.keys() == {"kty", "crv", "x", "kid", "alg", "use", "status"}
    assert (key["kty"], key["crv"], key["alg"], key["use"], key["status"]) == ("OKP", "Ed25519", "EdDSA", "sig",
                                                                             "active")
    assert "max-age" in response["Cache-Control"]


def test_retired_keys_stay_published_after_rotate_signing_key(anonymous):
    first = receipt_services.signing_key_ensure()

    call_command("rotate_signing_key")

    keys = anonymous.get("/api/v1/keys").json()["keys"]
    assert [k["status"] for k in keys] == ["active", "retired"]
    assert keys[1]["kid"] == first.kid


def test_the_audit_head_is_the_last_event(anonymous, reserved_manga):
    last = AuditEvent.objects.order_by("-seq").first()

    assert anonymous.get("/api/v1/audit/head").json() == {"seq": last.seq, "hash": last.hash}


def test_public_audit_events_carry_no_personal_data(anonymous, studio_kaze, reserved_manga):
    holder_user_set(holder=studio_kaze.holder, username="aoki.hanako", email="hanako@studio-kaze.example",
                    role="viewer", actor=studio_kaze.user)

    response = anonymous.get("/api/v1/audit/events", {"after": 0, "limit": 1000})

    assert response.status_code == 200
    events = response.json()["results"]
    assert events and all(set(event) == PUBLIC_EVENT_FIELDS for event in events)
    text = response.content.decode()
    for private in ("aoki.hanako", "hanako@studio-kaze.example", "aoki@hoshi-pub.example", "kaze-editor",
                    f"user:{studio_kaze.user.pk}", "Hoshi no Koe", "Hoshi Publishing"):
        assert private not in text


def _sha256(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


def test_an_outsider_recomputes_every_hash_from_the_public_feed_alone(anonymous, reserved_manga):
    """What docs/evidence.md tells an AI developer to do, written without any Kyodaku code."""
    events, url = [], "/api/v1/audit/events?after=0&limit=3"
    while url:
        page = anonymous.get(url).json()
        events += page["results"]
        url = page["next"]
    prev = "0" * 64
    for expected_seq, event in enumerate(events, start=1):
        assert event["seq"] == expected_seq and event["prev_hash"] == prev
        public = {k: event[k] for k in ("seq", "at", "action", "object_type", "object_id", "content_hash",
                                        "prev_hash")}
        assert _sha256(public) == event["hash"]
        prev = event["hash"]
    assert anonymous.get("/api/v1/audit/head").json() == {"seq": len(events), "hash": prev}


def test_audit_events_page_after_a_sequence_number(anonymous, reserved_manga):
    total = AuditEvent.objects.count()

    page = anonymous.get("/api/v1/audit/events", {"after": 2, "limit": 2}).json()

    assert [e["seq"] for e in page["results"]] == [3, 4]
    assert page["next"].endswith("/api/v1/audit/events?after=4&limit=2")
    assert page["previous"].endswith("/api/v1/audit/events?after=0&limit=2")
    assert anonymous.get("/api/v1/audit/events", {"after": total}).json() == {"next": None, "previous": (
        f"http://testserver/api/v1/audit/events?after={max(0, total - 100)}&limit=100"), "results": []}


def test_the_largest_sequence_number_is_a_valid_cursor(anonymous):
    assert anonymous.get("/api/v1/audit/events", {"after": str(2**63 - 1)}).json()["results"] == []


def test_a_page_of_audit_events_costs_one_query(anonymous, reserved_manga, django_assert_num_queries):
    with django_assert_num_queries(1):  # the events after N, with their content to hash
        assert len(anonymous.get("/api/v1/audit/events", {"limit": 1000}).json()["results"]) > 5


@pytest.mark.parametrize("query", [{"after": "x"}, {"after": "-1"}, {"after": str(2**63)}, {"limit": "0"},
                                   {"limit": "5000"}, {"since": "1"}])
def test_bad_audit_event_queries_are_problems(anonymous, query):
    body = assert_problem(anonymous.get("/api/v1/audit/events", query), 400)
    assert body["errors"][0]["field"] == next(iter(query))
