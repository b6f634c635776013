from django.core.management.base import CommandError

from keys.services import holder_token_issue
from registry.management.output import KyodakuCommand
from registry.models import Holder, Role


class Command(KyodakuCommand):
    help = ("Issue an API token for a holder's user (created, with the given role, if needed) for "
            "'Authorization: Token <token>'. The token is printed now and never again (only its hash is kept); it "
            "expires after --days (default KYODAKU_HOLDER_TOKEN_DAYS). --rotate revokes the user's other tokens.")

    def add_arguments(self, parser):
        parser.add_argument("--holder", required=True, help="The holder's code.")
        parser.add_argument("--user", required=True, dest="username", help="The user's username.")
        parser.add_argument("--role", default=Role.EDITOR, choices=Role.values,
                            help="Role of a user created now (an existing user keeps theirs).")
        parser.add_argument("--days", type=int, default=None, help="Days the token is valid.")
        parser.add_argument("--name", default="", help="What the token is for (shown in the admin).")
        parser.add_argument("--rotate", action="store_true",
                            help="Revoke the user's other tokens (a replacement, not an additional token).")

    def handle(self, *args, **options):
        holder = Holder.objects.filter(code=options["holder"]).first()
        if holder is None:
            raise CommandError(f"No holder with code '{options['holder']}'.")
        user, token, plain, user_created = holder_token_issue(
            holder=holder, username=options["username"], role=options["role"], name=options["name"],
            days=options["days"], rotate=options["rotate"])
        expires = token.expires_at.isoformat().replace("+00:00", "Z")
        self.emit(options, {"holder": holder.code, "username": user.username, "token": plain,
                            "prefix": token.prefix, "expires_at": expires, "user_created": user_created,
                            "rotated": options["rotate"]},
                  f"Token for {user.username} of {holder.code} (expires {expires}; it cannot be shown again):\n{plain}")
