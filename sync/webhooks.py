"""Webhooks (sync.md, "Webhooks"): the change feed pushed to an AI developer's URL for one (purpose, jurisdiction),
signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`, library `standardwebhooks`).

Messages are made from the change feed (sync.changes) by a beat task, never by the services that change the
registry, so the feed and the webhooks cannot disagree. A webhook has at most one pending delivery (a database
constraint): messages arrive in order, and while a receiver is down its changes wait in the feed and go out in
one message when it is back. A failed attempt is retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h
(about 27.6 hours in all); when the last one fails the delivery is `failed` and the webhook is disabled, with the
reason, until its owner enables it again (which re-sends the failed changes).
"""
import base64
import secrets
from datetime import timedelta

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as StandardWebhook

from audit.selectors import audit_head
from consent.lookup import iso_z
from consent.vocabulary import validate_jurisdiction, validate_purpose
from core.errors import NotFound, ValidationFailed, field_error

from .changes import changes_for_pair
from .models import DeliveryStatus, Webhook, WebhookDelivery
from .webhook_http import TargetRefused, post, public_address, target_check

RETRY_DELAYS = (5, 300, 1800, 7200, 18000, 36000, 36000)  # seconds after attempts 1..7; the 8th failure gives up
MAX_CHANGES_PER_MESSAGE = 1000
SECRET_PREFIX = "whsec_"
MESSAGE_TYPE = "kyodaku.changes"


def _secret_checked(secret: str | None) -> str:
    if not secret:
        return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
    try:
        raw = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError:
        raw = b""
    if not 24 <= len(raw) <= 64:
        raise ValidationFailed("The secret is not a Standard Webhooks secret.", errors=[field_error(
            "secret", "invalid", "whsec_ followed by 24 to 64 random bytes in base64; or leave it out and use the "
                                 "one Kyodaku makes.")])
    return secret


def webhook_target_validate(url: str) -> str:
    """A URL Kyodaku may post to: https, a host whose addresses are all public (checked now, and again at every
    attempt)."""
    try:
        _, host, port, _ = target_check(url)
        public_address(host, port)
    except TargetRefused as exc:
        raise ValidationFailed(f"Kyodaku will not post to this URL: {exc}.",
                               errors=[field_error("url", "refused-target", str(exc))]) from None
    return url


def webhook_register(*, api_key, url: str, purpose: str, jurisdiction: str,
                     secret: str | None = None) -> tuple[Webhook, str]:
    """Register a webhook for the changes after now; returns it with its secret (shown to the owner once)."""
    purpose, jurisdiction = validate_purpose(purpose), validate_jurisdiction(jurisdiction)
    secret = _secret_checked(secret)
    webhook = Webhook.objects.create(api_key=api_key, url=webhook_target_validate(url), purpose=purpose,
                                     jurisdiction=jurisdiction, secret=secret, cursor=audit_head()["seq"])
    return webhook, secret


def webhook_enable(*, webhook: Webhook) -> Webhook:
    """Turn a disabled webhook back on; the changes of its failed delivery, if any, are sent again."""
    with transaction.atomic():
        webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
        if webhook.active:
            return webhook
        failed = webhook.deliveries.filter(status=DeliveryStatus.FAILED).order_by("-created_at").first()
        if failed is not None and failed.after < webhook.cursor:
            webhook.cursor = failed.after
        webhook.active, webhook.disabled_at, webhook.disabled_reason = True, None, ""
        webhook.save(update_fields=["active", "disabled_at", "disabled_reason", "cursor"])
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    webhook.delete()


def webhooks_of(*, api_key):
    return Webhook.objects.filter(api_key=api_key).order_by("-created_at", "-id")


def webhook_of(*, api_key, webhook_id) -> Webhook:
    """The key's own webhook; another key's is 404, exactly as one that does not exist."""
    webhook = Webhook.objects.filter(api_key=api_key, pk=webhook_id).first()
    if webhook is None:
        raise NotFound("No such webhook.")
    return webhook


def webhook_deliveries(*, webhook: Webhook):
    """Newest first; the caller pages it (api.md: lists use cursor pagination)."""
    return webhook.deliveries.defer("payload").order_by("-created_at", "-id")


# ----------------------------------------------------------------------------------------- making messages

