"""Permission requests over HTTP (api.md "Licences and permission requests").

Personas: two AI developers' organisations (Mirai AI, Kumo Labs, each with its own key) and two holders (Studio
Kaze, Hoshi Publishing, each with an editor's token), plus a collective filing for its principal. Rules proven:
each side sees only its own requests (another's is a 404, never a 403), holders decide, developers withdraw, the
decision shows the licence or the reason, errors are problems; and THE JOURNEY: Mirai asks, Kaze accepts, Mirai's
lookups are allowed (basis licensed) while Kumo's stay denied, Kaze revokes, Mirai is denied again; as_of before
the licence is denied.
"""
from datetime import timedelta

import pytest
from django.utils import timezone

from keys.services import api_key_create
from registry.services import work_register

from .conftest import assert_problem, client_for

URL = "/api/v1/permission-requests"
ISBN = "isbn:978-4-9901661-3-7"
HOSHI_ISBN = "isbn:978-0-306-40615-7"
TSUBASA_ISBN = "isbn:978-1-4028-9462-6"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_rate(settings):
    settings.KYODAKU_PERMISSION_REQUEST_RATE = "none"


@pytest.fixture
def works(studio_kaze, hoshi_pub):
    return {"kaze": work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani", kind="film",
                                  identifiers=[ISBN]).work,
            "hoshi": work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Hoshi", kind="manga",
                                   identifiers=[HOSHI_ISBN]).work}


def developer(name: str):
    _, plain = api_key_create(name=f"{name} crawler", rate="none", organisation=name)
    return client_for(api_key=plain)


@pytest.fixture
def mirai():
    return developer("Mirai AI")


@pytest.fixture
def kumo():
    return developer("Kumo Labs")


def ask(client, **body):
    body.setdefault("works", [ISBN])
    body.setdefault("purposes", ["train-genai"])
    body.setdefault("jurisdictions", ["JP"])
    body.setdefault("contact", "legal@example.org")
    return client.post(URL, body, format="json")


