"""Signals in (interop.md): Studio Kaze's editor hands Kyodaku the robots.txt, ai.txt, tdmrep.json or CAWG assertion
the studio already publishes; Kyodaku shows each line's fate, files only when asked, files nothing twice, and
refuses hostile files whole. Hoshi Publishing cannot import for Kaze; an unverified domain cannot be imported."""
import json

import pytest

from consent.models import Declaration
from consent.signals_in import SignalRefused, signals_parse
from domains.services import domain_claim_create, domain_verify_operator
from registry.models import Work
from registry.services import work_register
from tests.api.conftest import assert_problem

pytestmark = pytest.mark.django_db
SITE = "kaze.example"
ROBOTS = """# Studio Kaze
User-Agent: GPTBot
Disallow: /
Content-Usage: train-ai=y

User-Agent: *
Allow: /
Content-Usage: train-ai=n, search=y, ai-use=n
Content-Usage: /open/ train-ai=y
Content-Usage: /gallery/*.png train-ai=y
Content-Signal: ai-train=no, ai-input=no, search=yes
Crawl-delay: 10
"""


@pytest.fixture
def verified(studio_kaze, operator):
    claim, _ = domain_claim_create(holder=studio_kaze.holder, domain=SITE)
    domain_verify_operator(claim=claim, note="registrar letter", actor=operator)
    return claim


def post(client, **body):
    return client.post("/api/v1/signals/import", {"holder": "studio-kaze", "domain": SITE, **body}, format="json")


def test_robots_txt_lines_and_their_fates():
    lines = {line.number: line for line in signals_parse(kind="robots.txt", content=ROBOTS)}
    assert "only the `User-Agent: *` group" in lines[2].ignored[0]
    assert lines[4].ignored == ["outside the `User-Agent: *` group"]
    root = [(s.path, s.purpose, s.consent) for s in lines[8].statements]
    assert root == [(None, "train-genai", "reserve"), (None, "search", "grant")]  # -08: train-ai is generative
    assert lines[8].ignored == ["ai-use: not a term of draft-ietf-aipref-vocab-08"]  # never guessed
    assert [(s.path, s.purpose, s.consent) for s in lines[9].statements] == [("/open/", "train-genai", "grant")]
    assert "only plain paths" in lines[10].ignored[0] and not lines[10].statements
    assert {(s.purpose, s.consent) for s in lines[11].statements} == {("train-ai", "reserve"), ("ai-use", "reserve"),
                                                                     ("search", "grant")}
    assert "crawl-delay" in lines[12].ignored[0]
    older = signals_parse(kind="robots.txt", content=ROBOTS, vocabulary_key="aipref-vocab-02")
    assert {(s.purpose, s.consent) for s in older[7].statements} == {("train-ai", "reserve"), ("search", "grant"),
                                                                     ("ai-use", "reserve")}


def test_a_reservation_wins_over_a_grant_on_the_same_line():
    line = signals_parse(kind="robots.txt", content="User-Agent: *\nContent-Usage: train-ai=y, train-ai=n\n")[1]
    assert [(s.purpose, s.consent) for s in line.statements] == [("train-genai", "reserve")]


@pytest.mark.parametrize(("content", "message"), [
    (b"\x00\x01binary" * 10, "binary"),
    (b"\xff\xfe not utf-8", "UTF-8"),
    (b"x" * 600_000, "bytes"),
    ("User-Agent: *\nContent-Usage: /gallery/*.png train-ai=n\n", "Nothing"),  # a pattern: not filed
    ("hello world\nthis is not a robots file\n", "Nothing"),
    ("User-Agent: *\n" + "".join(f"Content-Usage: /p{n}/ train-ai=n\n" for n in range(10_000)), "rules"),
])
def test_hostile_files_are_refused_whole(content, message):
    with pytest.raises(SignalRefused, match=message):
        signals_parse(kind="robots.txt", content=content)


