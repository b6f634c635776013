"""Signed receipts for lookup answers, and the signing keys behind them.

A receipt is a compact JWS (RFC 7515), algorithm EdDSA over Ed25519 (RFC 8037), whose payload is the canonical
answer (api.md, "Evidence"). Keys are published in the database (public part, audited) and kept privately in a
setting or a file (receipts.keystore).
"""
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone
from joserfc.jwk import OKPKey
from joserfc.jws import JWSRegistry
from joserfc.util import json_b64encode, urlsafe_b64encode

from audit.selectors import audit_head
from audit.services import PendingEvent, audit_record_many
from core.errors import Conflict, DomainError

from . import keystore
from .audit_tracking import signing_key_snapshot
from .models import KeyStatus, SigningKey

logger = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
RECEIPT_TYPE = "kyodaku-receipt+jwt"  # explicit typing (RFC 8725 §3.11): a receipt is never mistaken for a login token
JWS_REGISTRY = JWSRegistry(algorithms=[ALGORITHM])


@dataclass(frozen=True)
class ReceiptSigner:
    """One key, ready to sign many payloads: the protected header is encoded once.

    `sign` produces exactly what `joserfc.jws.serialize_compact` produces (Ed25519 signatures are
    deterministic; a test pins the two byte for byte) without re-validating header and key for every receipt.
    """

    kid: str
    key: OKPKey
    header_segment: bytes

    @classmethod
    def for_key(cls, key: OKPKey) -> "ReceiptSigner":
        header = {"alg": ALGORITHM, "kid": keystore.kid_of(key), "typ": RECEIPT_TYPE}
        JWS_REGISTRY.check_header(header)
        JWS_REGISTRY.get_alg(ALGORITHM).check_key(key)
        return cls(kid=keystore.kid_of(key), key=key, header_segment=json_b64encode(header))

    @property
    def header(self) -> dict:
        return {"alg": ALGORITHM, "kid": self.kid, "typ": RECEIPT_TYPE}

    def sign(self, payload: bytes, *, typ: str = RECEIPT_TYPE) -> str:
        header_segment = self.header_segment if typ == RECEIPT_TYPE else json_b64encode({**self.header, "typ": typ})
        signing_input = header_segment + b"." + urlsafe_b64encode(payload)
        signature = JWS_REGISTRY.get_alg(ALGORITHM).sign(signing_input, self.key)
        return (signing_input + b"." + urlsafe_b64encode(signature)).decode("ascii")


_SIGNERS: dict[str, ReceiptSigner] = {}


class SigningKeyUnavailable(DomainError, ImproperlyConfigured):
    """No usable signing key: receipts are refused (503), never signed by an improvised or unpublished key.

    The client sees a fixed sentence; the operator's reason (which setting, which file) is `str(exc)` and logged.
    """

    status = 503
    code = "signing-key-unavailable"
    title = "Service unavailable"
    PUBLIC_DETAIL = ("Receipts cannot be signed now: this registry has no usable signing key. Ask without "
                     "receipt=true, or try again later.")

    def __init__(self, reason: str):
        super().__init__(self.PUBLIC_DETAIL)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def _audit_key(events: list[PendingEvent], action: str, row: SigningKey, before=None) -> None:
    events.append(PendingEvent(action, "signing_key", row.kid, before, signing_key_snapshot(row)))


def _retire_active(*, at: datetime, events: list[PendingEvent]) -> SigningKey | None:
    current = SigningKey.objects.select_for_update().filter(status=KeyStatus.ACTIVE).first()
    if current is not None:
        before = signing_key_snapshot(current)
        current.status, current.retired_at = KeyStatus.RETIRED, at
        current.save(update_fields=["status", "retired_at"])
        _audit_key(events, "signing_key.retire", current, before)
    return current


def _activate(*, key: OKPKey, at: datetime, events: list[PendingEvent]) -> SigningKey:
    kid = keystore.kid_of(key)
    row = SigningKey.objects.select_for_update().filter(kid=kid).first()
    if row is None:
        row = SigningKey.objects.create(kid=kid, public_jwk=keystore.public_jwk(key), status=KeyStatus.ACTIVE,
                                        created_at=at)
        _audit_key(events, "signing_key.create", row)
    else:  # an operator put a retired key back into service through the setting
        before = signing_key_snapshot(row)
        row.status, row.retired_at = KeyStatus.ACTIVE, None
        row.save(update_fields=["status", "retired_at"])
        _audit_key(events, "signing_key.reactivate", row, before)
    return row


def signing_key_ensure(*, actor=None) -> SigningKey:
    """The active signing key; publishes the setting's key, or creates one on first use when allowed."""
    active = SigningKey.objects.filter(status=KeyStatus.ACTIVE).first()
    from_setting = keystore.setting_key()
    if from_setting is not None:
        if active is not None and active.kid == keystore.kid_of(from_setting):
            return active
        return _publish(key=from_setting, actor=actor)
    if active is not None:
        return active
    if not settings.KYODAKU_SIGNING_KEY_AUTOCREATE:
        raise SigningKeyUnavailable(
            "No receipt-signing key: run `manage.py rotate_signing_key` or set KYODAKU_SIGNING_KEY.")
    key = keystore.generate_key()
    keystore.write_key(key)
    try:
        return _publish(key=key, actor=actor, only_if_none=True)
    except IntegrityError:
        # Another process published its first key at the same moment: use that one, drop ours.
        keystore.discard_key(keystore.kid_of(key))
        return SigningKey.objects.get(status=KeyStatus.ACTIVE)


