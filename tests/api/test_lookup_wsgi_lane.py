"""The WSGI lane (config.wsgi_lane) answers an AI developer's crawler exactly as Django's handler and middleware do:
the same status, body bytes and headers (all but the per-request X-Request-ID value), for every request of the
lean lane's matrix (tests/api/test_lookup_lean.py), good or bad.

Each request is handed twice to the WSGI application (config/wsgi.py's, as granian calls it), once with the lane on
(KYODAKU_WSGI_LANE) and once with it off, with the clock stopped; the lane's answers are checked to be its own
(Django's handler not called) where it should answer, and Django's for everything else (a cookie, HEAD, OPTIONS,
another path, a bad key). Then what the middleware did and the lane must still do: the access line, and a kept
database connection that PostgreSQL closed replaced before the lookup's query.
"""
import io
import logging
import time
from urllib.parse import urlencode

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import OperationalError, close_old_connections, connection, connections
from django.db.backends.signals import connection_created

from config.wsgi_lane import WsgiLane
from core.request_context import request_id_var
from keys.services import api_key_create
from tests.api.test_lookup_lean import EPOCH, NOW, URL, licensee_key, public_key, stopped_clock  # noqa: F401
from tests.consent.test_lookup_one_id import IDS, registry  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db, pytest.mark.usefixtures("registry")]


class _Django:
    """Django's WSGI handler, counting the requests it is handed."""

    def __init__(self):
        self.handler = WSGIHandler()
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.handler(environ, start_response)


@pytest.fixture
def django_app():
    return _Django()


@pytest.fixture
def app(django_app):
    return WsgiLane(django_app)


@pytest.fixture
def test_transaction_kept():
    """As Django's test client does: no close_old_connections around a request, so the test's transaction (and the
    data of the fixtures) stays."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def call(app, query, *, method="GET", path=URL, key=None, **headers):
    """(status, body, headers) of `app` for this request, as a WSGI server would hand it."""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": urlencode(query), "SCRIPT_NAME": "",
               "SERVER_NAME": "testserver", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "testserver", "wsgi.input": io.BytesIO(b""),
               "wsgi.url_scheme": "http", "wsgi.errors": io.StringIO(), **headers}
    if key is not None:
        environ["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"], answer["headers"] = status, response_headers

    body = app(environ, start_response)
    try:
        content = b"".join(body)
    finally:
        body.close()
    return answer["status"], content, sorted(answer["headers"])


def both(settings, app, django_app, query, **kwargs):
    """The same request with the WSGI lane on, then off: the two answers and whether Django's handler answered the
    first. The lane's answer is its second to the same request since its switch was set (a setting changed clears
    what it keeps per process): the first fills what it keeps (the constant headers, the language), the second
    uses it."""
    answers = []
    for on in (True, False):
        settings.KYODAKU_WSGI_LANE = on
        if on:
            call(app, query, HTTP_X_REQUEST_ID="parity-0", **kwargs)
        before = django_app.calls
        answers.append(call(app, query, HTTP_X_REQUEST_ID="parity-1", **kwargs))
        if on:
            by_django = django_app.calls > before
    settings.KYODAKU_WSGI_LANE = True
    assert django_app.calls - before == 1  # lane off: Django's handler answers
    return answers[0], answers[1], by_django


@pytest.mark.parametrize("purpose, jurisdiction", [("train-genai", "JP"), ("tdm", "FR"), ("search", "DE")])
def test_ai_developer_gets_the_same_bytes_from_the_wsgi_lane_for_every_kind_of_id(
        public_key, licensee_key, stopped_clock, test_transaction_kept, settings, app, django_app, purpose,  # noqa: F811
        jurisdiction):
    for key in (public_key, licensee_key):
        for identifier in IDS:
            lane, django, by_django = both(settings, app, django_app,
                                           {"id": identifier, "purpose": purpose, "jurisdiction": jurisdiction},
                                           key=key)
            assert lane == django
            assert not by_django, identifier
            assert lane[0].split()[0] in ("200", "400"), lane


def test_the_wsgi_lane_answers_with_the_middlewares_headers(public_key, stopped_clock, test_transaction_kept,  # noqa: F811
                                                            settings, app, django_app):
    status, body, headers = call(app, {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"},
                                 key=public_key, HTTP_ACCEPT_LANGUAGE="ja")
    names = {name for name, _ in headers}
    assert status == "200 OK"
    assert {"Content-Length", "Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
            "Referrer-Policy", "Content-Language", "Vary", "X-Request-ID", "ETag", "Cache-Control"} <= names
    assert ("Content-Language", "ja") in headers and ("Content-Length", str(len(body))) in headers


def test_the_constant_headers_follow_https(public_key, stopped_clock, test_transaction_kept, settings, app,  # noqa: F811
                                           django_app):
    """HSTS is sent on HTTPS only: the lane's headers are captured per answer of request.is_secure()."""
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    django_app.handler = WSGIHandler()  # SecurityMiddleware reads its settings when it is made
    query = {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}
    for proto in ("https", "http", "https"):
        lane, django, by_django = both(settings, app, django_app, query, key=public_key,
                                       HTTP_X_FORWARDED_PROTO=proto)
        assert lane == django and not by_django
        assert any(name == "Strict-Transport-Security" for name, _ in lane[2]) == (proto == "https")