def lookup(client, **params):
    params = {"id": ISBN, "purpose": "train-genai", "jurisdiction": "JP", **params}
    response = client.get("/api/v1/lookup", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_journey_request_accept_lookup_revoke(works, mirai, kumo, kaze, hoshi, anonymous):
    before = timezone.now()
    assert lookup(mirai)["outcome"] == "denied"  # Japan: prior permission required
    created = ask(mirai, message="For our Japanese model.")
    assert created.status_code == 201, created.content
    request = created.json()
    assert request["state"] == "open" and request["holder"]["code"] == "studio-kaze"
    assert request["works"][0]["id"] == str(works["kaze"].pk) and request["licences"] == []
    # Kaze sees it in its list; Hoshi does not, and gets a 404 for it.
    assert [r["id"] for r in kaze.get(URL, {"state": "open"}).json()["results"]] == [request["id"]]
    assert hoshi.get(URL).json()["results"] == []
    assert_problem(hoshi.get(f"{URL}/{request['id']}"), 404)
    assert_problem(hoshi.post(f"{URL}/{request['id']}/accept", {}, format="json"), 404)
    accepted = kaze.post(f"{URL}/{request['id']}/accept",
                         {"license_url": "https://studio-kaze.example/deal/7", "conditions": "Credit the studio."},
                         format="json")
    assert accepted.status_code == 200, accepted.content
    # Mirai sees the decision and the licence's public fields.
    seen = mirai.get(f"{URL}/{request['id']}").json()
    assert seen["state"] == "accepted" and seen["decided_at"]
    (licence,) = seen["licences"]
    assert licence["license_url"] == "https://studio-kaze.example/deal/7" and licence["purposes"] == ["train-genai"]
    # Mirai's lookup is allowed, naming the licence; Kumo's and the public's are not.
    answer = lookup(mirai)
    assert (answer["outcome"], answer["basis"], answer["licence"]["id"]) == ("allowed", "licensed", licence["id"])
    assert lookup(kumo)["outcome"] == "denied" and lookup(kumo)["licence"] is None
    # as_of before the licence: denied.
    assert lookup(mirai, as_of=before.isoformat())["outcome"] == "denied"
    # Kaze revokes (the licences API): Mirai is denied again.
    assert kaze.post(f"/api/v1/licences/{licence['id']}/revoke").status_code == 200
    again = lookup(mirai)
    assert (again["outcome"], again["basis"]) == ("denied", "permission-required")
    # The public audit feed shows the actions, never the parties or the message.
    feed = anonymous.get("/api/v1/audit/events", {"after": 0, "limit": 1000}).json()
    text = str(feed)
    assert "permission_request.accept" in text
    for private in ("Mirai", "studio-kaze", "Japanese model", "legal@example.org"):
        assert private not in text


def test_each_organisation_sees_only_its_own_requests(works, mirai, kumo):
    mine = ask(mirai).json()
    theirs = ask(kumo).json()
    assert [r["id"] for r in mirai.get(URL).json()["results"]] == [mine["id"]]
    assert_problem(mirai.get(f"{URL}/{theirs['id']}"), 404)
    assert_problem(mirai.post(f"{URL}/{theirs['id']}/withdraw"), 404)
    withdrawn = mirai.post(f"{URL}/{mine['id']}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "withdrawn"
    assert_problem(mirai.post(f"{URL}/{mine['id']}/withdraw"), 409, "request-not-open")


def test_a_decline_reaches_the_developer_with_its_reason(works, mirai, kaze, viewer):
    request = ask(mirai).json()
    assert_problem(kaze.post(f"{URL}/{request['id']}/decline", {"reason": ""}, format="json"), 400)
    assert_problem(viewer.post(f"{URL}/{request['id']}/decline", {"reason": "No"}, format="json"), 403,
                   "read-only-role")
    assert kaze.post(f"{URL}/{request['id']}/decline", {"reason": "Not this film."}, format="json").status_code == 200
    seen = mirai.get(f"{URL}/{request['id']}").json()
    assert (seen["state"], seen["reason"], seen["licences"]) == ("declined", "Not this film.", [])
    assert_problem(kaze.post(f"{URL}/{request['id']}/accept", {}, format="json"), 409, "request-not-open")


def test_a_holder_cannot_widen_the_request(works, mirai, kaze):
    request = ask(mirai).json()
    body = assert_problem(kaze.post(f"{URL}/{request['id']}/accept", {"jurisdictions": ["*"]}, format="json"), 400)
    assert body["errors"][0]["code"] == "widens-request"
    body = assert_problem(kaze.post(f"{URL}/{request['id']}/accept", {"purposes": ["train-ai"]}, format="json"),
                          400)
    assert body["errors"][0]["code"] == "widens-request"


def test_a_collective_sees_and_decides_its_principals_requests(mirai, jaa, tsubasa, kaze):
    work_register(holder=tsubasa.holder, work_ref="TS-1", title="Tsubasa", kind="film", identifiers=[TSUBASA_ISBN])
    request = ask(mirai, works=[TSUBASA_ISBN]).json()
    assert [r["id"] for r in jaa.get(URL).json()["results"]] == [request["id"]]
    assert_problem(kaze.get(f"{URL}/{request['id']}"), 404)
    assert jaa.post(f"{URL}/{request['id']}/accept", {}, format="json").json()["state"] == "accepted"


def test_the_sides_use_their_own_credentials(works, mirai, kaze, anonymous):
    request = ask(mirai).json()
    # Filing and withdrawing take an API key (a token is no credential there: 401); deciding takes a holder's.
    assert_problem(kaze.post(URL, {"works": [ISBN], "purposes": ["train-ai"]}, format="json"), 401)
    assert_problem(mirai.post(f"{URL}/{request['id']}/accept", {}, format="json"), 403)
    assert_problem(kaze.post(f"{URL}/{request['id']}/withdraw"), 401)
    assert_problem(anonymous.get(URL), 401)


def test_bad_requests_are_problems(works, mirai):
    body = assert_problem(ask(mirai, works=[ISBN, HOSHI_ISBN]), 400)
    assert body["errors"][0]["code"] == "several-holders"
    body = assert_problem(ask(mirai, works=["isbn:978-1-4028-9462-6"]), 400)
    assert body["errors"][0] == {"field": "works[0]", "code": "not-registered",
                                 "detail": "isbn:9781402894626 is not registered to any work."}
    assert_problem(ask(mirai, purposes=[]), 400)
    assert_problem(ask(mirai, surprise=1), 400)
    assert_problem(mirai.get(URL, {"state": "maybe"}), 400)
    assert_problem(mirai.get(URL, {"cursor": "forged"}), 400, "invalid-cursor")


def test_the_caps_answer_409_and_429_with_retry_after(works, mirai, settings):
    settings.KYODAKU_MAX_OPEN_PERMISSION_REQUESTS = 1
    assert ask(mirai).status_code == 201
    assert_problem(ask(mirai), 409, "too-many-open-requests")
    settings.KYODAKU_MAX_OPEN_PERMISSION_REQUESTS = 0
    settings.KYODAKU_PERMISSION_REQUEST_RATE = "1/hour"
    response = ask(mirai)
    assert_problem(response, 429, "rate-limited")
    assert 3590 <= int(response["Retry-After"]) <= 3600


def test_the_list_pages_with_a_cursor(works, mirai):
    for _ in range(3):
        ask(mirai)
    first = mirai.get(URL, {"page_size": 2}).json()
    assert len(first["results"]) == 2 and first["next"]
    second = mirai.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None


def test_the_period_is_checked(works, mirai):
    past = (timezone.now() - timedelta(days=1)).isoformat()
    assert_problem(ask(mirai, effective_until=past), 400)


def test_a_page_of_requests_costs_the_same_queries_however_many_it_holds(works, mirai, kaze, studio_kaze):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def cost(client):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL).status_code == 200
        return len(queries)

    request = ask(mirai).json()
    kaze.post(f"{URL}/{request['id']}/accept", {}, format="json")
    one = cost(mirai), cost(kaze)
    for _ in range(4):
        ask(mirai, works=[ISBN, str(works["kaze"].pk)])
    assert (cost(mirai), cost(kaze)) == one
