"""A session cookie Django could not have issued is no session: never a database error (schemathesis found a
`sessionid` cookie holding a NUL answered with a 500 on PostgreSQL)."""
import uuid

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from core.sessions import SessionStore


@pytest.mark.django_db
@pytest.mark.parametrize("cookie", ["abc\x00defghijkl", "ABCDEFGHIJKLMNOP", "abcdefgh-ijklmnop", "ａｂｃｄｅｆｇｈｉ"])
def test_a_session_key_django_never_issues_is_no_session(cookie):
    store = SessionStore(session_key=cookie)
    assert store.session_key is None
    assert store.get(SESSION_KEY) is None


@pytest.mark.django_db
def test_an_anonymous_visitor_with_a_nul_in_the_session_cookie_gets_a_problem_not_a_500():
    client = Client(raise_request_exception=False)
    response = client.get(f"/api/v1/works/{uuid.uuid4()}/files/{uuid.uuid4()}",
                          HTTP_COOKIE="sessionid=2d9a057c\x0074a2-c282-b6f9")
    assert response.status_code in (401, 403)
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.django_db
def test_studio_kaze_signed_in_keeps_its_session(studio_kaze):
    client = Client()
    client.force_login(studio_kaze.user)
    key = client.cookies["sessionid"].value
    assert SessionStore(session_key=key).get(SESSION_KEY) == str(studio_kaze.user.pk)
