"""Reference data needs no key: the purpose tree, and every jurisdiction with its rules."""
from .conftest import assert_problem


def test_purpose_tree_for_anyone(anonymous, db):
    response = anonymous.get("/api/v1/purposes")
    assert response.status_code == 200
    tree = {p["code"]: p for p in response.json()}
    assert set(tree) == {"tdm", "train-ai", "train-genai", "ai-use", "search"}
    assert tree["train-genai"]["parent"] == "train-ai" and tree["tdm"]["parent"] is None
    assert set(tree["tdm"]["children"]) == {"train-ai", "ai-use", "search"}
    assert any("C2PA" in s for s in tree["train-ai"]["same_as"])


def test_jurisdictions_with_rules_include_star_eu_and_members(anonymous, db):
    response = anonymous.get("/api/v1/jurisdictions")
    assert response.status_code == 200
    by_code = {j["code"]: j for j in response.json()}
    assert {"*", "EU", "JP", "GB", "US", "FR", "DE"} <= set(by_code)
    assert by_code["FR"]["parent"] == "EU" and by_code["FR"]["rules"] == []
    assert by_code["FR"]["regimes"]["train-ai"]["regime"] == "opt-out"
    assert by_code["FR"]["regimes"]["train-ai"]["rule_jurisdiction"] == "EU"
    assert by_code["JP"]["regimes"]["search"]["regime"] == "prior-permission"
    star = by_code["*"]
    assert star["rules"][0]["purpose"] == "*" and star["rules"][0]["regime"] == "prior-permission"
    assert star["rules"][0]["basis"]


def test_a_bad_token_does_not_block_reference_data(anonymous, db):
    anonymous.credentials(HTTP_AUTHORIZATION="Token nonsense")
    assert anonymous.get("/api/v1/purposes").status_code == 200
    assert_problem(anonymous.get("/api/v1/purposes", {"x": "1"}), 400, "invalid")
