"""The batch decision path through the database (consent.lookup): matching, as_of, errors, shape, precedence.

Data is made through the services (work_register, declaration_file, dispute_resolve, rule_set) so that what the
lookups read is exactly what the registry writes. The pure rules of "Deciding" are tested in test_engine.py; these
tests prove the database side feeds the engine the right facts.
"""
from datetime import UTC, datetime, timedelta

import iscc_core
import pytest

from consent.lookup import lookup_many, lookup_one, work_decisions
from consent.services import declaration_file, declaration_revoke, rule_set
from consent.vocabulary import UnknownJurisdiction, UnknownPurpose
from registry.models import Dispute, Identifier
from registry.services import dispute_resolve, identifier_remove, work_register

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
ISBN = "978-4-9901661-3-7"
ISBN_STORED = "9784990166137"
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
ISCC = iscc_core.gen_meta_code("Kaze no Tani")["iscc"]


def register(persona, work_ref, *identifiers, at=T0, title=None, kind="film"):
    return work_register(holder=persona.holder, work_ref=work_ref, title=title or f"Work {work_ref}", kind=kind,
                         identifiers=list(identifiers), at=at).work


def file(persona, *, work=None, purpose="train-ai", jurisdiction="*", consent="reserve", at=T0, **extra):
    scope = "work" if work is not None else "catalogue"
    declaration, created = declaration_file(holder=persona.holder, scope=scope, work=work, purpose=purpose,
                                            jurisdiction=jurisdiction, consent=consent, at=at, **extra)
    assert created
    return declaration


def one(identifier, purpose="train-genai", jurisdiction="JP", as_of=T0 + DAY):
    return lookup_one(id=identifier, purpose=purpose, jurisdiction=jurisdiction, as_of=as_of)


def work_id_of(result):
    return result["work"]["id"] if result["registered"] else None


# ----------------------------------------------------------------------------------------------- result shape

def test_studio_kaze_registered_work_gives_the_api_result_shape(studio_kaze):
    work = register(studio_kaze, "SK-1", f"isbn:{ISBN}", title="Kaze no Tani", kind="manga")
    declaration = file(studio_kaze, purpose="train-ai", consent="reserve",
                       license_url="https://studio-kaze.example/licence/ai")

    result = one(f"isbn:{ISBN}", as_of=datetime(2026, 6, 1, 12, tzinfo=UTC))

    assert result == {
        "id": f"isbn:{ISBN}",
        "identifier": f"isbn:{ISBN_STORED}",
        "registered": True,
        "work": {"id": str(work.pk), "title": "Kaze no Tani", "kind": "manga", "work_ref": "SK-1"},
        "holder": {"id": str(studio_kaze.holder.pk), "code": "studio-kaze", "name": "Studio Kaze"},
        "purpose": "train-genai",
        "jurisdiction": "JP",
        "as_of": "2026-06-01T12:00:00Z",
        "outcome": "denied",
        "basis": "reserved",
        "regime": "prior-permission",
        "declaration": {"id": str(declaration.pk), "scope": "catalogue", "purpose": "train-ai", "jurisdiction": "*",
                        "consent": "reserve", "effective_from": "2026-01-01T00:00:00Z", "effective_until": None,
                        "license_url": "https://studio-kaze.example/licence/ai", "conditions": None},
        "licence": None,
        "license_url": "https://studio-kaze.example/licence/ai",
        "disputed": False,
        "verified": None,  # not a web identifier
        "unverified_grant_ignored": False,
    }


def test_an_unregistered_identifier_answers_by_the_regime_with_nulls(studio_kaze):
    result = one("isbn:9780306406157", jurisdiction="us")

    assert result["registered"] is False
    assert result["identifier"] == "isbn:9780306406157"
    assert (result["work"], result["holder"], result["declaration"], result["license_url"]) == (None, None, None, None)
    assert (result["jurisdiction"], result["outcome"], result["basis"], result["regime"]) == (
        "US", "allowed", "not-reserved", "opt-out")
    assert result["disputed"] is False


def test_an_unregistered_identifier_in_japan_needs_permission(db):
    result = one("doi:10.1000/nothing-here")
    assert (result["outcome"], result["basis"], result["regime"]) == ("denied", "permission-required",
                                                                      "prior-permission")


