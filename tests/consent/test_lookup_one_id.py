"""The one-id path (consent.lookup.lookup_one: one SQL statement) answers exactly as the batch path does.

lookup_one, a GET and a batch of one id go through one prepared statement; batches of two ids or more through the
four batch queries. These tests build a registry with every kind of match, time and dispute through the services,
and compare the two paths id by id, for several times and (purpose, jurisdiction) pairs. They also pin the one-id
path's cost: one query, plus one when the rule tables changed since the process last looked.
"""
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from consent.lookup import lookup_many, lookup_one
from consent.models import Rule
from consent.rulebook import rulebook
from consent.services import declaration_file, declaration_revoke
from domains.services import domain_claim_create, domain_verify_operator
from registry.models import Holder, Identifier
from registry.services import identifier_remove, work_register

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
ISBN = "9784990166137"
OTHER_ISBN = "9780306406157"
UNREGISTERED_ISBN = "9781861972712"


def register(persona, work_ref, *identifiers, at=T0):
    return work_register(holder=persona.holder, work_ref=work_ref, title=f"Work {work_ref}", kind="film",
                         identifiers=list(identifiers), at=at).work


@pytest.fixture
def registry(studio_kaze, hoshi_pub, tsubasa):
    """Works matched every way, declarations of every kind and period, a dispute and a removed identifier."""
    kaze = register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    register(hoshi_pub, "SITE", "domain:kaze.example")
    register(tsubasa, "BLOG", "domain:blog.kaze.example", at=T0 + 2 * DAY)
    films = register(studio_kaze, "FILMS", "url-prefix:https://kaze.example/films/")
    register(studio_kaze, "TANI", "url-prefix:https://kaze.example/films/ta_ni%25/")  # LIKE's wildcards, literally
    register(studio_kaze, "PAGE", "url:https://kaze.example/films/ta_ni%25/index.html")
    removed = register(hoshi_pub, "HP-2", f"isbn:{OTHER_ISBN}")
    identifier_remove(identifier=Identifier.objects.get(work=removed), at=T0 + 3 * DAY)
    register(hoshi_pub, "HP-1", f"isbn:{ISBN}", at=T0 + DAY)  # claims Studio Kaze's ISBN: a dispute opens
    for holder, consent in ((studio_kaze, "reserve"), (hoshi_pub, "grant")):
        declaration_file(holder=holder.holder, scope="catalogue", purpose="train-ai", consent=consent, at=T0)
    declaration_file(holder=studio_kaze.holder, scope="work", work=kaze, purpose="train-genai", jurisdiction="JP",
                     consent="grant", at=T0, effective_until=T0 + 5 * DAY)
    declaration_file(holder=studio_kaze.holder, scope="work", work=films, purpose="tdm", jurisdiction="EU",
                     consent="reserve", at=T0)
    declaration_file(holder=studio_kaze.holder, scope="work", work=films, purpose="tdm", jurisdiction="EU",
                     consent="grant", at=T0 + 2 * DAY, license_url="https://studio-kaze.example/films")  # supersedes
    revoked, _ = declaration_file(holder=tsubasa.holder, scope="catalogue", purpose="search", jurisdiction="DE",
                                  consent="reserve", at=T0 + 2 * DAY)
    declaration_revoke(declaration=revoked, at=T0 + 4 * DAY)


IDS = [
    f"isbn:{ISBN}", "isbn:978-4-9901661-3-7", f"isbn:{OTHER_ISBN}", f"isbn:{UNREGISTERED_ISBN}", "isbn:123",
    "url:https://kaze.example/films/ta_ni%25/index.html", "url:https://kaze.example/films/ta_ni%25/x",
    "url:https://kaze.example/films/taXni%25/x", "url:https://kaze.example/films/", "url:https://kaze.example/",
    "url:http://kaze.example/films/x", "url:https://www.blog.kaze.example/p", "url:https://elsewhere.example/",
    "domain:kaze.example", "domain:cdn.blog.kaze.example", "domain:example", "url-prefix:https://kaze.example/films/",
    "ref:studio-kaze/SK-1", "ref:hoshi-pub/HP-1", "ref:hoshi-pub/SK-1", "ref:nobody/SK-1", "doi:10.1000/none",
    "nonsense",
]
TIMES = [T0 - DAY, T0 + DAY / 2, T0 + 1.5 * DAY, T0 + 2.5 * DAY, T0 + 3.5 * DAY, T0 + 4.5 * DAY, T0 + 10 * DAY]
ASKS = [("train-genai", "JP"), ("train-ai", "FR"), ("tdm", "FR"), ("tdm", "*"), ("search", "DE")]


