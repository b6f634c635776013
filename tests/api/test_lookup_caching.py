"""GET lookups: an AI developer's crawler revalidates cached answers (ETag / 304) and still sees a revocation within
the stated bound; the lean query check answers exactly as the DRF serializer does; orjson renders the same bytes as
DRF's JSONRenderer."""
from unittest import mock

import pytest
from rest_framework.renderers import JSONRenderer

from api.renderers import orjson_bytes
from api.views import lookup as lookup_view
from consent.services import declaration_file, declaration_revoke
from registry.services import work_register

URL = "/api/v1/lookup"
ISBN = "isbn:978-4-9901661-3-7"
QUERY = {"id": ISBN, "purpose": "train-genai", "jurisdiction": "JP"}


@pytest.fixture
def reserved_manga(hoshi_pub):
    work = work_register(holder=hoshi_pub.holder, work_ref="HP-100", title="Hoshi no Umi \u2028", kind="manga",
                         identifiers=[ISBN]).work
    declaration, _ = declaration_file(holder=hoshi_pub.holder, scope="catalogue", purpose="train-ai",
                                      jurisdiction="*", consent="reserve")
    return work, declaration


def test_ai_developer_revalidates_and_gets_304_until_the_holder_revokes(ai_developer, reserved_manga, settings):
    settings.KYODAKU_LOOKUP_MAX_AGE = 30
    first = ai_developer.get(URL, QUERY)
    assert first.status_code == 200
    etag = first["ETag"]
    assert etag.startswith('"') and first["Cache-Control"] == "private, max-age=30"
    # The same decision a moment later (a new as_of): the tag is the same, so the crawler's copy is still good.
    again = ai_developer.get(URL, QUERY, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    assert ai_developer.get(URL, QUERY, HTTP_IF_NONE_MATCH=f'"other", {etag}').status_code == 304

    declaration_revoke(declaration=reserved_manga[1])
    after = ai_developer.get(URL, QUERY, HTTP_IF_NONE_MATCH=etag)
    assert after.status_code == 200, "a revocation changes the answer, so the old tag must not match"
    assert after.json()["basis"] != first.json()["basis"] and after["ETag"] != etag


def test_other_purpose_or_place_never_shares_a_tag(ai_developer, reserved_manga):
    tags = {ai_developer.get(URL, {**QUERY, **change})["ETag"]
            for change in ({}, {"jurisdiction": "FR"}, {"purpose": "search"}, {"id": "isbn:978-0-306-40615-7"})}
    assert len(tags) == 4


def test_max_age_zero_means_revalidate_every_time(ai_developer, reserved_manga, settings):
    settings.KYODAKU_LOOKUP_MAX_AGE = 0
    assert ai_developer.get(URL, QUERY)["Cache-Control"] == "private, no-cache"


def test_a_receipt_answer_is_never_cached(ai_developer, reserved_manga):
    response = ai_developer.get(URL, {**QUERY, "receipt": "true"})
    assert response.status_code == 200 and "receipt" in response.json()
    assert response["Cache-Control"] == "no-store" and not response.has_header("ETag")


def test_an_explicit_as_of_is_part_of_the_tag(ai_developer, reserved_manga):
    one = ai_developer.get(URL, {**QUERY, "as_of": "2026-01-02T00:00:00Z"})
    two = ai_developer.get(URL, {**QUERY, "as_of": "2026-01-03T00:00:00Z"})
    assert one.status_code == two.status_code == 200 and one["ETag"] != two["ETag"]


QUERIES = [
    "id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=JP",
    "id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=JP&receipt=false",
    "id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=jp&receipt=1",
    "id=isbn:978-4-9901661-3-7&purpose=+train-genai&jurisdiction=JP",
    "id=isbn:978-4-9901661-3-7&purpose=&jurisdiction=JP",
    "id=isbn:978-4-9901661-3-7&purpose=train-genai",
    "id=a&id=b&purpose=train-genai&jurisdiction=JP",
    "id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=JP&colour=red",
    "id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=JPNJPNJPN",
    "id=isbn:%00&purpose=train-genai&jurisdiction=JP",
    "id=isbn:123&purpose=train-genai&jurisdiction=JP",
    "id=isbn:978-4-9901661-3-7&purpose=no-such-purpose&jurisdiction=JP",
    "id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=JP&receipt=maybe",
    "id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=JP&as_of=2026-01-02T00:00:00Z",
    "id=" + "x" * 9000 + "&purpose=train-genai&jurisdiction=JP",
]


@pytest.mark.parametrize("query", QUERIES)
def test_lean_query_check_answers_as_the_serializer_does(ai_developer, reserved_manga, query):
    lean = ai_developer.get(f"{URL}?{query}")
    with mock.patch.object(lookup_view, "_plain_get_query", return_value=None):
        full = ai_developer.get(f"{URL}?{query}")
    assert (lean.status_code, lean["Content-Type"]) == (full.status_code, full["Content-Type"])
    lean_body, full_body = lean.json(), full.json()
    lean_body.pop("as_of", None), full_body.pop("as_of", None)
    lean_body.pop("receipt", None), full_body.pop("receipt", None)
    assert lean_body == full_body


def test_orjson_writes_the_bytes_drf_writes(ai_developer, reserved_manga):
    body = {"ids": [ISBN, "url:https://例え.jp/\u2029", "isbn:123", "domain:example.com"],
            "purpose": "train-genai", "jurisdiction": "JP"}
    response = ai_developer.post(URL, body, format="json")
    data = response.json()
    assert "\u2028" in data["results"][0]["work"]["title"]
    assert response.content == JSONRenderer().render(data) == orjson_bytes(data)