def _publish(*, key: OKPKey, actor, only_if_none: bool = False) -> SigningKey:
    """Make `key` the active key (retiring the current one). Concurrent publishers of the same key are serialised
    by the lock on the active row and the key id's uniqueness; the loser returns the winner's row."""
    kid = keystore.kid_of(key)
    at = timezone.now()
    try:
        with transaction.atomic():
            current = SigningKey.objects.select_for_update().filter(status=KeyStatus.ACTIVE).first()
            if current is not None and current.kid == kid:
                return current
            if current is not None and only_if_none:
                raise IntegrityError("a signing key is already active")
            events: list[PendingEvent] = []
            if current is not None:
                _retire_active(at=at, events=events)
            row = _activate(key=key, at=at, events=events)
            audit_record_many(actor=actor, events=events, at=at)
    except IntegrityError:
        if only_if_none:
            raise
        return SigningKey.objects.get(status=KeyStatus.ACTIVE)
    logger.info("receipt-signing key %s published", row.kid)
    return row


def signing_key_rotate(*, actor=None, keep_retired_private_key: bool = False) -> tuple[SigningKey, SigningKey | None]:
    """Start signing with a new key; the old one stays published as retired so its receipts still verify.

    Returns (new key, retired key or None). The retired key's private file is deleted after the switch is
    committed (it must never sign again) unless `keep_retired_private_key`.
    """
    if keystore.setting_key() is not None:
        raise Conflict("The signing key comes from the KYODAKU_SIGNING_KEY setting: put the new key there; the "
                       "old one is retired (and stays published) the first time the new one is used.")
    key = keystore.generate_key()
    keystore.write_key(key)
    at = timezone.now()
    try:
        with transaction.atomic():
            events: list[PendingEvent] = []
            retired = _retire_active(at=at, events=events)
            row = _activate(key=key, at=at, events=events)
            audit_record_many(actor=actor, events=events, at=at)
    except Exception:
        keystore.discard_key(keystore.kid_of(key))
        raise
    if retired is not None and not keep_retired_private_key:
        keystore.discard_key(retired.kid)
        _SIGNERS.pop(retired.kid, None)
    return row, retired


def receipt_signer() -> ReceiptSigner:
    """The signer for the active key (one query: which key is active).

    The key is published (in the database, so in `GET /api/v1/keys`) before this returns: nothing is ever signed
    by a key a verifier cannot fetch. No usable key raises SigningKeyUnavailable (a 503 problem over HTTP).
    """
    try:
        row = signing_key_ensure()
    except SigningKeyUnavailable:
        raise
    except ImproperlyConfigured as exc:  # a malformed KYODAKU_SIGNING_KEY, an unwritable key directory
        raise SigningKeyUnavailable(str(exc)) from exc
    signer = _SIGNERS.get(row.kid)
    if signer is None:
        key = keystore.load_key(row.kid)
        if key is None:
            raise SigningKeyUnavailable(
                f"Signing key {row.kid} is active but its private key is neither in KYODAKU_SIGNING_KEY nor in "
                f"{keystore.key_path(row.kid)}.")
        signer = _SIGNERS[row.kid] = ReceiptSigner.for_key(key)
    return signer


def signing_key_check() -> tuple[bool, str]:
    """(ready, detail) for /readyz: a deployment that cannot sign receipts is not ready. Publishes the active key
    (and, where KYODAKU_SIGNING_KEY_AUTOCREATE allows, makes the first one) so it is in the JWKS before first use."""
    try:
        return True, receipt_signer().kid
    except SigningKeyUnavailable as exc:
        logger.error("receipt signing unavailable: %s", exc.reason)
        return False, "no usable signing key"


def _as_time(value) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def receipt_payload(result: dict, *, head: dict, iat: int, iss: str, sub: str | None) -> dict:
    """The signed content for one lookup result (api.md, "Evidence"); `sub` is the asking API key's public prefix,
    so that one developer's receipt is not another's proof."""
    declaration = result.get("declaration")
    if isinstance(declaration, dict):
        declaration = declaration.get("id")
    payload = {
        "id": result.get("id"),
        "identifier": result.get("identifier"),
        "purpose": result.get("purpose"),
        "jurisdiction": result.get("jurisdiction"),
        "as_of": _as_time(result.get("as_of")),
        "outcome": result.get("outcome"),
        "basis": result.get("basis"),
        "declaration": str(declaration) if declaration is not None else None,
        "audit_head": {"seq": head["seq"], "hash": head["hash"]},
        "iat": iat,
        "iss": iss,
        "sub": sub,
    }
    if result.get("verified") is not None:  # matched through a web identifier: was its holder's control verified
        payload["verified"] = result["verified"]
    licence = result.get("licence")
    if isinstance(licence, dict):  # basis licensed: the licence to the asking key's organisation (docs/licences.md)
        payload["licence"] = licence.get("id")
    return payload


def canonical_payload(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def receipts_sign(results: list[dict], *, signer: ReceiptSigner, head: dict, sub: str | None = None,
                  iat: int | None = None) -> list[str | None]:
    """A receipt for each result, None for error entries. Pure: no database."""
    iat = int(time.time()) if iat is None else iat
    iss = settings.KYODAKU_BASE_URL
    return [
        None if "error" in result else signer.sign(canonical_payload(receipt_payload(result, head=head, iat=iat,
                                                                                        iss=iss, sub=sub)))
        for result in results
    ]


def receipts_attach(results: list[dict], *, sub: str | None = None) -> None:
    """Add a `receipt` (compact JWS, EdDSA) to each non-error result dict, in place.

    Two queries whatever the batch size: the active key and the audit log head. The head is read after the
    answers were computed, so it covers every change they could have seen.
    """
    if not results:
        return
    signer = receipt_signer()
    head = audit_head()
    for result, receipt in zip(results, receipts_sign(results, signer=signer, head=head, sub=sub), strict=True):
        if receipt is not None:
            result["receipt"] = receipt
