from core.errors import NotFound
from domains.services import (
    domain_claim_check,
    domain_claim_create,
    domain_verification_withdraw,
    domain_verify_operator,
)
from registry.management.output import KyodakuCommand
from registry.models import Holder


class Command(KyodakuCommand):
    help = ("Verify a holder's control of a domain: --method check looks for the DNS TXT record or the well-known "
            "file now; --method operator records control shown by other evidence (--note); --withdraw ends the "
            "verification in force. The claim (and its token) is created if needed.")

    def add_arguments(self, parser):
        parser.add_argument("holder", help="The holder's code.")
        parser.add_argument("domain", help="The domain, e.g. studio-kaze.example.")
        parser.add_argument("--method", choices=["check", "operator"], default="check")
        parser.add_argument("--note", default="", help="The evidence (required with --method operator).")
        parser.add_argument("--withdraw", action="store_true", help="End the verification in force.")

    def handle(self, *args, **options):
        holder = Holder.objects.filter(code=options["holder"]).first()
        if holder is None:
            raise NotFound(f"No holder {options['holder']!r}.")
        actor = "command:verify_domain"
        claim, _ = domain_claim_create(holder=holder, domain=options["domain"], actor=actor)
        if options["withdraw"]:
            domain_verification_withdraw(claim=claim, reason=options["note"] or "withdrawn by an operator",
                                         actor=actor)
            verified, detail = False, "withdrawn"
        elif options["method"] == "operator":
            domain_verify_operator(claim=claim, note=options["note"], actor=actor)
            verified, detail = True, "recorded by an operator"
        else:
            result = domain_claim_check(claim=claim)
            verified, detail = result.found, result.detail
        claim.refresh_from_db()
        self.emit(options, {"holder": holder.code, "domain": claim.domain, "verified": verified, "detail": detail,
                            "dns_record": claim.dns_record, "dns_value": claim.dns_value,
                            "well_known_url": claim.well_known_url, "token": claim.token},
                  f"{claim.domain} for {holder.code}: {'verified' if verified else 'not verified'} ({detail}).\n"
                  f"Show control with a TXT record {claim.dns_record} = {claim.dns_value}\n"
                  f"or the token in {claim.well_known_url}")
