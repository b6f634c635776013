from django.conf import settings

from keys.services import api_key_create
from registry.management.output import KyodakuCommand


class Command(KyodakuCommand):
    help = ("Issue an API key for an AI developer and print it (only now: just its hash is stored). "
            "RATE is N/s, N/min, N/hour or none.")

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who the key is for (at most 50 characters).")
        default = settings.KYODAKU_API_KEY_DEFAULT_RATE
        parser.add_argument("--rate", default=None, help=f"e.g. 100/s, 6000/min, none (default: {default}).")
        parser.add_argument("--organisation", default=None,
                            help="The AI developer's organisation the key belongs to (created when new; "
                                 "default: an organisation named like the key). Its licences decide its lookups.")
        parser.add_argument("--show-name-to-holders", action="store_true",
                            help="The organisation agrees that rights holders see its name in their lookup "
                                 "statistics (default: they read 'an AI developer').")
        parser.add_argument("--purpose", default=None,
                            help="Default purpose for the Spawning-compatible endpoint (default: train-ai).")
        parser.add_argument("--jurisdiction", default=None,
                            help="Default jurisdiction for the Spawning-compatible endpoint (e.g. JP, EU).")

    def handle(self, *args, **options):
        api_key, plain = api_key_create(name=options["name"], rate=options["rate"],
                                        default_purpose=options["purpose"],
                                        default_jurisdiction=options["jurisdiction"],
                                        organisation=options["organisation"],
                                        name_shown_to_holders=options["show_name_to_holders"])
        rate = api_key.rate or settings.KYODAKU_API_KEY_DEFAULT_RATE
        self.emit(options, {"name": api_key.name, "prefix": api_key.prefix, "rate": rate, "key": plain,
                            "organisation": api_key.organisation.name,
                            "default_purpose": api_key.default_purpose or None,
                            "default_jurisdiction": api_key.default_jurisdiction or None},
                  f"API key for {api_key.name} of {api_key.organisation.name} (rate {rate}):\n{plain}\n"
                  "Store it now: it cannot be shown again. Send it as 'Authorization: Api-Key <key>'.")
