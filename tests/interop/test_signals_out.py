"""Signals out (interop.md): Studio Kaze, with kaze.example verified, publishes its declarations as robots.txt
`Content-Usage` / `Content-Signal` rules, tdmrep.json, response headers and a CAWG assertion. Everything written is
read back with real parsers: protego (robots.txt), http-sfv (the AI-pref structured-field values), datadiligence's
TDMRepHeader rule. Hoshi Publishing and anonymous crawlers see nothing until Kaze makes the signals public."""
import http_sfv
import pytest
from datadiligence.rules import TDMRepHeader
from protego import Protego

from consent.services import declaration_file
from domains.services import domain_claim_create, domain_signals_publish, domain_verify_operator
from registry.services import work_register
from tests.api.conftest import assert_problem, client_for

pytestmark = pytest.mark.django_db
SITE = "kaze.example"


@pytest.fixture
def kaze_site(studio_kaze, operator):
    holder = studio_kaze.holder

    def work(ref, identifier):
        return work_register(holder=holder, work_ref=ref, title=ref, kind="website", identifiers=[identifier]).work

    def declare(purpose, consent, work=None, **extra):
        return declaration_file(holder=holder, scope="work" if work else "catalogue", work=work, purpose=purpose,
                                jurisdiction="*", consent=consent, **extra)[0]

    site = work("SITE", f"domain:{SITE}")
    opened = work("OPEN", f"url-prefix:https://{SITE}/open/")
    deep = work("DEEP", f"url-prefix:https://{SITE}/open/private/")
    work("PAGE", f"url:https://{SITE}/page.html")
    ids = {
        "catalogue-train": declare("train-ai", "reserve", license_url="https://studio-kaze.example/ai-licence"),
        "site-search": declare("search", "grant", work=site),
        "open-train": declare("train-ai", "grant", work=opened),
        "deep-tdm": declare("tdm", "reserve", work=deep),
    }
    claim, _ = domain_claim_create(holder=holder, domain=SITE)
    domain_verify_operator(claim=claim, note="registrar letter", actor=operator)
    return {"claim": claim, "ids": {k: str(v.pk) for k, v in ids.items()}, "deep": deep, "site": site}


def group_rules(text: str) -> list[tuple[str | None, dict]]:
    """The `Content-Usage` rules of the `User-Agent: *` group: (path or None, {term: value})."""
    rules, in_group = [], False
    for line in text.splitlines():
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "user-agent":
            in_group = value == "*"
        elif in_group and name == "content-usage":
            path, _, prefs = value.partition(" ") if value.startswith("/") else (None, "", value)
            parsed = http_sfv.Dictionary()
            parsed.parse(prefs.encode())
            rules.append((path, {k: str(v.value) for k, v in parsed.items()}))
    return rules


def test_robots_txt_fragment_for_the_holder(kaze, kaze_site):
    response = kaze.get(f"/api/v1/signals/{SITE}/robots.txt")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    robots = Protego.parse(text)
    assert robots.can_fetch(f"https://{SITE}/open/x", "AnyBot")  # one group for every agent, crawling allowed
    assert group_rules(text) == [
        (None, {"train-ai": "n", "search": "y"}),  # -08 train-ai = generative training: the catalogue reservation
        ("/open/", {"train-ai": "y"}),
        ("/page.html$", {"train-ai": "n"}),
        ("/open/private/", {"train-ai": "n", "search": "n"}),  # the most specific last
    ]
    signal = [line for line in text.splitlines() if line.startswith("Content-Signal:")]
    assert signal == ["Content-Signal: ai-train=no, search=yes"]
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("Content-Usage:", "Content-Signal:")):
            assert lines[i - 1].startswith("# ") and "declaration" in lines[i - 1]
    ids = kaze_site["ids"]
    assert ids["catalogue-train"] in text and ids["site-search"] in text and ids["deep-tdm"] in text


def test_tdmrep_json_most_specific_first(kaze, kaze_site):
    rules = kaze.get(f"/api/v1/signals/{SITE}/tdmrep.json").json()
    assert rules == [{"location": "/open/private/*", "tdm-reservation": 1,
                      "tdm-policy": "https://studio-kaze.example/licensing"}]


