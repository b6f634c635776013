import json
import time

from django.core.management.base import BaseCommand, CommandError

from audit.selectors import audit_event_count, audit_head, audit_verify


class Command(BaseCommand):
    help = ("Recompute the audit log's hash chain and check every audited row (holders, works, identifiers, "
            "declarations, rules, ...) against its latest event. Exit code 0 when all agree; otherwise 1, naming "
            "the first broken event or the rows that differ.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json",
                            help="Print one JSON object on the last line instead of a human summary.")
        parser.add_argument("--max-problems", type=int, default=100,
                            help="Stop after this many row problems (default 100).")
        parser.add_argument("--chunk", type=int, default=5000, help="Rows read per query (default 5000).")

    def handle(self, *args, **options):
        started = time.monotonic()
        problems = audit_verify(chunk=options["chunk"], max_problems=options["max_problems"])
        head = audit_head()
        payload = {
            "ok": not problems,
            "head": {"seq": head["seq"], "hash": head["hash"]},
            "events": audit_event_count(),
            "first_problem": str(problems[0]) if problems else None,
            "problems": [{"where": p.where, "detail": p.detail} for p in problems],
            "seconds": round(time.monotonic() - started, 3),
        }
        if options["as_json"]:
            self.stdout.write(json.dumps(payload, ensure_ascii=False))
        elif not problems:
            self.stdout.write(f"Audit log OK: {payload['events']} events, chain and rows agree, "
                              f"head #{head['seq']} {head['hash']}.")
        else:
            for problem in problems:
                self.stderr.write(f"BROKEN {problem}")
        if problems:
            raise CommandError(f"Audit verification failed: {problems[0]}"
                               + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