@pytest.mark.parametrize("accept_language", [None, "ja", "ja-JP,ja;q=0.9,en;q=0.8", "fr-CA, fr;q=0.8", "en", "*", ""])
def test_the_language_is_negotiated_alike_first_and_again(public_key, stopped_clock, test_transaction_kept,  # noqa: F811
                                                          settings, app, django_app, accept_language):
    """The lane keeps LocaleMiddleware's decision per Accept-Language value: the first request and the next with the
    same header get the same language, Content-Language, Vary and translated problem details as from Django."""
    headers = {} if accept_language is None else {"HTTP_ACCEPT_LANGUAGE": accept_language}
    for identifier in (IDS[0], "isbn:123", IDS[0], "isbn:123"):
        lane, django, by_django = both(settings, app, django_app,
                                       {"id": identifier, "purpose": "train-genai", "jurisdiction": "JP"},
                                       key=public_key, **headers)
        assert lane == django and not by_django
    if accept_language == "ja":
        assert ("Content-Language", "ja") in lane[2]


def test_ai_developer_revalidating_gets_the_same_304_and_200(public_key, stopped_clock, test_transaction_kept,  # noqa: F811
                                                             settings, app, django_app):
    query = {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}
    etag = dict(call(app, query, key=public_key)[2])["ETag"]
    for wanted in (etag, f'"other", {etag}', "*", f"W/{etag}", '"other"', ""):
        lane, django, by_django = both(settings, app, django_app, query, key=public_key, HTTP_IF_NONE_MATCH=wanted)
        assert lane == django and not by_django
    assert call(app, query, key=public_key, HTTP_IF_NONE_MATCH=etag)[0] == "304 Not Modified"


def test_a_receipt_is_signed_alike(public_key, stopped_clock, test_transaction_kept, settings, app, django_app):  # noqa: F811
    query = {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP", "receipt": "true"}
    lane, django, by_django = both(settings, app, django_app, query, key=public_key)
    assert lane == django and not by_django and b'"receipt"' in lane[1]


@pytest.mark.parametrize("query, headers, lane_answers", [
    ({"id": IDS[0], "purpose": "nope", "jurisdiction": "JP"}, {}, True),  # unknown purpose: the lane's 400
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "XX"}, {}, True),
    ({"id": "isbn:123", "purpose": "train-genai", "jurisdiction": "JP"}, {"HTTP_ACCEPT_LANGUAGE": "ja"}, True),
    ({"id": IDS[0], "purpose": "train-genai"}, {}, False),  # missing parameter: the DRF view's 400
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP", "receipt": "maybe"}, {}, False),
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP", "as_of": "2026-01-02T00:00:00Z"}, {}, False),
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP", "as_of": "2027-01-02T00:00:00Z"}, {}, False),
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP", "color": "red"}, {}, False),
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP", "format": "json"}, {}, False),
    ({"id": "", "purpose": "train-genai", "jurisdiction": "JP"}, {}, False),
    ({"id": "isbn:9784\x00", "purpose": "train-genai", "jurisdiction": "JP"}, {}, False),  # NUL: problem+json 400
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}, {"HTTP_ACCEPT": "text/html"}, False),
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}, {"HTTP_ACCEPT": "application/json; q=1"}, False),
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}, {"HTTP_COOKIE": "sessionid=x"}, False),
])
def test_a_bad_unusual_or_web_request_is_answered_alike(public_key, stopped_clock, test_transaction_kept,  # noqa: F811
                                                        settings, app, django_app, query, headers, lane_answers):
    lane, django, by_django = both(settings, app, django_app, query, key=public_key, **headers)
    assert lane == django
    assert by_django is not lane_answers


@pytest.mark.parametrize("error, status", [(OperationalError("the server closed the connection"), "503"),
                                           (RuntimeError("a bug"), "500")])