def test_headers_for_a_url_read_by_datadiligence(kaze, kaze_site):
    deep = kaze.get("/api/v1/signals/headers", {"url": f"https://{SITE}/open/private/x.png"}).json()
    assert deep["tdm-reservation"] == "1" and not TDMRepHeader().is_allowed(headers=deep)
    usage = http_sfv.Dictionary()
    usage.parse(deep["Content-Usage"].encode())
    assert {k: str(v.value) for k, v in usage.items()} == {"train-ai": "n", "search": "n"}
    opened = kaze.get("/api/v1/signals/headers", {"url": f"https://{SITE}/open/a"}).json()
    assert opened == {"Content-Usage": "train-ai=y"} and TDMRepHeader().is_allowed(headers=opened)
    assert_problem(kaze.get("/api/v1/signals/headers", {"url": "https://elsewhere.example/"}), 404)
    assert_problem(kaze.get("/api/v1/signals/headers", {"url": "not a url"}), 400)


def test_another_holders_url_on_the_site_does_not_hide_the_sites_own_headers(kaze, hoshi_pub, kaze_site):
    """Anyone may register a url on kaze.example (Hoshi here, unverified, with its own declaration): the headers
    Kaze's site sends for that URL still come from Kaze's works (its url-prefix), as lookups would match among
    Kaze's identifiers."""
    other = work_register(holder=hoshi_pub.holder, work_ref="HP-PAGE", title="Hoshi's claim", kind="website",
                          identifiers=[f"url:https://{SITE}/open/private/hoshi.png"]).work
    declaration_file(holder=hoshi_pub.holder, scope="work", work=other, purpose="tdm", jurisdiction="*",
                     consent="grant")
    deep = kaze.get("/api/v1/signals/headers", {"url": f"http://{SITE}/open/private/hoshi.png"}).json()
    assert deep["tdm-reservation"] == "1" and not TDMRepHeader().is_allowed(headers=deep)  # Kaze's deep prefix


def test_cawg_assertion_for_a_work(kaze, ai_developer, kaze_site):
    deep = kaze.get(f"/api/v1/works/{kaze_site['deep'].pk}/cawg").json()
    assert deep == {"label": "cawg.training-mining", "data": {"entries": {
        "cawg.data_mining": {"use": "notAllowed"}, "cawg.ai_training": {"use": "notAllowed"},
        "cawg.ai_generative_training": {"use": "notAllowed"}, "cawg.ai_inference": {"use": "notAllowed"}}}}
    site = ai_developer.get(f"/api/v1/works/{kaze_site['site'].pk}/cawg").json()["data"]["entries"]
    assert site == {"cawg.ai_training": {"use": "notAllowed"}, "cawg.ai_generative_training": {"use": "notAllowed"}}


def test_signals_are_private_until_published_and_need_verification(kaze, hoshi, anonymous, studio_kaze, kaze_site,
                                                                   operator):
    for client in (hoshi, anonymous):
        assert_problem(client.get(f"/api/v1/signals/{SITE}/robots.txt"), 404)
        assert_problem(client.get(f"/api/v1/signals/{SITE}/tdmrep.json"), 404)
        assert_problem(client.get("/api/v1/signals/headers", {"url": f"https://{SITE}/open/a"}), 404)
    assert_problem(hoshi.get(f"/api/v1/works/{kaze_site['deep'].pk}/cawg"), 404)
    domain_signals_publish(claim=kaze_site["claim"], public=True, actor=studio_kaze.user)
    assert anonymous.get(f"/api/v1/signals/{SITE}/robots.txt").status_code == 200
    from domains.services import domain_verification_withdraw

    domain_verification_withdraw(claim=kaze_site["claim"], reason="test", actor=operator)
    assert_problem(kaze.get(f"/api/v1/signals/{SITE}/robots.txt"), 404)
    claim, _ = domain_claim_create(holder=studio_kaze.holder, domain="unverified.example")
    assert_problem(kaze.get("/api/v1/signals/unverified.example/robots.txt"), 404)


def test_jurisdiction_parameter_and_errors(kaze, kaze_site):
    assert kaze.get(f"/api/v1/signals/{SITE}/robots.txt", {"jurisdiction": "JP"}).status_code == 200
    assert_problem(kaze.get(f"/api/v1/signals/{SITE}/robots.txt", {"jurisdiction": "XX"}), 400)
    assert_problem(kaze.get("/api/v1/signals/not_a_domain/robots.txt"), 404)
    assert client_for().get(f"/api/v1/signals/{SITE}/robots.txt").status_code == 404
