"""Every error under /api/ is problem+json, routed or not; nothing leaks a stack trace."""
import pytest
from rest_framework.test import APIClient

from .conftest import assert_problem


@pytest.mark.parametrize("path", ["/api/nothing", "/api/v1/nothing", "/api/v1/works/", "/api/v2/lookup",
                                  "/api/v1/declarations/123/revoke"])
def test_unknown_api_urls_are_404_problems(anonymous, db, path):
    assert_problem(anonymous.get(path), 404, "not-found")


def test_slashless_schema_url_still_redirects(anonymous, db):
    response = anonymous.get("/api/v1/schema")
    assert response.status_code == 301 and response["Location"].endswith("/api/v1/schema/")


def test_an_unexpected_failure_is_a_500_problem_without_a_trace(db, monkeypatch):
    def broken():
        raise RuntimeError("secret internals")

    monkeypatch.setattr("api.views.reference.rulebook", broken)
    client = APIClient(raise_request_exception=False)
    response = client.get("/api/v1/jurisdictions")
    body = assert_problem(response, 500, "internal-error")
    assert "secret" not in response.content.decode() and "Traceback" not in response.content.decode()
    assert "denied" in body["detail"]


def test_outside_api_errors_keep_their_usual_form(anonymous, db):
    response = anonymous.get("/healthz")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"


def test_a_lost_race_for_a_unique_slot_is_a_409_problem(kaze, monkeypatch):
    from django.db import IntegrityError

    def racing(**kwargs):
        raise IntegrityError('duplicate key value violates unique constraint "work_ref_unique_per_holder"')

    monkeypatch.setattr("api.views.works.work_register", racing)
    response = kaze.post("/api/v1/works", {"work_ref": "SK-1", "title": "T"}, format="json")
    body = assert_problem(response, 409, "conflict")
    assert "work_ref_unique_per_holder" not in body["detail"]
