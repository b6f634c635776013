"""The lean lane of GET /api/v1/lookup (api.views.lookup.lookup_one_lean) answers an AI developer's crawler exactly
as the DRF view does: the same status, body bytes and headers for every request, good or bad, lean or not.

Each request is sent twice through the whole middleware stack, once with the lane on (KYODAKU_LEAN_GET) and once
with it off, with the clock stopped (the answer's as_of and the rate-limit window are the request's time), and the
two responses are compared byte for byte: every header Django sends, the body. Then the rules the lane shares:
a revoked key is refused in the process that revoked it at once, in any other within
KYODAKU_API_KEY_LOCAL_SECONDS.
"""
import time
import types
from datetime import timedelta

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

import receipts.services
from api import throttling
from api.views.lookup import lookup_one_lean
from keys.models import APIKey
from keys.selectors import _cache_key
from keys.services import api_key_create, api_key_revoke
from registry.models import Organisation
from tests.consent.test_lookup_one_id import DAY, IDS, T0, registry  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db, pytest.mark.usefixtures("registry")]

URL = "/api/v1/lookup"
NOW = T0 + 2.5 * DAY
EPOCH = 1_800_000_000.25  # the rate limiter's clock, stopped mid-window


@pytest.fixture
def stopped_clock(monkeypatch):
    """Every clock an answer shows: the lookup's time, the rate limiter's window and a receipt's `iat` (two requests
    either side of a second's boundary would otherwise be signed with different issue times)."""
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    monkeypatch.setattr(throttling, "time", types.SimpleNamespace(time=lambda: EPOCH))
    monkeypatch.setattr(receipts.services, "time", types.SimpleNamespace(time=lambda: EPOCH))


def _client(key: str | None, **headers) -> APIClient:
    client = APIClient()
    if key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def both(settings, client: APIClient, query, *, method="get", **headers):
    """The same request through the lean lane and through the DRF view: the two responses."""
    answers = []
    for lean in (True, False):
        settings.KYODAKU_LEAN_GET = lean
        answers.append(getattr(client, method)(URL, query, HTTP_X_REQUEST_ID="parity-1", **headers))
    settings.KYODAKU_LEAN_GET = True
    return answers


def assert_same(lean, drf) -> None:
    assert lean.status_code == drf.status_code, (lean.content, drf.content)
    assert lean.content == drf.content
    assert dict(lean.items()) == dict(drf.items())


def lean_answers(key: str, query: dict, **headers) -> bool:
    """Whether the lane itself answers this request (rather than handing it to the DRF view)."""
    request = RequestFactory().get(URL, query, HTTP_AUTHORIZATION=f"Api-Key {key}", **headers)
    return lookup_one_lean(request) is not None


@pytest.fixture
def public_key(db) -> str:
    return api_key_create(name="Crawler Co", rate="none")[1]


@pytest.fixture
def licensee_key(studio_kaze) -> str:
    """Mirai AI's key: its lookups read its licences (the licensed one-id statements)."""
    from consent.licence_services import licence_file
    from registry.models import Work

    mirai = Organisation.objects.create(name="Mirai AI")
    licence_file(holder=studio_kaze.holder, licensee=mirai, scope="work",
                 work=Work.objects.get(holder=studio_kaze.holder, work_ref="SK-1"), purposes=["train-genai"],
                 jurisdictions=["JP"], license_url="https://studio-kaze.example/deal/1", at=T0)
    return api_key_create(name="Mirai crawler", rate="none", organisation=mirai)[1]


@pytest.mark.parametrize("purpose, jurisdiction", [("train-genai", "JP"), ("tdm", "FR"), ("search", "DE")])
def test_ai_developer_gets_the_same_bytes_from_both_lanes_for_every_kind_of_id(
        public_key, licensee_key, stopped_clock, settings, purpose, jurisdiction):
    for key in (public_key, licensee_key):
        client = _client(key)
        for identifier in IDS:
            query = {"id": identifier, "purpose": purpose, "jurisdiction": jurisdiction}
            assert lean_answers(key, query)
            lean, drf = both(settings, client, query)
            assert_same(lean, drf)
            assert lean.status_code in (200, 400), lean.content  # `isbn:123` and `nonsense` are 400s


