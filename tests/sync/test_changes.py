"""The change feed (sync.md, "Change feed"): an AI developer follows every change that can alter an answer, in
order and without gaps, with cursors that stay valid forever, and learns nothing personal from it."""
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from audit.selectors import audit_head
from consent.services import declaration_file, declaration_revoke, rule_set
from registry.models import Dispute
from registry.services import dispute_resolve, holder_update, mandate_create, work_register

pytestmark = [pytest.mark.django_db]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ISBN = "isbn:9784990166137"


def feed(client, **params) -> dict:
    response = client.get("/api/v1/changes", params)
    assert response.status_code == 200, response.content
    return response.json()


def everything_after(client, after="0", limit=1000) -> list[dict]:
    entries = []
    while True:
        page = feed(client, after=after, limit=limit)
        entries += page["results"]
        if not page["results"]:
            return entries
        after = page["next"]


@pytest.fixture
def history(studio_kaze, hoshi_pub, collective):
    """Studio Kaze's manga with two identifiers, a work-scope grant, a catalogue reservation by Hoshi, Hoshi's
    claim on Kaze's ISBN (a dispute) resolved by transfer, a revoked grant, a new rule, and a mandate (which
    changes no answer)."""
    start = audit_head()["seq"]
    kaze = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani",
                         identifiers=[ISBN, "doi:10.5555/kaze-1"], at=T0).work
    grant, _ = declaration_file(holder=studio_kaze.holder, scope="work", work=kaze, purpose="train-ai",
                                consent="grant", at=T0)
    declaration_file(holder=hoshi_pub.holder, scope="catalogue", purpose="train-ai", consent="reserve", at=T0)
    work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Claim", identifiers=[ISBN],
                  at=T0 + timedelta(days=1))
    dispute = Dispute.objects.get(value="9784990166137")
    dispute_resolve(dispute=dispute, resolution="transferred", at=T0 + timedelta(days=2))
    declaration_revoke(declaration=grant, at=T0 + timedelta(days=3))
    holder_update(holder=hoshi_pub.holder, licensing_url="https://hoshi-pub.example/new-licensing")
    rule_set(jurisdiction="BR", purpose="train-genai", regime="opt-out", basis="Hypothetical law.",
             at=T0 + timedelta(days=4))
    mandate_create(agent=collective.holder, principal=hoshi_pub.holder)
    return start


def test_ai_developer_follows_every_answer_changing_event_in_order(ai_developer, history):
    entries = everything_after(ai_developer, after=str(history))

    kinds = [(e["kind"], e["keys"]) for e in entries]
    assert kinds == [
        ("identifier.add", [ISBN]),
        ("identifier.add", ["doi:10.5555/kaze-1"]),
        ("declaration.file", ["doi:10.5555/kaze-1", ISBN, "ref:studio-kaze/SK-1"]),
        ("declaration.file", ["holder:hoshi-pub"]),
        ("dispute.open", [ISBN, "doi:10.5555/kaze-1", "ref:studio-kaze/SK-1"]),
        ("dispute.resolve", [ISBN, "doi:10.5555/kaze-1", "ref:studio-kaze/SK-1"]),
        ("identifier.end", [ISBN]),
        ("identifier.add", [ISBN]),
        ("declaration.revoke", ["doi:10.5555/kaze-1", ISBN, "ref:studio-kaze/SK-1"]),
        ("holder.update", ["holder:hoshi-pub"]),
        ("rule.set", ["rule:BR/train-genai"]),
    ]
    cursors = [int(e["cursor"]) for e in entries]
    assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors)
    assert all(e["at"].endswith("Z") for e in entries)


def test_pages_of_one_concatenate_to_the_whole_feed_and_cursors_never_move(ai_developer, history):
    whole = everything_after(ai_developer, after=str(history))
    one_by_one = everything_after(ai_developer, after=str(history), limit=1)
    assert one_by_one == whole
    for before, entry in zip(whole, whole[1:], strict=False):
        assert feed(ai_developer, after=before["cursor"], limit=1)["results"] == [entry]


def test_next_is_the_same_cursor_when_nothing_is_new_and_moves_past_events_that_change_no_answer(
        ai_developer, history, collective, tsubasa):
    end = feed(ai_developer, after=str(history), limit=1000)["next"]
    assert feed(ai_developer, after=end) == {"results": [], "next": end}
    mandate_create(agent=collective.holder, principal=tsubasa.holder, valid_from=T0)  # tsubasa has one already
    later = feed(ai_developer, after=end)
    assert later["results"] == [] and int(later["next"]) >= int(end)


