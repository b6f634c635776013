"""Licences over HTTP (api.md "Licences and permission requests": `GET/POST /api/v1/licences`,
`GET /api/v1/licences/{id}`, `POST /api/v1/licences/{id}/revoke`).

Personas: two AI developers' organisations (Mirai AI and Kumo Labs, each with its own key; Mirai with two keys)
and holders (Studio Kaze's editor and viewer, Hoshi Publishing's editor, the collective JAA filing for its
principal Tsubasa). Rules proven: a holder files a licence naming the licensee by its organisation code; each
party sees the licences between them and nobody else does (404, never 403); superseded and revoked licences stay
visible to both with their times; only a holder's writers revoke; errors are problems; pages are cursor-paged.
"""
import pytest

from keys.services import api_key_create
from registry.models import Organisation
from registry.services import work_register

from .conftest import assert_problem, client_for

URL = "/api/v1/licences"
ISBN = "isbn:978-4-9901661-3-7"

pytestmark = pytest.mark.django_db


def developer(name: str, key_name: str = ""):
    _, plain = api_key_create(name=key_name or f"{name} crawler", rate="none", organisation=name)
    return client_for(api_key=plain)


@pytest.fixture
def mirai():
    return developer("Mirai AI")


@pytest.fixture
def kumo():
    return developer("Kumo Labs")


@pytest.fixture
def kaze_work(studio_kaze):
    return work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani", kind="film",
                         identifiers=[ISBN]).work


def file(client, **body):
    body.setdefault("licensee", "mirai-ai")
    body.setdefault("purposes", ["train-genai"])
    body.setdefault("jurisdictions", ["JP"])
    return client.post(URL, body, format="json")


def ids(response):
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def test_organisations_get_a_public_code_from_their_name(mirai, kumo):
    assert sorted(Organisation.objects.values_list("code", flat=True)) == ["kumo-labs", "mirai-ai"]
    assert Organisation.objects.create(name="未来AI").code == "ai"
    assert Organisation.objects.create(name="みらい").code == "org"
    assert Organisation.objects.create(name="Mirai-AI!").code == "mirai-ai-2"


def test_studio_kaze_licenses_a_work_to_mirai_and_both_parties_see_it(kaze_work, kaze, mirai, kumo, hoshi,
                                                                       anonymous):
    created = file(kaze, work=str(kaze_work.pk), license_url="https://studio-kaze.example/deal/1",
                   conditions="Credit the studio.")
    assert created.status_code == 201, created.content
    licence = created.json()
    assert licence["licensee"] == {"id": licence["licensee"]["id"], "code": "mirai-ai", "name": "Mirai AI"}
    assert licence["holder"]["code"] == "studio-kaze" and licence["work"]["id"] == str(kaze_work.pk)
    assert (licence["scope"], licence["purposes"], licence["jurisdictions"]) == ("work", ["train-genai"], ["JP"])
    assert licence["revoked_at"] is None and licence["superseded_at"] is None
    # Both parties list and read it; a second key of Mirai's organisation too.
    second_mirai_key = developer("Mirai AI", key_name="Mirai batch")
    for client in (kaze, mirai, second_mirai_key):
        assert ids(client.get(URL)) == [licence["id"]]
        assert client.get(f"{URL}/{licence['id']}").json()["conditions"] == "Credit the studio."
    # Another developer and another holder: nothing, and a 404 for the one licence.
    for client in (kumo, hoshi):
        assert ids(client.get(URL)) == []
        assert_problem(client.get(f"{URL}/{licence['id']}"), 404)
    assert_problem(anonymous.get(URL), 401)
    # And a lookup with Kumo's key is not changed by it (the engine's isolation, over HTTP).
    answer = kumo.get("/api/v1/lookup", {"id": ISBN, "purpose": "train-genai", "jurisdiction": "JP"}).json()
    assert answer["basis"] != "licensed" and answer["licence"] is None
    answer = mirai.get("/api/v1/lookup", {"id": ISBN, "purpose": "train-genai", "jurisdiction": "JP"}).json()
    assert answer["basis"] == "licensed" and answer["licence"]["id"] == licence["id"]


