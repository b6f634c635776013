from receipts import keystore
from receipts.services import signing_key_rotate
from registry.management.output import KyodakuCommand


class Command(KyodakuCommand):
    help = ("Create a new receipt-signing key (Ed25519) in KYODAKU_SIGNING_KEY_DIR and make it the active one. The "
            "previous key stays published in GET /api/v1/keys with \"status\": \"retired\", so receipts it signed "
            "still verify; its private key file is deleted unless --keep-retired-private-key.")

    def add_arguments(self, parser):
        parser.add_argument("--keep-retired-private-key", action="store_true",
                            help="Keep the retired key's private file (by default it is deleted: it must never "
                                 "sign again).")

    def handle(self, *args, **options):
        new, retired = signing_key_rotate(keep_retired_private_key=options["keep_retired_private_key"])
        payload = {"kid": new.kid, "path": str(keystore.key_path(new.kid)),
                   "retired": retired.kid if retired else None}
        summary = f"Active signing key: {new.kid} ({payload['path']})."
        if retired:
            summary += f" Retired (still published): {retired.kid}."
        self.emit(options, payload, summary)
