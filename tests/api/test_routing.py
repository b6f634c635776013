"""One view per operation on a shared URL (api/routing.py): studio kaze's requests reach the view of their method,
and the URL still answers as one resource (405 with every allowed method, HEAD as GET, OPTIONS)."""
import pytest

from api.routing import by_method
from api.views.works import WorkCreateApi, WorkListApi

from .conftest import assert_problem

URL = "/api/v1/works"


def test_studio_kaze_is_told_every_method_of_the_url_on_a_405(kaze, db):
    response = kaze.delete(URL)
    assert_problem(response, 405, "method-not-allowed")
    assert {m.strip() for m in response["Allow"].split(",")} >= {"GET", "POST", "OPTIONS"}

    detail = kaze.put(f"{URL}/00000000-0000-0000-0000-000000000000", {}, format="json")
    assert_problem(detail, 405, "method-not-allowed")
    assert {m.strip() for m in detail["Allow"].split(",")} >= {"GET", "PATCH"}


def test_studio_kazes_head_is_answered_as_its_get_and_options_lists_the_urls_methods(kaze, db):
    head = kaze.head(URL)
    assert head.status_code == 200 and head.content == b""
    options = kaze.options(URL)
    assert options.status_code == 200
    assert {m.strip() for m in options["Allow"].split(",")} >= {"GET", "POST"}


def test_anonymous_requests_meet_the_operations_own_checks(client, db):
    assert client.get(URL).status_code == 401
    assert client.post(URL, {}, content_type="application/json").status_code == 401
    assert client.delete(URL).status_code == 401


def test_a_view_without_the_method_it_is_routed_for_is_refused():
    with pytest.raises(TypeError):
        by_method(get=WorkCreateApi, post=WorkListApi)


def test_the_schema_documents_each_method_from_its_own_view(kaze, db):
    schema = kaze.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    works = schema["paths"]["/api/v1/works"]
    assert works["get"]["operationId"] == "works_list"
    assert works["post"]["operationId"] == "works_register"
    assert {p["name"] for p in works["get"]["parameters"]} >= {"q", "identifier", "holder", "cursor"}
    assert works["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "WorkCreateInputRequest")