def test_ai_developer_revalidating_gets_the_same_304_and_200_from_both_lanes(
        public_key, stopped_clock, settings):
    client = _client(public_key)
    query = {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}
    etag = client.get(URL, query)["ETag"]
    for wanted in (etag, f'"other", {etag}', "*", f"W/{etag}", '"other"', ""):
        lean, drf = both(settings, client, query, HTTP_IF_NONE_MATCH=wanted)
        assert_same(lean, drf)
    assert both(settings, client, query, HTTP_IF_NONE_MATCH=etag)[0].status_code == 304


def test_a_receipt_is_signed_alike_in_both_lanes(public_key, stopped_clock, settings):
    query = {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP", "receipt": "true"}
    lean, drf = both(settings, _client(public_key), query)
    assert_same(lean, drf)
    assert lean.status_code == 200 and "receipt" in lean.json()


@pytest.mark.parametrize("query, headers", [
    ({"id": IDS[0], "purpose": "nope", "jurisdiction": "JP"}, {}),  # unknown purpose: a lean 400
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "XX"}, {}),  # unknown jurisdiction
    ({"id": "isbn:123", "purpose": "train-genai", "jurisdiction": "JP"}, {"HTTP_ACCEPT_LANGUAGE": "ja"}),
    ({"id": IDS[0], "purpose": "train-genai"}, {}),  # missing parameter: the DRF view's 400
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP", "receipt": "maybe"}, {}),
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP", "as_of": "2026-01-02T00:00:00Z"}, {}),
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP", "as_of": "2027-01-02T00:00:00Z"}, {}),
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP", "color": "red"}, {}),
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP", "format": "json"}, {}),
    ({"id": "", "purpose": "train-genai", "jurisdiction": "JP"}, {}),
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}, {"HTTP_ACCEPT": "text/html"}),
    ({"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}, {"HTTP_ACCEPT": "application/json; q=1"}),
])
def test_a_bad_or_unusual_query_is_answered_alike(public_key, stopped_clock, settings, query,
                                                  headers):
    lean, drf = both(settings, _client(public_key), query, **headers)
    assert_same(lean, drf)


