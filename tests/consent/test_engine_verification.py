"""The engine with domain control (interop.md; domain.md "Deciding", step 3): a grant matched through a web
identifier counts only if its holder had verified control of the host at T; reservations always count. Properties
over random declaration histories (test_engine.py's generator) and random verification histories.

Persona: a crawler asking about a page whose claimant may or may not have shown control of the site."""
from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from consent.engine import ALLOWED, DENIED, GRANT, GRANTED, decide

from .test_engine import (
    HOLDER_LICENSE,
    HORIZON,
    PROPERTY_SETTINGS,
    SEED,
    filings_after,
    histories,
    minute,
    queries,
    reference,
)


@st.composite
def verification_histories(draw) -> list[tuple[datetime, datetime | None]]:
    """Periods of verified control, as domains.DomainVerification rows: non-overlapping, the last maybe open."""
    starts = sorted(set(draw(st.lists(st.integers(-10, HORIZON + 30), max_size=4))))
    periods = []
    for i, start in enumerate(starts):
        limit = starts[i + 1] if i + 1 < len(starts) else None
        if limit is None:
            end = draw(st.none() | st.integers(start, start + 60))
        else:
            end = draw(st.integers(start, limit))
        periods.append((minute(start), None if end is None else minute(end)))
    return periods


def verified_at(periods, at: datetime) -> bool:
    """domains.selectors' rule: verified_at <= T < ended_at (or no end)."""
    return any(start <= at and (end is None or at < end) for start, end in periods)


def ask(query, declarations, periods) -> object:
    purpose, jurisdiction, as_of = query
    return decide(purpose=purpose, jurisdiction=jurisdiction, as_of=as_of, rules=SEED, registered=True,
                  declarations=declarations, holder_license_url=HOLDER_LICENSE,
                  grants_count=verified_at(periods, as_of))


def plain(query, declarations):
    purpose, jurisdiction, as_of = query
    return decide(purpose=purpose, jurisdiction=jurisdiction, as_of=as_of, rules=SEED, registered=True,
                  declarations=declarations, holder_license_url=HOLDER_LICENSE)


@PROPERTY_SETTINGS
@given(history=histories(), periods=verification_histories(), query=queries)
def test_without_verified_control_no_answer_rests_on_a_grant(history, periods, query):
    answer = ask(query, history, periods)
    if not verified_at(periods, query[2]):
        assert answer.basis != GRANTED
        assert answer.declaration is None or answer.declaration.consent != GRANT
    else:
        assert answer == plain(query, history)  # verified: exactly the ordinary answer


@PROPERTY_SETTINGS
@given(history=histories(), periods=verification_histories(), query=queries)
def test_missing_verification_never_turns_denied_into_allowed(history, periods, query):
    if plain(query, history).outcome == DENIED:
        assert ask(query, history, periods).outcome == DENIED


@PROPERTY_SETTINGS
@given(data=st.data(), history=histories(), periods=verification_histories(), query=queries)
def test_adding_a_reservation_never_turns_denied_into_allowed_with_verification_history(data, history, periods,
                                                                                          query):
    before = ask(query, history, periods)
    after = ask(query, data.draw(filings_after(history, "reserve", supersede=False)), periods)
    if before.outcome == DENIED:
        assert after.outcome == DENIED


@PROPERTY_SETTINGS
@given(data=st.data(), history=histories(), periods=verification_histories(), query=queries)
def test_a_verification_recorded_after_t_never_changes_the_answer_for_t(data, history, periods, query):
    as_of = query[2]
    later_start = data.draw(st.integers(int((as_of - minute(0)).total_seconds() // 60) + 1, HORIZON + 200))
    # periods as they stood at T: ones that started after T did not exist; an end after T had not happened
    as_it_stood = [(s, None if e is not None and e > as_of else e) for s, e in periods if s <= as_of]
    extended = [*periods, (minute(later_start), None)] if all(e is not None for _, e in periods) else periods
    assert ask(query, history, extended) == ask(query, history, periods) == ask(query, history, as_it_stood)


@PROPERTY_SETTINGS
@given(data=st.data(), history=histories(max_filings=16), periods=verification_histories(), query=queries)
def test_the_answer_does_not_depend_on_declaration_order_with_verification(data, history, periods, query):
    shuffled = data.draw(st.permutations(history))
    assert ask(query, shuffled, periods) == ask(query, history, periods)


@PROPERTY_SETTINGS
@given(history=histories(max_filings=16), query=queries)
def test_unverified_answer_is_the_literal_reading_with_grants_removed(history, query):
    """A grant "is skipped as if absent": the answer is the spec's answer over the reservations alone, and the
    result says a grant was ignored exactly when the spec's answer over everything was a grant."""
    purpose, jurisdiction, as_of = query
    answer = decide(purpose=purpose, jurisdiction=jurisdiction, as_of=as_of, rules=SEED, registered=True,
                    declarations=history, holder_license_url=HOLDER_LICENSE, grants_count=False)
    reservations = [d for d in history if d.consent != GRANT]
    got = (answer.outcome, answer.basis) + ((answer.declaration.id,) if answer.declaration else ())
    assert got == reference(query, reservations)
    assert answer.grant_ignored == (reference(query, history)[:2] == (ALLOWED, GRANTED))
