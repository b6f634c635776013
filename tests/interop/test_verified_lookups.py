"""Lookups with domain control (interop.md): `verified` beside `holder`, and a grant reached through a url,
url-prefix or domain identifier counts only while its holder had verified control of the host. Persona: anyone who
registers `url-prefix:https://kaze.example/open/` and grants training on it (here Hoshi Publishing, who does not
control the site) versus Studio Kaze, who verified kaze.example for a while."""
from datetime import UTC, datetime, timedelta

import pytest

from consent.lookup import lookup_many, lookup_one
from consent.services import declaration_file
from domains.services import domain_claim_create, domain_verification_withdraw, domain_verify_operator
from registry.services import work_register

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
OPEN = "https://kaze.example/open/"


@pytest.fixture
def site(studio_kaze, hoshi_pub, operator):
    opened = work_register(holder=studio_kaze.holder, work_ref="SK-OPEN", title="Open archive", kind="website",
                           identifiers=[f"url-prefix:{OPEN}", "isbn:9784990166137"], at=T0).work
    declaration_file(holder=studio_kaze.holder, scope="work", work=opened, purpose="train-ai", consent="grant",
                     at=T0)
    page = work_register(holder=studio_kaze.holder, work_ref="SK-PAGE", title="A page", kind="website",
                         identifiers=["url:https://www.kaze.example/page"], at=T0).work
    declaration_file(holder=studio_kaze.holder, scope="work", work=page, purpose="tdm", jurisdiction="FR",
                     consent="reserve", at=T0)
    wiki = work_register(holder=hoshi_pub.holder, work_ref="HP-WIKI", title="Not ours", kind="website",
                         identifiers=["url-prefix:https://en.wikipedia.example/"], at=T0).work
    declaration_file(holder=hoshi_pub.holder, scope="work", work=wiki, purpose="train-ai", consent="grant", at=T0)
    claim, _ = domain_claim_create(holder=studio_kaze.holder, domain="kaze.example")
    domain_verify_operator(claim=claim, note="registrar letter", actor=operator, at=T0 + 10 * DAY)
    domain_verification_withdraw(claim=claim, reason="letter withdrawn", actor=operator, at=T0 + 20 * DAY)


def ask(identifier, at, jurisdiction="JP"):
    one = lookup_one(id=identifier, purpose="train-genai", jurisdiction=jurisdiction, as_of=at)
    batch = lookup_many(ids=[identifier, "isbn:9784990166137"], purpose="train-genai", jurisdiction=jurisdiction,
                        as_of=at)[0]
    assert one == batch  # the one-id path and the batch path agree
    return one


def test_a_web_grant_counts_only_while_control_was_verified(site):
    before, during, after = (ask(f"url:{OPEN}x", T0 + n * DAY) for n in (5, 15, 25))
    assert (before["outcome"], before["basis"], before["verified"], before["unverified_grant_ignored"]) == (
        "denied", "permission-required", False, True)
    assert (during["outcome"], during["basis"], during["verified"], during["unverified_grant_ignored"]) == (
        "allowed", "granted", True, False)
    assert (after["basis"], after["verified"], after["unverified_grant_ignored"]) == (
        "permission-required", False, True)
    assert ask(f"url-prefix:{OPEN}", T0 + 15 * DAY)["basis"] == "granted"  # the identifier itself, too


def test_the_same_work_by_isbn_is_not_a_web_match(site):
    answer = ask("isbn:9784990166137", T0 + 5 * DAY)
    assert (answer["basis"], answer["verified"], answer["unverified_grant_ignored"]) == ("granted", None, False)


def test_a_reservation_needs_no_verification_and_a_parent_domain_covers_sub_domains(site):
    reserved = ask("url:https://www.kaze.example/page", T0 + 5 * DAY, jurisdiction="FR")
    assert (reserved["outcome"], reserved["basis"], reserved["verified"]) == ("denied", "reserved", False)
    assert ask("url:https://www.kaze.example/page", T0 + 15 * DAY, jurisdiction="FR")["verified"] is True


def test_anyone_can_claim_a_url_prefix_but_its_grant_does_not_count(site):
    answer = ask("url:https://en.wikipedia.example/wiki/Kyoto", T0 + 15 * DAY)
    assert answer["holder"]["code"] == "hoshi-pub"
    assert (answer["outcome"], answer["verified"], answer["unverified_grant_ignored"]) == ("denied", False, True)


def test_unregistered_web_ids_carry_verified_null(site):
    answer = ask("url:https://nobody.example/", T0 + 15 * DAY)
    assert (answer["registered"], answer["verified"], answer["unverified_grant_ignored"]) == (False, None, False)


def test_a_receipt_says_whether_control_was_verified(site):
    from receipts.services import receipt_payload

    head = {"seq": 1, "hash": "00"}
    web = receipt_payload(ask(f"url:{OPEN}x", T0 + 15 * DAY), head=head, iat=0, iss="https://k.example", sub="k")
    isbn = receipt_payload(ask("isbn:9784990166137", T0 + 15 * DAY), head=head, iat=0, iss="https://k.example",
                           sub="k")
    assert web["verified"] is True and "verified" not in isbn
