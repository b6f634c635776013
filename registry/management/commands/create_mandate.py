from datetime import datetime, time

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from registry.management.output import KyodakuCommand
from registry.models import Holder
from registry.services import mandate_create


def parse_moment(text: str) -> datetime:
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(f"'{text}' is not an ISO date or date-time.")
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


class Command(KyodakuCommand):
    help = "Let a collective (the agent) file works and declarations for a principal holder."

    def add_arguments(self, parser):
        parser.add_argument("--agent", required=True, help="Code of the collective.")
        parser.add_argument("--principal", required=True, help="Code of the holder it acts for.")
        parser.add_argument("--from", dest="valid_from", help="Start (ISO date or date-time); default now.")
        parser.add_argument("--until", help="End (ISO date or date-time, exclusive); default open-ended.")

    def handle(self, *args, **options):
        holders = {h.code: h for h in Holder.objects.filter(code__in=[options["agent"], options["principal"]])}
        for role in ("agent", "principal"):
            if options[role] not in holders:
                raise CommandError(f"No holder with code '{options[role]}'.")
        mandate = mandate_create(
            agent=holders[options["agent"]], principal=holders[options["principal"]],
            valid_from=parse_moment(options["valid_from"]) if options["valid_from"] else None,
            valid_until=parse_moment(options["until"]) if options["until"] else None,
        )
        until = mandate.valid_until.isoformat() if mandate.valid_until else None
        self.emit(options, {"id": str(mandate.id), "agent": options["agent"], "principal": options["principal"],
                            "valid_from": mandate.valid_from.isoformat(), "valid_until": until},
                  f"{options['agent']} may now act for {options['principal']} until {until or 'further notice'}.")
