"""Reading the published keys and checking receipts."""
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from joserfc.jws import JWSRegistry

from audit.selectors import audit_event_hash_at

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


def receipt_verify(*, token: str) -> ReceiptCheck:
    """Check a receipt against this registry: signature by a published key, issuer, payload shape, and that the
    audit log still holds the head the receipt recorded (history up to that point was not rewritten)."""
    check = ReceiptCheck()
    token = (token or "").strip()
    try:
        extracted = jws.extract_compact(token.encode("ascii"))
    except (JoseError, ValueError, UnicodeError) as exc:
        check.problems.append(f"not a compact JWS ({exc})")
        return check
    check.header = dict(extracted.headers())
    if check.header.get("alg") != ALGORITHM:
        check.problems.append(f"algorithm is {check.header.get('alg')!r}, not {ALGORITHM}")
        return check
    row = SigningKey.objects.filter(kid=str(check.header.get("kid", ""))).first()
    if row is None:
        check.problems.append(f"key {check.header.get('kid')!r} is not one of this registry's published keys")
        return check
    check.key_status = row.status
    try:
        verified = jws.deserialize_compact(token, OKPKey.import_key(row.public_jwk), registry=VERIFYING_REGISTRY)
    except JoseError as exc:
        check.problems.append(f"signature does not verify with key {row.kid} ({exc.error})")
        return check
    try:
        payload = json.loads(verified.payload)
    except ValueError:
        check.problems.append("payload is not JSON")
        return check
    if not isinstance(payload, dict):
        check.problems.append("payload is not a JSON object")
        return check
    check.payload = payload
    missing = [name for name in PAYLOAD_FIELDS if name not in payload]
    if missing:
        check.problems.append(f"payload lacks {', '.join(missing)}")
        return check
    if payload["iss"] != settings.KYODAKU_BASE_URL:
        check.problems.append(f"issued by {payload['iss']!r}, not by this registry ({settings.KYODAKU_BASE_URL})")
    head = payload["audit_head"]
    if not (isinstance(head, dict) and isinstance(head.get("seq"), int) and isinstance(head.get("hash"), str)):
        check.problems.append("audit_head is not {seq, hash}")
    else:
        held = audit_event_hash_at(seq=head["seq"])
        if held is None:
            check.problems.append(f"the audit log has no event #{head['seq']} (history was truncated)")
        elif held != head["hash"]:
            check.problems.append(f"the audit log's event #{head['seq']} no longer has the hash the receipt recorded "
                                  "(history was rewritten)")
    if not isinstance(payload["iat"], int):
        check.problems.append("iat is not a number of seconds")
    elif row.status == KeyStatus.RETIRED and row.retired_at is not None:
        issued = datetime.fromtimestamp(payload["iat"], tz=UTC)
        if issued > row.retired_at + RETIREMENT_GRACE:
            check.problems.append(f"signed by key {row.kid} after it was retired ({row.retired_at.isoformat()})")
    check.ok = not check.problems
    return check