def _message(webhook: Webhook, *, after: int, entries: list[dict], next_cursor: int) -> str:
    return orjson.dumps({
        "type": MESSAGE_TYPE, "timestamp": iso_z(timezone.now()),
        "data": {"webhook": str(webhook.pk), "purpose": webhook.purpose, "jurisdiction": webhook.jurisdiction,
                 "after": str(after), "results": entries, "next": str(next_cursor)},
    }, option=orjson.OPT_SORT_KEYS).decode()


def _delivery_make(webhook_id, *, head: int) -> WebhookDelivery | None:
    """The next message of one webhook, if it has changes for its pair and nothing pending. The cursor advances
    past changes for other pairs even when no message is made."""
    with transaction.atomic():
        webhook = Webhook.objects.select_for_update().filter(pk=webhook_id, active=True).first()
        if webhook is None or webhook.cursor >= head or webhook.deliveries.filter(
                status=DeliveryStatus.PENDING).exists():
            return None
        after = webhook.cursor
        entries, next_cursor = changes_for_pair(purpose=webhook.purpose, jurisdiction=webhook.jurisdiction,
                                                after=after, limit=MAX_CHANGES_PER_MESSAGE, head=head,
                                                organisation_id=webhook.api_key.organisation_id)
        webhook.cursor = next_cursor
        webhook.save(update_fields=["cursor"])
        if not entries:
            return None
        return WebhookDelivery.objects.create(
            webhook=webhook, after=after, cursor=next_cursor, count=len(entries),
            payload=_message(webhook, after=after, entries=entries, next_cursor=next_cursor),
            next_attempt_at=timezone.now())


def webhooks_dispatch() -> list[str]:
    """Make the next message of every active webhook that is behind, and list every delivery whose attempt is due
    (the beat task sends each to a worker)."""
    head = audit_head()["seq"]
    behind = Webhook.objects.filter(active=True, cursor__lt=head).values_list("pk", flat=True)
    for webhook_id in list(behind):
        try:
            _delivery_make(webhook_id, head=head)
        except IntegrityError:  # another dispatcher made it first
            continue
    due = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now(),
                                         webhook__active=True)
    return [str(pk) for pk in due.values_list("pk", flat=True)]


# --------------------------------------------------------------------------------------------------- sending

def _lease() -> timedelta:
    return timedelta(seconds=2 * settings.KYODAKU_WEBHOOK_TIMEOUT + 60)


def _claim(delivery_id) -> WebhookDelivery | None:
    """Take a due attempt (compare-and-set on its time, so one worker makes it however often it is queued)."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING, webhook__active=True,
                                             next_attempt_at__lte=now).update(next_attempt_at=now + _lease())
    return WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id) if claimed else None


def signed_headers(delivery: WebhookDelivery, *, secret: str, at) -> dict[str, str]:
    signature = StandardWebhook(secret).sign(msg_id=delivery.message_id, timestamp=at, data=delivery.payload)
    return {"webhook-id": delivery.message_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature}


def webhook_delivery_attempt(*, delivery_id) -> WebhookDelivery | None:
    """Make one due attempt of a delivery and record its outcome; None when it was not due (or not pending)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    now = timezone.now()
    attempt = post(delivery.webhook.url, body=delivery.payload.encode(),
                   headers=signed_headers(delivery, secret=delivery.webhook.secret, at=now))
    delivery.attempts += 1
    delivery.last_attempt_at, delivery.last_status, delivery.last_error = now, attempt.status, attempt.error
    if attempt.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, now, None
    elif delivery.attempts > len(RETRY_DELAYS):
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
    else:
        delivery.next_attempt_at = now + timedelta(seconds=RETRY_DELAYS[delivery.attempts - 1])
    with transaction.atomic():
        delivery.save(update_fields=["attempts", "last_attempt_at", "last_status", "last_error", "status",
                                     "delivered_at", "next_attempt_at"])
        if delivery.status == DeliveryStatus.FAILED:
            _disable(delivery, at=now)
    return delivery


def _disable(delivery: WebhookDelivery, *, at) -> None:
    hours = (at - delivery.created_at).total_seconds() / 3600
    Webhook.objects.filter(pk=delivery.webhook_id).update(
        active=False, disabled_at=at,
        disabled_reason=(f"Disabled: {delivery.attempts} attempts over {hours:.1f} hours to deliver "
                         f"{delivery.message_id} failed (last: {delivery.last_error}). Fix the receiver, then "
                         f"enable the webhook again; the failed changes are sent again."))
