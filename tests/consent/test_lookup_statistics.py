"""Lookup statistics (issue 17): an AI developer's single, batch and Spawning-compatible lookups are counted per
(holder, work, purpose, jurisdiction, outcome, day) and per organisation, in the cache on the request path (one
Redis round trip per request, no database write), then flushed by the beat task into the daily tables, idempotently.
Persona: Studio Kaze, whose works an AI developer's crawler asks about."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent import usage
from consent.models import LookupCount, LookupOrganisationCount
from consent.services import declaration_file
from consent.tasks import lookup_counts_flush_task
from keys.services import api_key_create
from registry.services import work_register
from tests.api.conftest import client_for
from tests.conftest import redis_url

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_counters():
    usage._memory.clear()
    yield
    usage._memory.clear()


@pytest.fixture
def kaze_works(studio_kaze):
    reserved = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Oto", kind="film",
                             identifiers=["doi:10.5555/sk-1", "url:https://studio-kaze.example/sk-1"]).work
    free = work_register(holder=studio_kaze.holder, work_ref="SK-2", title="Sora", kind="film",
                         identifiers=["doi:10.5555/sk-2"]).work
    declaration_file(holder=studio_kaze.holder, work=reserved, purpose="train-ai", jurisdiction="*",
                     consent="reserve")
    return reserved, free


def developer(name="Crawler Co", **options):
    api_key, plain = api_key_create(name=name, rate="none", default_jurisdiction="JP", **options)
    return api_key, client_for(api_key=plain)


def counts():
    return sorted((str(c.work_id), c.purpose, c.jurisdiction, c.outcome, c.pointed_to_licence, c.count)
                  for c in LookupCount.objects.all())


def test_single_batch_and_spawning_lookups_are_counted_per_work_after_the_flush(studio_kaze, kaze_works):
    reserved, free = kaze_works
    key, client = developer()
    assert client.get("/api/v1/lookup", {"id": "doi:10.5555/sk-1", "purpose": "train-genai",
                                         "jurisdiction": "JP"}).status_code == 200
    response = client.post("/api/v1/lookup", {"ids": ["doi:10.5555/sk-1", "doi:10.5555/sk-2", "doi:10.5555/none",
                                                      "isbn:123"], "purpose": "train-genai", "jurisdiction": "JP"},
                           format="json")
    assert response.status_code == 200
    free_outcome = response.json()["results"][1]["outcome"]  # what JP's rule says for a work without a declaration
    assert client.post("/api/v2/query/urls/", data=b"https://studio-kaze.example/sk-1\nnot a url",
                       content_type="text/plain").status_code == 200
    assert LookupCount.objects.count() == 0  # nothing written on the request path

    assert lookup_counts_flush_task()["works"] == 3
    assert counts() == sorted([
        (str(reserved.pk), "train-genai", "JP", "denied", True, 2),  # GET + batch; Kaze's licensing URL
        (str(free.pk), "train-genai", "JP", free_outcome, free_outcome == "denied", 1),
        (str(reserved.pk), "train-ai", "JP", "denied", True, 1),  # Spawning: the key's defaults
    ])
    orgs = {}
    for c in LookupOrganisationCount.objects.all():
        orgs[(c.organisation_id, c.outcome)] = c.count
    expected = {(key.organisation_id, "denied"): 3}
    expected[(key.organisation_id, free_outcome)] = expected.get((key.organisation_id, free_outcome), 0) + 1
    assert orgs == expected


def test_flushing_twice_counts_nothing_twice_and_later_lookups_add_up(studio_kaze, kaze_works):
    _, client = developer()
    ask = {"id": "doi:10.5555/sk-2", "purpose": "train-ai", "jurisdiction": "EU"}
    client.get("/api/v1/lookup", ask)
    lookup_counts_flush_task()
    lookup_counts_flush_task()
    assert LookupCount.objects.get().count == 1
    client.get("/api/v1/lookup", ask)
    client.get("/api/v1/lookup", ask)
    lookup_counts_flush_task()
    assert LookupCount.objects.get().count == 3
    assert LookupOrganisationCount.objects.get().count == 3


def test_lookups_without_an_api_key_are_not_counted(studio_kaze, kaze_works):
    from consent.lookup import lookup_many

    lookup_many(ids=["doi:10.5555/sk-1"], purpose="train-ai", jurisdiction="JP")  # a snapshot, a signal
    client_for(studio_kaze.user).get("/api/v1/lookup", {"id": "doi:10.5555/sk-1", "purpose": "train-ai",
                                                        "jurisdiction": "JP"})
    lookup_counts_flush_task()
    assert LookupCount.objects.count() == 0


def test_counting_adds_no_database_query_to_a_lookup(studio_kaze, kaze_works, monkeypatch):
    import consent.lookup

    _, client = developer()
    ask = {"id": "doi:10.5555/sk-1", "purpose": "train-ai", "jurisdiction": "JP"}
    client.get("/api/v1/lookup", ask)  # warm the key and rule caches
    with CaptureQueriesContext(connection) as counted:
        client.get("/api/v1/lookup", ask)
    monkeypatch.setattr(consent.lookup, "lookups_count", lambda *a, **k: None)
    with CaptureQueriesContext(connection) as uncounted:
        client.get("/api/v1/lookup", ask)
    assert len(counted.captured_queries) == len(uncounted.captured_queries)
    assert usage._memory.read(usage._day())[0]  # it was counted, in the cache


def test_the_organisation_flag_is_set_only_when_the_key_owner_agrees(db):
    quiet, _ = developer("Quiet Labs")
    open_, _ = developer("Open Labs", name_shown_to_holders=True)
    assert quiet.organisation.name_shown_to_holders is False
    assert open_.organisation.name_shown_to_holders is True


@pytest.mark.redis
def test_without_a_usage_url_the_counters_live_in_the_caches_redis_shared_by_every_process(settings):
    """Rule (docs/admin.md, "How lookups are counted"): with KYODAKU_USAGE_REDIS_URL unset, the counters go to the
    default cache's Redis, which every web worker and the Celery worker's flush share; a counter in one web
    process's memory would never reach the flush (the production default counted nothing before this test)."""
    import redis

    settings.KYODAKU_USAGE_REDIS_URL = ""
    settings.CACHES = {"default": {"BACKEND": "config.cache.ResilientRedisCache", "LOCATION": redis_url(),
                                   "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    store = usage.usage_store()
    assert isinstance(store, usage.RedisStore)
    assert store.client.connection_pool.connection_kwargs["db"] == redis.Redis.from_url(
        redis_url()).connection_pool.connection_kwargs["db"]


@pytest.mark.redis
def test_with_redis_a_batch_costs_one_round_trip_and_the_flush_reads_it_back(studio_kaze, kaze_works, settings):
    import redis

    settings.KYODAKU_USAGE_REDIS_URL = redis_url()
    store = usage.usage_store()
    store.clear()
    executed = []
    real_execute = usage.kept.execute  # one write of the commands on the thread's kept connection, then the replies

    def execute(pool, *commands):
        executed.append(len(commands))
        return real_execute(pool, *commands)

    usage.kept.execute = execute
    try:
        _, client = developer()
        ids = ["doi:10.5555/sk-1", "doi:10.5555/sk-2"] * 500
        response = client.post("/api/v1/lookup", {"ids": ids, "purpose": "train-ai", "jurisdiction": "JP"},
                               format="json")
        assert response.status_code == 200
        assert executed == [2]  # one round trip for 1,000 answers, of two commands: RPUSH of the counts, EXPIRE
    finally:
        del usage.kept.execute
    client.post("/api/v1/lookup", {"ids": ids[:3], "purpose": "train-ai", "jurisdiction": "JP"}, format="json")
    lookup_counts_flush_task()
    lookup_counts_flush_task()  # folded once: the pending entries are gone, the hashes keep the totals
    assert sorted(c.count for c in LookupCount.objects.all()) == [501, 502]
    store.clear()
    assert isinstance(store.client, redis.Redis)
