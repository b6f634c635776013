"""Lookups: an AI developer with a key asks; answers follow the engine; errors are problems; batches are cheap."""
import json

import pytest
from django.core.cache import cache

from consent.services import declaration_file
from keys.services import api_key_create, api_key_revoke
from registry.services import work_register

from .conftest import assert_problem, client_for

URL = "/api/v1/lookup"
ISBN = "isbn:978-4-9901661-3-7"
ISBN_OTHER = "isbn:978-0-306-40615-7"


@pytest.fixture
def reserved_manga(hoshi_pub):
    """Hoshi Publishing's manga, with a catalogue-wide reservation of AI training."""
    work = work_register(holder=hoshi_pub.holder, work_ref="HP-100", title="Hoshi no Umi", kind="manga",
                         identifiers=[ISBN]).work
    declaration, _ = declaration_file(holder=hoshi_pub.holder, scope="catalogue", purpose="train-ai",
                                      jurisdiction="*", consent="reserve",
                                      license_url="https://hoshi-pub.example/licensing")
    return work, declaration


def test_ai_developer_gets_the_answer_for_a_reserved_work(ai_developer, reserved_manga):
    work, declaration = reserved_manga
    response = ai_developer.get(URL, {"id": ISBN, "purpose": "train-genai",
                                      "jurisdiction": "JP"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == ISBN
    assert body["identifier"] == "isbn:9784990166137"
    assert body["registered"] is True
    assert body["work"] == {"id": str(work.pk), "title": "Hoshi no Umi", "kind": "manga", "work_ref": "HP-100"}
    assert body["holder"]["code"] == "hoshi-pub"
    assert (body["outcome"], body["basis"], body["regime"]) == ("denied", "reserved", "prior-permission")
    assert body["declaration"]["id"] == str(declaration.pk)
    assert body["declaration"]["scope"] == "catalogue"
    assert body["license_url"] == "https://hoshi-pub.example/licensing"
    assert body["disputed"] is False
    assert body["as_of"].endswith("Z")


def test_unregistered_identifier_follows_the_jurisdiction_regime(ai_developer, db):
    response = ai_developer.get(URL, {"id": "url:https://Example.com/a", "purpose": "train-ai",
                                      "jurisdiction": "fr"})
    body = response.json()
    assert response.status_code == 200
    assert body["registered"] is False and body["work"] is None and body["holder"] is None
    assert body["declaration"] is None
    assert (body["jurisdiction"], body["outcome"], body["basis"], body["regime"]) == (
        "FR", "allowed", "not-reserved", "opt-out")


def test_as_of_before_the_reservation_answers_as_then(ai_developer, reserved_manga):
    work, declaration = reserved_manga
    between = work.created_at + (declaration.recorded_at - work.created_at) / 2
    body = ai_developer.get(URL, {"id": ISBN, "purpose": "train-ai", "jurisdiction": "GB",
                                  "as_of": between.isoformat()}).json()
    # Registered, not yet reserved: GB's opt-out regime decides.
    assert body["registered"] is True and body["declaration"] is None
    assert (body["outcome"], body["basis"]) == ("allowed", "not-reserved")
    now = ai_developer.get(URL, {"id": ISBN, "purpose": "train-ai", "jurisdiction": "GB"}).json()
    assert (now["outcome"], now["basis"]) == ("denied", "reserved")


@pytest.mark.parametrize(("params", "field", "code"), [
    ({"id": "isbn:123", "purpose": "train-ai", "jurisdiction": "JP"}, "id", "invalid-identifier"),
    ({"id": ISBN, "purpose": "train-everything", "jurisdiction": "JP"}, "purpose", "unknown-purpose"),
    ({"id": ISBN, "purpose": "train-ai", "jurisdiction": "UK"}, "jurisdiction", "unknown-jurisdiction"),
    ({"id": ISBN, "purpose": "train-ai", "jurisdiction": "JP", "as_of": "yesterday"}, "as_of", "invalid"),
    ({"id": ISBN, "purpose": "train-ai", "jurisdiction": "JP", "as_of": "2026-11-28T12:00:00"}, "as_of", "naive"),
    ({"id": ISBN, "purpose": "train-ai", "jurisdiction": "JP", "as_of": "2026-11-28T21:00:00 09:00"}, "as_of",
     "plus-not-encoded"),
    ({"id": ISBN, "purpose": "train-ai", "jurisdiction": "JP", "colour": "blue"}, "colour", "unknown-parameter"),
    ({"purpose": "train-ai", "jurisdiction": "JP"}, "id", "required"),
])
def test_bad_lookup_input_is_a_400_problem_naming_the_field(ai_developer, db, params, field, code):
    body = assert_problem(ai_developer.get(URL, params), 400)
    assert any(e["field"] == field and e["code"] == code for e in body["errors"]), body


def test_no_key_is_401_and_says_how_to_authenticate(anonymous, db):
    response = anonymous.get(URL, {"id": ISBN, "purpose": "train-ai", "jurisdiction": "JP"})
    assert_problem(response, 401, "not-authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"


def test_revoked_or_wrong_key_is_401(db):
    api_key, plain = api_key_create(name="Former customer")
    client = client_for(api_key=plain)
    params = {"id": ISBN, "purpose": "train-ai", "jurisdiction": "JP"}
    assert client.get(URL, params).status_code == 200
    api_key_revoke(api_key=api_key)
    assert_problem(client.get(URL, params), 401, "authentication-failed")
    assert_problem(client_for(api_key=plain[:-1] + ("x" if plain[-1] != "x" else "y")).get(URL, params), 401)
    assert_problem(client_for(api_key="nodot").get(URL, params), 401)


def test_holder_token_is_not_an_api_key(kaze, db):
    assert_problem(kaze.get(URL, {"id": ISBN, "purpose": "train-ai", "jurisdiction": "JP"}), 401)


def test_rate_limit_answers_429_with_retry_after_and_a_batch_counts_once(db):
    cache.clear()
    _, plain = api_key_create(name="Small plan", rate="3/min")
    client = client_for(api_key=plain)
    batch = {"ids": [ISBN] * 50, "purpose": "train-ai", "jurisdiction": "JP"}
    for _ in range(3):
        assert client.post(URL, batch, format="json").status_code == 200
    response = client.get(URL, {"id": ISBN, "purpose": "train-ai", "jurisdiction": "JP"})
    assert_problem(response, 429, "rate-limited")
    assert 1 <= int(response["Retry-After"]) <= 60


def test_unencoded_plus_in_as_of_gets_a_hint_to_url_encode_it(ai_developer, reserved_manga):
    """`as_of=...+09:00` pasted into a URL arrives as `... 09:00`: the developer is told why, not just "wrong"."""
    response = ai_developer.get(f"{URL}?id={ISBN}&purpose=train-ai&jurisdiction=JP&as_of=2026-11-28T21:00:00+09:00")
    body = assert_problem(response, 400)
    assert body["errors"][0]["code"] == "plus-not-encoded"
    assert "%2B09:00" in body["detail"] and "'+'" in body["detail"], body
    encoded = ai_developer.get(f"{URL}?id={ISBN}&purpose=train-ai&jurisdiction=JP&as_of=2026-11-28T21:00:00%2B09:00")
    assert encoded.status_code == 200 and encoded.json()["as_of"] == "2026-11-28T12:00:00Z"


def test_lower_case_jurisdictions_are_normalised_in_get_and_batch(ai_developer, reserved_manga):
    one = ai_developer.get(URL, {"id": ISBN, "purpose": "train-ai", "jurisdiction": "jp"}).json()
    batch = ai_developer.post(URL, {"ids": [ISBN], "purpose": "train-ai", "jurisdiction": "eu"},
                              format="json").json()["results"][0]
    assert (one["jurisdiction"], batch["jurisdiction"]) == ("JP", "EU")


def test_successful_lookups_carry_the_keys_rate_limit_state(db):
    cache.clear()
    _, plain = api_key_create(name="Metered plan", rate="5/min")
    client = client_for(api_key=plain)
    params = {"id": ISBN, "purpose": "train-ai", "jurisdiction": "JP"}
    first = client.get(URL, params)
    assert first.status_code == 200
    assert (first["RateLimit-Limit"], first["RateLimit-Remaining"]) == ("5", "4")
    assert 1 <= int(first["RateLimit-Reset"]) <= 60
    batch = client.post(URL, {"ids": [ISBN] * 20, "purpose": "train-ai", "jurisdiction": "JP"}, format="json")
    assert (batch.status_code, batch["RateLimit-Remaining"]) == (200, "3")  # a batch counts once
    for _ in range(3):
        client.get(URL, params)
    refused = client.get(URL, params)
    assert refused.status_code == 429
    assert (refused["RateLimit-Remaining"], refused["Retry-After"]) == ("0", refused["RateLimit-Reset"])
    _, unlimited = api_key_create(name="Operator bulk job", rate="none")
    assert "RateLimit-Limit" not in client_for(api_key=unlimited).get(URL, params)


def test_default_rate_comes_from_the_setting(db, settings):
    cache.clear()
    settings.KYODAKU_API_KEY_DEFAULT_RATE = "1/hour"
    _, plain = api_key_create(name="Default plan")
    client = client_for(api_key=plain)
    params = {"id": ISBN, "purpose": "train-ai", "jurisdiction": "JP"}
    assert client.get(URL, params).status_code == 200
    assert_problem(client.get(URL, params), 429)


def test_batch_answers_every_id_in_order_with_errors_in_place(ai_developer, reserved_manga):
    ids = [ISBN, "isbn:123", "url:https://example.org/x", ISBN, "nonsense", ISBN_OTHER]
    response = ai_developer.post(URL, {"ids": ids, "purpose": "train-genai", "jurisdiction": "JP"}, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["id"] for r in results] == ids
    assert results[1]["error"]["code"] == "invalid-identifier" and "outcome" not in results[1]
    assert results[4]["error"]["code"] == "invalid-identifier"
    assert results[0]["basis"] == results[3]["basis"] == "reserved"
    assert results[2]["registered"] is False and results[2]["basis"] == "permission-required"
    assert results[5]["registered"] is False


def test_batch_over_the_limit_is_413(ai_developer, db, settings):
    settings.KYODAKU_LOOKUP_BATCH_MAX = 5
    response = ai_developer.post(URL, {"ids": [ISBN] * 6, "purpose": "train-ai", "jurisdiction": "JP"},
                                 format="json")
    assert_problem(response, 413, "request-too-large")


@pytest.mark.parametrize(("body", "field"), [
    ({"ids": [ISBN], "purpose": "train-ai", "jurisdiction": "JP", "colour": "blue"}, "colour"),
    ({"ids": ISBN, "purpose": "train-ai", "jurisdiction": "JP"}, "ids"),
    ({"ids": [], "purpose": "train-ai", "jurisdiction": "JP"}, "ids"),
    ({"ids": [ISBN, 7, None], "purpose": "train-ai", "jurisdiction": "JP"}, "ids[1]"),
    ({"ids": [ISBN], "purpose": "nope", "jurisdiction": "JP"}, "purpose"),
    ({"ids": [ISBN], "purpose": "train-ai", "jurisdiction": "XX"}, "jurisdiction"),
    ({"ids": [ISBN], "purpose": "train-ai", "jurisdiction": "JP", "as_of": "2026-13-01T00:00:00Z"}, "as_of"),
    ({"ids": [ISBN], "purpose": "train-ai"}, "jurisdiction"),
])
def test_bad_batch_input_is_a_400_problem(ai_developer, db, body, field):
    problem = assert_problem(ai_developer.post(URL, body, format="json"), 400)
    assert field in {e["field"] for e in problem["errors"]}, problem


def test_malformed_json_wrong_type_and_huge_bodies_are_4xx_problems(ai_developer, db, settings):
    body = assert_problem(ai_developer.post(URL, '{"ids": [', content_type="application/json"), 400,
                          "malformed-request")
    assert "JSON" in body["detail"]
    assert_problem(ai_developer.post(URL, "ids=x", content_type="application/x-www-form-urlencoded"), 415)
    assert_problem(ai_developer.post(URL, b"\xff\xfe", content_type="application/json"), 400)
    assert_problem(ai_developer.post(URL, "[1, 2]", content_type="application/json"), 400)
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    huge = json.dumps({"ids": [ISBN] * 100, "purpose": "train-ai", "jurisdiction": "JP"})
    assert_problem(ai_developer.post(URL, huge, content_type="application/json"), 413)


def _registered_batch(holder, count: int) -> list[str]:
    from registry.models import Identifier, Work

    works = Work.objects.bulk_create(
        [Work(holder=holder, work_ref=f"B-{i}", title=f"Work {i}", kind="book") for i in range(count)])
    Identifier.objects.bulk_create(
        [Identifier(work=w, scheme="sha256", value=f"{i:064x}") for i, w in enumerate(works)])
    return [f"sha256:{i:064x}" for i in range(count)]


@pytest.mark.postgres
@pytest.mark.parametrize("count", [1, 5000])
def test_batch_costs_a_fixed_number_of_queries(ai_developer, hoshi_pub, django_assert_max_num_queries, count):
    ids = _registered_batch(hoshi_pub.holder, count)
    declaration_file(holder=hoshi_pub.holder, scope="catalogue", purpose="tdm", consent="grant")
    body = {"ids": ids + ["url:https://a.example/b", "domain:b.example"], "purpose": "search", "jurisdiction": "DE"}
    # 1 API key by prefix, 2 rule tables' fingerprint (+1 rule rows with jurisdiction parents when the book is built),
    # 3 identifiers valid at T with works and holders, 4 declarations in force, 5 open disputes.
    with django_assert_max_num_queries(6):
        response = ai_developer.post(URL, body, format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == count + 2
    assert all(r["basis"] == "granted" for r in results[:count])



def test_receipt_true_adds_a_signed_receipt_on_get_and_post(ai_developer, reserved_manga, tmp_path, settings):
    settings.KYODAKU_SIGNING_KEY_DIR = tmp_path
    single = ai_developer.get(URL, {"id": ISBN, "purpose": "train-ai", "jurisdiction": "JP", "receipt": "true"})
    assert single.status_code == 200, single.content
    assert single.json()["receipt"].count(".") == 2  # compact JWS
    assert "receipt" not in ai_developer.get(URL, {"id": ISBN, "purpose": "train-ai", "jurisdiction": "JP"}).json()
    body = {"ids": [ISBN, "isbn:123"], "purpose": "train-ai", "jurisdiction": "JP"}
    in_body = ai_developer.post(URL, {**body, "receipt": True}, format="json").json()["results"]
    in_query = ai_developer.post(f"{URL}?receipt=true", body, format="json").json()["results"]
    for results in (in_body, in_query):
        assert results[0]["receipt"].count(".") == 2 and "receipt" not in results[1]
    assert "receipt" not in ai_developer.post(URL, body, format="json").json()["results"][0]
