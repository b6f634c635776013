"""Licence and permission-request events in the change feed and webhooks, for the two parties only (api.md "Every
state change is an audit event and a change-feed entry visible to the two parties only"; docs/sync.md).

Personas: Studio Kaze licenses a work to Mirai AI; Mirai AI and Kumo Labs (two AI developers' organisations, each
with a key and a webhook) ask Studio Kaze for permission; Kaze accepts Mirai's. Rules proven: Mirai's feed and
webhook carry Mirai's licence and request entries with the works' keys, Kumo's carry only Kumo's own, the feed
asked without an organisation (and every other organisation) carries none; cursors stay the audit seq, so
paging Mirai's feed page by page gives exactly its entries, no gaps, no repeats.
"""
import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from consent.licence_services import licence_file, licence_revoke
from consent.request_services import request_accept, request_open
from keys.services import api_key_create
from registry.services import work_register
from sync.changes import changes_after
from sync.webhooks import webhook_delivery_attempt, webhooks_dispatch

from ..api.conftest import client_for
from .test_webhooks import Receiver

pytestmark = [pytest.mark.django_db]
ISBN = "isbn:978-4-9901661-3-7"
KEY = "isbn:9784990166137"  # as registered (normalised)
PRIVATE = ("licence.", "permission_request.")


@pytest.fixture(autouse=True)
def _no_rate(settings):
    settings.KYODAKU_PERMISSION_REQUEST_RATE = "none"


def developer(name):
    key, plain = api_key_create(name=f"{name} crawler", rate="none", organisation=name)
    return key, client_for(api_key=plain)


@pytest.fixture
def world(studio_kaze):
    mirai_key, mirai = developer("Mirai AI")
    kumo_key, kumo = developer("Kumo Labs")
    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani", kind="film",
                         identifiers=[ISBN]).work
    return {"mirai_key": mirai_key, "mirai": mirai, "kumo_key": kumo_key, "kumo": kumo, "work": work}


def happenings(world, studio_kaze):
    """Kaze licenses SK-1 to Mirai and revokes it; Mirai asks for the catalogue and is accepted; Kumo asks for
    SK-1 and is left waiting."""
    mirai_org, kumo_org = world["mirai_key"].organisation, world["kumo_key"].organisation
    licence = licence_file(holder=studio_kaze.holder, licensee=mirai_org, scope="work", work=world["work"],
                           purposes=["train-genai"], jurisdictions=["JP"], actor=studio_kaze.user)
    licence_revoke(licence=licence, actor=studio_kaze.user)
    asked = request_open(organisation=mirai_org, holder="studio-kaze", purposes=["train-ai"], jurisdictions=["JP"],
                         contact="legal@mirai.example")
    request_accept(request=asked, actor=studio_kaze.user)
    kumo_asked = request_open(organisation=kumo_org, works=[ISBN], purposes=["train-ai"], jurisdictions=["JP"],
                              contact="legal@kumo.example")
    return {"licence": licence, "request": asked, "kumo_request": kumo_asked}


def feed(client, after="0", limit=1000):
    response = client.get("/api/v1/changes", {"after": after, "limit": limit})
    assert response.status_code == 200, response.content
    return response.json()


def private(entries):
    return [(e["kind"], e["keys"]) for e in entries if e["kind"].startswith(PRIVATE)]


def test_mirai_sees_its_licence_and_request_events_and_kumo_only_its_own(world, studio_kaze):
    done = happenings(world, studio_kaze)
    licence, request, kumo_request = done["licence"], done["request"], done["kumo_request"]
    accepted_licence = request.licences.get()
    work_keys = [KEY, "ref:studio-kaze/SK-1"]
    assert private(feed(world["mirai"])["results"]) == [
        ("licence.file", [*work_keys, f"licence:{licence.pk}"]),
        ("licence.revoke", [*work_keys, f"licence:{licence.pk}"]),
        ("permission_request.open", ["holder:studio-kaze", f"permission-request:{request.pk}"]),
        ("licence.file", ["holder:studio-kaze", f"licence:{accepted_licence.pk}"]),
        ("permission_request.accept", ["holder:studio-kaze", f"permission-request:{request.pk}",
                                       f"licence:{accepted_licence.pk}"]),
    ]
    assert private(feed(world["kumo"])["results"]) == [
        ("permission_request.open", [*work_keys, f"permission-request:{kumo_request.pk}"])]
    # Asked without an organisation (what no key does, but what every public path uses): nothing private.
    public, _ = changes_after(after=0, limit=1000)
    assert private(public) == []
    # And nothing of Mirai's in Kumo's page text at all.
    text = str(feed(world["kumo"]))
    assert str(licence.pk) not in text and str(request.pk) not in text


def test_paging_mirais_feed_gives_each_of_its_entries_once_in_order(world, studio_kaze):
    happenings(world, studio_kaze)
    whole = feed(world["mirai"])["results"]
    paged, after = [], "0"
    while True:
        page = feed(world["mirai"], after=after, limit=2)
        paged += page["results"]
        if page["next"] == after:
            break
        after = page["next"]
    assert paged == whole
    assert [int(e["cursor"]) for e in paged] == sorted(int(e["cursor"]) for e in paged)


def test_webhooks_carry_the_owners_private_entries_for_their_pair_only(world, studio_kaze):
    with Receiver() as mirai_rx, Receiver() as kumo_rx:
        hooks = {}
        for name, rx in (("mirai", mirai_rx), ("kumo", kumo_rx)):
            response = world[name].post("/api/v1/webhooks", {"url": rx.url, "purpose": "train-genai",
                                                             "jurisdiction": "JP"}, format="json")
            assert response.status_code == 201, response.content
            hooks[name] = response.json()
        done = happenings(world, studio_kaze)
        # A licence for another pair (search in France) goes to no train-genai/JP webhook.
        licence_file(holder=studio_kaze.holder, licensee=world["mirai_key"].organisation, scope="work",
                     work=world["work"], purposes=["search"], jurisdictions=["FR"], actor=studio_kaze.user)
        for delivery_id in webhooks_dispatch():
            webhook_delivery_attempt(delivery_id=delivery_id)
        received = {}
        for name, rx in (("mirai", mirai_rx), ("kumo", kumo_rx)):
            received[name] = [e for request in rx.requests for e in StandardWebhook(hooks[name]["secret"]).verify(
                request["body"], request["headers"])["data"]["results"]]
    mirai_private = private(received["mirai"])
    assert [kind for kind, _ in mirai_private] == ["licence.file", "licence.revoke", "permission_request.open",
                                                    "licence.file", "permission_request.accept"]
    assert all("licence:" + str(done["licence"].pk) in keys for _, keys in mirai_private[:2])
    assert private(received["kumo"]) == [
        ("permission_request.open", [KEY, "ref:studio-kaze/SK-1", f"permission-request:{done['kumo_request'].pk}"])]
