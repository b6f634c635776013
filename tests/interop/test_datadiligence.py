"""The real, unmodified `datadiligence` package against a running Kyodaku (interop.md: "a crawler that already checks
Spawning can check Kyodaku by changing one URL"). Persona: an AI developer's crawler.

The service runs in pytest-django's live server; only `SpawningAPI.SPAWNING_AI_API_URL` (the documented switch) and
the `SPAWNING_OPTS_KEY` environment variable are set. 12,500 URLs make datadiligence send two chunks (10,000 each at
most), concurrently, in the prior-permission (JP, from the key's default) and the opt-out (FR, from the URL's query)
jurisdiction. The expected answers are Kyodaku's own, from the batch lookup.
"""
import asyncio

import pytest
from datadiligence.rules import SpawningAPI

from consent.lookup import lookup_many
from keys.services import api_key_create

from .spawning_world import build_world, url_mix

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
URLS = 12_500


def kyodaku_allows(urls, jurisdiction):
    answers = lookup_many(ids=[f"url:{u.strip()}" for u in urls], purpose="train-ai", jurisdiction=jurisdiction)
    return [u.strip().lower().startswith(("http://", "https://")) and a.get("outcome") == "allowed"
            for u, a in zip(urls, answers, strict=True)]


@pytest.mark.parametrize(("jurisdiction", "query"), [("JP", ""), ("FR", "?jurisdiction=FR")])
def test_datadiligence_sync_and_async_agree_with_kyodaku(live_server, monkeypatch, studio_kaze, hoshi_pub,
                                                         jurisdiction, query):
    build_world(studio_kaze, hoshi_pub)
    _, plain = api_key_create(name="Crawler Co", rate="none", default_jurisdiction="JP")
    monkeypatch.setenv(SpawningAPI.API_KEY_ENV_VAR, plain)
    monkeypatch.setattr(SpawningAPI, "SPAWNING_AI_API_URL", f"{live_server.url}/api/v2/query/urls/{query}")
    urls = url_mix(URLS)
    expected = kyodaku_allows(urls, jurisdiction)
    assert True in expected and False in expected
    allowed_urls = [u for u, ok in zip(urls, expected, strict=True) if ok]

    spawning = SpawningAPI(user_agent="kyodaku-test-crawler")
    assert spawning.is_ready()
    assert spawning.is_allowed(urls=urls) == expected
    assert spawning.filter_allowed(urls=urls) == allowed_urls
    assert asyncio.run(spawning.is_allowed_async(urls=urls)) == expected
    assert asyncio.run(spawning.filter_allowed_async(urls=urls)) == allowed_urls
    assert spawning.is_allowed(url=urls[0]) == expected[:1]