def test_superseded_and_revoked_licences_stay_visible_to_both(kaze_work, kaze, mirai):
    first = file(kaze, work=str(kaze_work.pk)).json()
    second = file(kaze, work=str(kaze_work.pk), jurisdictions=["*"]).json()
    revoked = kaze.post(f"{URL}/{second['id']}/revoke")
    assert revoked.status_code == 200, revoked.content
    assert revoked.json()["revoked_at"] is not None
    for client in (kaze, mirai):
        listed = {item["id"]: item for item in client.get(URL).json()["results"]}
        assert listed[first["id"]]["superseded_by"] == second["id"] and listed[first["id"]]["superseded_at"]
        assert listed[second["id"]]["revoked_at"] is not None
        assert ids(client.get(URL, {"current": "true"})) == []
        assert set(ids(client.get(URL, {"current": "false"}))) == {first["id"], second["id"]}
    assert_problem(kaze.post(f"{URL}/{second['id']}/revoke"), 409)
    assert_problem(kaze.post(f"{URL}/{first['id']}/revoke"), 409)


def test_a_catalogue_licence_from_a_collective_for_its_principal(tsubasa, jaa, mirai, kaze):
    created = file(jaa, holder="tsubasa-anime", scope="catalogue", purposes=["train-ai"], jurisdictions=["*"])
    assert created.status_code == 201, created.content
    licence = created.json()
    assert licence["work"] is None and licence["holder"]["code"] == "tsubasa-anime"
    assert ids(jaa.get(URL, {"holder": "tsubasa-anime"})) == [licence["id"]]
    assert ids(mirai.get(URL, {"holder": "tsubasa-anime", "licensee": "mirai-ai"})) == [licence["id"]]
    assert_problem(kaze.get(f"{URL}/{licence['id']}"), 404)


def test_only_the_holders_writers_file_and_revoke(kaze_work, kaze, viewer, hoshi, mirai):
    licence = file(kaze, work=str(kaze_work.pk)).json()
    assert_problem(file(viewer, work=str(kaze_work.pk)), 403, "read-only-role")
    assert_problem(viewer.post(f"{URL}/{licence['id']}/revoke"), 403, "read-only-role")
    assert viewer.get(f"{URL}/{licence['id']}").status_code == 200
    assert_problem(hoshi.post(f"{URL}/{licence['id']}/revoke"), 404)
    assert_problem(file(hoshi, holder="studio-kaze", work=str(kaze_work.pk)), 404, "not-authorized-for-holder")
    # A developer's key reads but never files or revokes.
    assert_problem(file(mirai, work=str(kaze_work.pk)), 403)
    assert_problem(mirai.post(f"{URL}/{licence['id']}/revoke"), 403)


def test_bad_licences_are_problems_naming_the_field(kaze_work, kaze, hoshi_pub, mirai):
    other = work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Hoshi", kind="manga").work
    body = assert_problem(file(kaze, licensee="nobody", work=str(other.pk)), 400)
    assert {e["field"] for e in body["errors"]} == {"licensee", "work"}
    body = assert_problem(file(kaze, work=str(kaze_work.pk), purposes=["nap"], jurisdictions=["XX"]), 400)
    assert {e["field"] for e in body["errors"]} == {"purposes", "jurisdictions"}
    assert_problem(file(kaze), 400)  # scope work without a work
    assert_problem(file(kaze, scope="catalogue", work=str(kaze_work.pk)), 400)
    assert_problem(file(kaze, work=str(kaze_work.pk), effective_from="2027-01-01T00:00:00Z",
                        effective_until="2026-01-01T00:00:00Z"), 400)
    assert_problem(file(kaze, work=str(kaze_work.pk), colour="blue"), 400)
    assert_problem(kaze.post(f"{URL}/{kaze_work.pk}/revoke"), 404)
    assert_problem(kaze.get(URL, {"cursor": "cD1ub3QtYS10aW1l"}), 400)
    assert kaze.patch(f"{URL}/{kaze_work.pk}", {}, format="json").status_code == 405


def test_the_list_is_cursor_paged(studio_kaze, kaze, mirai):
    works = [work_register(holder=studio_kaze.holder, work_ref=f"SK-{i}", title=f"W{i}", kind="film").work
             for i in range(3)]
    filed = [file(kaze, work=str(w.pk)).json()["id"] for w in works]
    first = mirai.get(URL, {"page_size": 2}).json()
    assert [i["id"] for i in first["results"]] == filed[::-1][:2] and first["next"]
    second = mirai.get(first["next"]).json()
    assert [i["id"] for i in second["results"]] == filed[::-1][2:] and second["next"] is None
