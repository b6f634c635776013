"""Webhooks (sync.md, "Webhooks"): an AI developer registers a URL for a pair; Kyodaku posts the change-feed entries
that can alter that pair's answers, signed per Standard Webhooks, retries with exponential backoff for more than a
day, then disables the webhook and says why; the owner reads the delivery log. Targets are fenced in like domain
verification (no private addresses, no redirects, short timeouts). Receivers here are local HTTP servers."""
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as StandardWebhook

from consent.services import declaration_file, rule_set
from keys.services import api_key_create
from registry.services import work_register
from sync.models import Webhook, WebhookDelivery
from sync.tasks import webhooks_dispatch_task
from sync.webhooks import RETRY_DELAYS, webhook_delivery_attempt, webhooks_dispatch

from ..api.conftest import client_for

pytestmark = [pytest.mark.django_db]


class Receiver:
    """A local HTTP server that records each request and answers with the next planned status (200 when none)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.plan: list[int] = []
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                time.sleep(receiver.delay)
                status = receiver.plan.pop(0) if receiver.plan else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/kyodaku"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def developer(db):
    key, plain = api_key_create(name="Crawler Co", rate="none")
    return key, client_for(api_key=plain)


def register(client, url, **extra) -> dict:
    response = client.post("/api/v1/webhooks", {"url": url, "purpose": "train-genai", "jurisdiction": "JP", **extra},
                           format="json")
    assert response.status_code == 201, response.content
    return response.json()


def send_due() -> list:
    return [webhook_delivery_attempt(delivery_id=d) for d in webhooks_dispatch()]


def make_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_ai_developer_receives_signed_changes_for_its_pair_only(developer, receiver, studio_kaze):
    _, client = developer
    hook = register(client, receiver.url)
    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", identifiers=["doi:10.5555/k1"]).work
    declaration_file(holder=studio_kaze.holder, scope="work", work=work, purpose="train-ai", jurisdiction="JP",
                     consent="grant")
    declaration_file(holder=studio_kaze.holder, scope="catalogue", purpose="search", jurisdiction="FR",
                     consent="reserve")  # another pair: not sent
    rule_set(jurisdiction="FR", regime="prior-permission", basis="Hypothetical.")  # another pair: not sent

    [delivery] = send_due()
    [request] = receiver.requests
    payload = StandardWebhook(hook["secret"]).verify(request["body"], request["headers"])
    assert delivery.status == "delivered" and request["path"] == "/hooks/kyodaku"
    assert request["headers"]["webhook-id"] == delivery.message_id
    assert payload["type"] == "kyodaku.changes"
    assert payload["data"]["purpose"] == "train-genai" and payload["data"]["jurisdiction"] == "JP"
    assert [(e["kind"], e["keys"]) for e in payload["data"]["results"]] == [
        ("identifier.add", ["doi:10.5555/k1"]), ("declaration.file", ["doi:10.5555/k1", "ref:studio-kaze/SK-1"])]
    assert payload["data"]["after"] == hook["cursor"]
    assert send_due() == []  # nothing new: nothing sent


def test_a_tampered_message_fails_standard_webhooks_verification(developer, receiver, studio_kaze):
    _, client = developer
    hook = register(client, receiver.url)
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", identifiers=["doi:10.5555/k1"])
    send_due()
    request = receiver.requests[0]
    with pytest.raises(Exception, match="signature"):
        StandardWebhook(hook["secret"]).verify(request["body"].replace(b"k1", b"k2"), request["headers"])


def test_failed_deliveries_back_off_for_more_than_a_day_then_the_webhook_is_disabled_and_says_why(
        developer, receiver, studio_kaze):
    _, client = developer
    hook = register(client, receiver.url)
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", identifiers=["doi:10.5555/k1"])
    receiver.plan = [500] * 8

    [delivery] = send_due()
    gaps = []
    while delivery.status == "pending":
        gaps.append(round((delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()))
        make_due(delivery)
        [delivery] = send_due()
    assert gaps == list(RETRY_DELAYS) and sum(gaps) > 24 * 3600
    assert gaps == sorted(gaps)  # exponential-ish: never shorter than the one before
    assert delivery.status == "failed" and delivery.attempts == 8 == len(receiver.requests)
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1  # the same message each time

    shown = client.get(f"/api/v1/webhooks/{hook['id']}").json()
    assert shown["active"] is False and "HTTP 500" in shown["disabled_reason"] and "8 attempts" in \
        shown["disabled_reason"]
    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()
    assert [(d["status"], d["attempts"], d["last_status"]) for d in log["results"]] == [("failed", 8, 500)]
    assert send_due() == []  # disabled: nothing more is sent


def test_enabling_again_resends_the_changes_of_the_failed_delivery(developer, receiver, studio_kaze):
    _, client = developer
    hook = register(client, receiver.url)
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", identifiers=["doi:10.5555/k1"])
    receiver.plan = [500] * 8
    [delivery] = send_due()
    while delivery.status == "pending":
        make_due(delivery)
        [delivery] = send_due()
    work_register(holder=studio_kaze.holder, work_ref="SK-2", title="Later", identifiers=["doi:10.5555/k2"])

    assert client.post(f"/api/v1/webhooks/{hook['id']}/enable").json()["active"] is True
    [again] = send_due()
    payload = json.loads(receiver.requests[-1]["body"])
    assert again.status == "delivered"
    assert [e["keys"] for e in payload["data"]["results"]] == [["doi:10.5555/k1"], ["doi:10.5555/k2"]]


def test_one_message_at_a_time_in_order(developer, receiver, studio_kaze):
    _, client = developer
    register(client, receiver.url)
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", identifiers=["doi:10.5555/k1"])
    receiver.plan = [503]
    [first] = send_due()
    work_register(holder=studio_kaze.holder, work_ref="SK-2", title="Later", identifiers=["doi:10.5555/k2"])
    assert send_due() == [] and WebhookDelivery.objects.count() == 1  # the pending one is not yet due
    make_due(first)
    [first] = send_due()
    [second] = send_due()
    bodies = [json.loads(r["body"])["data"]["results"][0]["keys"] for r in receiver.requests]
    assert bodies == [["doi:10.5555/k1"], ["doi:10.5555/k1"], ["doi:10.5555/k2"]]
    assert first.status == second.status == "delivered"


def test_redirects_are_not_followed(developer, receiver, studio_kaze):
    _, client = developer
    register(client, receiver.url)
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", identifiers=["doi:10.5555/k1"])
    receiver.plan = [302]
    [delivery] = send_due()
    assert delivery.status == "pending" and "redirects are not followed" in delivery.last_error
    assert [r["path"] for r in receiver.requests] == ["/hooks/kyodaku"]


def test_a_slow_receiver_times_out(developer, receiver, studio_kaze, settings):
    settings.KYODAKU_WEBHOOK_TIMEOUT = 0.3
    _, client = developer
    register(client, receiver.url)
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", identifiers=["doi:10.5555/k1"])
    receiver.delay = 1.0
    [delivery] = send_due()
    assert delivery.status == "pending" and delivery.last_error == "no answer within 0.3 s"


@pytest.mark.parametrize("url", ["https://127.0.0.1/hook", "https://localhost/hook", "https://10.1.2.3/hook",
                                 "https://169.254.169.254/latest/meta-data", "https://[::1]/hook",
                                 "https://192.168.0.10:8443/hook", "http://93.184.216.34/hook",
                                 "https://user:pw@93.184.216.34/hook", "ftp://93.184.216.34/hook"])
def test_private_loopback_link_local_and_non_https_targets_are_refused(developer, settings, url):
    settings.KYODAKU_WEBHOOK_ALLOW_PRIVATE = False
    _, client = developer
    response = client.post("/api/v1/webhooks", {"url": url, "purpose": "tdm", "jurisdiction": "JP"}, format="json")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert not Webhook.objects.exists()


def test_a_target_that_turns_private_after_registration_is_refused_at_delivery(developer, receiver, studio_kaze,
                                                                               settings):
    _, client = developer
    register(client, receiver.url)
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", identifiers=["doi:10.5555/k1"])
    settings.KYODAKU_WEBHOOK_ALLOW_PRIVATE = False
    [delivery] = send_due()
    assert delivery.status == "pending" and delivery.last_error.startswith("refused:")
    assert receiver.requests == []


def test_webhooks_are_their_owners_alone(developer, receiver, studio_kaze):
    _, client = developer
    hook = register(client, receiver.url)
    _, other_plain = api_key_create(name="Other Lab", rate="none")
    other = client_for(api_key=other_plain)
    for path in (f"/api/v1/webhooks/{hook['id']}", f"/api/v1/webhooks/{hook['id']}/deliveries"):
        assert other.get(path).status_code == 404
    assert other.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 404
    assert other.get("/api/v1/webhooks").json() == {"next": None, "previous": None, "results": []}
    listed = client.get("/api/v1/webhooks").json()["results"]
    assert [w["id"] for w in listed] == [hook["id"]] and "secret" not in listed[0]
    assert client.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204


def test_webhooks_and_their_deliveries_are_cursor_paginated_lists(developer, receiver):
    """api.md: "Lists use cursor pagination (`next`, `previous`, `results`)": the developer's webhooks and a
    webhook's delivery log too (before: bare JSON arrays)."""
    _, client = developer
    hooks = [register(client, receiver.url) for _ in range(3)]
    first = client.get("/api/v1/webhooks", {"page_size": 2}).json()
    assert set(first) == {"next", "previous", "results"} and len(first["results"]) == 2
    rest = client.get(first["next"]).json()
    assert [w["id"] for w in first["results"] + rest["results"]] == [h["id"] for h in reversed(hooks)]
    assert rest["next"] is None
    log = client.get(f"/api/v1/webhooks/{hooks[0]['id']}/deliveries").json()
    assert log == {"next": None, "previous": None, "results": []}
    assert client.get("/api/v1/webhooks", {"cursor": "not a cursor!"}).status_code == 400
    assert client.get("/api/v1/webhooks", {"colour": "blue"}).status_code == 400


