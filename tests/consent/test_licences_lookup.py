"""Licences on the lookup path (domain.md "Licences and permission requests", api.md basis `licensed`).

Personas: Studio Kaze licenses one work to Mirai AI; Kumo Labs (another AI developer) and the public ask too.
Rules proven: the asking organisation's licence decides before public declarations in every path (single, batch,
Spawning-compatible, the `lookup` command), at any as_of, after disputes; no one else's answer changes; a batch
costs at most one more query.
"""
import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consent.licence_services import licence_file, licence_revoke
from consent.lookup import lookup_many
from consent.rulebook import rulebook
from consent.services import declaration_file
from keys.services import api_key_create
from registry.models import Organisation
from registry.services import dispute_open, work_register
from tests.api.conftest import client_for

ISBN = "isbn:978-4-9901661-3-7"
OTHER = "isbn:978-0-306-40615-7"


@pytest.fixture
def world(studio_kaze):
    """Studio Kaze reserves AI training on its catalogue and licenses one work to Mirai AI."""
    mirai = Organisation.objects.create(name="Mirai AI")
    kumo = Organisation.objects.create(name="Kumo Labs")
    past = timezone.now() - timedelta(days=10)
    licensed = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani", kind="film",
                             identifiers=[ISBN], at=past).work
    other = work_register(holder=studio_kaze.holder, work_ref="SK-2", title="Umi", kind="film",
                          identifiers=[OTHER], at=past).work
    declaration_file(holder=studio_kaze.holder, scope="catalogue", purpose="train-ai", jurisdiction="*",
                     consent="reserve", at=past)
    licence = licence_file(holder=studio_kaze.holder, licensee=mirai, scope="work", work=licensed,
                           purposes=["train-genai"], jurisdictions=["JP"], license_url="https://kaze.example/deal/1",
                           actor=studio_kaze.user, at=past + timedelta(days=5))
    return {"mirai": mirai, "kumo": kumo, "licensed": licensed, "other": other, "licence": licence,
            "filed_at": past + timedelta(days=5)}


def ask(ids, org=None, **kw):
    return lookup_many(ids=ids, purpose="train-genai", jurisdiction="JP", organisation_id=org, **kw)


def test_the_licensee_is_allowed_and_everyone_else_gets_the_public_answer(world):
    mirai, kumo = world["mirai"], world["kumo"]
    single = ask([ISBN], mirai.pk)[0]
    assert (single["outcome"], single["basis"], single["declaration"]) == ("allowed", "licensed", None)
    assert single["licence"]["id"] == str(world["licence"].pk)
    assert single["licence"]["purposes"] == ["train-genai"] and single["license_url"] == "https://kaze.example/deal/1"
    batch = ask([ISBN, OTHER, "isbn:123"], mirai.pk)
    assert {**batch[0], "as_of": None} == {**single, "as_of": None}
    assert batch[1]["basis"] == "reserved"  # the licence names one work only
    public = ask([ISBN])[0]
    for answer in (public, ask([ISBN], kumo.pk)[0], ask([ISBN, OTHER], kumo.pk)[0]):
        assert (answer["outcome"], answer["basis"], answer["licence"]) == ("denied", "reserved", None)
    assert "deal/1" not in json.dumps(ask([ISBN, OTHER], kumo.pk)) + json.dumps(public)


def test_a_licence_covers_only_its_purposes_and_jurisdictions(world):
    mirai = world["mirai"].pk
    assert lookup_many(ids=[ISBN], purpose="search", jurisdiction="JP", organisation_id=mirai)[0]["basis"] == \
        "permission-required"
    assert lookup_many(ids=[ISBN], purpose="train-genai", jurisdiction="FR", organisation_id=mirai)[0]["basis"] == \
        "reserved"


def test_as_of_before_and_after_the_licence_and_its_revocation(world, studio_kaze):
    mirai = world["mirai"].pk
    filed = world["filed_at"]
    assert ask([ISBN], mirai, as_of=filed - timedelta(seconds=1))[0]["basis"] == "reserved"
    assert ask([ISBN], mirai, as_of=filed)[0]["basis"] == "licensed"
    licence_revoke(licence=world["licence"], actor=studio_kaze.user)
    assert ask([ISBN], mirai)[0]["basis"] == "reserved"
    assert ask([ISBN, OTHER], mirai, as_of=filed + timedelta(days=1))[0]["basis"] == "licensed"  # history stays


def test_an_open_dispute_denies_before_the_licence(world, hoshi_pub):
    dispute_open(scheme="isbn", value="9784990166137", work=world["licensed"], claimant=hoshi_pub.holder,
                 claimant_work=None)
    for answer in (ask([ISBN], world["mirai"].pk)[0], ask([ISBN, OTHER], world["mirai"].pk)[0]):
        assert (answer["outcome"], answer["basis"], answer["licence"]) == ("denied", "disputed", None)


