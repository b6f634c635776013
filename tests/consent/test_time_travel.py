"""Time travel (domain.md, "Deciding"; issue 6): an answer `as_of` T is the same before and after later edits,
supersessions, revocations, identifier transfers and rule changes, because every decision input is versioned:
declarations are append-only, identifiers and rules have validity periods, disputes have open/resolve times.
A receipt for T issued years later signs the same answer."""
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.lookup import lookup_many, lookup_one
from consent.models import Rule
from consent.services import declaration_file, declaration_revoke, rule_set
from receipts import services as receipt_services
from receipts.selectors import receipt_verify
from registry.models import Dispute
from registry.services import dispute_resolve, holder_create, work_register

pytestmark = [pytest.mark.django_db]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
ISBN = "isbn:978-4-9901661-3-7"
DECISION_FIELDS = ("identifier", "registered", "purpose", "jurisdiction", "as_of", "outcome", "basis", "regime",
                   "declaration", "disputed")


def decision(result: dict) -> dict:
    """What the answer decided: everything but the work's and holder's current descriptive fields."""
    out = {k: result[k] for k in DECISION_FIELDS}
    out["work"] = result["work"]["id"] if result["work"] else None
    out["holder"] = result["holder"]["id"] if result["holder"] else None
    return out


def ask(identifier=ISBN, *, as_of, purpose="train-genai", jurisdiction="JP") -> dict:
    return lookup_one(id=identifier, purpose=purpose, jurisdiction=jurisdiction, as_of=as_of)


@pytest.fixture(autouse=True)
def signing_key_dir(settings, tmp_path):
    settings.KYODAKU_SIGNING_KEY_DIR = tmp_path / "signing-keys"
    settings.KYODAKU_SIGNING_KEY = ""
    receipt_services._SIGNERS.clear()
    yield
    receipt_services._SIGNERS.clear()


def signed_answer(result: dict) -> dict:
    """The receipt's payload minus when it was issued and the log head at that moment."""
    receipt_services.receipts_attach([result])
    payload = receipt_verify(token=result["receipt"]).payload
    return {k: v for k, v in payload.items() if k not in ("iat", "audit_head")}


def test_studio_kaze_answer_as_of_t_survives_supersession_revocation_and_edits(studio_kaze):
    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani", identifiers=[ISBN],
                         at=T0).work
    reserve, _ = declaration_file(holder=studio_kaze.holder, scope="work", work=work, purpose="train-ai",
                                  consent="reserve", at=T0)
    t1 = T0 + DAY / 2
    then = ask(as_of=t1)
    receipt_then = signed_answer(ask(as_of=t1))
    assert (then["outcome"], then["basis"], then["declaration"]["id"]) == ("denied", "reserved", str(reserve.pk))

    grant, _ = declaration_file(holder=studio_kaze.holder, scope="work", work=work, purpose="train-ai",
                                consent="grant", at=T0 + DAY)                          # supersedes the reservation
    declaration_revoke(declaration=grant, at=T0 + 2 * DAY)                             # ends the grant
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Valley of Wind", at=T0 + 3 * DAY)  # an edit
    declaration_file(holder=studio_kaze.holder, scope="catalogue", purpose="tdm", consent="grant",
                     effective_from=T0, at=T0 + 4 * DAY)                               # backdated, recorded later

    assert decision(ask(as_of=t1)) == decision(then)
    assert signed_answer(ask(as_of=t1)) == receipt_then
    between = ask(as_of=T0 + DAY * 1.5)
    assert (between["outcome"], between["basis"], between["declaration"]["id"]) == ("allowed", "granted",
                                                                                   str(grant.pk))
    after_revocation = ask(as_of=T0 + DAY * 2.5)
    assert (after_revocation["outcome"], after_revocation["basis"]) == ("denied", "permission-required")
    assert ask(as_of=T0 + 5 * DAY)["basis"] == "granted"  # the backdated catalogue grant counts from its recording


def test_an_identifier_transferred_after_a_dispute_answers_for_its_old_holder_as_of_before(studio_kaze, hoshi_pub):
    kaze = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", identifiers=[ISBN], at=T0).work
    declaration_file(holder=studio_kaze.holder, scope="catalogue", purpose="train-ai", consent="reserve", at=T0)
    before_claim = ask(as_of=T0 + DAY / 2)
    hoshi = work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Hoshi", identifiers=[ISBN],
                          evidence="ISBN agency record", at=T0 + DAY).work
    declaration_file(holder=hoshi_pub.holder, scope="catalogue", purpose="train-ai", consent="grant", at=T0 + DAY)
    while_disputed = ask(as_of=T0 + DAY * 1.5)

    dispute_resolve(dispute=Dispute.objects.get(), resolution="transferred", at=T0 + 2 * DAY)

    assert decision(ask(as_of=T0 + DAY / 2)) == decision(before_claim)
    assert (before_claim["work"]["id"], before_claim["basis"]) == (str(kaze.pk), "reserved")
    assert decision(ask(as_of=T0 + DAY * 1.5)) == decision(while_disputed)
    assert (while_disputed["work"]["id"], while_disputed["basis"]) == (str(kaze.pk), "disputed")
    now = ask(as_of=T0 + 3 * DAY)
    assert (now["work"]["id"], now["holder"]["code"], now["outcome"], now["basis"]) == (
        str(hoshi.pk), "hoshi-pub", "allowed", "granted")


