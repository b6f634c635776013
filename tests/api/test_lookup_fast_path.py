"""The lean GET lookup (issue 15 item 4): the rate limiter counts in ONE Redis round trip with the same limits and
headers, the Redis client is built once, content negotiation answers as DRF's would, and a lookup asked with an API
key and no cookie skips the browser-only middleware while every other request goes through all of it."""
import pytest
import redis
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import caches
from django.http import HttpResponse
from django.test import RequestFactory

from api.negotiation import JsonFirstNegotiation
from api.renderers import OrjsonRenderer
from config import lanes
from config.cache import ResilientRedisCache
from keys.services import api_key_create
from registry.services import work_register
from tests.conftest import redis_url

from .conftest import client_for

URL = "/api/v1/lookup"
QUERY = {"id": "isbn:978-4-9901661-3-7", "purpose": "train-genai", "jurisdiction": "JP"}


def _redis_cache(location: str | None = None) -> ResilientRedisCache:
    return ResilientRedisCache(location or redis_url(), {"OPTIONS": {"socket_connect_timeout": 0.5,
                                                                     "socket_timeout": 0.5}})


@pytest.fixture
def redis_cache(settings):
    """The default cache is the production Redis cache on the test Redis (emptied before and after)."""
    settings.CACHES = {"default": {"BACKEND": "config.cache.ResilientRedisCache", "LOCATION": redis_url(),
                                   "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    cache = caches["default"]
    cache.clear()
    yield cache
    cache.clear()


@pytest.mark.redis
def test_count_in_window_counts_atomically_with_the_windows_timeout():
    cache = _redis_cache()
    cache.delete("kyodaku:test:window")
    assert [cache.count_in_window("kyodaku:test:window", 61) for _ in range(3)] == [1, 2, 3]
    raw = redis.Redis.from_url(redis_url())
    key = cache.make_and_validate_key("kyodaku:test:window")
    assert 0 < raw.ttl(key) <= 61  # created with its timeout, never without one
    assert cache.get("kyodaku:test:window") == 3  # the same counter the cache API reads
    cache.delete("kyodaku:test:window")


@pytest.mark.redis
def test_count_in_window_sends_its_script_when_redis_does_not_know_it(monkeypatch):
    """A new or restarted Redis has no scripts: the first count sends the script itself, and counts all the same."""
    import uuid

    from config import cache as cache_module

    monkeypatch.setattr(cache_module, "_COUNT_SHA1", uuid.uuid4().hex + "00000000")  # a hash Redis never saw
    cache = _redis_cache()
    cache.delete("kyodaku:test:window")
    assert [cache.count_in_window("kyodaku:test:window", 61) for _ in range(3)] == [1, 2, 3]
    raw = redis.Redis.from_url(redis_url())
    assert 0 < raw.ttl(cache.make_and_validate_key("kyodaku:test:window")) <= 61
    cache.delete("kyodaku:test:window")


@pytest.mark.redis
def test_the_redis_client_is_built_once_per_pool():
    cache = _redis_cache()
    assert cache._cache.get_client() is cache._cache.get_client(write=True)


def test_count_in_window_fails_open_when_redis_is_unreachable():
    cache = _redis_cache("redis://127.0.0.1:1/0")  # nothing listens there
    assert [cache.count_in_window("kyodaku:test:window", 61) for _ in range(2)] == [1, 1]


@pytest.mark.redis
def test_rate_limit_through_redis_keeps_its_limit_headers_and_429(db, redis_cache):
    _, plain = api_key_create(name="Small plan", rate="3/min")
    client = client_for(api_key=plain)
    answers = [client.get(URL, QUERY) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a["RateLimit-Limit"] == "3" for a in answers)
    assert answers[3]["Retry-After"] == answers[3]["RateLimit-Reset"]
    assert answers[3]["Content-Type"].startswith("application/problem+json")
    # A batch is one request in the same counter.
    assert client.post(URL, {"ids": [QUERY["id"]], "purpose": "train-genai", "jurisdiction": "JP"},
                       format="json").status_code == 429


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", " application/json "])
def test_plain_accept_headers_are_answered_as_drf_answers_them(accept):
    request = _drf_request(accept)
    fast = JsonFirstNegotiation().select_renderer(request, [OrjsonRenderer()])
    fast_class = type(fast[0])
    slow = JsonFirstNegotiation.__mro__[1]().select_renderer(request, [OrjsonRenderer()])
    assert (fast_class, fast[1]) == (type(slow[0]), slow[1]) == (OrjsonRenderer, "application/json")


def _drf_request(accept, query=""):
    from rest_framework.request import Request

    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    return Request(RequestFactory().get(f"{URL}?{query}", **headers))


def test_other_accept_headers_are_negotiated_as_before(db, ai_developer):
    html = ai_developer.get(URL, QUERY, HTTP_ACCEPT="text/html")
    assert html.status_code == 406 and html["Content-Type"].startswith("application/problem+json")
    assert ai_developer.get(URL, QUERY, HTTP_ACCEPT="application/json; indent=4").status_code == 200
    assert ai_developer.get(URL, {**QUERY, "format": "xml"}).status_code == 404


def _spy():
    seen = {}

    def get_response(request):
        seen["session"] = hasattr(request, "session")
        seen["user"] = hasattr(request, "user")
        seen["messages"] = hasattr(request, "_messages")
        return HttpResponse("{}")

    return seen, get_response


@pytest.mark.parametrize("middleware,attribute", [
    (lanes.SessionMiddleware, "session"), (lanes.AuthenticationMiddleware, "user"),
    (lanes.MessageMiddleware, "messages")])
def test_a_lookup_with_no_cookie_skips_the_browser_middleware_and_any_other_request_does_not(
        middleware, attribute):
    chain_for = {}
    for name, request in {
        "lookup, no cookie": RequestFactory().get(URL, QUERY, HTTP_AUTHORIZATION="Api-Key x.y"),
        "lookup with a cookie": RequestFactory().get(URL, QUERY, HTTP_COOKIE="sessionid=abc"),
        "another API URL": RequestFactory().get("/api/v1/works"),
        "the admin": RequestFactory().get("/admin/"),
    }.items():
        seen, get_response = _spy()
        if attribute != "session":  # what the chain's earlier middleware gives these two
            request.session = SessionStore()
        if attribute == "messages":
            request.user = AnonymousUser()
        middleware(get_response)(request)
        chain_for[name] = seen[attribute]
    assert chain_for == {"lookup, no cookie": False, "lookup with a cookie": True, "another API URL": True,
                         "the admin": True}


def test_lean_lane_is_only_the_lookup_paths_without_cookies():
    factory = RequestFactory()
    assert lanes.lean(factory.get("/api/v1/lookup"))
    assert lanes.lean(factory.post("/api/v1/lookup"))
    assert lanes.lean(factory.get("/api/v2/query/urls/"))
    assert not lanes.lean(factory.get("/api/v1/lookup", HTTP_COOKIE="kyodaku_tz=Asia%2FTokyo"))
    assert lanes.lean(factory.get("/api/v1/lookup", HTTP_COOKIE=""))  # an empty header: no cookie
    assert not lanes.lean(factory.get("/api/v1/works"))
    assert not lanes.lean(factory.get("/api/v1/lookup/"))


def test_a_lean_lookup_answers_with_the_same_headers_and_sets_no_cookie(db, ai_developer, hoshi_pub):
    work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Hoshi", kind="manga", identifiers=[QUERY["id"]])
    answer = ai_developer.get(URL, QUERY, HTTP_X_REQUEST_ID="req-lean-1")
    assert answer.status_code == 200 and answer.json()["registered"] is True
    assert answer["X-Request-ID"] == "req-lean-1"
    assert answer["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in answer
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert answer["Content-Language"] == "en" and answer["Content-Length"] == str(len(answer.content))
    assert "ETag" in answer and answer["Cache-Control"].startswith("private")
    assert not answer.cookies and "Cookie" not in answer.get("Vary", "")
    # Accept-Language still chooses the language of problem details.
    refused = ai_developer.get(URL, {**QUERY, "id": "isbn:123"}, HTTP_ACCEPT_LANGUAGE="ja")
    assert refused.status_code == 400 and refused["Content-Language"] == "ja"


@pytest.mark.redis
def test_count_in_window_counts_on_after_redis_closed_the_threads_kept_connection():
    """Rule (config/cache.py): the rate limiter's counter goes over a connection each thread keeps. When Redis
    closes it (a restart, a client timeout), the next request is still counted, on a new connection: the limit is
    not silently lifted (fail open is for a Redis that cannot be reached at all)."""
    cache = _redis_cache()
    cache.delete("kyodaku:test:window")
    assert cache.count_in_window("kyodaku:test:window", 61) == 1
    kept = cache._cache.thread_connection(write=True)
    kept.send_command("CLIENT", "ID")
    client_id = kept.read_response()
    assert redis.Redis.from_url(redis_url()).client_kill_filter(_id=client_id) == 1
    assert [cache.count_in_window("kyodaku:test:window", 61) for _ in range(2)] == [2, 3]
    kept.send_command("CLIENT", "ID")
    assert kept.read_response() != client_id  # a new connection to Redis, not the closed one
    cache.delete("kyodaku:test:window")


@pytest.mark.redis
def test_each_thread_counts_on_its_own_kept_connection():
    """Rule (config/cache.py `thread_connection`): one connection per thread, kept between requests, never shared
    by two threads (a reply read by the wrong thread would be another request's count)."""
    import threading

    cache = _redis_cache()
    cache.delete("kyodaku:test:window")
    counts, connections = [], []

    def count_twice():
        counts.extend(cache.count_in_window("kyodaku:test:window", 61) for _ in range(2))
        connections.append(cache._cache.thread_connection(write=True))

    threads = [threading.Thread(target=count_twice) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == list(range(1, 9))
    assert len({id(connection) for connection in connections}) == 4
    assert cache._cache.thread_connection(write=True) is cache._cache.thread_connection(write=True)
    cache.delete("kyodaku:test:window")
