"""Reading the published keys and checking receipts."""
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from joserfc.jws import JWSRegistry

from audit.selectors import audit_event_hash_at, audit_event_hash_held

from .batch import BATCH_PAYLOAD_FIELDS, BATCH_RECEIPT_TYPE, batch_proof_root, licence_mismatches
from .models import KeyStatus, SigningKey
from .services import ALGORITHM

PAYLOAD_FIELDS = ("id", "identifier", "purpose", "jurisdiction", "as_of", "outcome", "basis", "declaration",
                  "audit_head", "iat", "iss")
# A process may finish the batch it is signing when the key is rotated under it.
RETIREMENT_GRACE = timedelta(minutes=5)


class _VerifyingRegistry(JWSRegistry):
    max_payload_length = 64 * 1024  # identifiers can be long URLs; the default 8,000 bytes is too tight


VERIFYING_REGISTRY = _VerifyingRegistry(algorithms=[ALGORITHM], strict_check_header=False)


def _jwk(row: SigningKey) -> dict:
    return {**row.public_jwk, "kid": row.kid, "alg": ALGORITHM, "use": "sig", "status": row.status}


def signing_keys_jwks() -> dict:
    """Every published key, active first, as a JWKS (RFC 7517); retired ones carry "status": "retired"."""
    rows = sorted(SigningKey.objects.all(), key=lambda r: (r.status != KeyStatus.ACTIVE, -r.created_at.timestamp()))
    return {"keys": [_jwk(row) for row in rows]}


@dataclass
class ReceiptCheck:
    ok: bool = False
    problems: list[str] = field(default_factory=list)
    header: dict | None = None
    payload: dict | None = None
    key_status: str | None = None

    def as_dict(self) -> dict:
        return {"ok": self.ok, "problems": self.problems, "header": self.header, "payload": self.payload,
                "key_status": self.key_status}


@dataclass(frozen=True)
class PublishedKey:
    public_jwk: dict
    status: str
    retired_at: datetime | None = None


def _key_from_database(kid: str) -> PublishedKey | None:
    row = SigningKey.objects.filter(kid=kid).first()
    return None if row is None else PublishedKey(row.public_jwk, row.status, row.retired_at)


def keys_from_jwks(jwks: dict) -> dict[str, PublishedKey]:
    """A saved `GET /api/v1/keys` document as published keys by kid (offline verification)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        raise ValueError("not a JWKS: no `keys` list")
    return {
        str(k["kid"]): PublishedKey({"kty": k.get("kty"), "crv": k.get("crv"), "x": k.get("x")},
                                    str(k.get("status", KeyStatus.ACTIVE)))
        for k in keys if isinstance(k, dict) and k.get("kid")
    }


def _check_signature(check: ReceiptCheck, token: str, keys: dict[str, PublishedKey] | None) -> PublishedKey | None:
    """Fill `header` and `payload` when the token is an EdDSA JWS by a published key; None (with the problem noted)
    otherwise. `keys`: a saved JWKS (offline), or None for this registry's database."""
    try:
        extracted = jws.extract_compact((token or "").strip().encode("ascii"))
    except (JoseError, ValueError, UnicodeError) as exc:
        check.problems.append(f"not a compact JWS ({exc})")
        return None
    check.header = dict(extracted.headers())
    if check.header.get("alg") != ALGORITHM:
        check.problems.append(f"algorithm is {check.header.get('alg')!r}, not {ALGORITHM}")
        return None
    kid = str(check.header.get("kid", ""))
    key = _key_from_database(kid) if keys is None else keys.get(kid)
    if key is None:
        check.problems.append(f"key {check.header.get('kid')!r} is not one of this registry's published keys")
        return None
    check.key_status = key.status
    try:
        verified = jws.deserialize_compact(token.strip(), OKPKey.import_key(key.public_jwk),
                                           registry=VERIFYING_REGISTRY)
    except (JoseError, ValueError) as exc:
        check.problems.append(f"signature does not verify with key {kid} ({getattr(exc, 'error', exc)})")
        return None
    try:
        payload = json.loads(verified.payload)
    except ValueError:
        check.problems.append("payload is not JSON")
        return None
    if not isinstance(payload, dict):
        check.problems.append("payload is not a JSON object")
        return None
    check.payload = payload
    return key


