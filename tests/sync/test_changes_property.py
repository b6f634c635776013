"""The change feed's promise as a property (sync.md, "Change feed"): for random histories, the keys the feed names
between two cursors cover every identifier whose answer differs between the two moments. A client that re-asks
only those keys is never left with a stale answer.

"Cover": the key itself, its holder's catalogue (`holder:<code>`, the holder of either answer), or a rule on the
question's jurisdiction chain and purpose chain (`rule:<J>/<P>`). Answers are compared as they were asked at each
moment (so a changed licensing URL, which is not versioned, counts too).
"""
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.selectors import audit_head
from consent.lookup import lookup_many
from consent.services import declaration_file, declaration_revoke, rule_set
from consent.vocabulary import purpose_chain
from registry.models import Dispute, Identifier
from registry.services import dispute_resolve, holder_create, holder_update, identifier_remove, work_register
from sync.changes import changes_after

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

T0 = datetime(2001, 1, 1, tzinfo=UTC)  # after the seeded rules (2000), well before now: as_of may not be future
DAY = timedelta(days=1)
QUESTIONS = [("train-genai", "JP"), ("search", "FR"), ("tdm", "BR")]
JURISDICTION_CHAINS = {"JP": {"JP", "*"}, "FR": {"FR", "EU", "*"}, "BR": {"BR", "*"}}
ANSWER_FIELDS = ("registered", "outcome", "basis", "license_url", "disputed")
_examples = itertools.count()

step = st.one_of(
    st.tuples(st.just("file"), st.integers(0, 1), st.sampled_from(["work", "catalogue"]), st.integers(0, 2),
              st.sampled_from(["tdm", "train-ai", "train-genai", "search"]), st.sampled_from(["*", "JP", "EU", "BR"]),
              st.sampled_from(["grant", "reserve"])),
    st.tuples(st.just("revoke"), st.integers(0, 30)),
    st.tuples(st.just("rule"), st.sampled_from(["JP", "FR", "EU", "BR"]),
              st.sampled_from(["*", "train-genai", "search", "tdm"]), st.sampled_from(["prior-permission", "opt-out"])),
    st.tuples(st.just("identify"), st.integers(0, 2), st.integers(0, 5)),
    st.tuples(st.just("claim"), st.integers(0, 5)),
    st.tuples(st.just("resolve"), st.sampled_from(["kept", "transferred"])),
    st.tuples(st.just("remove"), st.integers(0, 5)),
    st.tuples(st.just("licensing"), st.integers(0, 1), st.text(alphabet="abc", min_size=1, max_size=4)),
    # A claims import's chunk (one `bundle` event per work): identifiers added or moved, declarations filed or
    # superseded, in one row or two for the same work.
    st.tuples(st.just("import"), st.lists(st.tuples(
        st.integers(0, 3), st.integers(0, 5), st.sampled_from(["tdm", "train-ai", "train-genai", "search"]),
        st.sampled_from(["*", "JP", "EU", "BR"]), st.sampled_from(["grant", "reserve"])), min_size=1, max_size=3)),
)


def import_chunk(rows: list[tuple], holders, at) -> None:
    """The claims import's own planning and writing (claims.merging, claims.copying) of one chunk at `at`, under
    the audit head's lock as the writer takes it."""
    from django.db import transaction

    from audit.services import audit_head_lock
    from claims import copying, merging
    from claims.validation import ClaimRow
    from registry.identifiers import parse_identifier

    claims = [ClaimRow(line=i + 2, holder_id=str(holders[w % 2].pk), agent_id=None, scope="work", work_ref=f"W-{w}",
                       title=f"Work {w}", original_title="", kind="", identifiers=[parse_identifier(key)],
                       slots=[(purpose, jurisdiction)], consent=consent)
              for i, (w, key, purpose, jurisdiction, consent) in enumerate(rows)]
    with transaction.atomic():
        audit_head_lock()
        copying.write_plan(merging.plan_chunk(claims, at=at, filed_by_id=None), actor_label="system")


