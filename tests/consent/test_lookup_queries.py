"""The batch path's cost is a fixed number of queries, whatever the number of ids (api.md, "Lookups")."""
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent.lookup import lookup_many, work_decisions
from consent.models import Declaration
from consent.rulebook import rulebook
from registry.models import Identifier, Work
from registry.services import work_register

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
AS_OF = T0 + timedelta(days=1)
N = 5_000

# The whole budget of a batch of two ids or more, named (consent/lookup/batch.py, docs/engine.md):
#   1. the rule tables' fingerprint (the cached RuleBook is rebuilt only when it changes; warm here);
#   2. identifiers valid at T (exact pairs + url-prefixes of the batch's hosts) UNION works named by ref:,
#      joined to works and holders;
#   3. declarations that could be in force at T for those works and their holders' catalogues;
#   4. works with a dispute open at T (registry.selectors.work_open_disputes);
#   5. when an id matched through a url, url-prefix or domain identifier: the holders' domain verifications at T
#      (domains.selectors.verified_domains_at; interop.md).
BATCH_QUERIES = 5
# One id (lookup_one, a GET, a batch of one) is one statement doing all four (tests/consent/test_lookup_one_id.py).
ONE_ID_QUERIES = 1


def isbn13(n: int) -> str:
    body = f"978{n:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


@pytest.fixture
def catalogue(studio_kaze, hoshi_pub):
    """5,000 works of Studio Kaze with ISBNs, url-prefixes and domains, declarations, and one disputed work."""
    works = Work.objects.bulk_create(
        Work(holder=studio_kaze.holder, work_ref=f"SK-{i}", title=f"Work {i}", kind="book", created_at=T0)
        for i in range(N)
    )
    identifiers = [Identifier(work=w, scheme="isbn", value=isbn13(i), valid_from=T0) for i, w in enumerate(works)]
    identifiers += [
        Identifier(work=w, scheme="url-prefix", value=f"https://site{i}.example/works/", host=f"site{i}.example",
                   valid_from=T0)
        for i, w in enumerate(works[:500])
    ]
    identifiers += [Identifier(work=w, scheme="domain", value=f"site{i}.example", host=f"site{i}.example",
                               valid_from=T0) for i, w in enumerate(works[500:1000], start=500)]
    Identifier.objects.bulk_create(identifiers)
    Declaration.objects.bulk_create(
        Declaration(holder=studio_kaze.holder, scope="work", work=w, purpose="train-ai", jurisdiction="JP",
                    consent="grant" if i % 2 else "reserve", effective_from=T0, recorded_at=T0)
        for i, w in enumerate(works[:2000])
    )
    Declaration.objects.create(holder=studio_kaze.holder, scope="catalogue", purpose="tdm", jurisdiction="*",
                               consent="reserve", effective_from=T0, recorded_at=T0)
    work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Claim", identifiers=[f"isbn:{isbn13(7)}"],
                  at=T0)  # opens a dispute on SK-7
    return works


def batch_ids() -> list[str]:
    """N ids of every kind the resolver handles: registered and unregistered, every url path, ref:, invalid."""
    ids = []
    for i in range(N):
        kind = i % 8
        if kind == 0:
            ids.append(f"url:https://site{i % 500}.example/works/{i}")  # longest url-prefix
        elif kind == 1:
            ids.append(f"url:https://www.site{500 + i % 500}.example/")  # nearest domain
        elif kind == 2:
            ids.append(f"domain:cdn.site{500 + i % 500}.example")
        elif kind == 3:
            ids.append(f"ref:studio-kaze/SK-{i}")
        elif kind == 4:
            ids.append(f"isbn:{isbn13(N + i)}")  # unregistered
        elif kind == 5:
            ids.append("isbn:978-0-00-000000-1")  # bad checksum
        else:
            ids.append(f"isbn:{isbn13(i)}")
    return ids


def test_ai_developer_batch_of_5000_costs_five_queries_and_a_batch_of_one_costs_one(catalogue,
                                                                                    django_assert_max_num_queries):
    rulebook()  # warm the per-process rule book, as any process past its first batch has it

    with CaptureQueriesContext(connection) as one:
        single = lookup_many(ids=[f"isbn:{isbn13(1)}"], purpose="train-genai", jurisdiction="JP", as_of=AS_OF)
    with django_assert_max_num_queries(BATCH_QUERIES), CaptureQueriesContext(connection) as many:
        results = lookup_many(ids=batch_ids(), purpose="train-genai", jurisdiction="JP", as_of=AS_OF)

    assert len(one.captured_queries) == ONE_ID_QUERIES
    assert len(many.captured_queries) == BATCH_QUERIES
    assert single[0]["basis"] == "granted"
    assert len(results) == N
    kinds = [r.get("registered", "error") for r in results]
    assert kinds.count("error") == N // 8
    assert kinds.count(False) == N // 8
    assert kinds.count(True) == N - 2 * (N // 8)
    assert {r["basis"] for r in results if r.get("registered")} == {"granted", "reserved", "disputed"}


def test_a_batch_with_only_ref_ids_costs_no_more(catalogue, django_assert_max_num_queries):
    rulebook()
    with django_assert_max_num_queries(BATCH_QUERIES):
        results = lookup_many(ids=[f"ref:studio-kaze/SK-{i}" for i in range(N)], purpose="tdm", jurisdiction="FR",
                              as_of=AS_OF)
    assert all(r["registered"] for r in results)


def test_a_changed_rule_costs_one_more_query_once(studio_kaze, django_assert_num_queries):
    from consent.services import rule_set

    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="One", identifiers=[f"isbn:{isbn13(1)}"], at=T0)
    rulebook()
    rule_set(jurisdiction="JP", regime="opt-out", basis="Hypothetical amendment.", at=T0)
    ids = [f"isbn:{isbn13(1)}", f"isbn:{isbn13(2)}"]
    no_web = BATCH_QUERIES - 1  # no id matched through a web identifier: no verification query
    with django_assert_num_queries(no_web + 1):  # + the rule rows with the jurisdiction -> region map
        lookup_many(ids=ids, purpose="tdm", jurisdiction="JP", as_of=AS_OF)
    with django_assert_num_queries(no_web):
        lookup_many(ids=ids, purpose="tdm", jurisdiction="JP", as_of=AS_OF)
    rule_set(jurisdiction="JP", regime="prior-permission", basis="Hypothetical repeal.", at=T0 + timedelta(hours=1))
    with django_assert_num_queries(ONE_ID_QUERIES + 1):
        lookup_many(ids=ids[:1], purpose="tdm", jurisdiction="JP", as_of=AS_OF)
    with django_assert_num_queries(ONE_ID_QUERIES):
        lookup_many(ids=ids[:1], purpose="tdm", jurisdiction="JP", as_of=AS_OF)


def test_the_work_page_costs_four_queries_for_every_pair(studio_kaze, django_assert_num_queries):
    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="One", at=T0).work
    rulebook()
    # rule tables' fingerprint, the work with its holder, its declarations and catalogue's, its open disputes
    with django_assert_num_queries(4):
        answers = work_decisions(work=work, purposes=["tdm", "train-ai", "train-genai", "ai-use", "search"],
                                 jurisdictions=["JP", "US", "FR", "EU", "*"], as_of=AS_OF)
    assert len(answers) == 25
