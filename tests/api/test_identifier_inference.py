"""Identifiers without their scheme over the API (domain.md: "the scheme may be left out when the value is
unambiguous"): lookups single and batch, the works search, and filing a work. Answers show `scheme:value`."""
import pytest

from registry.services import work_register

from .conftest import assert_problem

LOOKUP = "/api/v1/lookup"
WORKS = "/api/v1/works"


@pytest.fixture
def hoshi_manga(hoshi_pub):
    return work_register(holder=hoshi_pub.holder, work_ref="HP-100", title="Hoshi no Umi", kind="manga",
                         identifiers=["isbn:978-4-9901661-3-7", "url:https://hoshi-pub.example/umi",
                                      "doi:10.5555/hoshi.100"]).work


def test_ai_developer_looks_up_a_bare_isbn_and_sees_the_scheme_in_the_answer(ai_developer, hoshi_manga):
    response = ai_developer.get(LOOKUP, {"id": "978-4-9901661-3-7", "purpose": "train-ai", "jurisdiction": "JP"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == "978-4-9901661-3-7"
    assert body["identifier"] == "isbn:9784990166137"
    assert body["registered"] is True and body["work"]["id"] == str(hoshi_manga.pk)


def test_ai_developer_batches_bare_ids_and_an_ambiguous_one_fails_alone(ai_developer, hoshi_manga):
    ids = ["９７８４９９０１６６１３７", "https://Hoshi-Pub.example/umi", "10.5555/HOSHI.100", "HP-100",
           "isbn:97849901661³7"]
    response = ai_developer.post(LOOKUP, {"ids": ids, "purpose": "train-ai", "jurisdiction": "JP"}, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r.get("identifier") for r in results[:3]] == [
        "isbn:9784990166137", "url:https://hoshi-pub.example/umi", "doi:10.5555/hoshi.100"]
    assert all(r["work"]["id"] == str(hoshi_manga.pk) for r in results[:3])
    assert results[3]["error"]["code"] == "invalid-identifier"
    assert "scheme:value" in results[3]["error"]["detail"]
    assert "only looks like a digit" in results[4]["error"]["detail"]


def test_ai_developer_searches_works_by_a_bare_identifier(ai_developer, hoshi_manga):
    found = ai_developer.get(WORKS, {"identifier": "9784990166137"}).json()["results"]
    assert [w["id"] for w in found] == [str(hoshi_manga.pk)]


def test_studio_kaze_files_a_work_with_bare_identifiers(kaze, studio_kaze):
    digest = "AB" * 32
    response = kaze.post(WORKS, {"work_ref": "SK-9", "title": "Kaze", "kind": "film",
                                 "identifiers": ["0-306-40615-2", "https://studio-kaze.example/kaze", digest]},
                         format="json")
    assert response.status_code == 201, response.content
    assert response.json()["identifiers"] == [
        "isbn:9780306406157", f"sha256:{digest.lower()}", "url:https://studio-kaze.example/kaze"]


def test_studio_kaze_cannot_claim_a_public_suffix(kaze, studio_kaze):
    response = kaze.post(WORKS, {"work_ref": "SK-10", "title": "Site", "kind": "website",
                                 "identifiers": ["domain:github.io", "url-prefix:https://co.uk/"]}, format="json")
    body = assert_problem(response, 400)
    assert [e["field"] for e in body["errors"]] == ["identifiers[0]", "identifiers[1]"]
    assert all("public suffix" in e["detail"] for e in body["errors"])


def test_a_public_suffix_registered_before_the_rule_covers_no_site(ai_developer, hoshi_pub):
    # A row written before suffixes were refused (created directly: the service refuses it now), with a
    # catalogue grant. Looking up a site under it must not find it: JP's prior-permission default decides.
    from consent.services import declaration_file
    from registry.models import Identifier, Work

    work = Work.objects.create(holder=hoshi_pub.holder, work_ref="HP-OLD", title="Old claim")
    Identifier.objects.create(work=work, scheme="domain", value="co.uk", host="co.uk")
    declaration_file(holder=hoshi_pub.holder, scope="catalogue", purpose="train-ai", jurisdiction="*",
                     consent="grant")
    for ids in (["url:https://someone-else.co.uk/page"], ["domain:someone-else.co.uk", "https://x.y.co.uk/"]):
        results = ai_developer.post(LOOKUP, {"ids": ids, "purpose": "train-ai", "jurisdiction": "JP"},
                                    format="json").json()["results"]
        assert [(r["registered"], r["outcome"]) for r in results] == [(False, "denied")] * len(ids)
    single = ai_developer.get(LOOKUP, {"id": "url:https://someone-else.co.uk/", "purpose": "train-ai",
                                       "jurisdiction": "JP"}).json()
    assert (single["registered"], single["outcome"]) == (False, "denied")