@pytest.mark.parametrize("secret", ["whsec_short", "not-base64!!", "whsec_" + "A" * 200])
def test_a_bad_secret_is_refused_and_a_good_one_is_kept(developer, receiver, secret):
    _, client = developer
    response = client.post("/api/v1/webhooks", {"url": receiver.url, "purpose": "tdm", "jurisdiction": "JP",
                                                "secret": secret}, format="json")
    assert response.status_code == 400
    good = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert register(client, receiver.url, secret=good)["secret"] == good


def test_the_beat_task_sends_through_the_worker_task(developer, receiver, studio_kaze):
    _, client = developer
    register(client, receiver.url)
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", identifiers=["doi:10.5555/k1"])
    assert webhooks_dispatch_task() == 1  # eager in tests: the delivery task ran too
    assert WebhookDelivery.objects.get().status == "delivered" and len(receiver.requests) == 1


def test_an_operator_registers_a_webhook_in_the_admin_and_sees_the_secret_once(client, operator, developer,
                                                                                receiver):
    key, _ = developer
    client.force_login(operator)
    response = client.post(reverse("admin:sync_webhook_add"), {"api_key": key.pk, "url": receiver.url,
                                                        "purpose": "tdm", "jurisdiction": "jp"}, follow=True)
    webhook = Webhook.objects.get()
    assert webhook.api_key == key and webhook.jurisdiction == "JP"
    assert webhook.secret in response.content.decode()
    assert client.get(reverse("admin:sync_webhook_change", args=[webhook.pk])).status_code == 200
    refused = client.post(reverse("admin:sync_webhook_add"),
                          {"api_key": key.pk, "url": receiver.url, "purpose": "paint", "jurisdiction": "JP"})
    assert refused.status_code == 200 and Webhook.objects.count() == 1
