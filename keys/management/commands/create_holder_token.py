from django.core.management.base import CommandError

from keys.services import holder_token_issue
from registry.management.output import KyodakuCommand
from registry.models import Holder, Role


class Command(KyodakuCommand):
    help = ("Print the API token of a holder's user (created, with the given role, if needed) for "
            "'Authorization: Token <token>'.")

    def add_arguments(self, parser):
        parser.add_argument("--holder", required=True, help="The holder's code.")
        parser.add_argument("--user", required=True, dest="username", help="The user's username.")
        parser.add_argument("--role", default=Role.EDITOR, choices=Role.values,
                            help="Role of a user created now (an existing user keeps theirs).")

    def handle(self, *args, **options):
        holder = Holder.objects.filter(code=options["holder"]).first()
        if holder is None:
            raise CommandError(f"No holder with code '{options['holder']}'.")
        user, token, created = holder_token_issue(holder=holder, username=options["username"], role=options["role"])
        self.emit(options, {"holder": holder.code, "username": user.username, "token": token, "created": created},
                  f"Token for {user.username} of {holder.code}:\n{token}")
