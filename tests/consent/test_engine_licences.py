"""The engine with licences (domain.md "Licences and permission requests"): properties over random histories of
declarations and licences to two organisations. The engine only ever sees the asking organisation's licences
(consent/lookup/licences.py reads them by licensee); these tests prove what it does with them, and that an
organisation given none (a third one, or the public) gets exactly the answer it had without licences anywhere."""
from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from consent.engine import ALLOWED, CATALOGUE, DISPUTED, LICENSED, WORK, LicenceFact, decide
from consent.vocabulary import PURPOSES

from .test_engine import HOLDER_LICENSE, HORIZON, JURISDICTIONS, PROPERTY_SETTINGS, SEED, histories, minute, queries


@st.composite
def licence_histories(draw, organisations=("A", "B"), max_filings: int = 6) -> dict[str, list[LicenceFact]]:
    """Per organisation, licences as the database could hold them: per slot (scope), each filing supersedes the
    previous one and the last may be revoked."""
    result: dict[str, list[LicenceFact]] = {}
    for org in organisations:
        facts: list[LicenceFact] = []
        for scope in (WORK, CATALOGUE):
            times = sorted(set(draw(st.lists(st.integers(0, HORIZON - 1), max_size=max_filings // 2))))
            for i, at in enumerate(times):
                ended = times[i + 1] if i + 1 < len(times) else draw(st.none() | st.integers(at + 1, HORIZON))
                start = draw(st.integers(at - 30, at + 30))
                until = draw(st.none() | st.integers(start + 1, start + 60))
                facts.append(LicenceFact(
                    id=f"{org}-{scope}-{i}", scope=scope,
                    purposes=tuple(draw(st.lists(st.sampled_from(list(PURPOSES)), min_size=1, max_size=2,
                                                 unique=True))),
                    jurisdictions=tuple(draw(st.lists(st.sampled_from(JURISDICTIONS), min_size=1, max_size=2,
                                                      unique=True))),
                    license_url=draw(st.sampled_from((None, f"https://holder.example/licence/{org}"))),
                    recorded_at=minute(at), ended_at=None if ended is None else minute(ended),
                    effective_from=minute(start), effective_until=None if until is None else minute(until)))
        result[org] = facts
    return result


def ask(query, declarations, licences=(), disputed=False):
    purpose, jurisdiction, as_of = query
    return decide(purpose=purpose, jurisdiction=jurisdiction, as_of=as_of, rules=SEED, registered=True,
                  disputed=disputed, declarations=declarations, holder_license_url=HOLDER_LICENSE, licences=licences)


def licences_for(store: dict, organisation: str) -> list:
    """What the lookup path hands the engine for `organisation`: its own licences only."""
    return store.get(organisation, [])


@PROPERTY_SETTINGS
@given(history=histories(), store=licence_histories(), query=queries)
def test_a_third_organisation_gets_the_public_answer_whatever_the_others_hold(history, store, query):
    """Isolation: licences to A and B never change C's answer, nor the public one."""
    public = ask(query, history)
    assert ask(query, history, licences_for(store, "C")) == public
    assert public.licence is None


@PROPERTY_SETTINGS
@given(history=histories(), store=licence_histories(), query=queries)
def test_a_licence_only_ever_allows_and_names_one_of_the_askers_own(history, store, query):
    """A licence decides before declarations (allowed, licensed, naming it) or changes nothing at all; the licence
    named is always one of the asking organisation's, in force at T and covering P and J."""
    public = ask(query, history)
    for org in ("A", "B"):
        own = licences_for(store, org)
        answer = ask(query, history, own)
        if answer.licence is None:
            assert answer == public
        else:
            assert (answer.outcome, answer.basis, answer.declaration) == (ALLOWED, LICENSED, None)
            assert answer.licence in own and answer.licence.in_force_at(query[2])
            assert answer.regime == public.regime


@PROPERTY_SETTINGS
@given(history=histories(), store=licence_histories(), query=queries)
def test_an_open_dispute_denies_before_any_licence(history, store, query):
    answer = ask(query, history, licences_for(store, "A"), disputed=True)
    assert (answer.outcome, answer.basis, answer.licence) == ("denied", DISPUTED, None)


@PROPERTY_SETTINGS
@given(history=histories(), store=licence_histories(), query=queries, data=st.data())
def test_licence_answers_do_not_depend_on_order_or_on_later_filings(history, store, query, data):
    own = licences_for(store, "A")
    answer = ask(query, history, own)
    assert ask(query, history, list(reversed(own))) == answer
    as_of = query[2]
    later = LicenceFact(id="later", scope=WORK, purposes=tuple(PURPOSES), jurisdictions=("*",), license_url=None,
                        recorded_at=as_of + timedelta(minutes=data.draw(st.integers(1, 60))), ended_at=None,
                        effective_from=as_of - timedelta(days=1), effective_until=None)
    assert ask(query, history, [*own, later]) == answer


def test_the_most_specific_licence_decides():
    """Compared as declarations are: work beats catalogue, then the nearer purpose, then the nearer jurisdiction."""
    t = minute(50)
    base = dict(license_url=None, recorded_at=minute(0), ended_at=None, effective_from=minute(0),
                effective_until=None)
    catalogue = LicenceFact(id="cat", scope=CATALOGUE, purposes=("train-genai",), jurisdictions=("JP",), **base)
    work_any = LicenceFact(id="work-any", scope=WORK, purposes=("train-ai",), jurisdictions=("*",), **base)
    work_jp = LicenceFact(id="work-jp", scope=WORK, purposes=("train-ai",), jurisdictions=("JP",), **base)
    query = ("train-genai", "JP", t)
    assert ask(query, [], [catalogue, work_any]).licence.id == "work-any"
    assert ask(query, [], [catalogue, work_any, work_jp]).licence.id == "work-jp"
    assert ask(("search", "JP", t), [], [catalogue, work_any, work_jp]).licence is None  # covers no such purpose
    assert ask(("train-genai", "US", t), [], [catalogue, work_jp]).licence is None  # nor that jurisdiction
