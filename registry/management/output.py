"""The shared shape of Kyodaku's commands: a human summary, or with --json one JSON object on the last line."""
import json

from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError


class KyodakuCommand(BaseCommand):
    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument("--json", action="store_true", dest="as_json",
                            help="Print one JSON object on the last line instead of a human summary.")
        return parser

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except DomainError as exc:
            details = "; ".join(f"{e['field']}: {e['detail']}" for e in exc.errors)
            raise CommandError(f"{exc.detail} {details}".strip()) from exc

    def emit(self, options, payload: dict, summary: str) -> None:
        if options.get("as_json"):
            self.stdout.write(json.dumps(payload, ensure_ascii=False, default=str))
        else:
            self.stdout.write(summary)