def test_ai_developer_gets_the_same_answer_one_id_at_a_time_as_in_a_batch(registry):
    seen = set()
    for as_of in TIMES:
        for purpose, jurisdiction in ASKS:
            batch = lookup_many(ids=IDS, purpose=purpose, jurisdiction=jurisdiction, as_of=as_of)
            singles = [lookup_one(id=i, purpose=purpose, jurisdiction=jurisdiction, as_of=as_of) for i in IDS]
            for asked, in_batch, alone in zip(IDS, batch, singles, strict=True):
                assert alone == in_batch, (asked, as_of, purpose, jurisdiction)
                seen.add("error" if "error" in alone else (alone["registered"], alone["basis"],
                                                         alone["declaration"] and alone["declaration"]["scope"]))
    # the comparison covered every kind of answer, not only "unregistered"
    assert {(True, "disputed", None), (True, "granted", "work"), (True, "reserved", "catalogue"),
            (True, "granted", "catalogue"), (True, "reserved", "work"), (True, "permission-required", None),
            (True, "not-reserved", None), (False, "not-reserved", None), (False, "permission-required", None),
            "error"} <= seen


def test_a_batch_of_one_takes_the_one_id_path(registry):
    one = lookup_many(ids=[f"isbn:{ISBN}"], purpose="train-genai", jurisdiction="JP", as_of=T0 + DAY / 2)
    assert one == [lookup_one(id=f"isbn:{ISBN}", purpose="train-genai", jurisdiction="JP", as_of=T0 + DAY / 2)]
    assert (one[0]["basis"], one[0]["declaration"]["scope"]) == ("granted", "work")


@pytest.mark.parametrize("asked", [f"isbn:{ISBN}", "url:https://nobody.example/x", "domain:nobody.example",
                                   "ref:studio-kaze/SK-1", "isbn:123"])
def test_one_id_costs_one_query(registry, django_assert_num_queries, asked):
    rulebook()  # warm, as in any process past its first lookup
    with django_assert_num_queries(1):
        lookup_one(id=asked, purpose="train-genai", jurisdiction="JP", as_of=T0 + 10 * DAY)


@pytest.mark.parametrize("asked", [
    "url:https://kaze.example/films/ta_ni%25/x", "domain:cdn.blog.kaze.example", "url:https://www.blog.kaze.example/p",
    "url:https://kaze.example/films/ta_ni%25/index.html"])
def test_a_web_id_that_matches_a_work_reads_domain_verification_in_the_same_statement(
        registry, django_assert_num_queries, operator, asked):
    """interop.md: whether its grants count depends on the holder's verified control of the matched host at T,
    which the one statement reads too (it went on to the batch path's five queries before; issue 15 item 4)."""
    rulebook()
    at = T0 + 10 * DAY
    with django_assert_num_queries(1):
        before = lookup_one(id=asked, purpose="train-genai", jurisdiction="JP", as_of=at)
    assert before["verified"] is False
    claim, _ = domain_claim_create(holder=Holder.objects.get(code=before["holder"]["code"]), domain="kaze.example")
    domain_verify_operator(claim=claim, note="registrar letter", actor=operator, at=T0 + 5 * DAY)
    with django_assert_num_queries(1):
        after = lookup_one(id=asked, purpose="train-genai", jurisdiction="JP", as_of=at)
    assert after["verified"] is True  # kaze.example covers every host under it
    assert lookup_one(id=asked, purpose="train-genai", jurisdiction="JP", as_of=T0 + 4 * DAY)["verified"] is False
    assert after == lookup_many(ids=[asked, "isbn:123"], purpose="train-genai", jurisdiction="JP", as_of=at)[0]


@pytest.mark.parametrize("asked", ["url:https://kaze.example/films/ta_ni%25/x",
                                   "url-prefix:https://kaze.example/films/"])
