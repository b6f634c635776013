import sys
from getpass import getpass

from django.core.management.base import CommandError

from registry.management.output import KyodakuCommand
from registry.models import Holder, Role
from registry.services import holder_user_set


class Command(KyodakuCommand):
    help = "Create a user of a holder who can log into the web admin with the role's rights."

    def add_arguments(self, parser):
        parser.add_argument("--holder", required=True)
        parser.add_argument("--username", required=True)
        parser.add_argument("--role", default=Role.EDITOR, choices=Role.values)
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="Read from standard input when omitted (never echoed).")

    def handle(self, *args, **options):
        holder = Holder.objects.filter(code=options["holder"]).first()
        if holder is None:
            raise CommandError(f"No holder with code '{options['holder']}'.")
        password = options["password"]
        if not password:
            password = getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        if not password:
            raise CommandError("A password is required (on standard input or with --password).")
        user = holder_user_set(holder=holder, username=options["username"], role=options["role"],
                               email=options["email"], password=password)
        self.emit(options, {"username": user.username, "holder": holder.code, "role": options["role"]},
                  f"User {user.username} can now log in as {options['role']} of {holder.code}.")