def test_a_failing_lookup_is_answered_alike(public_key, stopped_clock, test_transaction_kept, settings, app,  # noqa: F811
                                            django_app, monkeypatch, error, status):
    """The database unreachable mid-lookup is ProblemJsonMiddleware's 503 with Retry-After; a crash is Django's 500,
    as problem+json: from the lane as from Django."""
    def failing(**kwargs):
        raise error

    monkeypatch.setattr("api.views.lookup.lookup_many", failing)
    lane, django, by_django = both(settings, app, django_app,
                                   {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}, key=public_key)
    assert lane == django and not by_django
    assert lane[0].startswith(status) and ("Content-Type", "application/problem+json") in lane[2]


def test_the_key_unreadable_goes_to_django(public_key, stopped_clock, test_transaction_kept, settings, app,  # noqa: F811
                                           django_app, monkeypatch):
    """The database unreachable while the key is read: nothing is counted yet, so Django answers (its 503)."""
    def failing(key):
        raise OperationalError("the server closed the connection")

    monkeypatch.setattr("api.auth.api_key_verified", failing)
    lane, django, by_django = both(settings, app, django_app,
                                   {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}, key=public_key)
    assert lane == django and by_django and lane[0].startswith("503")


@pytest.mark.parametrize("authorization", [
    None, "Api-Key", "Api-Key nope.secret", "Api-Key nodot", "Api-Key a b", "Token abc", "api-key {key}x",
    "Bearer {key}",
])
def test_a_missing_unknown_or_malformed_key_goes_to_django(public_key, stopped_clock, test_transaction_kept,  # noqa: F811
                                                           settings, app, django_app, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization.format(key=public_key)}
    lane, django, by_django = both(settings, app, django_app,
                                   {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}, **headers)
    assert lane == django and by_django
    assert lane[0].startswith("401")


def test_over_the_limit_is_the_same_429(stopped_clock, test_transaction_kept, settings, app, django_app):  # noqa: F811
    query = {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}
    lane_key = api_key_create(name="Lane crawler", rate="2/hour")[1]
    django_key = api_key_create(name="Django crawler", rate="2/hour")[1]
    for _ in range(3):
        settings.KYODAKU_WSGI_LANE = True
        lane = call(app, query, key=lane_key, HTTP_X_REQUEST_ID="parity-1")
        settings.KYODAKU_WSGI_LANE = False
        django = call(app, query, key=django_key, HTTP_X_REQUEST_ID="parity-1")
        assert lane == django
    assert lane[0].startswith("429") and ("RateLimit-Remaining", "0") in lane[2]


@pytest.mark.parametrize("method, path", [("HEAD", URL), ("OPTIONS", URL), ("GET", URL + "/"), ("GET", "/api/v1/x"),
                                          ("GET", "/api/v1/lookup/batch"), ("POST", URL)])
def test_other_methods_and_paths_go_to_django(public_key, stopped_clock, test_transaction_kept, settings, app,  # noqa: F811
                                              django_app, method, path):
    lane, django, by_django = both(settings, app, django_app,
                                   {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"},
                                   method=method, path=path, key=public_key)
    assert lane == django and by_django


def test_the_switch_turns_the_lane_off(public_key, stopped_clock, test_transaction_kept, settings, app,  # noqa: F811
                                       django_app):
    settings.KYODAKU_WSGI_LANE = False
    call(app, {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}, key=public_key)
    assert django_app.calls == 1


def test_an_unknown_middleware_turns_the_lane_off(public_key, stopped_clock, test_transaction_kept, settings,  # noqa: F811
                                                  app, django_app):
    """A middleware the lane does not know might shape the answer: Django answers everything then."""
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "django.middleware.gzip.GZipMiddleware"]
    django_app.handler = WSGIHandler()
    call(app, {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}, key=public_key)
    assert django_app.calls == 1


