"""A local HTTPS server standing in for a holder's web site, and a stub DNS resolver (the only things outside the
system that the domain checker talks to)."""
import datetime
import http.server
import ssl
import threading
import time

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from domains import checker

SITE = "kaze.example"


class StubResolver:
    """Answers from a dict {(name, rdtype): [text, ...]}; anything else is NXDOMAIN. `hang` names never answer."""

    def __init__(self, records: dict):
        self.records = records
        self.hang: set[str] = set()

    def resolve(self, name, rdtype, lifetime=None):
        if name in self.hang:
            raise dns.exception.Timeout()
        texts = self.records.get((name, rdtype))
        if texts is None:
            raise dns.resolver.NXDOMAIN()
        return [dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), t) for t in texts]


@pytest.fixture
def resolver(monkeypatch):
    stub = StubResolver({(SITE, "A"): ["127.0.0.1"]})
    monkeypatch.setattr(checker, "make_resolver", lambda: stub)
    return stub


def _certificate(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SITE)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(SITE)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "site.pem", tmp_path / "site.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Site:
    """What the site answers: path -> (status, headers, body) or a callable (handler) -> None."""

    def __init__(self):
        self.routes = {}
        self.requests = []


@pytest.fixture
def site(tmp_path, settings, resolver):
    """An HTTPS server on 127.0.0.1 (a free port) with a certificate for kaze.example that the checker trusts."""
    cert_file, key_file = _certificate(tmp_path)
    state = Site()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            state.requests.append((self.headers.get("Host"), self.path))
            route = state.routes.get(self.path)
            if route is None:
                self.send_response(404)
                self.end_headers()
                return
            if callable(route):
                route(self)
                return
            status, headers, body = route
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.KYODAKU_DOMAIN_CHECK_ALLOW_PRIVATE = True
    settings.KYODAKU_DOMAIN_CHECK_PORT = server.server_address[1]
    settings.KYODAKU_DOMAIN_CHECK_CA_FILE = str(cert_file)
    settings.KYODAKU_DOMAIN_CHECK_TIMEOUT = 1.0
    yield state
    server.shutdown()
    server.server_close()


def hang(seconds: float):
    def handler(request):
        time.sleep(seconds)
    return handler


def stream_forever(request):
    """Sends no Content-Length and 10 MB of body."""
    request.send_response(200)
    request.end_headers()
    chunk = b"x" * 65536
    try:
        for _ in range(160):
            request.wfile.write(chunk)
    except OSError:
        pass


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user
