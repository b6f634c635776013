"""`manage.py seed_demo`: the README's demo, realistic and safe to run twice."""
import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from audit.selectors import audit_verify
from consent.lookup import lookup_one
from registry.models import Dispute, Holder, Identifier, Mandate

pytestmark = pytest.mark.django_db


def seed() -> dict:
    out = StringIO()
    call_command("seed_demo", "--json", stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_demo_has_a_collective_with_members_under_mandates_and_one_open_dispute():
    payload = seed()
    assert payload["loaded"] is True and payload["api_key"]
    collective = Holder.objects.get(kind="collective")
    assert set(Mandate.objects.filter(agent=collective).values_list("principal__code", flat=True)) == {
        "studio-kaze", "tsubasa-anime"}
    assert Dispute.objects.filter(resolved_at__isnull=True).count() == 1
    assert Identifier.objects.filter(scheme="isbn").count() >= 5
    assert get_user_model().objects.get(username="operator").is_staff
    assert audit_verify() == []


def test_demo_answers_differ_by_jurisdiction_and_declaration():
    seed()
    # Hoshi reserved training in JP for HP-100; Japan is prior-permission anyway.
    hp100 = lookup_one(id="isbn:978-4-9901661-3-7", purpose="train-genai", jurisdiction="JP")
    assert (hp100["outcome"], hp100["basis"]) == ("denied", "reserved")
    # HP-102 has no reservation for training; the EU is opt-out.
    hp102 = lookup_one(id="isbn:9784993909960", purpose="train-ai", jurisdiction="FR")
    assert (hp102["outcome"], hp102["basis"], hp102["regime"]) == ("allowed", "not-reserved", "opt-out")
    # Studio Kaze granted train-genai in JP for KZ-0002 over its catalogue-wide reservation.
    kz2 = lookup_one(id="isbn:9784991590832", purpose="train-genai", jurisdiction="JP")
    assert (kz2["outcome"], kz2["basis"]) == ("allowed", "granted")


def test_running_the_demo_twice_loads_nothing_twice_but_issues_a_new_key():
    first, second = seed(), seed()
    assert second["loaded"] is False and second["api_key"] != first["api_key"]
    assert Holder.objects.count() == 5


def test_the_banner_names_the_address_served_not_always_port_8000(settings):
    """`make run HOST=127.0.0.1:9123` passes KYODAKU_BASE_URL=http://127.0.0.1:9123 (tests/test_make_run.py)."""
    settings.KYODAKU_BASE_URL = "http://127.0.0.1:9123"
    out = StringIO()
    call_command("seed_demo", stdout=out)
    banner = out.getvalue()
    assert "Web admin: http://127.0.0.1:9123/" in banner
    assert "'http://127.0.0.1:9123/api/v1/lookup?id=" in banner
    assert "8000" not in banner


def test_demo_shows_a_verified_domain_its_signals_and_the_spawning_recipe(client):
    """Issue 13: the demo's studio has a verified domain whose robots.txt and tdmrep.json anyone can read, and the
    demo key answers the Spawning-compatible endpoint without parameters (its default jurisdiction is JP)."""
    payload = seed()
    robots = client.get("/api/v1/signals/studio-kaze.example/robots.txt").content.decode()
    assert "Content-Usage: train-ai=n, search=y" in robots and "Content-Usage: /press/ train-ai=y" in robots
    tdmrep = client.get("/api/v1/signals/studio-kaze.example/tdmrep.json").json()
    assert tdmrep == [{"location": "/*", "tdm-reservation": 1, "tdm-policy": "https://studio-kaze.example/licensing"}]
    answer = client.post("/api/v2/query/urls/", data=b"https://studio-kaze.example/works/kz-0001\n"
                         b"https://studio-kaze.example/press/a.jpg", content_type="text/plain",
                         HTTP_AUTHORIZATION=f"API {payload['api_key']}").json()["urls"]
    assert [(e["optOut"], e["optIn"]) for e in answer] == [(True, False), (False, True)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_datadiligence_recipe_works_against_the_demo(live_server, monkeypatch):
    """docs/interop.md's recipe, run as written with the unmodified datadiligence package against a server holding
    the demo: the demo key (default jurisdiction JP) is the crawler's, and only the URL is changed."""
    import asyncio

    from datadiligence.rules import SpawningAPI

    payload = seed()
    monkeypatch.setenv(SpawningAPI.API_KEY_ENV_VAR, payload["api_key"])
    monkeypatch.setattr(SpawningAPI, "SPAWNING_AI_API_URL", f"{live_server.url}/api/v2/query/urls/")
    spawning = SpawningAPI(user_agent="example-crawler/1.0")
    urls = ["https://studio-kaze.example/works/kz-0001", "https://studio-kaze.example/press/a.jpg"]
    assert spawning.is_allowed(urls=urls) == [False, True]
    assert spawning.filter_allowed(urls=urls) == urls[1:]
    assert asyncio.run(spawning.is_allowed_async(urls=urls)) == [False, True]
    assert asyncio.run(spawning.filter_allowed_async(urls=urls)) == urls[1:]


def test_the_demo_key_s_organisation_holds_a_licence_and_an_open_request(settings):
    """Both sides of prior permission (issue 18): the demo key's organisation is licensed by Hoshi Publishing for
    one work in Japan and has asked Studio Kaze for another; the public answer stays as it was."""
    from consent.models import Licence, PermissionRequest
    from keys.models import APIKey

    settings.KYODAKU_PERMISSION_REQUEST_RATE = "none"
    payload = seed()
    key = APIKey.objects.get(name="demo-developer")
    assert payload["organisation"] == key.organisation.code == "mirai-ai-demo"
    (licence,) = Licence.objects.filter(licensee=key.organisation)
    assert (licence.holder.code, licence.work.work_ref, licence.jurisdictions) == ("hoshi-pub", "HP-101", ["JP"])
    (request,) = PermissionRequest.objects.filter(organisation=key.organisation, state="open")
    assert request.holder.code == "studio-kaze"
    licensed = lookup_one(id="isbn:978-4-9918609-1-1", purpose="train-genai", jurisdiction="JP",
                          organisation_id=key.organisation_id)
    public = lookup_one(id="isbn:978-4-9918609-1-1", purpose="train-genai", jurisdiction="JP")
    assert (licensed["basis"], licensed["licence"]["id"]) == ("licensed", str(licence.pk))
    assert public["outcome"] == "denied" and public["licence"] is None
    assert audit_verify() == []
    assert seed()["organisation"] == "mirai-ai-demo"  # a second run adds a key to the same organisation


def test_a_resized_copy_of_a_demo_still_matches_its_work():
    """docs/match.md's demo: the key frames are registered by content codes; a resized JPEG copy is found."""
    from consent.matching import CodeSet, match_many
    from demo.images import image_bytes, procedural_image
    from registry.fingerprints import codes_for_bytes

    seed()
    assert Identifier.objects.filter(scheme="pdq").count() == 3
    copy = procedural_image(1002).resize((320, 240))
    codes = codes_for_bytes(image_bytes(copy, "JPEG", quality=70))
    [result] = match_many(code_sets=[CodeSet({"phash": codes["phash"], "pdq": codes["pdq"]})],
                          purpose="train-genai", jurisdiction="JP")
    best = result["matches"][0]
    assert best["work"]["work_ref"] == "KZ-0001-S2" and best["holder"]["code"] == "studio-kaze"
    assert (best["answer"]["outcome"], best["answer"]["basis"]) == ("denied", "reserved")
