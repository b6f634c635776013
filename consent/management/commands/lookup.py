import json

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from consent.lookup import lookup_one
from consent.vocabulary import UnknownJurisdiction, UnknownPurpose
from registry.management.output import KyodakuCommand
from registry.models import Organisation


def parse_as_of(text: str):
    try:
        value = parse_datetime(text.strip())
    except ValueError:
        value = None
    if value is None:
        raise CommandError(f"--as-of {text!r} is not an ISO 8601 time, e.g. 2026-11-28T12:00:00Z.")
    if value.tzinfo is None:
        raise CommandError(f"--as-of {text!r} has no time zone; add one, e.g. 2026-11-28T12:00:00Z.")
    if value > timezone.now():  # as the API (as-of-in-future): answers are given for the past and present only
        raise CommandError(f"--as-of {text!r} is later than now; answers are given only for the past and present.")
    return value


class Command(KyodakuCommand):
    help = ("Decide whether a purpose is allowed for an identifier in a jurisdiction (at a time) and print the "
            "answer exactly as the lookup API gives it.")

    def add_arguments(self, parser):
        parser.add_argument("id", help="The identifier, scheme:value (e.g. isbn:978-4-9901661-3-7, url:https://...).")
        parser.add_argument("--purpose", required=True, help="A purpose code: tdm, train-ai, train-genai, ai-use, "
                                                             "search.")
        parser.add_argument("--jurisdiction", required=True, help="ISO 3166-1 alpha-2 code, EU or *.")
        parser.add_argument("--as-of", help="ISO 8601 time with a zone (default: now).")
        parser.add_argument("--organisation", help="Answer as this organisation's keys are answered: its licences "
                                                   "decide too (default: the public answer).")

    def handle(self, *args, **options):
        as_of = parse_as_of(options["as_of"]) if options.get("as_of") else None
        organisation_id = None
        if options.get("organisation"):
            organisation = Organisation.objects.filter(name=options["organisation"]).first()
            if organisation is None:
                raise CommandError(f"No organisation named {options['organisation']!r}.")
            organisation_id = organisation.pk
        try:
            result = lookup_one(id=options["id"], purpose=options["purpose"],
                                jurisdiction=options["jurisdiction"], as_of=as_of, organisation_id=organisation_id)
        except (UnknownPurpose, UnknownJurisdiction) as exc:
            raise CommandError(str(exc)) from exc
        if "error" in result:
            raise CommandError(f"{result['id']}: {result['error']['detail']}")
        pretty = json.dumps(result, ensure_ascii=False, indent=2)
        self.emit(options, result, pretty)
