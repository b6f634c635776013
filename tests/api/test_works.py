"""Works over the API: each holder sees its own (and mandated principals'), never another's; API keys read all."""
import pytest

from consent.services import declaration_file
from registry.models import Dispute, Work
from registry.services import work_register

from .conftest import assert_problem

URL = "/api/v1/works"


@pytest.fixture
def kaze_film(studio_kaze):
    return work_register(holder=studio_kaze.holder, work_ref="SK-001", title="Kaze no Tani", kind="film",
                         identifiers=["isbn:978-4-9901661-3-7", "url-prefix:https://studio-kaze.example/films/"]).work


@pytest.fixture
def hoshi_book(hoshi_pub):
    return work_register(holder=hoshi_pub.holder, work_ref="HP-100", title="Hoshi no Umi", kind="manga",
                         identifiers=["isbn:978-0-306-40615-7"]).work


def test_studio_kaze_lists_only_its_own_works(kaze, kaze_film, hoshi_book):
    response = kaze.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert [w["id"] for w in body["results"]] == [str(kaze_film.pk)]
    work = body["results"][0]
    assert work["holder"]["code"] == "studio-kaze"
    assert work["identifiers"] == ["isbn:9784990166137", "url-prefix:https://studio-kaze.example/films/"]


def test_hoshi_pub_gets_404_not_403_for_studio_kazes_work(hoshi, kaze_film):
    assert_problem(hoshi.get(f"{URL}/{kaze_film.pk}"), 404)
    assert_problem(hoshi.patch(f"{URL}/{kaze_film.pk}", {"title": "Mine"}, format="json"), 404)
    assert hoshi.get(URL, {"holder": "studio-kaze"}).json()["results"] == []


def test_work_detail_has_identifiers_and_declarations_in_force(kaze, studio_kaze, kaze_film):
    from consent.services import declaration_file

    old, _ = declaration_file(holder=studio_kaze.holder, scope="work", work=kaze_film, purpose="train-ai",
                              jurisdiction="JP", consent="grant")
    new, _ = declaration_file(holder=studio_kaze.holder, scope="work", work=kaze_film, purpose="train-ai",
                              jurisdiction="JP", consent="reserve")
    catalogue, _ = declaration_file(holder=studio_kaze.holder, scope="catalogue", purpose="search", consent="grant")
    body = kaze.get(f"{URL}/{kaze_film.pk}").json()
    assert body["work_ref"] == "SK-001" and body["kind"] == "film"
    assert "isbn:9784990166137" in body["identifiers"]
    assert {d["id"] for d in body["declarations"]} == {str(new.pk), str(catalogue.pk)}  # not the superseded one


