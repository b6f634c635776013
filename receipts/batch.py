"""Batch receipts (sync.md, "Batch receipts"): one signature over the Merkle root of a whole batch's answers.

A leaf is the RFC 8785 (JCS) canonical JSON of the answer's `{id, identifier, purpose, jurisdiction, as_of,
outcome, basis, declaration}` (`declaration` as its id or null), or `{id, error}` (the error's code) for a bad id.
The tree is RFC 6962's (receipts.merkle). The signed payload names the root, the number of leaves, the question
(`purpose`, `jurisdiction`, `as_of`), the audit head, `iat`, `iss` and `sub` (the asking key). Each result gets
`proof`: its leaf index and audit path, hex. Pure except `batch_receipt_attach`, which reads the active key and
the audit head (two queries, as single receipts).

Licensed answers (basis `licensed`, api.md: "Receipts carry the licence id and `sub`"): sync.md fixes the leaf's
fields, so the licence id is not in the leaf. The signed payload instead carries `licences`, an object from the
leaf index (decimal string) of every licensed answer to its licence id, present only when the batch has one. The
leaf commits to basis `licensed` for that index, the payload to which licence and (`sub`) whose key: a verifier
checks both with the public keys alone (`licence_mismatches`).
"""
import time

import rfc8785
from django.conf import settings

from audit.selectors import audit_head

from .merkle import MerkleTree, root_from_path
from .services import ALGORITHM, ReceiptSigner, receipt_signer

BATCH_RECEIPT_TYPE = "kyodaku-batch-receipt+jwt"  # never mistaken for a single receipt or a login token
BATCH_PAYLOAD_FIELDS = ("root", "count", "purpose", "jurisdiction", "as_of", "audit_head", "iat", "iss", "sub")
LEAF_FIELDS = ("id", "identifier", "purpose", "jurisdiction", "as_of", "outcome", "basis", "declaration")


def batch_leaf(result: dict) -> dict:
    """What the tree commits to for one result: the question and its answer, nothing descriptive."""
    if "error" in result:
        error = result["error"]
        return {"id": result["id"], "error": error["code"] if isinstance(error, dict) else error}
    leaf = {name: result.get(name) for name in LEAF_FIELDS}
    declaration = leaf["declaration"]
    if isinstance(declaration, dict):
        declaration = declaration.get("id")
    leaf["declaration"] = None if declaration is None else str(declaration)
    return leaf


def leaf_bytes(result: dict) -> bytes:
    return rfc8785.dumps(batch_leaf(result))


def batch_tree(results: list[dict]) -> MerkleTree:
    return MerkleTree([leaf_bytes(result) for result in results])


def proof_of(tree: MerkleTree, index: int) -> dict:
    return {"index": index, "hashes": [digest.hex() for digest in tree.path(index)]}


def batch_proof_root(result: dict, *, count: int) -> str | None:
    """The root (hex) that the result's `proof` leads to from its own leaf, or None when the proof is malformed."""
    proof = result.get("proof")
    if not isinstance(proof, dict) or not isinstance(proof.get("index"), int) \
            or not isinstance(proof.get("hashes"), list):
        return None
    try:
        path = [bytes.fromhex(h) for h in proof["hashes"]]
    except (TypeError, ValueError):
        return None
    if any(len(digest) != 32 for digest in path):
        return None
    leaf = {k: v for k, v in result.items() if k != "proof"}
    try:
        root = root_from_path(leaf=leaf_bytes(leaf), index=proof["index"], size=count, path=path)
    except (KeyError, TypeError, rfc8785.CanonicalizationError):
        return None
    return None if root is None else root.hex()


def licence_id_of(result: dict) -> str | None:
    licence = result.get("licence")
    if isinstance(licence, dict):
        licence = licence.get("id")
    return None if licence is None else str(licence)


def batch_licences(results: list[dict]) -> dict[str, str]:
    """Leaf index -> licence id, for the licensed answers of a batch."""
    return {str(i): licence_id_of(r) for i, r in enumerate(results)
            if r.get("basis") == "licensed" and licence_id_of(r) is not None}


def licence_mismatches(payload: dict, results: list) -> list[str]:
    """Where the results' licences differ from the signed `licences` (a licensed answer naming another licence, or
    one the receipt does not know; a licence signed for an answer that is not licensed)."""
    signed = payload.get("licences") or {}
    if not isinstance(signed, dict):
        return ["licences is not an object"]
    problems = []
    for position, result in enumerate(results):
        if not isinstance(result, dict) or "error" in result:
            continue
        mine = licence_id_of(result) if result.get("basis") == "licensed" else None
        if signed.get(str(position)) != mine:
            problems.append(f"result {position} ({result.get('id')!r}): its licence {mine} is not the signed one "
                            f"({signed.get(str(position))})")
    return problems


def batch_receipt_sign(results: list[dict], *, signer: ReceiptSigner, head: dict, sub: str | None,
                       purpose: str, jurisdiction: str, as_of: str, iat: int | None = None) -> tuple[str, list[dict]]:
    """(the compact JWS over the batch's root, a proof per result). Pure: no database."""
    tree = batch_tree(results)
    payload = {
        "root": tree.root.hex(), "count": tree.size, "purpose": purpose, "jurisdiction": jurisdiction,
        "as_of": as_of, "audit_head": {"seq": head["seq"], "hash": head["hash"]},
        "iat": int(time.time()) if iat is None else iat, "iss": settings.KYODAKU_BASE_URL, "sub": sub,
    }
    licences = batch_licences(results)
    if licences:
        payload["licences"] = licences
    token = signer.sign(rfc8785.dumps(payload), typ=BATCH_RECEIPT_TYPE)
    return token, [proof_of(tree, i) for i in range(tree.size)]


def batch_receipt_attach(results: list[dict], *, sub: str | None, purpose: str, jurisdiction: str) -> str:
    """Add `proof` to every result (in place) and return the batch receipt. Two queries: the active key and the
    audit head, read after the answers were computed so that it covers every change they could have seen.

    Results of the same work share nested dicts (consent.lookup.lookup_many), never the result dicts themselves,
    so setting `proof` on each is safe.
    """
    signer = receipt_signer()
    head = audit_head()
    answered = next((r for r in results if "error" not in r), {})  # the question as the resolver normalised it
    token, proofs = batch_receipt_sign(
        results, signer=signer, head=head, sub=sub, purpose=answered.get("purpose", purpose),
        jurisdiction=answered.get("jurisdiction", jurisdiction), as_of=answered.get("as_of"))  # null: no id valid
    for result, proof in zip(results, proofs, strict=True):
        result["proof"] = proof
    return token


__all__ = ["ALGORITHM", "BATCH_PAYLOAD_FIELDS", "BATCH_RECEIPT_TYPE", "batch_leaf", "batch_licences",
           "batch_proof_root", "licence_mismatches",
           "batch_receipt_attach", "batch_receipt_sign", "batch_tree", "leaf_bytes"]