def test_preview_then_file_then_nothing_new(kaze, verified, studio_kaze):
    preview = post(kaze, kind="robots.txt", content=ROBOTS, dry_run=True)
    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert body["dry_run"] and body["declarations_created"] == 0
    planned = [d for line in body["lines"] for d in line["declarations"]]
    assert {(d["identifier"], d["purpose"], d["consent"], d["fate"]) for d in planned} == {
        (f"domain:{SITE}", "train-genai", "reserve", "new"), (f"domain:{SITE}", "search", "grant", "new"),
        (f"url-prefix:https://{SITE}/open/", "train-genai", "grant", "new"),
        (f"domain:{SITE}", "train-ai", "reserve", "new"), (f"domain:{SITE}", "ai-use", "reserve", "new")}
    assert Declaration.objects.count() == 0 and Work.objects.count() == 0  # a preview files nothing
    filed = post(kaze, kind="robots.txt", content=ROBOTS).json()
    assert filed["declarations_created"] == 5 and filed["works_created"] == 2
    assert Declaration.objects.filter(holder=studio_kaze.holder, scope="work").count() == 5
    again = post(kaze, kind="robots.txt", content=ROBOTS).json()
    assert again["declarations_created"] == 0 and again["works_created"] == 0
    assert {d["fate"] for line in again["lines"] for d in line["declarations"]} == {"unchanged"}


def test_tdmrep_and_ai_txt(kaze, verified):
    rules = [{"location": "/private/*", "tdm-reservation": 1, "tdm-policy": "https://kaze.example/licence"},
             {"location": "/*", "tdm-reservation": 0}, {"location": "/a*b/", "tdm-reservation": 1}]
    body = post(kaze, kind="tdmrep.json", content=json.dumps(rules)).json()
    assert body["declarations_created"] == 2
    assert "only a path prefix" in body["lines"][2]["ignored"][0]
    private = Declaration.objects.get(work__work_ref=f"site:https://{SITE}/private/")
    assert (private.purpose, private.consent, private.license_url) == ("tdm", "reserve", "https://kaze.example/licence")
    body = post(kaze, kind="ai.txt", content="User-Agent: *\nDisallow: /\nAllow: /open/\n").json()
    assert body["declarations_created"] == 2


def test_cawg_assertion_for_a_work(kaze, studio_kaze):
    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", kind="film").work
    assertion = {"label": "cawg.training-mining", "data": {"entries": {
        "cawg.ai_generative_training": {"use": "notAllowed"}, "cawg.ai_inference": {"use": "constrained"},
        "cawg.data_mining": {"use": "allowed"}, "cawg.something_new": {"use": "allowed"}}}}
    body = kaze.post("/api/v1/signals/import", {"kind": "cawg", "work": str(work.pk),
                                                "content": json.dumps(assertion)}, format="json").json()
    assert body["declarations_created"] == 3
    assert set(Declaration.objects.values_list("purpose", "consent")) == {
        ("train-genai", "reserve"), ("ai-use", "reserve"), ("tdm", "grant")}
    assert "not a term" in body["lines"][3]["ignored"][0]


def test_unverified_domain_other_holders_and_bad_input(kaze, hoshi, studio_kaze):
    assert_problem(post(kaze, kind="robots.txt", content=ROBOTS), 409, "domain-not-verified")
    assert_problem(post(hoshi, kind="robots.txt", content=ROBOTS), 404)  # not revealed
    assert_problem(post(kaze, kind="robots.txt", content="nonsense", dry_run=True, domain="x.example"), 409)


def test_a_path_that_is_no_url_is_ignored_not_a_500(kaze, verified):
    body = post(kaze, kind="robots.txt", content="User-Agent: *\nContent-Usage: / train-ai=n\n"
                "Content-Usage: /%zz\u0000x/ train-ai=n\n", dry_run=True)
    assert body.status_code in (200, 400), body.content


def test_bad_files_are_400_and_file_nothing(kaze, verified):
    assert_problem(post(kaze, kind="robots.txt", content="just words"), 400, "signals-refused")
    assert_problem(post(kaze, kind="tdmrep.json", content="{not json"), 400, "signals-refused")
    assert_problem(post(kaze, kind="robots.txt", content=ROBOTS, vocabulary="aipref-vocab-99"), 400)
    assert_problem(post(kaze, kind="robots.txt", content=ROBOTS, jurisdiction="XX"), 400)
    assert assert_problem(post(kaze, kind="sitemap.xml", content=ROBOTS), 400)["errors"][0]["field"] == "kind"
    assert Declaration.objects.count() == 0