@pytest.mark.parametrize("authorization", [
    None, "Api-Key", "Api-Key nope.secret", "Api-Key nodot", "Api-Key a b", "Token abc", "Api-Key \u00e9t\u00e9",
    "api-key {key}x", "API-KEY {key}", "Bearer {key}",
])
def test_a_missing_unknown_or_malformed_key_is_refused_alike(public_key, stopped_clock, settings,
                                                             authorization):
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization.format(key=public_key))
    lean, drf = both(settings, client, {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"})
    assert_same(lean, drf)


def test_a_revoked_or_expired_key_is_refused_alike(stopped_clock, settings, monkeypatch):
    query = {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}
    revoked, revoked_plain = api_key_create(name="Old crawler", rate="none")
    assert _client(revoked_plain).get(URL, query).status_code == 200  # verified, so kept by this process
    api_key_revoke(api_key=revoked)
    _, expired_plain = api_key_create(name="Lapsed crawler", rate="none", expiry_date=NOW + timedelta(hours=1))
    assert _client(expired_plain).get(URL, query).status_code == 200
    for plain, now in ((revoked_plain, NOW), (expired_plain, NOW + timedelta(hours=2))):
        monkeypatch.setattr("django.utils.timezone.now", lambda now=now: now)
        lean, drf = both(settings, _client(plain), query)
        assert_same(lean, drf)
        assert lean.status_code == 401


def test_over_the_limit_is_a_429_alike_with_the_same_counters(stopped_clock, settings):
    query = {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}
    lean_client = _client(api_key_create(name="Lean crawler", rate="2/hour")[1])
    drf_client = _client(api_key_create(name="DRF crawler", rate="2/hour")[1])
    for _ in range(3):
        settings.KYODAKU_LEAN_GET = True
        lean = lean_client.get(URL, query, HTTP_X_REQUEST_ID="parity-1")
        settings.KYODAKU_LEAN_GET = False
        drf = drf_client.get(URL, query, HTTP_X_REQUEST_ID="parity-1")
        assert_same(lean, drf)
    assert lean.status_code == 429 and lean["Retry-After"] and lean["RateLimit-Remaining"] == "0"
    # one counter per key whichever lane counted: the DRF view refuses what the lane counted, and the reverse
    settings.KYODAKU_LEAN_GET = False
    assert lean_client.get(URL, query).status_code == 429
    settings.KYODAKU_LEAN_GET = True
    assert drf_client.get(URL, query).status_code == 429


def test_head_and_options_are_the_views_own(public_key, stopped_clock, settings):
    query = {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}
    for method in ("head", "options"):
        lean, drf = both(settings, _client(public_key), query, method=method)
        assert_same(lean, drf)


def test_a_key_revoked_in_another_process_is_refused_within_the_local_bound(settings):
    """The process keeps a verified key for KYODAKU_API_KEY_LOCAL_SECONDS; another process's revocation (the
    database row and the shared Redis record, not this process's memory) is seen once that has passed."""
    settings.KYODAKU_API_KEY_LOCAL_SECONDS = 1.0  # 5 s by default in production
    query = {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}
    api_key, plain = api_key_create(name="Crawler Co", rate="none")
    client = _client(plain)
    assert client.get(URL, query).status_code == 200
    revoked_at = time.monotonic()
    # What api_key_revoke does in another process, seen from this one: the row, and the shared cached record.
    APIKey.objects.filter(pk=api_key.pk).update(revoked=True)
    from django.core.cache import cache

    cache.delete(_cache_key(api_key.prefix))
    statuses = []
    while time.monotonic() - revoked_at < 1.6:
        # the time is read before the request, so a request at a recorded 1.0 s or later is checked later still
        # (not rounded: a request at 0.996 s may still be served, and would read as 1.0)
        statuses.append((time.monotonic() - revoked_at, client.get(URL, query).status_code))
        time.sleep(0.05)
    shown = [(round(elapsed, 3), status) for elapsed, status in statuses]
    assert statuses[0][1] == 200, shown  # kept by this process: the bound is real, not zero
    assert all(status == 401 for elapsed, status in statuses if elapsed >= 1.0), shown


def test_a_key_revoked_in_this_process_is_refused_at_once(settings):
    settings.KYODAKU_API_KEY_LOCAL_SECONDS = 60.0
    query = {"id": IDS[0], "purpose": "train-genai", "jurisdiction": "JP"}
    api_key, plain = api_key_create(name="Crawler Co", rate="none")
    client = _client(plain)
    assert client.get(URL, query).status_code == 200
    api_key_revoke(api_key=api_key)
    assert client.get(URL, query).status_code == 401


@pytest.mark.parametrize("query", [
    "id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=JP",
    "id=url%3Ahttps%3A%2F%2Fexample.jp%2Fa%3Fb%3Dc%26d&purpose=train-genai&jurisdiction=JP&receipt=true",
    "id=url:https://example.jp/%E3%81%82+b&purpose=train-genai&jurisdiction=JP&receipt=false",
    "id=url:https://example.jp/%FF%FE&purpose=train-genai&jurisdiction=JP",  # not UTF-8 once decoded
    "id=url:https://example.jp/\xe3\x81\x82&purpose=train-genai&jurisdiction=JP",  # raw UTF-8 bytes in the environ
    "id=url:https://example.jp/\xff&purpose=train-genai&jurisdiction=JP",  # raw bytes that are not UTF-8
    "id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=JP&receipt=",
    "id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=JP&receipt=yes",
    "id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=JP&id=isbn:978-4-9901661-3-7",
    "id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=JP&jurisdiction=JP",
    "id=isbn:978-4-9901661-3-7&&purpose=train-genai&jurisdiction=JP",
    "id=isbn:978-4-9901661-3-7;purpose=train-genai&jurisdiction=JP",
    "id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=JP&as_of=2026-01-01T00:00:00Z",
    "id=isbn:978-4-9901661-3-7&purpose=%20train-genai&jurisdiction=JP",
    "id=%00&purpose=train-genai&jurisdiction=JP",
    "id=&purpose=train-genai&jurisdiction=JP",
    "id&purpose=train-genai&jurisdiction=JP",
    "purpose=train-genai&jurisdiction=JP",
    "id=isbn:978-4-9901661-3-7&purpose=train-genai&jurisdiction=JPNJPNJPN",
    "",
])
def test_a_crawlers_query_string_reads_the_same_parsed_directly_as_through_djangos_querydict(query):
    """Rule (docs/performance.md, "the access line and the request signals"): the lane reads a WSGI request's query
    string into a plain dict itself; for every query, plain or not, it decides what Django's `request.GET` would."""
    from django.core.handlers.wsgi import WSGIRequest

    from api.views.lookup import _plain_get_query, _plain_query_string

    def request():
        return WSGIRequest(RequestFactory().get("/api/v1/lookup").environ | {"QUERY_STRING": query})

    assert _plain_query_string(request()) == _plain_get_query(request().GET)
