import json
import sys

from django.core.management.base import CommandError

from receipts.selectors import receipt_verify
from registry.management.output import KyodakuCommand


def receipts_in(text: str) -> list[str]:
    """The receipts a file holds: a bare compact JWS, one lookup result with a `receipt`, or a whole lookup
    response (every result's receipt)."""
    text = text.strip()
    if not text.startswith(("{", "[")):
        return [text]
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"The file is neither a compact JWS nor JSON ({exc}).") from exc
    results = document.get("results", [document]) if isinstance(document, dict) else document
    found = [r["receipt"] for r in results if isinstance(r, dict) and isinstance(r.get("receipt"), str)]
    if not found:
        raise CommandError("The JSON holds no `receipt`.")
    return found


class Command(KyodakuCommand):
    help = ("Verify a receipt against this registry: its EdDSA signature with the published key named by its kid "
            "(active or retired), its issuer, and that the audit log still holds the head it recorded. FILE holds a "
            "compact JWS, a lookup result or a whole lookup response ('-' reads standard input). Exit code 0 when "
            "every receipt verifies, 1 otherwise.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="File with the receipt(s); '-' for standard input.")

    def handle(self, *args, **options):
        try:
            text = sys.stdin.read() if options["file"] == "-" else open(options["file"], encoding="utf-8").read()
        except OSError as exc:
            raise CommandError(f"Cannot read {options['file']}: {exc.strerror}.") from exc
        checks = [receipt_verify(token=token) for token in receipts_in(text)]
        lines = []
        for check in checks:
            if check.ok:
                p = check.payload
                lines.append(f"OK   {p['identifier']} {p['purpose']}@{p['jurisdiction']} as of {p['as_of']}: "
                             f"{p['outcome']} ({p['basis']}); key {check.header['kid']} ({check.key_status}), "
                             f"audit head #{p['audit_head']['seq']}")
            else:
                lines.append(f"FAIL {'; '.join(check.problems)}")
        failed = sum(not c.ok for c in checks)
        self.emit(options, {"ok": not failed, "receipts": [c.as_dict() for c in checks]}, "\n".join(lines))
        if failed:
            raise CommandError(f"{failed} of {len(checks)} receipt(s) failed verification.")