def answers(keys: list[str], at: datetime) -> dict:
    out = {}
    for purpose, jurisdiction in QUESTIONS:
        for result in lookup_many(ids=keys, purpose=purpose, jurisdiction=jurisdiction, as_of=at):
            answer = {name: result[name] for name in ANSWER_FIELDS}
            answer["declaration"] = result["declaration"]["id"] if result["declaration"] else None
            answer["holder"] = result["holder"]["code"] if result["holder"] else None
            answer["work"] = result["work"]["id"] if result["work"] else None
            out[(result["id"], purpose, jurisdiction)] = answer
    return out


def covered(key: str, purpose: str, jurisdiction: str, holders: set, named: set) -> bool:
    if key in named or any(f"holder:{h}" in named for h in holders if h):
        return True
    purposes = {*purpose_chain(purpose), "*"}
    return any(f"rule:{j}/{p}" in named for j in JURISDICTION_CHAINS[jurisdiction] for p in purposes)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=10))
def test_the_feed_between_two_cursors_names_every_key_whose_answer_changed(db, steps):
    n = next(_examples)
    base = T0 + timedelta(days=12 * n)  # each example after the last (at most 10 steps of a day): rules are shared
    holders = [holder_create(code=f"feed-{n}-{i}", name=f"Holder {i}", kind="studio",
                             licensing_url=f"https://h{i}.example/licensing") for i in range(2)]
    works = [work_register(holder=holders[i % 2], work_ref=f"W-{i}", title=f"Work {i}",
                           identifiers=[f"doi:10.5555/f{n}-{i}"], at=base).work for i in range(3)]
    keys = [f"doi:10.5555/f{n}-{i}" for i in range(6)]
    filed = []
    moments = [(audit_head()["seq"], base + DAY / 2, answers(keys, base + DAY / 2))]
    for i, item in enumerate(steps, start=1):
        at = base + i * DAY
        kind = item[0]
        if kind == "file":
            _, h, scope, w, purpose, jurisdiction, consent = item
            holder = works[w].holder if scope == "work" else holders[h]
            declaration, _ = declaration_file(holder=holder, scope=scope, work=works[w] if scope == "work" else None,
                                              purpose=purpose, jurisdiction=jurisdiction, consent=consent, at=at)
            filed.append(declaration)
        elif kind == "revoke" and filed:
            target = filed[item[1] % len(filed)]
            target.refresh_from_db()
            if target.is_current:
                declaration_revoke(declaration=target, at=at)
        elif kind == "rule":
            rule_set(jurisdiction=item[1], purpose=item[2], regime=item[3], basis=f"Example {n} step {i}.", at=at)
        elif kind == "identify":
            work = works[item[1]]
            work_register(holder=work.holder, work_ref=work.work_ref, identifiers=[keys[item[2]]], at=at)
        elif kind == "claim":
            # The other holder registers a work with this key: a dispute when someone else holds it.
            other = holders[1] if Identifier.objects.filter(
                scheme="doi", value=keys[item[1]][4:], valid_until__isnull=True,
                work__holder=holders[0]).exists() else holders[0]
            work_register(holder=other, work_ref=f"C-{i}", title="Claim", identifiers=[keys[item[1]]], at=at)
        elif kind == "resolve":
            dispute = Dispute.objects.filter(resolved_at__isnull=True, holder__in=holders).first()
            if dispute is not None:
                dispute_resolve(dispute=dispute, resolution=item[1], at=at)
        elif kind == "remove":
            row = Identifier.objects.filter(scheme="doi", value=keys[item[1]][4:], valid_until__isnull=True).first()
            if row is not None:
                identifier_remove(identifier=row, at=at)
        elif kind == "licensing":
            holder_update(holder=holders[item[1]], licensing_url=f"https://{item[2]}.example/l")
        elif kind == "import":
            import_chunk([(w, f"doi:10.5555/f{n}-{k}", p, j, c) for w, k, p, j, c in item[1]], holders, at)
        moments.append((audit_head()["seq"], at + DAY / 2, answers(keys, at + DAY / 2)))

    for (c1, _, then), (c2, _, now) in itertools.combinations(moments, 2):
        entries, _ = changes_after(after=c1, limit=10_000, head=c2)
        named = {key for entry in entries for key in entry["keys"]}
        for (key, purpose, jurisdiction), answer in now.items():
            before = then[(key, purpose, jurisdiction)]
            if answer != before:
                assert covered(key, purpose, jurisdiction, {answer["holder"], before["holder"]}, named), (
                    key, purpose, jurisdiction, before, answer, [e["kind"] for e in entries])