def test_studio_kaze_registers_then_reposting_the_work_ref_updates(kaze, studio_kaze):
    payload = {"work_ref": "SK-002", "title": "Umi no Oto", "kind": "film", "identifiers": ["doi:10.1234/ABC"]}
    created = kaze.post(URL, payload, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["holder"]["code"] == "studio-kaze" and body["identifiers"] == ["doi:10.1234/abc"]
    assert body["disputes"] == []
    again = kaze.post(URL, {**payload, "title": "Umi no Oto (restored)"}, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == body["id"] and again.json()["title"] == "Umi no Oto (restored)"
    assert Work.objects.filter(holder=studio_kaze.holder, work_ref="SK-002").count() == 1


def test_identifier_of_another_holder_opens_a_dispute_reported_in_the_response(hoshi, kaze_film):
    response = hoshi.post(URL, {"work_ref": "HP-200", "title": "Copy", "identifiers": ["isbn:9784990166137"]},
                          format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["identifiers"] == []  # not moved
    assert [(d["identifier"], d["status"]) for d in body["disputes"]] == [("isbn:9784990166137", "open")]
    assert Dispute.objects.filter(work=kaze_film, resolved_at__isnull=True).count() == 1
    # Re-filing the same claim opens no second dispute, and still reports the open one.
    again = hoshi.post(URL, {"work_ref": "HP-200", "identifiers": ["isbn:9784990166137"]}, format="json")
    assert again.status_code == 200 and len(again.json()["disputes"]) == 1
    assert Dispute.objects.count() == 1


def test_collective_files_for_tsubasa_under_mandate_but_not_for_hoshi_pub(jaa, collective, tsubasa, hoshi_pub):
    response = jaa.post(URL, {"holder": "tsubasa-anime", "work_ref": "TA-1", "title": "Tsubasa"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["holder"]["code"] == "tsubasa-anime" and body["filed_by_agent"] == "jaa"
    assert jaa.get(f"{URL}/{body['id']}").status_code == 200
    refused = jaa.post(URL, {"holder": "hoshi-pub", "work_ref": "X-1", "title": "Nope"}, format="json")
    assert_problem(refused, 404, "not-authorized-for-holder")
    unknown = jaa.post(URL, {"holder": "no-such-holder", "work_ref": "X-1", "title": "Nope"}, format="json")
    assert unknown.json()["detail"].replace("no-such-holder", "hoshi-pub") == refused.json()["detail"]
    assert not Work.objects.filter(holder=hoshi_pub.holder).exists()


def test_kaze_viewer_reads_but_cannot_write(viewer, kaze_film):
    assert viewer.get(f"{URL}/{kaze_film.pk}").status_code == 200
    assert_problem(viewer.post(URL, {"work_ref": "SK-9", "title": "T"}, format="json"), 403, "read-only-role")
    assert_problem(viewer.patch(f"{URL}/{kaze_film.pk}", {"title": "T"}, format="json"), 403, "read-only-role")


def test_operator_sees_all_and_files_for_any_holder(staff, kaze_film, hoshi_book):
    assert {w["id"] for w in staff.get(URL).json()["results"]} == {str(kaze_film.pk), str(hoshi_book.pk)}
    assert_problem(staff.post(URL, {"work_ref": "OP-1", "title": "T"}, format="json"), 400)  # no own holder
    assert staff.post(URL, {"holder": "hoshi-pub", "work_ref": "OP-1", "title": "T"}, format="json").status_code == 201


def test_ai_developer_searches_all_works_read_only(ai_developer, kaze_film, hoshi_book):
    declaration_file(holder=kaze_film.holder, scope="work", work=kaze_film, purpose="train-ai", consent="reserve")
    results = ai_developer.get(URL, {"q": "umi"}).json()["results"]
    assert [w["id"] for w in results] == [str(hoshi_book.pk)]
    by_identifier = ai_developer.get(URL, {"identifier": "isbn:978-4-9901661-3-7"}).json()["results"]
    assert [w["id"] for w in by_identifier] == [str(kaze_film.pk)]
    detail = ai_developer.get(f"{URL}/{kaze_film.pk}")
    assert detail.status_code == 200
    # A key sees the public record, not who filed it for the holder (a collective under a mandate).
    assert "filed_by_agent" not in detail.json() and all("filed_by_agent" not in r for r in results)
    assert detail.json()["declarations"] and all("filed_by_agent" not in d for d in detail.json()["declarations"])
    assert_problem(ai_developer.post(URL, {"holder": "studio-kaze", "work_ref": "X", "title": "T"},
                                     format="json"), 403)
    body = assert_problem(ai_developer.patch(f"{URL}/{kaze_film.pk}", {"title": "T"}, format="json"), 403)
    assert "PATCH" in body["detail"] and "Token" in body["detail"], body


def test_no_credentials_is_401(anonymous, db):
    response = anonymous.get(URL)
    assert_problem(response, 401)
    assert response["WWW-Authenticate"] == "Token"


def test_patch_amends_title_and_adds_identifiers(kaze, kaze_film):
    response = kaze.patch(f"{URL}/{kaze_film.pk}", {"title": "Kaze no Tani (4K)", "identifiers": ["issn:0317-8471"]},
                          format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title"] == "Kaze no Tani (4K)" and "issn:0317-8471" in body["identifiers"]
    assert "isbn:9784990166137" in body["identifiers"]


@pytest.mark.parametrize(("payload", "field"), [
    ({"work_ref": "SK-3", "title": "T", "colour": "blue"}, "colour"),
    ({"work_ref": "SK-3", "title": "T", "kind": "sculpture"}, "kind"),
    ({"work_ref": "SK-3", "title": "T", "identifiers": ["isbn:123"]}, "identifiers[0]"),
    ({"work_ref": "SK-3"}, "title"),
    ({"title": "T"}, "work_ref"),
    ({"work_ref": "SK-3", "title": "x" * 1001}, "title"),
    ({"work_ref": "SK-3", "title": "nul\x00byte"}, "title"),
])
def test_bad_work_input_is_a_400_problem_naming_the_field(kaze, studio_kaze, payload, field):
    body = assert_problem(kaze.post(URL, payload, format="json"), 400)
    assert field in {e["field"] for e in body["errors"]}, body


def test_bad_ids_and_filters_are_4xx_problems(kaze, db):
    assert_problem(kaze.get(f"{URL}/not-a-uuid"), 404)
    assert_problem(kaze.get(f"{URL}/00000000-0000-0000-0000-000000000000"), 404)
    assert_problem(kaze.get(URL, {"identifier": "isbn:1"}), 400)
    assert_problem(kaze.get(URL, {"cursor": "garbage"}), 400, "invalid-cursor")
    assert_problem(kaze.get(URL, {"sort": "title"}), 400, "invalid")
    assert_problem(kaze.delete(URL), 405)


def test_works_list_costs_a_fixed_number_of_queries(kaze, studio_kaze, django_assert_max_num_queries):
    for i in range(30):
        work_register(holder=studio_kaze.holder, work_ref=f"SK-{i}", title=f"W{i}",
                      identifiers=[f"sha256:{i:064x}"])
    # token + user, membership, mandates (visibility), works page with holders, current identifiers
    with django_assert_max_num_queries(6):
        response = kaze.get(URL, {"page_size": 25})
    assert len(response.json()["results"]) == 25 and response.json()["next"]
