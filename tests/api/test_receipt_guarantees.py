"""What a receipt may vouch for and who it belongs to (api.md, "Evidence"; issue 12, items 5 and 6): no answer for
the future, `sub` names the asking key, the active key is in the JWKS before it signs, and a deployment without a
usable key is not ready and refuses receipts instead of signing them badly."""
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws

from keys.services import api_key_create
from receipts import services as receipt_services
from receipts.models import SigningKey
from registry.services import work_register

from .conftest import assert_problem, client_for

pytestmark = [pytest.mark.django_db]

LOOKUP = "/api/v1/lookup"
ISBN = "isbn:978-4-9901661-3-7"
QUESTION = {"purpose": "train-ai", "jurisdiction": "JP"}


@pytest.fixture(autouse=True)
def signing_key_dir(settings, tmp_path):
    settings.KYODAKU_SIGNING_KEY_DIR = tmp_path / "signing-keys"
    settings.KYODAKU_SIGNING_KEY = ""
    settings.KYODAKU_SIGNING_KEY_AUTOCREATE = True
    receipt_services._SIGNERS.clear()
    yield
    receipt_services._SIGNERS.clear()


@pytest.fixture
def manga(hoshi_pub):
    return work_register(holder=hoshi_pub.holder, work_ref="HP-100", title="Hoshi no Umi", kind="manga",
                         identifiers=[ISBN]).work


def developer(name: str):
    _, plain = api_key_create(name=name, rate="none")
    return client_for(api_key=plain), plain.split(".", 1)[0]


def claims_of(token: str, jwks: str) -> dict:
    signed = jwcrypto_jws.JWS()
    signed.deserialize(token)
    keyset = jwcrypto_jwk.JWKSet.from_json(jwks)
    signed.verify(keyset.get_key(signed.jose_header["kid"]), alg="EdDSA")
    return json.loads(signed.payload)


# ------------------------------------------------------------------------------------------ as_of in the future

def _tomorrow() -> str:
    return (timezone.now() + timedelta(days=1)).isoformat()


@pytest.mark.parametrize("receipt", ["false", "true"])
def test_ai_developer_cannot_get_an_answer_about_tomorrow_by_get(ai_developer, manga, receipt):
    response = ai_developer.get(LOOKUP, {"id": ISBN, **QUESTION, "as_of": _tomorrow(), "receipt": receipt})
    body = assert_problem(response, 400, "as-of-in-future")
    assert body["errors"][0]["field"] == "as_of" and body["errors"][0]["code"] == "as-of-in-future"


@pytest.mark.parametrize("receipt", [False, True, "batch"])
def test_ai_developer_cannot_get_answers_about_tomorrow_by_batch(ai_developer, manga, receipt):
    response = ai_developer.post(LOOKUP, {"ids": [ISBN], **QUESTION, "as_of": _tomorrow(), "receipt": receipt},
                                 format="json")
    assert_problem(response, 400, "as-of-in-future")


def test_a_moment_ago_is_still_answered(ai_developer, manga):
    moment_ago = (timezone.now() - timedelta(seconds=1)).isoformat()
    response = ai_developer.get(LOOKUP, {"id": ISBN, **QUESTION, "as_of": moment_ago, "receipt": "true"})
    assert response.status_code == 200, response.content
    assert response.json()["receipt"]


# ------------------------------------------------------------------------------------------------ sub

def test_each_developers_receipt_names_its_own_key(manga, anonymous):
    crawler, crawler_prefix = developer("Crawler Co")
    trainer, trainer_prefix = developer("Trainer Inc")
    single = crawler.get(LOOKUP, {"id": ISBN, **QUESTION, "receipt": "true"}).json()
    batch = trainer.post(f"{LOOKUP}?receipt=true", {"ids": [ISBN], **QUESTION}, format="json").json()
    jwks = anonymous.get("/api/v1/keys").content.decode()

    assert claims_of(single["receipt"], jwks)["sub"] == crawler_prefix
    assert claims_of(batch["results"][0]["receipt"], jwks)["sub"] == trainer_prefix
    assert crawler_prefix != trainer_prefix


# ----------------------------------------------------------------------------------- the key, published first

def test_the_jwks_holds_the_active_key_before_any_receipt_is_signed(ai_developer, anonymous, manga):
    assert not SigningKey.objects.exists()  # a fresh deployment: nothing signed yet

    first_look = anonymous.get("/api/v1/keys")

    assert first_look.status_code == 200
    [key] = first_look.json()["keys"]
    assert key["status"] == "active"
    assert first_look["Cache-Control"] == "public, max-age=60"
    receipt = ai_developer.get(LOOKUP, {"id": ISBN, **QUESTION, "receipt": "true"}).json()["receipt"]
    assert claims_of(receipt, first_look.content.decode())["identifier"] == "isbn:9784990166137"


def test_readyz_publishes_the_key_so_a_ready_deployment_can_sign(client, anonymous):
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    assert response.json()["signing_key"] == SigningKey.objects.get().kid
    assert [k["kid"] for k in anonymous.get("/api/v1/keys").json()["keys"]] == [response.json()["signing_key"]]


# --------------------------------------------------------------------------------------------- no key at all

@pytest.fixture
def no_key(settings):
    """Production as deployed before `rotate_signing_key`: no key in the setting, none on disk, none to make."""
    settings.KYODAKU_SIGNING_KEY_AUTOCREATE = False


def test_without_a_key_the_deployment_is_not_ready(client, no_key):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable" and response.json()["signing_key"] == "no usable signing key"


def test_without_a_key_receipts_are_a_503_problem_and_plain_answers_still_flow(ai_developer, manga, no_key):
    get = ai_developer.get(LOOKUP, {"id": ISBN, **QUESTION, "receipt": "true"})
    body = assert_problem(get, 503, "signing-key-unavailable")
    assert "rotate_signing_key" not in body["detail"]  # the operator's fix is logged, not told to clients
    for receipt in (True, "batch"):
        assert_problem(ai_developer.post(LOOKUP, {"ids": [ISBN], **QUESTION, "receipt": receipt}, format="json"),
                       503, "signing-key-unavailable")
    assert ai_developer.get(LOOKUP, {"id": ISBN, **QUESTION}).status_code == 200


def test_without_a_key_the_jwks_is_empty_and_not_cached(anonymous, no_key):
    response = anonymous.get("/api/v1/keys")
    assert response.status_code == 200
    assert response.json() == {"keys": []}
    assert response["Cache-Control"] == "no-store"


def test_an_active_key_whose_private_half_is_gone_is_not_ready(client, settings, tmp_path):
    row = receipt_services.signing_key_ensure()
    (settings.KYODAKU_SIGNING_KEY_DIR / f"{row.kid}.pem").unlink()
    receipt_services._SIGNERS.clear()

    assert client.get("/readyz").status_code == 503