def test_a_batch_with_licences_costs_at_most_one_more_query(world):
    rulebook()
    with CaptureQueriesContext(connection) as public:
        ask([ISBN, OTHER, "isbn:123"])
    with CaptureQueriesContext(connection) as licensed:
        ask([ISBN, OTHER, "isbn:123"], world["mirai"].pk)
    assert len(licensed.captured_queries) <= len(public.captured_queries) + 1
    with CaptureQueriesContext(connection) as one_public:
        ask([ISBN])
    with CaptureQueriesContext(connection) as one_licensed:
        ask([ISBN], world["mirai"].pk)
    assert len(one_licensed.captured_queries) <= len(one_public.captured_queries) + 1


def test_keys_of_one_organisation_share_its_licences_over_http(world):
    """Two keys of Mirai AI are both answered `licensed`; Kumo Labs' key is not (single, batch, Spawning)."""
    _, mirai_1 = api_key_create(name="mirai-prod", rate="none", organisation=world["mirai"])
    _, mirai_2 = api_key_create(name="mirai-ci", rate="none", organisation="Mirai AI")
    _, kumo = api_key_create(name="kumo", rate="none", organisation=world["kumo"])
    for plain, basis in ((mirai_1, "licensed"), (mirai_2, "licensed"), (kumo, "reserved")):
        client = client_for(api_key=plain)
        got = client.get("/api/v1/lookup", {"id": ISBN, "purpose": "train-genai", "jurisdiction": "JP"}).json()
        assert got["basis"] == basis
        got = client.post("/api/v1/lookup", {"ids": [ISBN, OTHER], "purpose": "train-genai", "jurisdiction": "JP"},
                          format="json").json()
        assert got["results"][0]["basis"] == basis


def test_the_lookup_command_answers_as_an_organisation(world):
    out = io.StringIO()
    call_command("lookup", ISBN, "--purpose", "train-genai", "--jurisdiction", "JP", "--organisation", "Mirai AI",
                 "--json", stdout=out)
    assert json.loads(out.getvalue().strip().splitlines()[-1])["basis"] == "licensed"
    out = io.StringIO()
    call_command("lookup", ISBN, "--purpose", "train-genai", "--jurisdiction", "JP", "--json", stdout=out)
    assert json.loads(out.getvalue().strip().splitlines()[-1])["basis"] == "reserved"


def test_no_licence_applies_through_a_web_identifier_of_an_unverified_host(studio_kaze):
    """domain.md: a licence reached through a url, url-prefix or domain identifier needs verified control of the
    host, as a grant does: through an unverified host none applies (over HTTP on the Spawning-compatible endpoint
    too); the same work by ISBN is licensed."""
    past = timezone.now() - timedelta(days=2)
    mirai = Organisation.objects.create(name="Mirai AI")
    work = work_register(holder=studio_kaze.holder, work_ref="SK-9", title="Web", kind="film", at=past,
                         identifiers=[ISBN, "url-prefix:https://kaze.example/gallery/"]).work
    licence_file(holder=studio_kaze.holder, licensee=mirai, scope="catalogue", purposes=["train-ai"],
                 jurisdictions=["*"], at=past)
    url = "url:https://kaze.example/gallery/1.png"
    assert work.pk
    assert [r["basis"] for r in ask([url, ISBN], mirai.pk)] == ["permission-required", "licensed"]
    assert ask([url], mirai.pk)[0]["basis"] == "permission-required"
    _, plain = api_key_create(name="mirai", rate="none", organisation=mirai, default_jurisdiction="JP",
                              default_purpose="train-genai")
    body = client_for(api_key=plain).post("/api/v2/query/urls/", data=b"https://kaze.example/gallery/1.png",
                                          content_type="text/plain").json()
    assert body["urls"][0]["optOut"] is True


def test_the_public_audit_feed_shows_a_licence_only_as_a_salted_commitment(world, studio_kaze):
    """What stays private: the feed names the action and the licence's id, never the licensee or the terms; the
    audit chain and the licence rows still verify."""
    from audit.selectors import audit_events_after, audit_verify

    licence_revoke(licence=world["licence"], actor=studio_kaze.user)
    feed = json.dumps(audit_events_after(after=0, limit=10_000), ensure_ascii=False)
    assert "licence.file" in feed and "licence.revoke" in feed
    for secret in ("Mirai AI", str(world["mirai"].pk), "kaze.example/deal/1"):
        assert secret not in feed
    assert audit_verify() == []


def test_a_licensed_answers_receipt_names_the_licence_and_the_asking_key(world):
    """Evidence (api.md): a licensed answer's receipt carries the licence id and `sub`, the asking key's prefix."""
    import base64

    api_key, plain = api_key_create(name="mirai-evidence", rate="none", organisation=world["mirai"])
    body = client_for(api_key=plain).get("/api/v1/lookup", {"id": ISBN, "purpose": "train-genai",
                                                            "jurisdiction": "JP", "receipt": "true"}).json()
    assert body["basis"] == "licensed"
    segment = body["receipt"].split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert (payload["basis"], payload["licence"], payload["sub"]) == ("licensed", str(world["licence"].pk),
                                                                       api_key.prefix)
