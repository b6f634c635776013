"""Offline checks of what the registry signed: compact JWS (EdDSA) against a JWKS, and RFC 6962 batch proofs."""
from __future__ import annotations

import base64
import json
from hashlib import sha256

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

LEAF_FIELDS = ("id", "identifier", "purpose", "jurisdiction", "as_of", "outcome", "basis", "declaration")


class BadSignature(Exception):
    pass


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jws_verify(token: str, jwks: dict, *, typ: str | None = None) -> tuple[dict, dict]:
    """(header, payload) of a compact JWS whose EdDSA signature one of `jwks`' keys (by `kid`) verifies."""
    try:
        head_b64, payload_b64, sig_b64 = token.strip().split(".")
        header = json.loads(b64url(head_b64))
        payload_bytes = b64url(payload_b64)
        signature = b64url(sig_b64)
    except (ValueError, TypeError) as exc:
        raise BadSignature(f"not a compact JWS ({exc})") from None
    if header.get("alg") != "EdDSA":
        raise BadSignature(f"unexpected algorithm {header.get('alg')!r}")
    if typ is not None and header.get("typ") != typ:
        raise BadSignature(f"a {header.get('typ')!r}, not a {typ!r}")
    key = next((k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")), None)
    if key is None or key.get("kty") != "OKP" or key.get("crv") != "Ed25519":
        raise BadSignature(f"unknown key {header.get('kid')!r}")
    public = Ed25519PublicKey.from_public_bytes(b64url(key["x"]))
    try:
        public.verify(signature, f"{head_b64}.{payload_b64}".encode("ascii"))
    except InvalidSignature:
        raise BadSignature("the signature does not match") from None
    return header, json.loads(payload_bytes)


def leaf_bytes(result: dict) -> bytes:
    if "error" in result:
        error = result["error"]
        return rfc8785.dumps({"id": result["id"], "error": error.get("code") if isinstance(error, dict) else error})
    leaf = {name: result.get(name) for name in LEAF_FIELDS}
    declaration = leaf["declaration"]
    if isinstance(declaration, dict):
        declaration = declaration.get("id")
    leaf["declaration"] = None if declaration is None else str(declaration)
    return rfc8785.dumps(leaf)


def _node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


def proof_root(result: dict, count: int) -> str | None:
    """The root (hex) that the result's `proof` leads to (RFC 9162 2.1.3.2), or None when it cannot."""
    proof = result.get("proof") or {}
    index, hashes = proof.get("index"), proof.get("hashes")
    if not isinstance(index, int) or not isinstance(hashes, list) or not 0 <= index < count:
        return None
    try:
        path = [bytes.fromhex(h) for h in hashes]
    except (TypeError, ValueError):
        return None
    fn, sn = index, count - 1
    digest = sha256(b"\x00" + leaf_bytes({k: v for k, v in result.items() if k != "proof"})).digest()
    for sibling in path:
        if sn == 0 or len(sibling) != 32:
            return None
        if fn & 1 or fn == sn:
            digest = _node(sibling, digest)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            digest = _node(digest, sibling)
        fn >>= 1
        sn >>= 1
    return digest.hex() if sn == 0 else None