def test_an_old_answer_is_reproduced_with_the_rule_that_applied_then(db):
    unregistered = "isbn:9780306406157"
    before = [ask(unregistered, as_of=T0), ask(unregistered, as_of=T0, purpose="search", jurisdiction="FR")]
    assert [(r["regime"], r["basis"]) for r in before] == [("prior-permission", "permission-required"),
                                                           ("opt-out", "not-reserved")]

    rule_set(jurisdiction="JP", regime="opt-out", basis="A hypothetical amendment.", at=T0 + DAY)
    rule_set(jurisdiction="FR", purpose="search", regime="prior-permission", basis="A national exception.",
             at=T0 + DAY)
    rule_set(jurisdiction="JP", regime="prior-permission", basis="The amendment repealed.", at=T0 + 2 * DAY)

    assert [decision(ask(unregistered, as_of=T0)),
            decision(ask(unregistered, as_of=T0, purpose="search", jurisdiction="FR"))] == [decision(r)
                                                                                           for r in before]
    amended = ask(unregistered, as_of=T0 + DAY * 1.5)
    assert (amended["regime"], amended["outcome"], amended["basis"]) == ("opt-out", "allowed", "not-reserved")
    assert ask(unregistered, as_of=T0 + DAY * 1.5, purpose="search", jurisdiction="FR")["regime"] == (
        "prior-permission")
    assert ask(unregistered, as_of=T0 + 3 * DAY)["regime"] == "prior-permission"
    assert Rule.objects.filter(jurisdiction_id="JP").count() == 3  # every version kept


# ------------------------------------------------------------------------------- a property over random histories

_history_counter = itertools.count()
PURPOSES = ["tdm", "train-ai", "train-genai", "ai-use", "search"]
JURISDICTIONS = ["*", "JP", "EU", "FR", "US"]
QUESTIONS = [(p, j) for p in ("train-genai", "search") for j in ("JP", "FR", "BR")]

step = st.one_of(
    st.tuples(st.just("file"), st.sampled_from(["work", "catalogue"]), st.sampled_from(PURPOSES),
              st.sampled_from(JURISDICTIONS), st.sampled_from(["grant", "reserve"])),
    st.tuples(st.just("revoke"), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("rule"), st.sampled_from(["JP", "FR", "BR"]), st.sampled_from(["prior-permission", "opt-out"])),
    st.tuples(st.just("edit"), st.text(alphabet="abcxyz", min_size=1, max_size=8)),
)


@pytest.mark.postgres
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_any_later_history_leaves_every_earlier_answer_unchanged(db, steps):
    n = next(_history_counter)
    base = T0 + timedelta(days=400 * (n + 1))  # each example lives in its own years: rules are shared
    holder = holder_create(code=f"tt-holder-{n}", name=f"Time Traveller {n}", kind="studio")
    ident = f"doi:10.5555/tt-{n}"
    work = work_register(holder=holder, work_ref="W-1", title="First", identifiers=[ident], at=base).work
    asked: list[tuple[datetime, list[dict]]] = []
    filed = []
    for i, item in enumerate(steps, start=1):
        at = base + i * DAY
        if item[0] == "file":
            _, scope, purpose, jurisdiction, consent = item
            declaration, created = declaration_file(holder=holder, scope=scope,
                                                    work=work if scope == "work" else None, purpose=purpose,
                                                    jurisdiction=jurisdiction, consent=consent, at=at)
            filed.append(declaration)
        elif item[0] == "revoke" and filed:
            target = filed[item[1] % len(filed)]
            target.refresh_from_db()
            if target.is_current:
                declaration_revoke(declaration=target, at=at)
        elif item[0] == "rule":
            rule_set(jurisdiction=item[1], regime=item[2], basis=f"Version of example {n} step {i}.", at=at)
        elif item[0] == "edit":
            work_register(holder=holder, work_ref="W-1", title=item[1], at=at)
        question_time = at + timedelta(hours=12)  # asked "then", before anything later happened
        asked.append((question_time, [decision(r) for p, j in QUESTIONS
                                      for r in lookup_many(ids=[ident], purpose=p, jurisdiction=j,
                                                           as_of=question_time)]))

    for question_time, answers_then in asked:
        answers_now = [decision(r) for p, j in QUESTIONS
                       for r in lookup_many(ids=[ident], purpose=p, jurisdiction=j, as_of=question_time)]
        assert answers_now == answers_then
