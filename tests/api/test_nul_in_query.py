"""A NUL character in a query string (found by the stateful schemathesis run: `POST /api/v1/claims?holder=...%00...`
was a 500) is a 400 problem everywhere under /api/, before any view or query sees it."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from .conftest import client_for


@pytest.mark.parametrize("url", [
    "/api/v1/claims?holder=studio%00kaze",
    "/api/v1/works?q=%00",
    "/api/v1/declarations?holder=%00",
    "/api/v1/works?%00=1",
])
def test_studio_kaze_query_with_a_nul_character_is_a_400_problem(studio_kaze, url):
    client = client_for(studio_kaze.user)
    if url.startswith("/api/v1/claims"):
        response = client.post(url, {"file": SimpleUploadedFile("c.csv", b"holder\n")}, format="multipart")
    else:
        response = client.get(url)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "malformed-request"


def test_ai_developer_lookup_with_a_nul_in_the_id_is_a_400_problem(ai_developer):
    response = ai_developer.get("/api/v1/lookup?id=isbn:%00&purpose=train-ai&jurisdiction=JP")
    assert response.status_code == 400 and response.json()["code"] == "malformed-request"


def test_an_encoded_percent_sign_followed_by_zeros_is_not_a_nul(ai_developer):
    response = ai_developer.get("/api/v1/lookup?id=url:https://x.example/a%2500&purpose=train-ai&jurisdiction=JP")
    assert response.status_code == 200