def test_without_a_declaration_the_holder_licensing_url_is_where_to_ask(studio_kaze, hoshi_pub):
    register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    register(hoshi_pub, "HP-1", "isbn:9780306406157")

    assert one(f"isbn:{ISBN}")["license_url"] == "https://studio-kaze.example/licensing"
    assert one("isbn:9780306406157")["license_url"] is None  # Hoshi has no licensing URL


def test_as_of_defaults_to_now_and_is_written_with_z(studio_kaze):
    result = lookup_one(id="isbn:9780306406157", purpose="tdm", jurisdiction="*")
    assert result["as_of"].endswith("Z")
    assert abs(datetime.fromisoformat(result["as_of"]) - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_naive_as_of_is_refused(db):
    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        lookup_one(id="isbn:9780306406157", purpose="tdm", jurisdiction="*", as_of=datetime(2026, 1, 1))


# ---------------------------------------------------------------------------------------------- exact schemes

@pytest.mark.parametrize(("filed", "asked"), [
    (f"isbn:{ISBN}", "isbn:4-9901661-3-2"),  # ISBN-10 input finds the ISBN-13
    ("issn:0317-8471", "issn:03178471"),
    ("isrc:US-RC1-76-07839", "isrc:usrc17607839"),
    ("iswc:T-034.524.680-1", "iswc:T0345246801"),
    ("doi:10.1000/XYZ123", "doi:https://doi.org/10.1000/xyz123"),
    (f"sha256:{SHA.upper()}", f"sha256:{SHA}"),
    (f"iscc:{ISCC}", f"iscc:{ISCC.lower()}"),
    ("url-prefix:https://kaze.example/films/", "url-prefix:HTTPS://KAZE.example:443/films/"),
    ("url:https://kaze.example/films/1", "url:https://KAZE.example/films/1#trailer"),
], ids=["isbn", "issn", "isrc", "iswc", "doi", "sha256", "iscc", "url-prefix", "url"])
def test_each_scheme_finds_its_work_by_the_normalised_value(studio_kaze, filed, asked):
    work = register(studio_kaze, "SK-1", filed)
    assert work_id_of(one(asked)) == str(work.pk)


def test_url_prefix_lookup_matches_only_the_identical_prefix(studio_kaze):
    register(studio_kaze, "SK-1", "url-prefix:https://kaze.example/films/")
    assert one("url-prefix:https://kaze.example/films/tani/")["registered"] is False


def test_an_identifier_of_another_scheme_with_the_same_value_does_not_match(studio_kaze):
    register(studio_kaze, "SK-1", "domain:kaze.example")
    assert one("url-prefix:https://kaze.example/")["registered"] is False


# ------------------------------------------------------------------------------------------------------- ref:

def test_ref_resolves_a_holder_catalogue_number(studio_kaze, hoshi_pub):
    kaze = register(studio_kaze, "A-1")
    hoshi = register(hoshi_pub, "A-1")

    assert work_id_of(one("ref:studio-kaze/A-1")) == str(kaze.pk)
    assert work_id_of(one("ref:hoshi-pub/A-1")) == str(hoshi.pk)


def test_ref_pairs_are_not_crossed_within_a_batch(studio_kaze, hoshi_pub):
    register(studio_kaze, "K-1")
    register(hoshi_pub, "H-1")

    results = lookup_many(ids=["ref:studio-kaze/H-1", "ref:hoshi-pub/K-1", "ref:nobody/K-1"], purpose="tdm",
                          jurisdiction="JP", as_of=T0 + DAY)
    assert [r["registered"] for r in results] == [False, False, False]


# ------------------------------------------------------------------------------------------------ url matching

@pytest.fixture
def site(studio_kaze, hoshi_pub, tsubasa):
    """A web site with an exact URL, two nested url-prefixes and domain identifiers at two levels."""
    return {
        "domain": register(hoshi_pub, "SITE", "domain:kaze.example"),
        "sub_domain": register(tsubasa, "BLOG", "domain:blog.kaze.example"),
        "films": register(studio_kaze, "FILMS", "url-prefix:https://kaze.example/films/"),
        "tani": register(studio_kaze, "TANI", "url-prefix:https://kaze.example/films/tani/"),
        "page": register(studio_kaze, "PAGE", "url:https://kaze.example/films/tani/index.html"),
    }


@pytest.mark.parametrize(("url", "expected"), [
    ("https://kaze.example/films/tani/index.html", "page"),  # exact url beats every prefix
    ("https://kaze.example/films/tani/stills.html", "tani"),  # longest prefix
    ("https://kaze.example/films/other", "films"),
    ("https://kaze.example/about", "domain"),  # no prefix: the host's domain
    ("http://kaze.example/films/tani/x", "tani"),  # http and https are the same URL (test_lookup_url_schemes.py)
    ("https://www.kaze.example/films/tani/x", "domain"),  # prefixes are per host; www falls to the parent domain
    ("https://blog.kaze.example/post/1", "sub_domain"),  # nearest domain
    ("https://a.b.blog.kaze.example/", "sub_domain"),
], ids=["exact", "longest-prefix", "shorter-prefix", "domain", "other-scheme", "subdomain-prefix", "nearest-domain",
        "deep-subdomain"])
def test_url_lookup_takes_exact_then_longest_prefix_then_nearest_domain(site, url, expected):
    assert work_id_of(one(f"url:{url}")) == str(site[expected].pk)


def test_url_on_an_unrelated_host_is_unregistered(site):
    assert one("url:https://kaze-example.org/films/")["registered"] is False
    assert one("url:https://example/films/")["registered"] is False


@pytest.mark.parametrize(("domain", "expected"), [
    ("kaze.example", "domain"), ("WWW.Kaze.Example", "domain"), ("blog.kaze.example", "sub_domain"),
    ("x.blog.kaze.example", "sub_domain"),
])
def test_domain_lookup_finds_the_domain_or_its_nearest_parent(site, domain, expected):
    assert work_id_of(one(f"domain:{domain}")) == str(site[expected].pk)


def test_domain_lookup_never_matches_a_child_domain(site):
    assert one("domain:example.com")["registered"] is False
    assert work_id_of(one("domain:kaze.example")) != str(site["sub_domain"].pk)


# ------------------------------------------------------------------------------------------------------ as_of

def test_as_of_before_the_identifier_was_registered_is_unregistered(studio_kaze):
    register(studio_kaze, "SK-1", at=T0)
    register(studio_kaze, "SK-1", f"isbn:{ISBN}", at=T0 + 10 * DAY)  # identifier added later

    assert one(f"isbn:{ISBN}", as_of=T0 + DAY)["registered"] is False
    assert one(f"isbn:{ISBN}", as_of=T0 + 10 * DAY)["registered"] is True
    assert one("ref:studio-kaze/SK-1", as_of=T0 + DAY)["registered"] is True


def test_as_of_before_the_work_was_registered_is_unregistered_also_by_ref(studio_kaze):
    register(studio_kaze, "SK-1", f"isbn:{ISBN}", at=T0 + 5 * DAY)

    assert one(f"isbn:{ISBN}", as_of=T0)["registered"] is False
    assert one("ref:studio-kaze/SK-1", as_of=T0)["registered"] is False


def test_an_identifier_older_than_its_work_does_not_resolve_before_the_work_exists(studio_kaze):
    work = register(studio_kaze, "SK-1", at=T0 + 5 * DAY)
    # Rows loaded behind the services' back (a migration from another registry) may carry older dates.
    Identifier.objects.create(work=work, scheme="isbn", value=ISBN_STORED, valid_from=T0)

    assert one(f"isbn:{ISBN}", as_of=T0 + DAY)["registered"] is False
    assert one(f"isbn:{ISBN}", as_of=T0 + 5 * DAY)["registered"] is True


def test_an_identifier_transferred_by_an_operator_resolves_by_as_of(studio_kaze, hoshi_pub, operator):
    kaze = register(studio_kaze, "SK-1", f"isbn:{ISBN}", at=T0)
    hoshi = register(hoshi_pub, "HP-1", f"isbn:{ISBN}", at=T0 + DAY)  # a claim: opens a dispute
    dispute = Dispute.objects.get()
    dispute_resolve(dispute=dispute, resolution="transferred", actor=operator, at=T0 + 3 * DAY)

    before = one(f"isbn:{ISBN}", as_of=T0 + DAY / 2)
    during = one(f"isbn:{ISBN}", as_of=T0 + 2 * DAY)
    after = one(f"isbn:{ISBN}", as_of=T0 + 4 * DAY)

    assert (work_id_of(before), before["disputed"], before["basis"]) == (str(kaze.pk), False,
                                                                        "permission-required")
    assert (work_id_of(during), during["disputed"], during["basis"]) == (str(kaze.pk), True, "disputed")
    assert (work_id_of(after), after["disputed"], after["holder"]["code"]) == (str(hoshi.pk), False, "hoshi-pub")


def test_a_removed_identifier_stops_resolving_but_past_answers_keep_it(studio_kaze):
    register(studio_kaze, "SK-1", f"isbn:{ISBN}", at=T0)
    identifier_remove(identifier=Identifier.objects.get(), at=T0 + 2 * DAY)

    assert one(f"isbn:{ISBN}", as_of=T0 + DAY)["registered"] is True
    assert one(f"isbn:{ISBN}", as_of=T0 + 2 * DAY)["registered"] is False


def test_a_declaration_recorded_after_as_of_does_not_change_the_answer(studio_kaze):
    register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    file(studio_kaze, purpose="tdm", jurisdiction="US", consent="reserve", at=T0 + 5 * DAY,
         effective_from=T0)  # back-dated effect, recorded later

    assert one(f"isbn:{ISBN}", jurisdiction="US", as_of=T0 + DAY)["basis"] == "not-reserved"
    assert one(f"isbn:{ISBN}", jurisdiction="US", as_of=T0 + 5 * DAY)["basis"] == "reserved"


def test_a_superseded_declaration_still_answers_for_its_time(studio_kaze):
    work = register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    first = file(studio_kaze, work=work, purpose="train-ai", consent="grant", at=T0)
    second = file(studio_kaze, work=work, purpose="train-ai", consent="reserve", at=T0 + 5 * DAY)

    then, now = one(f"isbn:{ISBN}", as_of=T0 + DAY), one(f"isbn:{ISBN}", as_of=T0 + 6 * DAY)
    assert (then["outcome"], then["declaration"]["id"]) == ("allowed", str(first.pk))
    assert (now["outcome"], now["declaration"]["id"]) == ("denied", str(second.pk))


def test_a_revoked_declaration_stops_deciding_at_its_revocation(studio_kaze):
    work = register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    grant = file(studio_kaze, work=work, purpose="tdm", consent="grant", at=T0)
    declaration_revoke(declaration=grant, at=T0 + 5 * DAY)

    assert one(f"isbn:{ISBN}", as_of=T0 + DAY)["basis"] == "granted"
    assert one(f"isbn:{ISBN}", as_of=T0 + 5 * DAY)["basis"] == "permission-required"


def test_a_declaration_outside_its_effective_period_does_not_decide(studio_kaze):
    work = register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    file(studio_kaze, work=work, purpose="tdm", consent="grant", effective_from=T0 + 2 * DAY,
         effective_until=T0 + 4 * DAY)

    assert [one(f"isbn:{ISBN}", as_of=T0 + d * DAY)["basis"] for d in (1, 2, 3, 4)] == [
        "permission-required", "granted", "granted", "permission-required"]


def test_a_rule_changed_by_an_operator_applies_from_its_change_only(studio_kaze):
    register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    assert one(f"isbn:{ISBN}", as_of=T0 + 2 * DAY)["regime"] == "prior-permission"  # warms the cached rule book

    rule_set(jurisdiction="JP", regime="opt-out", basis="Hypothetical amendment.", at=T0 + DAY)

    assert one(f"isbn:{ISBN}", as_of=T0)["regime"] == "prior-permission"
    later = one(f"isbn:{ISBN}", as_of=T0 + 2 * DAY)
    assert (later["regime"], later["outcome"], later["basis"]) == ("opt-out", "allowed", "not-reserved")


def test_an_as_of_before_every_rule_is_a_client_error(db):
    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        one("isbn:9780306406157", as_of=datetime(1999, 1, 1, tzinfo=UTC))


# ------------------------------------------------------------------------------------------ batch behaviour

def test_bad_ids_become_error_entries_and_keep_the_batch_order(studio_kaze):
    register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    ids = [f"isbn:{ISBN}", "isbn:978-4-9901661-3-8", "nonsense", 42, "url:ftp://x.example/", f"isbn:{ISBN}",
           "isbn:9780306406157"]

    results = lookup_many(ids=ids, purpose="train-ai", jurisdiction="JP", as_of=T0 + DAY)

    assert [r["id"] for r in results] == ids
    assert results[1] == {"id": ids[1], "error": {"code": "invalid-identifier",
                                                  "detail": "ISBN checksum does not match"}}
    assert [r.get("error", {}).get("code") for r in results] == [
        None, "invalid-identifier", "invalid-identifier", "invalid-identifier", "invalid-identifier", None, None]
    assert [r.get("registered") for r in results] == [True, None, None, None, None, True, False]
    assert results[0] == results[5]  # a duplicated id is answered each time, in place


def test_ids_may_come_from_any_iterable(studio_kaze):
    register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    results = lookup_many(ids=(i for i in [f"isbn:{ISBN}", "bad"]), purpose="tdm", jurisdiction="JP",
                          as_of=T0 + DAY)
    assert [r["id"] for r in results] == [f"isbn:{ISBN}", "bad"]
    assert results[0]["registered"] is True


def test_an_empty_batch_answers_nothing(db):
    assert lookup_many(ids=[], purpose="tdm", jurisdiction="JP") == []


@pytest.mark.parametrize("purpose", ["training", "", None, "TDM"])
def test_an_unknown_purpose_fails_the_whole_request(db, purpose):
    with pytest.raises(UnknownPurpose):
        lookup_many(ids=[f"isbn:{ISBN}"], purpose=purpose, jurisdiction="JP")


@pytest.mark.parametrize("jurisdiction", ["UK", "XX", "JPN", "", None])
def test_an_unknown_jurisdiction_fails_the_whole_request(db, jurisdiction):
    with pytest.raises(UnknownJurisdiction):
        lookup_many(ids=[f"isbn:{ISBN}"], purpose="tdm", jurisdiction=jurisdiction)


def test_an_unknown_but_valid_iso_code_falls_through_to_the_default_rule(db):
    result = one("isbn:9780306406157", jurisdiction="bt")
    assert (result["jurisdiction"], result["regime"]) == ("BT", "prior-permission")


# --------------------------------------------------------------------------------------------------- disputes

def test_hoshi_claiming_studio_kaze_identifier_denies_the_work_while_open(studio_kaze, hoshi_pub, operator):
    work = register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    file(studio_kaze, work=work, purpose="tdm", consent="grant")
    register(hoshi_pub, "HP-1", f"isbn:{ISBN}", at=T0 + 2 * DAY)
    dispute_resolve(dispute=Dispute.objects.get(), resolution="kept", actor=operator, at=T0 + 4 * DAY)

    assert one(f"isbn:{ISBN}", as_of=T0 + DAY)["basis"] == "granted"
    during = one(f"isbn:{ISBN}", as_of=T0 + 3 * DAY)
    assert (during["outcome"], during["basis"], during["disputed"], during["declaration"]) == (
        "denied", "disputed", True, None)
    assert one(f"isbn:{ISBN}", as_of=T0 + 5 * DAY)["basis"] == "granted"


def test_a_dispute_denies_every_identifier_of_the_work(studio_kaze, hoshi_pub):
    register(studio_kaze, "SK-1", f"isbn:{ISBN}", f"sha256:{SHA}")
    register(hoshi_pub, "HP-1", f"sha256:{SHA}")

    assert one(f"isbn:{ISBN}", jurisdiction="US")["basis"] == "disputed"


# -------------------------------------------------------------------------------------------------- precedence

def test_studio_kaze_work_grant_beats_its_catalogue_reservation(studio_kaze):
    work = register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    file(studio_kaze, purpose="train-genai", jurisdiction="JP", consent="reserve")  # catalogue, more specific
    grant = file(studio_kaze, work=work, purpose="tdm", jurisdiction="*", consent="grant")

    result = one(f"isbn:{ISBN}")
    assert (result["outcome"], result["basis"], result["declaration"]["id"]) == ("allowed", "granted", str(grant.pk))
    assert result["declaration"]["scope"] == "work"


def test_a_catalogue_declaration_covers_works_registered_after_it(studio_kaze):
    reservation = file(studio_kaze, purpose="tdm", jurisdiction="EU", consent="reserve", at=T0)
    register(studio_kaze, "SK-9", f"isbn:{ISBN}", at=T0 + 3 * DAY)

    result = one(f"isbn:{ISBN}", jurisdiction="fr", as_of=T0 + 4 * DAY)
    assert (result["jurisdiction"], result["regime"], result["basis"]) == ("FR", "opt-out", "reserved")
    assert result["declaration"]["id"] == str(reservation.pk)


def test_another_holders_catalogue_never_decides_for_studio_kaze(studio_kaze, hoshi_pub):
    register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    file(hoshi_pub, purpose="tdm", consent="grant")

    assert one(f"isbn:{ISBN}")["basis"] == "permission-required"


def test_another_work_declaration_never_decides_for_this_work(studio_kaze):
    register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    other = register(studio_kaze, "SK-2", "isbn:9780306406157")
    file(studio_kaze, work=other, purpose="tdm", consent="grant")

    assert one(f"isbn:{ISBN}")["basis"] == "permission-required"
    assert one("isbn:9780306406157")["basis"] == "granted"


def test_nearer_purpose_and_jurisdiction_decide_through_the_database(studio_kaze):
    work = register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    file(studio_kaze, work=work, purpose="tdm", jurisdiction="JP", consent="grant")
    file(studio_kaze, work=work, purpose="train-ai", jurisdiction="*", consent="reserve")
    file(studio_kaze, work=work, purpose="search", jurisdiction="JP", consent="reserve")

    assert one(f"isbn:{ISBN}", purpose="train-genai")["basis"] == "reserved"  # nearer purpose beats nearer place
    assert one(f"isbn:{ISBN}", purpose="ai-use")["basis"] == "granted"  # only tdm@JP covers ai-use
    assert one(f"isbn:{ISBN}", purpose="ai-use", jurisdiction="US")["basis"] == "not-reserved"


def test_collective_filing_for_tsubasa_decides_tsubasa_works(tsubasa, collective):
    register(tsubasa, "TS-1", f"isbn:{ISBN}")
    declaration_file(holder=tsubasa.holder, scope="catalogue", purpose="tdm", jurisdiction="*", consent="grant",
                     agent=collective.holder, actor=collective.user, at=T0)

    result = one(f"isbn:{ISBN}")
    assert (result["basis"], result["holder"]["code"]) == ("granted", "tsubasa-anime")


def test_the_declaration_license_url_beats_the_holder_one(studio_kaze):
    work = register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    file(studio_kaze, work=work, purpose="tdm", consent="reserve", license_url="https://kaze.example/ask")
    assert one(f"isbn:{ISBN}")["license_url"] == "https://kaze.example/ask"


# ---------------------------------------------------------------------------------------------- work page

def test_work_decisions_answers_every_purpose_and_jurisdiction_pair(studio_kaze):
    work = register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    file(studio_kaze, purpose="train-ai", jurisdiction="EU", consent="reserve")

    answers = work_decisions(work=work, purposes=["train-genai", "search"], jurisdictions=["JP", "DE"],
                             as_of=T0 + DAY)

    assert {k: (v["outcome"], v["basis"]) for k, v in answers.items()} == {
        ("train-genai", "JP"): ("denied", "permission-required"),
        ("train-genai", "DE"): ("denied", "reserved"),
        ("search", "JP"): ("denied", "permission-required"),
        ("search", "DE"): ("allowed", "not-reserved"),
    }
    assert answers[("search", "DE")]["identifier"] == "ref:studio-kaze/SK-1"
    assert answers[("search", "DE")] == one("ref:studio-kaze/SK-1", purpose="search", jurisdiction="DE")
    assert work_decisions(work=work, purposes=["tdm"], jurisdictions=["JP"],
                          as_of=T0 - DAY)[("tdm", "JP")]["registered"] is False


def test_catalogue_numbers_with_quotes_backslashes_and_braces_are_matched_exactly(studio_kaze):
    # The batch sends its values to PostgreSQL as one array literal: its quoting must not bend any value.
    odd = ['A"B', "C\\D", "E,F", "{G}", "H I", "NULL", "J'K"]
    made = {ref: register(studio_kaze, ref) for ref in odd}

    results = lookup_many(ids=[f"ref:studio-kaze/{ref}" for ref in odd] + ["ref:studio-kaze/A"], purpose="tdm",
                          jurisdiction="JP", as_of=T0 + DAY)

    assert [work_id_of(r) for r in results] == [str(made[ref].pk) for ref in odd] + [None]


def test_the_fast_row_reader_leaves_the_connection_types_alone(studio_kaze):
    import uuid

    from registry.models import Work

    register(studio_kaze, "SK-1", f"isbn:{ISBN}")
    assert one(f"isbn:{ISBN}")["registered"] is True  # reads uuids as text on its own cursor

    assert isinstance(Work.objects.values_list("id", flat=True).get(), uuid.UUID)
    assert Work.objects.values_list("created_at", flat=True).get() == T0