def test_fall_through_candidates_take_the_batch_path(registry, django_assert_num_queries, settings, asked):
    """A url-prefix: asked for, and with KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS any web id (an unverified match falls
    through to its next candidate): the statement, then the batch path's queries 2 to 5 (the rule book is warm)."""
    settings.KYODAKU_REQUIRE_VERIFIED_WEB_CLAIMS = asked.startswith("url:")
    rulebook()
    with django_assert_num_queries(6):
        lookup_one(id=asked, purpose="train-genai", jurisdiction="JP", as_of=T0 + 10 * DAY)


def test_a_rule_edited_behind_the_services_back_is_seen_at_the_next_lookup(registry, django_assert_num_queries):
    assert lookup_one(id=f"isbn:{UNREGISTERED_ISBN}", purpose="tdm", jurisdiction="JP")["regime"] == (
        "prior-permission")
    Rule.objects.filter(jurisdiction_id="JP", valid_until__isnull=True).update(regime="opt-out")

    with django_assert_num_queries(2):  # the statement, then the rule rows with the region map: rebuilt once
        changed = lookup_one(id=f"isbn:{UNREGISTERED_ISBN}", purpose="tdm", jurisdiction="JP")
    with django_assert_num_queries(1):
        again = lookup_one(id=f"isbn:{UNREGISTERED_ISBN}", purpose="tdm", jurisdiction="JP")
    assert changed["regime"] == again["regime"] == "opt-out"


def test_a_region_map_changed_since_the_held_book_reads_the_declarations_again(registry, django_assert_num_queries):
    """The statement narrows declarations to J's chain from the rule book the process holds (as the batch path
    does); when its stamp shows that the region map changed since, the declarations are read again with the new
    chain before deciding: never an answer from one map's declarations and another map's rules."""
    at, asked = T0 + 10 * DAY, "ref:studio-kaze/FILMS"
    rulebook()
    before = lookup_one(id=asked, purpose="tdm", jurisdiction="FR", as_of=at)
    assert (before["basis"], before["declaration"]["jurisdiction"]) == ("granted", "EU")  # FR is in the EU
    with connection.cursor() as cursor:
        cursor.execute("UPDATE consent_jurisdiction SET parent_id = NULL WHERE code = 'FR'")
    with django_assert_num_queries(3):  # the statement with the held chain, the rule rows, the statement again
        after = lookup_one(id=asked, purpose="tdm", jurisdiction="FR", as_of=at)
    assert after["basis"] != "granted" and after["declaration"] is None
    assert after == lookup_many(ids=[asked, "isbn:123"], purpose="tdm", jurisdiction="FR", as_of=at)[0]
    with django_assert_num_queries(1):
        assert lookup_one(id=asked, purpose="tdm", jurisdiction="FR", as_of=at) == after


# ---- an organisation's licences, read by the same one statement (domain.md "Licences and permission requests") --

@pytest.fixture
def licences(registry, studio_kaze, hoshi_pub):
    """Mirai AI: a work licence on Kaze's film (for a period), a catalogue licence from Hoshi revoked later, a
    catalogue licence from Kaze superseded by a narrower one. Kumo Labs: none at all."""
    from consent.licence_services import licence_file, licence_revoke
    from registry.models import Organisation, Work

    mirai = Organisation.objects.create(name="Mirai AI")
    kumo = Organisation.objects.create(name="Kumo Labs")
    kaze_film = Work.objects.get(holder=studio_kaze.holder, work_ref="SK-1")
    licence_file(holder=studio_kaze.holder, licensee=mirai, scope="work", work=kaze_film, purposes=["train-genai"],
                 jurisdictions=["JP"], license_url="https://studio-kaze.example/deal/1", at=T0,
                 effective_from=T0 + DAY / 4, effective_until=T0 + 6 * DAY)
    hoshi = licence_file(holder=hoshi_pub.holder, licensee=mirai, scope="catalogue", purposes=["train-ai"], at=T0)
    licence_revoke(licence=hoshi, at=T0 + 3 * DAY)
    licence_file(holder=studio_kaze.holder, licensee=mirai, scope="catalogue", purposes=["tdm"],
                 jurisdictions=["EU"], at=T0)
    licence_file(holder=studio_kaze.holder, licensee=mirai, scope="catalogue", purposes=["search"],
                 jurisdictions=["EU"], at=T0 + 2.5 * DAY)  # supersedes the tdm one
    return {"mirai": mirai.pk, "kumo": kumo.pk, "public": None}


