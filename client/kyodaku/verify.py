"""`kyodaku verify`: receipts and batch proofs checked offline against published keys."""
from __future__ import annotations

import json

from .proofs import BadSignature, jws_verify, proof_root


def documents(text: str):
    """Receipt-bearing documents in a file: a compact JWS per line, or JSON (one document or JSON lines)."""
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            whole = json.loads(stripped)
        except ValueError:
            whole = None
        if whole is not None:
            yield from (whole if isinstance(whole, list) else [whole])
            return
    for number, line in enumerate(stripped.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                yield json.loads(line)
            except ValueError:
                yield {"_error": f"line {number}: not JSON"}
        else:
            yield {"receipt": line}


def licence_id(result: dict) -> str | None:
    licence = result.get("licence")
    if isinstance(licence, dict):
        licence = licence.get("id")
    return None if licence is None else str(licence)


def verify_document(document: dict, jwks: dict, *, iss: str | None = None) -> list[tuple[bool, str]]:
    """(ok, message) for every receipt or proof in one document."""
    if "_error" in document:
        return [(False, document["_error"])]
    out = []
    if "batch_receipt" in document:
        try:
            _, payload = jws_verify(document["batch_receipt"], jwks, typ="kyodaku-batch-receipt+jwt")
        except BadSignature as exc:
            return [(False, f"batch receipt: {exc}")]
        if iss and payload.get("iss") != iss:
            return [(False, f"batch receipt issued by {payload.get('iss')}, not {iss}")]
        signed = payload.get("licences") or {}
        for result in document.get("results", []):
            ok = proof_root(result, payload["count"]) == payload["root"]
            message = "proof OK" if ok else "proof does not lead to the signed root"
            # The leaf commits to basis `licensed`; the payload's `licences` to which licence (docs/evidence.md).
            index = str((result.get("proof") or {}).get("index"))
            mine = licence_id(result) if result.get("basis") == "licensed" else None
            if ok and "error" not in result and signed.get(index) != mine:
                ok, message = False, f"licence {mine} is not the signed one ({signed.get(index)})"
            elif ok and mine:
                message += f", licence {mine} for key {payload.get('sub')}"
            out.append((ok, f"{result.get('id')}: {message} ({payload.get('iss')})"))
        return out
    results = document.get("results", [document])
    for result in results:
        token = result.get("receipt")
        if not token:
            continue
        try:
            _, payload = jws_verify(token, jwks, typ="kyodaku-receipt+jwt")
        except BadSignature as exc:
            out.append((False, f"{result.get('id', 'receipt')}: {exc}"))
            continue
        if iss and payload.get("iss") != iss:
            out.append((False, f"{payload.get('identifier')}: issued by {payload.get('iss')}, not {iss}"))
            continue
        mismatch = [k for k in ("outcome", "basis", "identifier") if k in result and result[k] != payload.get(k)]
        if result.get("licence") is not None and licence_id(result) != payload.get("licence"):
            mismatch.append("licence")
        licensed = f", licence {payload['licence']} for key {payload.get('sub')}" if payload.get("licence") else ""
        out.append((not mismatch, f"{payload.get('identifier')}: " + (
            f"OK {payload.get('outcome')}{licensed} ({payload.get('iss')})" if not mismatch
            else f"differs in {mismatch}")))
    return out