def test_the_access_line_is_written_alike_with_the_request_id(public_key, stopped_clock, test_transaction_kept,  # noqa: F811
                                                              settings, app, django_app):
    """The same record on `kyodaku.access` from both (the same message arguments and JSON fields, the duration
    aside), written while the request's id is the log context's."""
    settings.KYODAKU_ACCESS_LOG = True
    lines = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append((record, request_id_var.get()))

    access = logging.getLogger("kyodaku.access")
    keep = Keep(level=logging.INFO)
    access.addHandler(keep)
    level = access.level
    access.setLevel(logging.INFO)
    try:
        lane, django, by_django = both(settings, app, django_app,
                                       {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"},
                                       key=public_key, HTTP_USER_AGENT="MiraiBot/1")
    finally:
        access.removeHandler(keep)
        access.setLevel(level)
    assert not by_django and lane == django
    fields = ("method", "path", "status", "bytes", "remote_addr", "user_agent", "msg")
    _, (lane_line, lane_id), (django_line, django_id) = lines  # the first: the lane filling what it keeps
    assert lane_id == django_id == "parity-1"
    assert [getattr(lane_line, f) for f in fields] == [getattr(django_line, f) for f in fields]
    assert lane_line.args[:6] == django_line.args[:6] and lane_line.args[7:] == django_line.args[7:]
    assert lane_line.status == 200 and lane_line.bytes == len(lane[1]) and lane_line.user_agent == "MiraiBot/1"


def test_a_request_id_is_made_when_none_is_sent(public_key, stopped_clock, test_transaction_kept, settings, app,  # noqa: F811
                                                django_app):
    _, _, headers = call(app, {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}, key=public_key)
    assert django_app.calls == 0 and dict(headers)["X-Request-ID"]


@pytest.mark.django_db(transaction=True)
def test_a_kept_connection_the_server_closed_is_replaced_before_the_lookup(public_key, stopped_clock, settings,  # noqa: F811
                                                                           app, django_app, monkeypatch):
    """Django's request_started (close_old_connections, the health check) runs in the lane: a connection that
    PostgreSQL ended between two requests (a restart) costs the crawler nothing."""
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", None)
    connection.close()  # the next one connects with these settings, as a web thread's does
    query = {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}
    assert call(app, query, key=public_key)[0] == "200 OK"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    killer = connections.create_connection("default")
    with killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    killer.close()
    deadline = time.monotonic() + 5
    while connection.is_usable() and time.monotonic() < deadline:
        time.sleep(0.01)
    status, _, _ = call(app, query, key=public_key)
    assert status == "200 OK" and django_app.calls == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid


@pytest.mark.django_db(transaction=True)  # a connection closed inside the test's transaction could not be replaced
def test_a_kept_connection_past_conn_max_age_is_replaced_with_or_without_other_receivers(public_key, stopped_clock,  # noqa: F811
                                                                                       app, django_app, monkeypatch):
    """Rule (CONN_MAX_AGE): a connection older than its age is closed before the next request uses it, whether the
    lane does request_started's work itself (Django's own receivers: the deployment) or sends the signal (another
    receiver connected, which is then called too)."""
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    connection.close()  # the next one connects with these settings, as a web thread's does
    query = {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}
    heard = []

    def another(sender, environ, **kwargs):
        heard.append(environ["PATH_INFO"])

    made = []

    def created(sender, connection, **kwargs):
        made.append(connection.alias)

    connection_created.connect(created)
    try:
        for other_receiver in (False, True):
            assert call(app, query, key=public_key)[0] == "200 OK"
            connection.close_at = time.monotonic() - 1  # past its CONN_MAX_AGE
            made.clear()
            if other_receiver:
                request_started.connect(another)
            try:
                status, _, _ = call(app, query, key=public_key)
            finally:
                request_started.disconnect(another)
            # closed by request_started, so the lookup made a new one (not request_finished's close after it)
            assert status == "200 OK" and django_app.calls == 0 and made == ["default"]
    finally:
        connection_created.disconnect(created)
    assert heard == ["/api/v1/lookup"]


def _http_metrics() -> dict:
    from prometheus_client import REGISTRY

    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for metric in REGISTRY.collect() for sample in metric.samples
            if sample.name.startswith("django_http") and not sample.name.endswith(("_bucket", "_sum", "_created"))}


def _moved(before: dict, after: dict) -> dict:
    return {key: value - before.get(key, 0) for key, value in after.items() if value != before.get(key, 0)}


def test_the_metrics_count_a_lane_answer_as_djangos(public_key, stopped_clock, test_transaction_kept, settings,  # noqa: F811
                                                    app, django_app):
    """With metrics on (django-prometheus's middleware in the list, as KYODAKU_METRICS_TOKEN adds it), a lookup the
    lane answers moves the same counters, with the same view, method and status labels, as one Django answers."""
    settings.MIDDLEWARE = [settings.MIDDLEWARE[0], "django_prometheus.middleware.PrometheusBeforeMiddleware",
                           *settings.MIDDLEWARE[1:], "django_prometheus.middleware.PrometheusAfterMiddleware"]
    django_app.handler = WSGIHandler()
    query = {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}
    moved = []
    for on in (True, False):
        settings.KYODAKU_WSGI_LANE = on
        before = _http_metrics()
        call(app, query, key=public_key)
        moved.append(_moved(before, _http_metrics()))
    assert django_app.calls == 1  # the first was the lane's
    assert moved[0] == moved[1]
    assert any(dict(labels).get("view") not in (None, "<unnamed view>") for _, labels in moved[0]), moved[0]