def test_the_feed_carries_no_personal_data(ai_developer, history, studio_kaze):
    text = str(feed(ai_developer, limit=1000))
    for private in (studio_kaze.user.username, studio_kaze.user.email, "user:", "Kaze no Tani", "evidence",
                    "new-licensing"):
        if private:
            assert private not in text


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", "99999999999", "１２"])
def test_an_unknown_cursor_is_a_400_problem(ai_developer, after):
    response = ai_developer.get("/api/v1/changes", {"after": after})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["code"] == "unknown-cursor"


@pytest.mark.parametrize("params", [{"wait": "31"}, {"wait": "-1"}, {"limit": "0"}, {"limit": "1001"},
                                    {"color": "red"}])
def test_bad_feed_parameters_are_400_problems(ai_developer, params):
    response = ai_developer.get("/api/v1/changes", params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_the_feed_needs_an_api_key(anonymous):
    response = anonymous.get("/api/v1/changes")
    assert response.status_code == 401


def test_a_page_costs_a_fixed_number_of_queries(ai_developer, history, django_assert_max_num_queries):
    feed(ai_developer)  # the API key is cached after its first use
    # head, events, works' identifiers, works' ref keys, holders' codes
    with django_assert_max_num_queries(5):
        page = feed(ai_developer, limit=1000)
    assert len(page["results"]) > 11


def test_a_long_poll_waits_and_returns_the_same_cursor_when_nothing_happens(ai_developer, history):
    end = feed(ai_developer, limit=1000)["next"]
    started = time.monotonic()
    assert feed(ai_developer, after=end, wait=1) == {"results": [], "next": end}
    assert time.monotonic() - started >= 0.9


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_a_long_poll_returns_as_soon_as_a_change_is_committed(ai_developer, studio_kaze):
    end = feed(ai_developer, limit=1000)["next"]

    def later():
        time.sleep(0.5)
        work_register(holder=studio_kaze.holder, work_ref="SK-9", title="Late", identifiers=["doi:10.5555/late"])
        connection.close()

    writer = threading.Thread(target=later)
    started = time.monotonic()
    writer.start()
    page = feed(ai_developer, after=end, wait=30)
    writer.join()
    assert [e["keys"] for e in page["results"]] == [["doi:10.5555/late"]]
    # Well before the 30 s the poll may wait, with room for a loaded machine (a 5 s bound with a 10 s wait was
    # wall-clock-sensitive on a shared CI host).
    assert time.monotonic() - started < 15


def test_a_withdrawn_dispute_names_the_whole_work_again(ai_developer, studio_kaze, hoshi_pub, operator):
    from registry.services import dispute_withdraw

    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", identifiers=[ISBN, "doi:10.5555/k"],
                  at=T0)
    work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Claim", identifiers=[ISBN], at=T0)
    start = audit_head()["seq"]
    dispute_withdraw(dispute=Dispute.objects.get(value="9784990166137"), actor=operator)
    [entry] = feed(ai_developer, after=str(start))["results"]
    assert entry["kind"] == "dispute.withdraw"
    assert entry["keys"] == [ISBN, "doi:10.5555/k", "ref:studio-kaze/SK-1"]


def test_a_domain_verification_starting_or_ending_names_the_holder(ai_developer, studio_kaze, operator):
    """interop.md: a grant on a web identifier counts only while its holder has verified control of the host, so
    a follower must re-ask the holder's keys (`holder:<code>`, as for a catalogue declaration) and the ids under the
    domain (`domain:<domain>`) when a verification starts or ends. The answer does change: the feed is what keeps
    an offline copy right."""
    from consent.lookup import lookup_one
    from domains.services import domain_claim_create, domain_verification_withdraw, domain_verify_operator

    site = work_register(holder=studio_kaze.holder, work_ref="SK-SITE", title="Site", kind="website",
                         identifiers=["url-prefix:https://kaze.example/open/"], at=T0).work
    declaration_file(holder=studio_kaze.holder, scope="work", work=site, purpose="train-ai", consent="grant", at=T0)

    def basis():
        return lookup_one(id="url:https://kaze.example/open/a", purpose="train-ai", jurisdiction="JP")["basis"]

    before = basis()
    start = audit_head()["seq"]
    claim, _ = domain_claim_create(holder=studio_kaze.holder, domain="kaze.example")
    domain_verify_operator(claim=claim, note="registrar letter", actor=operator)
    verified = basis()
    domain_verification_withdraw(claim=claim, reason="letter withdrawn", actor=operator)
    entries = feed(ai_developer, after=str(start))["results"]
    assert (before, verified, basis()) == ("permission-required", "granted", "permission-required")
    keys = ["holder:studio-kaze", "domain:kaze.example"]
    assert [(e["kind"], e["keys"]) for e in entries] == [("domain.verify", keys), ("domain.verification-end", keys)]
