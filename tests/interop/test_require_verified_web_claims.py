"""The optional setting of interop.md: KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS. When on, a url, url-prefix or domain
identifier counts in a lookup only while its holder had verified control of its host (or a parent domain) at the
answer's `as_of`; otherwise it is no match at all, and the id falls through to its next candidate, else answers
exactly as an unregistered id. Off (the default), such a match stands and only its grants are skipped.

Personas: Studio Kaze, which showed control of kaze.example from day 10 to day 20 and again from day 30 on, and
Hoshi Publishing, which registers web identifiers on hosts it never verified (one under Kaze's prefix, a sub-domain
of Kaze's domain, and a wiki)."""
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent.lookup import lookup_many, lookup_one
from consent.rulebook import rulebook
from consent.services import declaration_file
from domains.services import domain_claim_create, domain_verification_withdraw, domain_verify_operator
from keys.services import api_key_create
from registry.services import work_register
from tests.api.conftest import client_for

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
OPEN = "https://kaze.example/open/"
HOSHI_PAGE = f"{OPEN}hoshi-page"  # Hoshi's exact url under Kaze's prefix: the more specific match
BLOG = "https://blog.kaze.example/post"  # Hoshi holds domain:blog.kaze.example, Kaze domain:kaze.example
WIKI = "https://en.wikipedia.example/wiki/Kyoto"  # only Hoshi's url-prefix, never verified
PAGE = "https://www.kaze.example/page"  # Kaze's reservation in the US (an opt-out regime)
NOBODY = "https://nobody.example/"
BEFORE, DURING, AFTER, NOW = T0 + 5 * DAY, T0 + 15 * DAY, T0 + 25 * DAY, None


@pytest.fixture
def site(studio_kaze, hoshi_pub, operator):
    kaze, hoshi = studio_kaze.holder, hoshi_pub.holder

    def work(holder, ref, identifier, purpose, consent, jurisdiction="*"):
        created = work_register(holder=holder, work_ref=ref, title=ref, kind="website", identifiers=[identifier],
                                at=T0).work
        declaration_file(holder=holder, scope="work", work=created, purpose=purpose, consent=consent,
                         jurisdiction=jurisdiction, at=T0)

    work(kaze, "SK-OPEN", f"url-prefix:{OPEN}", "train-ai", "grant")
    work(kaze, "SK-SITE", "domain:kaze.example", "tdm", "reserve")
    work(kaze, "SK-PAGE", f"url:{PAGE}", "train-ai", "reserve", jurisdiction="US")
    work(hoshi, "HP-PAGE", f"url:{HOSHI_PAGE}", "train-ai", "reserve")
    work(hoshi, "HP-BLOG", "domain:blog.kaze.example", "tdm", "grant")
    work(hoshi, "HP-WIKI", "url-prefix:https://en.wikipedia.example/", "train-ai", "grant")
    claim, _ = domain_claim_create(holder=kaze, domain="kaze.example")
    domain_verify_operator(claim=claim, note="registrar letter", actor=operator, at=T0 + 10 * DAY)
    domain_verification_withdraw(claim=claim, reason="letter withdrawn", actor=operator, at=T0 + 20 * DAY)
    domain_verify_operator(claim=claim, note="new registrar letter", actor=operator, at=T0 + 30 * DAY)


@pytest.fixture(params=[False, True], ids=["default", "required"])
def required(request, settings):
    settings.KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS = request.param
    return request.param


def ask(url, at, *, purpose="train-genai", jurisdiction="JP"):
    """The answer for url:<url>, checked to be the same on the one-id path and in a batch."""
    one = lookup_one(id=f"url:{url}", purpose=purpose, jurisdiction=jurisdiction, as_of=at)
    batch = lookup_many(ids=[f"url:{url}", "isbn:9784990166137", f"url:{WIKI}"], purpose=purpose,
                        jurisdiction=jurisdiction, as_of=at)[0]
    if at is not None:
        assert one == batch
    return one


def holder_and_verified(answer):
    return (answer["holder"] and answer["holder"]["code"], answer["verified"])


def as_unregistered(url, at, **pair):
    """The answer an id nobody registered gets, renamed to `url`: what an unverified web claim must equal."""
    answer = dict(ask(NOBODY, at, **pair))
    answer["id"] = answer["identifier"] = f"url:{url}"
    return answer


def test_off_by_default(settings):
    from config.settings import base

    assert base.KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS is False


def test_an_unverified_claim_is_no_match_at_all_only_when_required(site, required):
    answer = ask(WIKI, DURING)
    if required:
        assert answer == as_unregistered(WIKI, DURING)
    else:
        assert holder_and_verified(answer) == ("hoshi-pub", False)
        assert (answer["registered"], answer["unverified_grant_ignored"]) == (True, True)


def test_a_more_specific_unverified_claim_falls_through_to_the_verified_holder(site, required):
    answer = ask(HOSHI_PAGE, DURING)
    if required:  # Hoshi's exact url is skipped: Kaze's prefix (verified) decides, its grant counts
        assert holder_and_verified(answer) == ("studio-kaze", True)
        assert (answer["outcome"], answer["basis"], answer["unverified_grant_ignored"]) == (
            "allowed", "granted", False)
    else:  # Hoshi's exact url decides, its reservation counts without verification
        assert holder_and_verified(answer) == ("hoshi-pub", False)
        assert (answer["outcome"], answer["basis"]) == ("denied", "reserved")


def test_a_sub_domain_falls_through_to_the_verified_parent_domain(site, required):
    answer = ask(BLOG, DURING, purpose="tdm", jurisdiction="FR")
    if required:
        assert holder_and_verified(answer) == ("studio-kaze", True)
        assert answer["basis"] == "reserved"
    else:
        assert holder_and_verified(answer) == ("hoshi-pub", False)
        assert (answer["basis"], answer["unverified_grant_ignored"]) == ("not-reserved", True)


