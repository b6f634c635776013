"""A small registry with every kind of web answer, shared by the Spawning-compatible tests.

Studio Kaze reserves one exact URL and grants training under a url-prefix; Hoshi Publishing registers a domain
and grants training on it in Japan only; both have verified control of their domains. Hoshi also registers a
url-prefix on a host it has not verified and grants training there: that grant does not count (interop.md).
Everything else is unregistered.
"""
from datetime import UTC, datetime

from consent.services import declaration_file
from registry.services import work_register

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RESERVED = "https://kaze.example/films/1"
PREFIX = "https://kaze.example/open/"
DOMAIN = "hoshi.example"
UNVERIFIED = "https://unverified.example/"
INVALID = ["", "not a url", "ftp://kaze.example/x", "https://", "isbn:9784990166137", "   "]


def build_world(studio_kaze, hoshi_pub) -> None:
    reserved = work_register(holder=studio_kaze.holder, work_ref="SK-URL", title="Kaze film page", kind="website",
                             identifiers=[f"url:{RESERVED}"], at=T0).work
    declaration_file(holder=studio_kaze.holder, scope="work", work=reserved, purpose="train-ai", jurisdiction="*",
                     consent="reserve", at=T0)
    opened = work_register(holder=studio_kaze.holder, work_ref="SK-OPEN", title="Kaze open archive",
                           kind="website", identifiers=[f"url-prefix:{PREFIX}"], at=T0).work
    declaration_file(holder=studio_kaze.holder, scope="work", work=opened, purpose="train-ai", jurisdiction="*",
                     consent="grant", at=T0)
    work_register(holder=hoshi_pub.holder, work_ref="HP-SITE", title="Hoshi site", kind="website",
                  identifiers=[f"domain:{DOMAIN}"], at=T0)
    declaration_file(holder=hoshi_pub.holder, scope="catalogue", purpose="tdm", jurisdiction="JP",
                     consent="grant", at=T0)
    work_register(holder=hoshi_pub.holder, work_ref="HP-ELSEWHERE", title="Not Hoshi's site", kind="website",
                  identifiers=[f"url-prefix:{UNVERIFIED}"], at=T0)
    from domains.services import domain_claim_create, domain_verify_operator

    for persona, domain in ((studio_kaze, "kaze.example"), (hoshi_pub, DOMAIN)):
        claim, _ = domain_claim_create(holder=persona.holder, domain=domain)
        domain_verify_operator(claim=claim, note="registrar letter", actor="test", at=T0)


def url_mix(count: int) -> list[str]:
    """`count` lines cycling through reserved, granted (prefix), domain, unregistered and invalid URLs."""
    kinds = [
        lambda n: RESERVED,
        lambda n: f"{PREFIX}item/{n}",
        lambda n: f"https://www.{DOMAIN}/page/{n}",
        lambda n: f"http://{DOMAIN}/p?n={n}",
        lambda n: f"https://elsewhere.example/{n}",
        lambda n: INVALID[n % len(INVALID)],
        lambda n: f"{UNVERIFIED}{n}",
    ]
    return [kinds[n % len(kinds)](n) for n in range(count)]
