"""Small hostile inputs get 4xx problems, never 500s (issue 12, item 10): deeply nested JSON bodies and forged
pagination cursors, as an attacker with a key or a holder's token would send them."""
import base64

import pytest

from api.parsers import MAX_JSON_DEPTH, json_depth_exceeds
from consent.services import declaration_file
from registry.services import work_register

from .conftest import assert_problem

pytestmark = pytest.mark.django_db


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("body", [
    nested(2000),
    '{"ids": ' + nested(100_000) + ', "purpose": "tdm", "jurisdiction": "JP"}',
    '{"ids": ["isbn:9784990166137"], "purpose": "tdm", "jurisdiction": "JP", "as_of": ' + nested(40) + "}",
])
def test_ai_developer_sending_deeply_nested_json_gets_a_400(ai_developer, body):
    body_problem = assert_problem(ai_developer.post("/api/v1/lookup", body, content_type="application/json"), 400)
    assert "nests" in body_problem["detail"]


@pytest.mark.parametrize("url", ["/api/v1/works", "/api/v1/declarations"])
def test_holder_sending_deeply_nested_json_gets_a_400(kaze, url):
    assert_problem(kaze.post(url, nested(2000), content_type="application/json"), 400, "malformed-request")


def test_ordinary_nesting_is_accepted(ai_developer):
    body = '{"ids": ["isbn:9784990166137"], "purpose": "tdm", "jurisdiction": "JP"}'
    assert ai_developer.post("/api/v1/lookup", body, content_type="application/json").status_code == 200


def test_depth_is_measured_without_recursion():
    assert not json_depth_exceeds({"ids": ["x"] * 10_000}, 2)
    assert json_depth_exceeds({"a": {"b": []}}, 2)
    deep: list = []
    for _ in range(100_000):  # deeper than Python's recursion limit
        deep = [deep]
    assert json_depth_exceeds(deep, MAX_JSON_DEPTH)


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


FORGED = ["garbage", _cursor("p=2026"), _cursor("p=not-a-date"), _cursor("r=1&p=x"), _cursor("o=1&p=\x00"),
          _cursor("p=2026-01-01T00:00:00+00:00\x00"), _cursor("o=-1")]


@pytest.fixture
def a_page_of_each(studio_kaze):
    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", kind="film").work
    declaration_file(holder=studio_kaze.holder, scope="work", work=work, purpose="tdm", consent="reserve")


@pytest.mark.parametrize("cursor", FORGED)
@pytest.mark.parametrize("url", ["/api/v1/works", "/api/v1/declarations"])
def test_studio_kaze_with_a_forged_cursor_gets_a_400(kaze, a_page_of_each, url, cursor):
    body = assert_problem(kaze.get(url, {"cursor": cursor}), 400, "invalid-cursor")
    assert body["errors"][0]["field"] == "cursor"


def test_a_cursor_the_api_gave_out_still_works(kaze, studio_kaze):
    for n in range(3):
        work_register(holder=studio_kaze.holder, work_ref=f"SK-{n}", title=f"Kaze {n}", kind="film")
    first = kaze.get("/api/v1/works", {"page_size": 2}).json()
    second = kaze.get(first["next"])
    assert second.status_code == 200 and len(second.json()["results"]) == 1