def _check_claims(check: ReceiptCheck, key: PublishedKey, fields: tuple, *, offline: bool) -> None:
    """Payload shape, issuer, audit head still held, and no signature by a retired key after its retirement.
    Offline (a saved JWKS), only what the JWKS can tell: shape and signature; the report shows `iss`."""
    payload = check.payload
    missing = [name for name in fields if name not in payload]
    if missing:
        check.problems.append(f"payload lacks {', '.join(missing)}")
        return
    head = payload["audit_head"]
    if not (isinstance(head, dict) and isinstance(head.get("seq"), int) and isinstance(head.get("hash"), str)):
        check.problems.append("audit_head is not {seq, hash}")
    if not isinstance(payload["iat"], int):
        check.problems.append("iat is not a number of seconds")
    if offline or check.problems:
        return
    if payload["iss"] != settings.KYODAKU_BASE_URL:
        check.problems.append(f"issued by {payload['iss']!r}, not by this registry ({settings.KYODAKU_BASE_URL})")
    held = audit_event_hash_at(seq=head["seq"])
    if held is None:
        check.problems.append(f"the audit log has no event #{head['seq']} (history was truncated)")
    elif held != head["hash"] and not audit_event_hash_held(seq=head["seq"], digest=head["hash"]):
        # (audit_event_hash_held also knows the hash an event had before the log was salted: older receipts.)
        check.problems.append(f"the audit log's event #{head['seq']} no longer has the hash the receipt recorded "
                              "(history was rewritten)")
    if key.status == KeyStatus.RETIRED and key.retired_at is not None:
        issued = datetime.fromtimestamp(payload["iat"], tz=UTC)
        if issued > key.retired_at + RETIREMENT_GRACE:
            check.problems.append(f"signed by key {check.header['kid']} after it was retired "
                                  f"({key.retired_at.isoformat()})")


def is_batch_receipt(token: str) -> bool:
    try:
        return jws.extract_compact(token.strip().encode("ascii")).headers().get("typ") == BATCH_RECEIPT_TYPE
    except (JoseError, ValueError, UnicodeError):
        return False


def receipt_verify(*, token: str, keys: dict[str, PublishedKey] | None = None) -> ReceiptCheck:
    """Check a receipt against this registry: signature by a published key, issuer, payload shape, and that the
    audit log still holds the head the receipt recorded (history up to that point was not rewritten).
    With `keys` (from a saved JWKS, `keys_from_jwks`) the check is offline: signature and shape only."""
    check = ReceiptCheck()
    key = _check_signature(check, token, keys)
    if key is not None:
        _check_claims(check, key, PAYLOAD_FIELDS, offline=keys is not None)
    check.ok = not check.problems
    return check


def batch_receipt_verify(*, token: str, results: list | None,
                         keys: dict[str, PublishedKey] | None = None) -> ReceiptCheck:
    """Check a batch receipt as `receipt_verify` does, then every result's `proof` against its signed root: the
    number of results, each proof's index (its position) and the path from the result's own leaf to the root.
    `results` None: the receipt alone (a bare JWS), no answers to check."""
    check = ReceiptCheck()
    key = _check_signature(check, token, keys)
    if key is None:
        return check
    if check.header.get("typ") != BATCH_RECEIPT_TYPE:
        check.problems.append(f"not a batch receipt (typ {check.header.get('typ')!r})")
        return check
    _check_claims(check, key, BATCH_PAYLOAD_FIELDS, offline=keys is not None)
    if check.problems:
        return check
    payload = check.payload
    if results is None:
        check.ok = True
        return check
    if payload["count"] != len(results):
        check.problems.append(f"the receipt covers {payload['count']} answers, the file holds {len(results)}")
        return check
    for position, result in enumerate(results):
        if not isinstance(result, dict):
            check.problems.append(f"result {position}: not an answer")
        elif not isinstance(result.get("proof"), dict) or result["proof"].get("index") != position:
            check.problems.append(f"result {position} ({result.get('id')!r}): no proof for its position")
        elif batch_proof_root(result, count=payload["count"]) != payload["root"]:
            check.problems.append(f"result {position} ({result.get('id')!r}): its proof does not lead to the "
                                  "signed root (the answer was altered)")
        if len(check.problems) >= 20:
            check.problems.append("... (stopped after 20 problems)")
            break
    if len(check.problems) < 20:
        check.problems.extend(licence_mismatches(payload, results)[:20])
    check.ok = not check.problems
    return check
