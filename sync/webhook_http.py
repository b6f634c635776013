"""Posting a webhook message to a URL an AI developer chose: the registry's request to an address picked by its
users, fenced in by the same rules as domain verification (domains/checker.py, interop.md):

- the host's addresses are resolved once and every one must be public (private, loopback, link-local,
  multicast, reserved and unspecified addresses are refused unless KYODAKU_WEBHOOK_ALLOW_PRIVATE, for tests);
- the connection goes to that address (no second resolution that could rebind to an internal one);
- HTTPS only (plain HTTP only together with KYODAKU_WEBHOOK_ALLOW_PRIVATE, for local test servers);
- no redirect is followed (a 3xx is a failed attempt); every socket operation has KYODAKU_WEBHOOK_TIMEOUT;
  at most 4 KB of the answer is read (only its status matters).
No database here.
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.parse
from dataclasses import dataclass

from django.conf import settings

MAX_ANSWER_BYTES = 4096
USER_AGENT = "Kyodaku-webhooks/1"


class TargetRefused(Exception):
    """The URL may not be posted to (scheme, host or address), or the attempt could not be made."""


@dataclass(frozen=True)
class Attempt:
    status: int | None  # the HTTP status, None when no answer came
    error: str  # empty on success; what went wrong, for the owner's delivery log

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def target_check(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an acceptable target URL; TargetRefused with the reason otherwise."""
    parts = urllib.parse.urlsplit(url)
    allow_private = settings.KYODAKU_WEBHOOK_ALLOW_PRIVATE
    if parts.scheme != "https" and not (parts.scheme == "http" and allow_private):
        raise TargetRefused("the URL must use https")
    if not parts.hostname or parts.username or parts.password:
        raise TargetRefused("the URL needs a host and no user name or password")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetRefused("the URL's port is not a number between 0 and 65535") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def public_address(host: str, port: int) -> str:
    """The host's first address, every one of them public (else TargetRefused)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"could not resolve {host} ({exc.__class__.__name__})") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise TargetRefused(f"{host} has no address")
    if not settings.KYODAKU_WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global or ip.is_multicast:
                raise TargetRefused(f"{host} resolves to {address}, which is not a public address")
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Attempt:
    """One POST of `body` to `url` under the rules above; never raises for the target's faults."""
    try:
        scheme, host, port, path = target_check(url)
        address = public_address(host, port)
    except TargetRefused as exc:
        return Attempt(None, f"refused: {exc}")
    timeout = settings.KYODAKU_WEBHOOK_TIMEOUT
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, address, port, timeout)
    try:
        connection.request("POST", path, body=body, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
        response = connection.getresponse()
        response.read(MAX_ANSWER_BYTES)
        status = response.status
    except TimeoutError:
        return Attempt(None, f"no answer within {timeout} s")
    except ssl.SSLError as exc:
        return Attempt(None, f"TLS failed: {exc.reason or exc.__class__.__name__}")
    except (OSError, http.client.HTTPException) as exc:
        return Attempt(None, f"could not deliver: {exc.__class__.__name__}")
    finally:
        connection.close()
    if 300 <= status < 400:
        return Attempt(status, f"HTTP {status}: redirects are not followed; register the final URL")
    return Attempt(status, "" if 200 <= status < 300 else f"HTTP {status}")
