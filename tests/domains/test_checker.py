"""The domain checker (interop.md, "Domain control"): finds the token by DNS TXT or the well-known file over HTTPS,
and never becomes a way into the registry's own network. Persona: a holder's web team showing control; an attacker
pointing the checker at internal addresses."""
import time

import pytest

from domains.checker import WELL_KNOWN_PATH, control_check, dns_check, well_known_check

from .conftest import SITE, hang, stream_forever

TOKEN = "tok-123"


def test_dns_txt_record_with_the_token_shows_control(resolver):
    resolver.records[(f"_kyodaku.{SITE}", "TXT")] = ['"something-else"', f'"kyodaku-verification={TOKEN}"']
    assert dns_check(SITE, TOKEN).found
    assert not dns_check(SITE, "other-token").found
    assert "no TXT record" in dns_check("nothing.example", TOKEN).detail


def test_a_dns_timeout_is_a_clear_failure(resolver):
    resolver.hang.add(f"_kyodaku.{SITE}")
    result = dns_check(SITE, TOKEN)
    assert not result.found and "timed out" in result.detail


def test_well_known_file_over_https_shows_control(site):
    site.routes[WELL_KNOWN_PATH] = (200, {"Content-Type": "text/plain"}, f"{TOKEN}\n".encode())
    result = well_known_check(SITE, TOKEN)
    assert result.found, result.detail
    host, path = site.requests[0]
    assert host.split(":")[0] == SITE and path == WELL_KNOWN_PATH  # the site's name, not the address
    assert control_check(SITE, TOKEN).method == "well-known"


def test_a_file_without_the_token_or_an_error_status_does_not(site):
    site.routes[WELL_KNOWN_PATH] = (200, {}, b"tok-1234")
    assert not well_known_check(SITE, TOKEN).found
    site.routes[WELL_KNOWN_PATH] = (500, {}, TOKEN.encode())
    assert "HTTP 500" in well_known_check(SITE, TOKEN).detail


def test_a_redirect_on_the_same_host_is_followed(site):
    site.routes[WELL_KNOWN_PATH] = (301, {"Location": "/moved.txt"}, b"")
    site.routes["/moved.txt"] = (200, {}, TOKEN.encode())
    assert well_known_check(SITE, TOKEN).found


@pytest.mark.parametrize("location", ["https://127.0.0.1/.well-known/kyodaku-verification.txt",
                                      "http://kaze.example/.well-known/kyodaku-verification.txt",
                                      "https://evil.example/token.txt"])
def test_a_redirect_to_another_host_or_to_plain_http_is_refused(site, location):
    site.routes[WELL_KNOWN_PATH] = (302, {"Location": location}, b"")
    result = well_known_check(SITE, TOKEN)
    assert not result.found and "redirect" in result.detail
    assert len(site.requests) == 1  # nothing was fetched from the target


def test_a_10_mb_answer_is_not_read(site):
    site.routes[WELL_KNOWN_PATH] = (200, {}, b"x" * 10_000_000)
    started = time.monotonic()
    result = well_known_check(SITE, TOKEN)
    assert not result.found and "4096" in result.detail
    site.routes[WELL_KNOWN_PATH] = stream_forever  # no Content-Length: stopped after reading the limit
    result = well_known_check(SITE, TOKEN)
    assert not result.found and "longer than 4096" in result.detail
    assert time.monotonic() - started < 5


def test_a_hanging_server_times_out_quickly(site):
    site.routes[WELL_KNOWN_PATH] = hang(10)
    started = time.monotonic()
    result = well_known_check(SITE, TOKEN)
    assert not result.found and "too long" in result.detail
    # Timeout 1 s in these tests (2 s for the whole check), the server hangs 10 s: well under 10 s proves the check
    # gave up, with room for a loaded CI machine.
    assert time.monotonic() - started < 8


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "192.168.1.1", "169.254.169.254", "::1",
                                     "fe80::1", "0.0.0.0", "100.64.0.1"])
def test_private_loopback_and_link_local_addresses_are_refused(resolver, settings, address):
    settings.KYODAKU_DOMAIN_CHECK_ALLOW_PRIVATE = False
    resolver.records[("internal.example", "AAAA" if ":" in address else "A")] = [address]
    result = well_known_check("internal.example", TOKEN)
    assert not result.found and "not a public address" in result.detail


def test_the_guard_is_on_by_default(db):
    from django.conf import settings
    assert settings.KYODAKU_DOMAIN_CHECK_ALLOW_PRIVATE is False and settings.KYODAKU_DOMAIN_CHECK_PORT == 443
    assert settings.KYODAKU_DOMAIN_CHECK_MAX_BYTES <= 8192 and settings.KYODAKU_DOMAIN_CHECK_TIMEOUT <= 5
