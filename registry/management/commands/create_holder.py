from registry.management.output import KyodakuCommand
from registry.models import HolderKind
from registry.services import holder_create


class Command(KyodakuCommand):
    help = "Create a rights holder (studio, publisher, label, collective or individual)."

    def add_arguments(self, parser):
        parser.add_argument("code", help="Lower-case slug, unique, used in CSV files and ref: identifiers.")
        parser.add_argument("--name", required=True)
        parser.add_argument("--kind", required=True, choices=HolderKind.values)
        parser.add_argument("--country", default="", help="ISO 3166-1 alpha-2 code, e.g. JP.")
        parser.add_argument("--licensing-url", default="", help="Where AI developers ask for a licence.")
        parser.add_argument("--verified", action="store_true", help="Mark the holder as verified by an operator.")

    def handle(self, *args, **options):
        holder = holder_create(code=options["code"], name=options["name"], kind=options["kind"],
                               country=options["country"], licensing_url=options["licensing_url"],
                               verified=options["verified"])
        self.emit(options, {"id": str(holder.id), "code": holder.code, "name": holder.name, "kind": holder.kind,
                            "country": holder.country, "licensing_url": holder.licensing_url or None,
                            "verified": holder.verified},
                  f"Created holder {holder.code} ({holder.name}, {holder.kind}).")
