"""Persona: an AI developer whose crawler filters URLs with datadiligence. Rule: `kyodaku.datadiligence.KyodakuRule`
in a datadiligence evaluator keeps exactly the URLs Kyodaku allows, online or from a synced copy, and a URL the
registry could not answer is never allowed."""
import httpx
import pytest
from datadiligence.evaluators import PreprocessEvaluator
from kyodaku import Api, LocalCopy
from kyodaku.datadiligence import KyodakuRule

pytestmark = [pytest.mark.django_db(transaction=True)]
URLS = ["https://kaze.example/gallery/1.png", "https://kaze.example/gallery/2.png", "https://kaze.example/about",
        "https://elsewhere.example/x", "not a url"]


def evaluator_with(rule):
    evaluator = PreprocessEvaluator()
    evaluator.rules = []  # the default Spawning rule would ask Spawning's servers
    evaluator.add_rule(rule)
    return evaluator


def test_kyodaku_rule_keeps_exactly_the_urls_kyodaku_allows(registry, api_key, studio_kaze, tmp_path):
    from consent.services import declaration_file
    from registry.services import work_register

    site = work_register(holder=studio_kaze.holder, work_ref="S", title="Gallery",
                         identifiers=["url-prefix:https://kaze.example/gallery/"]).work
    declaration_file(holder=studio_kaze.holder, scope="work", work=site, purpose="train-ai", consent="grant")
    # a grant through a web identifier counts only with verified control of its host (interop.md)
    from domains.services import domain_claim_create, domain_verify_operator

    claim, _ = domain_claim_create(holder=studio_kaze.holder, domain="kaze.example")
    domain_verify_operator(claim=claim, note="registrar letter", actor="test")
    api = Api(registry, api_key)
    online = evaluator_with(KyodakuRule(purpose="train-genai", jurisdiction="FR", api=api))
    assert online.filter_allowed(urls=URLS) == URLS[:4]  # opt-out: allowed unless reserved
    jp = KyodakuRule(purpose="train-genai", jurisdiction="JP", api=api)
    assert evaluator_with(jp).filter_allowed(urls=URLS) == URLS[:2]
    assert evaluator_with(jp).is_allowed(urls=URLS) == [True, True, False, False, False]
    assert jp.is_allowed(url=URLS[0]) is True

    copy = LocalCopy.sync(api, tmp_path, purpose="train-genai", jurisdiction="JP")
    offline = KyodakuRule(purpose="train-genai", jurisdiction="JP", api=api, local=copy)
    assert evaluator_with(offline).filter_allowed(urls=URLS) == URLS[:2]

    gone = Api("http://127.0.0.1:9", api_key, retries=2, sleep=lambda s: None,
               transport=httpx.HTTPTransport(retries=0))
    fr_gone = KyodakuRule(purpose="train-genai", jurisdiction="FR", api=gone)
    assert evaluator_with(fr_gone).filter_allowed(urls=URLS) == []  # unanswered: never allowed
