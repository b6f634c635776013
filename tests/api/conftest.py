"""HTTP clients for the personas: holders' users by token, an AI developer by API key, an operator."""
import pytest
from rest_framework.test import APIClient

from keys.services import api_key_create, holder_token_create


def client_for(user=None, *, api_key: str | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        _, token = holder_token_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    elif api_key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
    return client


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def ai_developer(db) -> APIClient:
    """An AI developer's crawler with its own key and no rate limit to trip over in ordinary tests."""
    _, plain = api_key_create(name="Crawler Co", rate="none")
    return client_for(api_key=plain)


@pytest.fixture
def kaze(studio_kaze) -> APIClient:
    return client_for(studio_kaze.user)


@pytest.fixture
def hoshi(hoshi_pub) -> APIClient:
    return client_for(hoshi_pub.user)


@pytest.fixture
def jaa(collective) -> APIClient:
    return client_for(collective.user)


@pytest.fixture
def viewer(kaze_viewer) -> APIClient:
    return client_for(kaze_viewer.user)


@pytest.fixture
def staff(operator) -> APIClient:
    return client_for(operator)


def assert_problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:kyodaku:problem:")
    assert body["title"] and body["detail"]
    assert isinstance(body["errors"], list)
    if code is not None:
        assert body["code"] == code, body
    return body