def test_a_reservation_also_needs_verification_when_required_and_past_answers_keep_their_time(site, required):
    pair = {"purpose": "train-ai", "jurisdiction": "US"}
    during = ask(PAGE, DURING, **pair)
    assert (holder_and_verified(during), during["basis"]) == (("studio-kaze", True), "reserved")
    for at in (BEFORE, AFTER):  # verification history: the state at T, though the claim is verified again now
        answer = ask(PAGE, at, **pair)
        if required:
            assert answer == as_unregistered(PAGE, at, **pair)
            assert (answer["outcome"], answer["basis"]) == ("allowed", "not-reserved")
        else:
            assert (holder_and_verified(answer), answer["basis"]) == (("studio-kaze", False), "reserved")
    assert ask(PAGE, NOW, **pair)["basis"] == "reserved"


def test_other_schemes_are_not_touched(site, required, studio_kaze):
    work_register(holder=studio_kaze.holder, work_ref="SK-BOOK", title="Book", identifiers=["isbn:9784990166137"],
                  at=T0)
    answer = lookup_one(id="isbn:9784990166137", purpose="train-ai", jurisdiction="JP", as_of=BEFORE)
    assert (answer["registered"], answer["verified"]) == (True, None)


@pytest.mark.postgres
def test_the_query_counts_stay_fixed(site, settings):
    ids = [f"url:{u}" for u in (HOSHI_PAGE, BLOG, WIKI, PAGE, NOBODY)] + ["isbn:9784990166137", "url-prefix:x"]
    rulebook()
    counts = {}
    for required in (False, True):
        settings.KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS = required
        with CaptureQueriesContext(connection) as batch:
            lookup_many(ids=ids, purpose="tdm", jurisdiction="FR", as_of=DURING)
        with CaptureQueriesContext(connection) as one:
            lookup_one(id=f"url:{HOSHI_PAGE}", purpose="tdm", jurisdiction="FR", as_of=DURING)
        with CaptureQueriesContext(connection) as unmatched:
            lookup_many(ids=[f"url:{NOBODY}", "isbn:9784990166137"], purpose="tdm", jurisdiction="FR",
                        as_of=DURING)
        counts[required] = (len(batch), len(one), len(unmatched))
    # batch: fingerprint, match, declarations, disputes, verifications; nothing matched: the fingerprint and the
    # match only; one web id: its statement, which reads the verification too, and with the setting on (an
    # unverified match falls through to the next candidate) then the batch path's five
    assert counts[False] == (5, 1, 2)
    assert counts[True] == (5, 6, 2)


# ----------------------------------------------------------------------------------------- every lookup path

def test_every_http_lookup_path_applies_it(site, required, studio_kaze):
    _, plain = api_key_create(name="Crawler Co", rate="none")
    api = client_for(api_key=plain)
    as_of = DURING.isoformat().replace("+00:00", "Z")
    one = api.get("/api/v1/lookup", {"id": f"url:{HOSHI_PAGE}", "purpose": "train-ai", "jurisdiction": "JP",
                                     "as_of": as_of}).json()
    batch = api.post("/api/v1/lookup", {"ids": [f"url:{HOSHI_PAGE}", f"url:{WIKI}"], "purpose": "train-ai",
                                        "jurisdiction": "JP", "as_of": as_of}, format="json").json()["results"]
    expected = "studio-kaze" if required else "hoshi-pub"
    assert one["holder"]["code"] == batch[0]["holder"]["code"] == expected
    assert batch[1]["registered"] is not required

    crawler = client_for()
    crawler.credentials(HTTP_AUTHORIZATION=f"API {plain}")
    spawning = crawler.post("/api/v2/query/urls/?jurisdiction=JP&purpose=train-ai",
                            data="\n".join([HOSHI_PAGE, WIKI]).encode(), content_type="text/plain").json()["urls"]
    if required:  # now: Kaze verified again; Hoshi's page falls through to Kaze's grant, the wiki is unregistered
        assert [(e["optOut"], e["optIn"], e.get("verified")) for e in spawning] == [(False, True, True),
                                                                                   (True, False, None)]
    else:
        assert [(e["optOut"], e["optIn"], e.get("verified")) for e in spawning] == [(True, False, False),
                                                                                   (True, False, False)]

    # signals out: the headers of a URL on Kaze's verified domain come from Kaze's own works either way
    headers = client_for(studio_kaze.user).get("/api/v1/signals/headers", {"url": HOSHI_PAGE})
    assert headers.status_code == 200, headers.content


@pytest.mark.postgres
def test_a_snapshot_applies_it(site, required):
    import gzip
    import json

    from django.core.files.storage import storages

    from sync.snapshots import snapshot_build, snapshot_queue

    snapshot = snapshot_build(snapshot_id=snapshot_queue(purpose="train-ai", jurisdiction="JP").pk)
    entry = next(f for f in snapshot.files if f["name"] == "answers")
    with storages["snapshots"].open(entry["path"], "rb") as handle:
        lines = {line["key"]: line for line in map(json.loads, gzip.decompress(handle.read()).splitlines())}
    wiki = lines["url-prefix:https://en.wikipedia.example/"]
    page = lines[f"url:{HOSHI_PAGE}"]
    if required:
        assert (wiki["holder"], wiki["basis"]) == (None, "permission-required")
        assert (page["holder"], page["basis"]) == ("studio-kaze", "granted")
    else:
        assert (wiki["holder"], page["holder"], page["basis"]) == ("hoshi-pub", "hoshi-pub", "reserved")
