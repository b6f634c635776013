"""Declarations over the API: append-only, idempotent when identical, isolated between holders."""
import pytest

from consent.models import Declaration
from consent.services import declaration_file
from registry.services import work_register

from .conftest import assert_problem

URL = "/api/v1/declarations"


@pytest.fixture
def kaze_film(studio_kaze):
    return work_register(holder=studio_kaze.holder, work_ref="SK-001", title="Kaze no Tani", kind="film").work


@pytest.fixture
def kaze_reservation(studio_kaze, kaze_film):
    declaration, _ = declaration_file(holder=studio_kaze.holder, scope="work", work=kaze_film, purpose="train-ai",
                                      jurisdiction="JP", consent="reserve")
    return declaration


def test_studio_kaze_files_a_declaration_and_filing_it_again_creates_nothing(kaze, kaze_film):
    payload = {"scope": "work", "work": str(kaze_film.pk), "purpose": "train-genai", "jurisdiction": "jp",
               "consent": "reserve", "license_url": "https://studio-kaze.example/ai", "conditions": "Ask first."}
    first = kaze.post(URL, payload, format="json")
    assert first.status_code == 201, first.content
    body = first.json()
    assert (body["holder"]["code"], body["scope"], body["work"], body["jurisdiction"], body["consent"]) == (
        "studio-kaze", "work", str(kaze_film.pk), "JP", "reserve")
    assert body["status"] == "current" and body["superseded_at"] is None and body["recorded_at"]
    again = kaze.post(URL, payload, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert Declaration.objects.count() == 1


def test_a_different_statement_supersedes_the_one_in_force(kaze, kaze_reservation, kaze_film):
    response = kaze.post(URL, {"scope": "work", "work": str(kaze_film.pk), "purpose": "train-ai",
                               "jurisdiction": "JP", "consent": "opt-in"}, format="json")
    assert response.status_code == 201
    assert response.json()["consent"] == "grant"
    old = kaze.get(f"{URL}/{kaze_reservation.pk}").json()
    assert old["status"] == "superseded" and old["superseded_by"] == response.json()["id"]
    assert old["superseded_at"] is not None


def test_revoke_ends_it_and_it_stays_readable(kaze, kaze_reservation):
    response = kaze.post(f"{URL}/{kaze_reservation.pk}/revoke")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "revoked" and response.json()["revoked_at"]
    assert_problem(kaze.post(f"{URL}/{kaze_reservation.pk}/revoke"), 409, "conflict")
    listed = kaze.get(URL).json()["results"]
    assert [d["id"] for d in listed] == [str(kaze_reservation.pk)]


@pytest.mark.parametrize("method", ["patch", "put", "delete"])
def test_declarations_are_never_edited_405(kaze, kaze_reservation, method):
    response = getattr(kaze, method)(f"{URL}/{kaze_reservation.pk}", {"consent": "grant"}, format="json")
    assert_problem(response, 405, "method-not-allowed")
    assert "GET" in response["Allow"]


def test_hoshi_pub_cannot_see_or_revoke_studio_kazes_declaration(hoshi, kaze_reservation, kaze_film):
    assert_problem(hoshi.get(f"{URL}/{kaze_reservation.pk}"), 404)
    assert_problem(hoshi.post(f"{URL}/{kaze_reservation.pk}/revoke"), 404)
    assert hoshi.get(URL).json()["results"] == []
    assert hoshi.get(URL, {"holder": "studio-kaze"}).json()["results"] == []
    # Filing against Kaze's work as Hoshi: the work is not Hoshi's (400 on the field, no leak of the holder).
    body = assert_problem(hoshi.post(URL, {"scope": "work", "work": str(kaze_film.pk), "purpose": "tdm",
                                           "consent": "grant"}, format="json"), 400)
    assert body["errors"][0]["field"] == "work"
    assert_problem(hoshi.post(URL, {"holder": "studio-kaze", "scope": "catalogue", "purpose": "tdm",
                                    "consent": "grant"}, format="json"), 404, "not-authorized-for-holder")


def test_collective_files_and_revokes_for_tsubasa_but_not_for_hoshi_pub(jaa, tsubasa, hoshi_pub):
    response = jaa.post(URL, {"holder": "tsubasa-anime", "scope": "catalogue", "purpose": "train-ai",
                              "jurisdiction": "*", "consent": "reserve"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["holder"]["code"] == "tsubasa-anime" and body["filed_by_agent"] == "jaa"
    assert jaa.post(f"{URL}/{body['id']}/revoke").status_code == 200
    assert_problem(jaa.post(URL, {"holder": "hoshi-pub", "scope": "catalogue", "purpose": "train-ai",
                                  "consent": "reserve"}, format="json"), 404)
    assert not Declaration.objects.filter(holder=hoshi_pub.holder).exists()


def test_kaze_viewer_reads_but_cannot_file_or_revoke(viewer, kaze_reservation):
    assert viewer.get(f"{URL}/{kaze_reservation.pk}").status_code == 200
    assert_problem(viewer.post(URL, {"scope": "catalogue", "purpose": "tdm", "consent": "grant"}, format="json"),
                   403, "read-only-role")
    assert_problem(viewer.post(f"{URL}/{kaze_reservation.pk}/revoke"), 403, "read-only-role")


def test_operator_sees_every_holders_declarations(staff, kaze_reservation, hoshi_pub):
    declaration_file(holder=hoshi_pub.holder, scope="catalogue", purpose="tdm", consent="grant")
    assert len(staff.get(URL).json()["results"]) == 2
    assert staff.get(f"{URL}/{kaze_reservation.pk}").status_code == 200


def test_api_keys_and_anonymous_callers_are_refused(ai_developer, anonymous, kaze_reservation):
    # A valid API key is told what is wrong (403: the wrong credential here), not that none was given.
    for response in (ai_developer.get(URL),
                     ai_developer.post(URL, {"scope": "catalogue", "purpose": "tdm", "consent": "grant"},
                                       format="json"),
                     ai_developer.post(f"{URL}/{kaze_reservation.pk}/revoke")):
        body = assert_problem(response, 403, "permission-denied")
        assert "API key" in body["detail"] and "Token" in body["detail"], body
        assert "not provided" not in body["detail"]
    assert Declaration.objects.get(pk=kaze_reservation.pk).revoked_at is None
    assert_problem(anonymous.get(URL), 401)
    assert_problem(anonymous.post(f"{URL}/{kaze_reservation.pk}/revoke"), 401)
    assert_problem(anonymous.get(f"{URL}/{kaze_reservation.pk}"), 401)


def test_ai_developer_reads_any_declaration_by_id_with_public_fields_only(ai_developer, jaa, collective, tsubasa):
    """A lookup answer or a receipt names a declaration: its terms and history must be readable with the key, but
    not the holder's private arrangements (which collective filed it under a mandate)."""
    work = work_register(holder=tsubasa.holder, work_ref="TB-1", title="Skyward", kind="series").work
    grant, _ = declaration_file(holder=tsubasa.holder, scope="work", work=work, purpose="train-genai",
                                jurisdiction="JP", consent="grant", license_url="https://tsubasa.example/terms",
                                conditions="Non-commercial research models only", agent=collective.holder)
    later, _ = declaration_file(holder=tsubasa.holder, scope="work", work=work, purpose="train-genai",
                                jurisdiction="JP", consent="reserve")
    old = ai_developer.get(f"{URL}/{grant.pk}")
    assert old.status_code == 200, old.content
    body = old.json()
    assert (body["id"], body["holder"]["code"], body["work"], body["consent"]) == (
        str(grant.pk), "tsubasa-anime", str(work.pk), "grant")
    assert (body["license_url"], body["conditions"]) == ("https://tsubasa.example/terms",
                                                         "Non-commercial research models only")
    assert (body["status"], body["superseded_by"]) == ("superseded", str(later.pk))
    assert "filed_by_agent" not in body
    assert "RateLimit-Limit" not in old  # the fixture's key has no limit
    assert_problem(ai_developer.get(f"{URL}/00000000-0000-4000-8000-000000000000"), 404)
    # The collective's own users still see that they filed it.
    assert jaa.get(f"{URL}/{grant.pk}").json()["filed_by_agent"] == "jaa"


@pytest.mark.parametrize(("payload", "field"), [
    ({"scope": "work", "purpose": "tdm", "consent": "grant"}, "work"),
    ({"scope": "everything", "purpose": "tdm", "consent": "grant"}, "scope"),
    ({"scope": "catalogue", "purpose": "mining", "consent": "grant"}, "purpose"),
    ({"scope": "catalogue", "purpose": "tdm", "jurisdiction": "ZZ", "consent": "grant"}, "jurisdiction"),
    ({"scope": "catalogue", "purpose": "tdm", "consent": "maybe"}, "consent"),
    ({"scope": "catalogue", "purpose": "tdm", "consent": "grant", "license_url": "not a url"}, "license_url"),
    ({"scope": "catalogue", "purpose": "tdm", "consent": "grant", "effective_from": "2027-01-01T00:00:00Z",
      "effective_until": "2026-01-01T00:00:00Z"}, "effective_until"),
    ({"scope": "catalogue", "purpose": "tdm", "consent": "grant", "effective_from": "2027-01-01"}, "effective_from"),
    ({"scope": "catalogue", "purpose": "tdm", "consent": "grant", "work": "nope"}, "work"),
    ({"scope": "catalogue", "purpose": "tdm", "consent": "grant", "superseded_at": None}, "superseded_at"),
])
def test_bad_declaration_input_is_a_400_problem_naming_the_field(kaze, studio_kaze, payload, field):
    body = assert_problem(kaze.post(URL, payload, format="json"), 400)
    assert field in {e["field"] for e in body["errors"]}, body


def test_declaration_list_filters_and_costs_a_fixed_number_of_queries(kaze, studio_kaze, kaze_film,
                                                                      django_assert_max_num_queries):
    for purpose in ("tdm", "train-ai", "train-genai", "search", "ai-use"):
        declaration_file(holder=studio_kaze.holder, scope="work", work=kaze_film, purpose=purpose, consent="grant")
        declaration_file(holder=studio_kaze.holder, scope="catalogue", purpose=purpose, consent="reserve")
    # token + user, membership, mandates (visibility), the page with holders and filing collectives
    with django_assert_max_num_queries(5):
        response = kaze.get(URL, {"work": str(kaze_film.pk)})
    assert len(response.json()["results"]) == 5
    assert_problem(kaze.get(URL, {"work": "not-a-uuid"}), 400)
    assert_problem(kaze.get(f"{URL}/not-a-uuid"), 404)
