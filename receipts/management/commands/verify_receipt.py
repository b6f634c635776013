import json
import sys

from django.core.management.base import CommandError

from receipts.selectors import batch_receipt_verify, is_batch_receipt, keys_from_jwks, receipt_verify
from registry.management.output import KyodakuCommand


def receipts_in(text: str) -> list[tuple[str, list | None]]:
    """The receipts a file holds, each as (token, the answers a batch receipt covers or None): compact JWSs (one
    per line), one lookup result with a `receipt`, a whole lookup response (every result's receipt, or its
    `batch_receipt` with every result's proof), or JSON lines of those (one result or response per line, as
    docs/examples/check_ids.py writes answers.jsonl; lines without a receipt are skipped)."""
    text = text.strip()
    if not text.startswith(("{", "[")):
        return [(line.strip(), None) for line in text.splitlines() if line.strip()]
    try:
        documents = [json.loads(text)]
    except ValueError as exc:
        documents = _json_lines(text, exc)
    found = [receipt for document in documents for receipt in _receipts_of(document)]
    if not found:
        raise CommandError("The JSON holds no `receipt` and no `batch_receipt`.")
    return found


def _json_lines(text: str, whole_error: ValueError) -> list:
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if len(lines) < 2:
        raise CommandError(f"The file is neither a compact JWS nor JSON ({whole_error}).")
    documents = []
    for number, line in lines:
        try:
            documents.append(json.loads(line))
        except ValueError as exc:
            raise CommandError(f"Line {number} is not JSON ({exc}); a file of JSON lines holds one lookup result "
                               "or response per line.") from exc
    return documents


def _receipts_of(document) -> list[tuple[str, list | None]]:
    results = document.get("results", [document]) if isinstance(document, dict) else document
    if isinstance(document, dict) and isinstance(document.get("batch_receipt"), str):
        return [(document["batch_receipt"], results if isinstance(results, list) else [])]
    if not isinstance(results, list):
        return []
    return [(r["receipt"], None) for r in results if isinstance(r, dict) and isinstance(r.get("receipt"), str)]


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc


def _line(check, *, batch: bool, results, offline: bool) -> str:
    if not check.ok:
        return f"FAIL {'; '.join(check.problems)}"
    p = check.payload
    head = f"key {check.header['kid']} ({check.key_status}), audit head #{p['audit_head']['seq']}"
    if offline:
        head += f", issued by {p['iss']}"
    if batch:
        answers = "signature only, no answers given" if results is None else f"all {p['count']} proofs lead to it"
        licensed = p.get("licences") or {}
        licences = (f"; {len(licensed)} licensed to key {p.get('sub')} (licences "
                    f"{', '.join(sorted(set(licensed.values())))})" if licensed else "")
        return (f"OK   batch of {p['count']} {p['purpose']}@{p['jurisdiction']} as of {p['as_of']}: root "
                f"{p['root'][:16]}..., {answers}{licences}; {head}")
    licence = f", licence {p['licence']} for key {p.get('sub')}" if p.get("licence") else ""
    return (f"OK   {p['identifier']} {p['purpose']}@{p['jurisdiction']} as of {p['as_of']}: "
            f"{p['outcome']} ({p['basis']}{licence}); {head}")


def _expect_issuer(check, iss: str | None) -> None:
    if iss and check.payload is not None and check.payload.get("iss") != iss.rstrip("/"):
        check.problems.append(f"issued by {check.payload.get('iss')!r}, not by {iss.rstrip('/')!r}")
        check.ok = False


class Command(KyodakuCommand):
    help = ("Verify receipts: their EdDSA signature with the published key named by their kid (active or retired), "
            "their issuer, and that the audit log still holds the head they recorded. FILE holds a compact JWS, a "
            "lookup result or a whole lookup response; for a batch receipt (receipt=batch) every result's proof is "
            "checked against the signed root. '-' reads standard input. With --jwks (a saved GET /api/v1/keys) the "
            "check is offline: signatures and proofs only, no database; --iss adds the issuer you expect. FILE may "
            "also hold JSON lines (one result or response per line, e.g. check_ids.py's answers.jsonl) or one JWS per "
            "line. Exit code 0 when every receipt verifies, 1 otherwise.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="File with the receipt(s); '-' for standard input.")
        parser.add_argument("--jwks", metavar="FILE",
                            help="Verify offline against this saved JWKS instead of this registry's database.")
        parser.add_argument("--iss", metavar="URL",
                            help="The registry's base URL every receipt must name as `iss` (offline: otherwise "
                                 "the issuer is only shown).")

    def handle(self, *args, **options):
        text = _read(options["file"])
        keys = None
        if options.get("jwks"):
            try:
                keys = keys_from_jwks(json.loads(_read(options["jwks"])))
            except ValueError as exc:
                raise CommandError(f"{options['jwks']} is not a JWKS ({exc}).") from exc
        checks, lines = [], []
        for token, results in receipts_in(text):
            batch = results is not None or is_batch_receipt(token)
            if batch:
                check = batch_receipt_verify(token=token, results=results, keys=keys)
            else:
                check = receipt_verify(token=token, keys=keys)
            _expect_issuer(check, options.get("iss"))
            checks.append(check)
            lines.append(_line(check, batch=batch, results=results, offline=keys is not None))
        failed = sum(not c.ok for c in checks)
        self.emit(options, {"ok": not failed, "offline": keys is not None, "receipts": [c.as_dict() for c in checks]},
                  "\n".join(lines))
        if failed:
            raise CommandError(f"{failed} of {len(checks)} receipt(s) failed verification.")
