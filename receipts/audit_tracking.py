"""Signing keys are audited like registry data: swapping a published public key behind the service's back is
caught by `verify_audit`."""
from audit import snapshots
from audit.snapshots import iso


def signing_key_snapshot(k) -> dict:
    return {"public_jwk": k.public_jwk, "status": k.status, "created_at": iso(k.created_at),
            "retired_at": iso(k.retired_at)}


def register() -> None:
    from .models import SigningKey

    snapshots.register("signing_key", snapshot=signing_key_snapshot, current_rows=lambda: SigningKey.objects.all())