def test_a_licensee_gets_the_same_answer_one_id_at_a_time_as_in_a_batch(licences):
    seen = set()
    for organisation_id in licences.values():
        for as_of in TIMES:
            for purpose, jurisdiction in ASKS:
                batch = lookup_many(ids=IDS, purpose=purpose, jurisdiction=jurisdiction, as_of=as_of,
                                    organisation_id=organisation_id)
                for asked, in_batch in zip(IDS, batch, strict=True):
                    alone = lookup_one(id=asked, purpose=purpose, jurisdiction=jurisdiction, as_of=as_of,
                                       organisation_id=organisation_id)
                    assert alone == in_batch, (asked, as_of, purpose, jurisdiction, organisation_id)
                    if alone.get("licence"):
                        seen.add((organisation_id, alone["licence"]["scope"]))
    # licensed answers through a work and a catalogue licence were compared, and only ever Mirai AI's
    assert seen == {(licences["mirai"], "work"), (licences["mirai"], "catalogue")}


@pytest.mark.parametrize("who", ["mirai", "kumo", "public"])
@pytest.mark.parametrize("asked", [f"isbn:{ISBN}", "ref:studio-kaze/SK-1", f"isbn:{OTHER_ISBN}",
                                   f"isbn:{UNREGISTERED_ISBN}", "isbn:123", "url:https://kaze.example/films/ta_ni%25/x",
                                   "domain:cdn.blog.kaze.example"])
def test_one_id_costs_one_statement_for_a_licensee_too(licences, django_assert_num_queries, who, asked):
    """A licensed organisation, an organisation without licences and a public lookup: one statement each."""
    rulebook()  # warm, as in any process past its first lookup
    as_of = T0 + DAY / 2  # before the dispute on Kaze's ISBN opens; Mirai's two licences in force
    with django_assert_num_queries(1):
        answer = lookup_one(id=asked, purpose="train-genai", jurisdiction="JP", as_of=as_of,
                            organisation_id=licences[who])
    if who == "mirai" and asked in (f"isbn:{ISBN}", "ref:studio-kaze/SK-1", f"isbn:{OTHER_ISBN}"):
        assert answer["basis"] == "licensed"  # the statement read the licence it counts
    elif "error" not in answer:
        assert answer["basis"] != "licensed"


def test_every_one_id_statement_is_short_enough_for_psycopgs_cache():
    """psycopg parses a statement's text once and caches it only up to this length; longer, every call pays."""
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

    from consent.lookup.sql import ONE_ID_LICENSED_STATEMENTS, ONE_ID_STATEMENTS

    for statements in (ONE_ID_STATEMENTS, ONE_ID_LICENSED_STATEMENTS):
        for kind, sql in statements.items():
            if statements is ONE_ID_LICENSED_STATEMENTS and kind == "url":
                # Over it (three kinds of hit, the verification and the licences): one_id's FixedTextQuery keeps
                # its parse instead (docs/engine.md).
                continue
            assert len(sql.encode()) <= MAX_CACHED_STATEMENT_LENGTH, kind


def test_a_licensees_web_id_statement_is_converted_once_however_long(registry):
    """psycopg keeps its placeholder conversion only for texts up to 4,096 bytes; the licensed url: and domain:
    statements are longer, and the one-id path keeps theirs itself (consent.lookup.one_id._split)."""
    from consent.lookup import one_id
    from consent.lookup.sql import ONE_ID_LICENSED_STATEMENTS
    from registry.models import Organisation

    assert len(ONE_ID_LICENSED_STATEMENTS["url"].encode()) > 4096
    mirai = Organisation.objects.create(name="Mirai AI")
    ask = {"id": "url:https://kaze.example/films/x", "purpose": "tdm", "jurisdiction": "FR", "as_of": T0 + 3 * DAY,
           "organisation_id": mirai.id}
    first = lookup_one(**ask)
    before = one_id._split.cache_info()
    assert lookup_one(**ask) == first
    after = one_id._split.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)
