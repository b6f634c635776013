"""Looking for a holder's verification token on the domain itself: a DNS TXT record, or the well-known file over
HTTPS. No database here; the services record what it finds.

The HTTPS fetch is the registry's only request to an address chosen by its users, so it is fenced in
(interop.md): the host's addresses are resolved once and every one must be public (private, loopback,
link-local, multicast, reserved and unspecified addresses are refused unless KYODAKU_DOMAIN_CHECK_ALLOW_PRIVATE,
for tests); the connection goes to that address (no second resolution to rebind); a redirect is followed only to
the same host, at most twice; every socket operation has KYODAKU_DOMAIN_CHECK_TIMEOUT and the whole check a
deadline of twice that; at most KYODAKU_DOMAIN_CHECK_MAX_BYTES of the answer are read.
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass

import dns.exception
import dns.resolver
from django.conf import settings

WELL_KNOWN_PATH = "/.well-known/kyodaku-verification.txt"
MAX_REDIRECTS = 2


@dataclass(frozen=True)
class CheckResult:
    found: bool
    method: str  # dns / well-known
    detail: str  # what was found or what went wrong, for a person


class CheckRefused(Exception):
    """The check stopped before it could find the token (a guard, a timeout, an answer too large)."""


def make_resolver() -> dns.resolver.Resolver:
    """The system's resolver with the check's timeout. Tests replace this function with a stub."""
    resolver = dns.resolver.Resolver()
    resolver.lifetime = settings.KYODAKU_DOMAIN_CHECK_TIMEOUT
    return resolver


def dns_check(domain: str, token: str) -> CheckResult:
    name = f"_kyodaku.{domain}"
    wanted = f"kyodaku-verification={token}"
    try:
        answer = make_resolver().resolve(name, "TXT", lifetime=settings.KYODAKU_DOMAIN_CHECK_TIMEOUT)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return CheckResult(False, "dns", f"no TXT record at {name}")
    except dns.exception.Timeout:
        return CheckResult(False, "dns", f"DNS timed out for {name}")
    except dns.exception.DNSException as exc:
        return CheckResult(False, "dns", f"DNS error for {name}: {exc.__class__.__name__}")
    for record in answer:
        text = b"".join(record.strings).decode("utf-8", "replace").strip()
        if text == wanted:
            return CheckResult(True, "dns", f"TXT {name} holds the token")
    return CheckResult(False, "dns", f"TXT records at {name} do not hold the token")


def _public_addresses(host: str) -> list[str]:
    """The host's A and AAAA addresses, all of them public (else CheckRefused)."""
    resolver = make_resolver()
    addresses: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            answer = resolver.resolve(host, rdtype, lifetime=settings.KYODAKU_DOMAIN_CHECK_TIMEOUT)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except dns.exception.DNSException as exc:
            raise CheckRefused(f"could not resolve {host}: {exc.__class__.__name__}") from None
        addresses += [record.to_text() for record in answer]
    if not addresses:
        raise CheckRefused(f"{host} has no address")
    if not settings.KYODAKU_DOMAIN_CHECK_ALLOW_PRIVATE:
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if not ip.is_global or ip.is_multicast:
                raise CheckRefused(f"{host} resolves to {address}, which is not a public address")
    return addresses


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to `address`, with `host` for SNI, the certificate check and the Host header."""

    def __init__(self, host: str, address: str, port: int, timeout: float, context: ssl.SSLContext):
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.KYODAKU_DOMAIN_CHECK_CA_FILE:
        context.load_verify_locations(settings.KYODAKU_DOMAIN_CHECK_CA_FILE)
    return context


def _get(host: str, path: str, deadline: float) -> tuple[int, dict, bytes]:
    """One GET of https://host/path to the host's first public address; (status, headers, at most MAX bytes)."""
    address = _public_addresses(host)[0]
    limit = settings.KYODAKU_DOMAIN_CHECK_MAX_BYTES
    timeout = min(settings.KYODAKU_DOMAIN_CHECK_TIMEOUT, max(0.1, deadline - time.monotonic()))
    connection = _PinnedHTTPSConnection(host, address, settings.KYODAKU_DOMAIN_CHECK_PORT, timeout, _tls_context())
    try:
        connection.request("GET", path, headers={"User-Agent": "Kyodaku-domain-check/1", "Accept": "text/plain"})
        response = connection.getresponse()
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            raise CheckRefused(f"the answer is {length} bytes; at most {limit} are read")
        body = b""
        while len(body) <= limit:
            if time.monotonic() > deadline:
                raise CheckRefused("the server took too long")
            chunk = response.read1(limit + 1 - len(body)) if hasattr(response, "read1") else response.read(1024)
            if not chunk:
                break
            body += chunk
        if len(body) > limit:
            raise CheckRefused(f"the answer is longer than {limit} bytes")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    except TimeoutError:
        raise CheckRefused("the server took too long") from None
    except ssl.SSLError as exc:
        raise CheckRefused(f"TLS failed: {exc.reason or exc.__class__.__name__}") from None
    except OSError as exc:
        raise CheckRefused(f"could not connect: {exc.__class__.__name__}") from None
    finally:
        connection.close()


def well_known_check(domain: str, token: str) -> CheckResult:
    deadline = time.monotonic() + 2 * settings.KYODAKU_DOMAIN_CHECK_TIMEOUT
    path = WELL_KNOWN_PATH
    try:
        for _ in range(MAX_REDIRECTS + 1):
            status, headers, body = _get(domain, path, deadline)
            if status in (301, 302, 303, 307, 308):
                target = urllib.parse.urlsplit(urllib.parse.urljoin(f"https://{domain}{path}",
                                                                    headers.get("location", "")))
                if target.scheme != "https" or (target.hostname or "").lower() != domain:
                    return CheckResult(False, "well-known",
                                       f"redirect to another host or scheme refused ({target.scheme}://"
                                       f"{target.hostname})")
                path = target.path + (f"?{target.query}" if target.query else "")
                continue
            if status != 200:
                return CheckResult(False, "well-known", f"{WELL_KNOWN_PATH} answered HTTP {status}")
            if token in body.decode("utf-8", "replace").split():
                return CheckResult(True, "well-known", f"https://{domain}{WELL_KNOWN_PATH} holds the token")
            return CheckResult(False, "well-known", f"https://{domain}{WELL_KNOWN_PATH} does not hold the token")
        return CheckResult(False, "well-known", "too many redirects")
    except CheckRefused as exc:
        return CheckResult(False, "well-known", str(exc))


def control_check(domain: str, token: str) -> CheckResult:
    """DNS first (cheap, no connection to the site), then the well-known file."""
    result = dns_check(domain, token)
    if result.found:
        return result
    web = well_known_check(domain, token)
    if web.found:
        return web
    return CheckResult(False, "dns", f"{result.detail}; {web.detail}")
