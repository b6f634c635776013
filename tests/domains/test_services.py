"""Domain control's records (interop.md, "Domain control"): claims, checks, operator verification, withdrawal and
the history that past answers are read from. Personas: Studio Kaze's editor showing control of kaze.example; an
operator; Hoshi Publishing, who must not see Kaze's claims."""
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from core.errors import Conflict, ValidationFailed
from domains.models import DomainClaim, DomainVerification
from domains.selectors import domain_claims_visible_to, domain_verified_at
from domains.services import (
    domain_claim_check,
    domain_claim_create,
    domain_verification_withdraw,
    domain_verify_operator,
)
from domains.tasks import domain_claims_recheck

from .conftest import SITE

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def actions():
    return list(AuditEvent.objects.filter(action__startswith="domain.").order_by("seq").values_list("action",
                                                                                                     flat=True))


def test_a_claim_is_normalised_and_made_once(studio_kaze):
    claim, created = domain_claim_create(holder=studio_kaze.holder, domain="KAZE.example.")
    again, created_again = domain_claim_create(holder=studio_kaze.holder, domain="kaze.example")
    assert created and not created_again and claim.pk == again.pk and claim.domain == SITE
    assert claim.dns_record == "_kyodaku.kaze.example" and claim.dns_value.startswith("kyodaku-verification=")
    with pytest.raises(ValidationFailed):
        domain_claim_create(holder=studio_kaze.holder, domain="localhost")  # one label: every site under it
    with pytest.raises(ValidationFailed):
        domain_claim_create(holder=studio_kaze.holder, domain="https://x.example/path")
    assert actions() == ["domain.claim"]


def test_dns_check_verifies_and_a_failed_recheck_ends_it_keeping_history(studio_kaze, resolver):
    claim, _ = domain_claim_create(holder=studio_kaze.holder, domain=SITE)
    resolver.records[(f"_kyodaku.{SITE}", "TXT")] = [f'"{claim.dns_value}"']
    assert domain_claim_check(claim=claim, at=T0).found
    assert domain_claim_check(claim=claim, at=T0 + HOUR).found  # still there: nothing new
    assert DomainVerification.objects.count() == 1
    del resolver.records[(f"_kyodaku.{SITE}", "TXT")]
    resolver.records[(SITE, "A")] = ["192.0.2.1"]  # not public (TEST-NET): the web check is refused too
    assert not domain_claim_check(claim=claim, at=T0 + 2 * HOUR).found
    holder = studio_kaze.holder.pk
    assert domain_verified_at(holder_id=holder, host=f"www.{SITE}", at=T0 + HOUR)  # a sub-domain, back then
    assert not domain_verified_at(holder_id=holder, host=SITE, at=T0 + 3 * HOUR)
    assert not domain_verified_at(holder_id=holder, host=SITE, at=T0 - HOUR)
    assert not domain_verified_at(holder_id=holder, host="other.example", at=T0 + HOUR)
    assert actions() == ["domain.claim", "domain.verify", "domain.verification-end"]
    claim.refresh_from_db()
    assert "TXT" in claim.last_check or "public" in claim.last_check


def test_operator_verification_is_not_undone_by_a_failing_check_but_can_be_withdrawn(studio_kaze, operator,
                                                                                     resolver):
    claim, _ = domain_claim_create(holder=studio_kaze.holder, domain=SITE)
    with pytest.raises(ValidationFailed):
        domain_verify_operator(claim=claim, note=" ", actor=operator)
    domain_verify_operator(claim=claim, note="trademark registration JP-123", actor=operator, at=T0)
    assert not domain_claim_check(claim=claim, at=T0 + HOUR).found
    assert domain_verified_at(holder_id=studio_kaze.holder.pk, host=SITE, at=T0 + 2 * HOUR)
    domain_verification_withdraw(claim=claim, reason="evidence was forged", actor=operator, at=T0 + 3 * HOUR)
    assert not domain_verified_at(holder_id=studio_kaze.holder.pk, host=SITE, at=T0 + 4 * HOUR)
    assert domain_verified_at(holder_id=studio_kaze.holder.pk, host=SITE, at=T0 + 2 * HOUR)  # history kept
    with pytest.raises(Conflict):
        domain_verification_withdraw(claim=claim, reason="again", actor=operator)


def test_verification_belongs_to_the_holder_that_showed_it(studio_kaze, hoshi_pub, operator):
    kaze, _ = domain_claim_create(holder=studio_kaze.holder, domain=SITE)
    domain_claim_create(holder=hoshi_pub.holder, domain=SITE)
    domain_verify_operator(claim=kaze, note="contract", actor=operator, at=T0)
    assert domain_verified_at(holder_id=studio_kaze.holder.pk, host=SITE, at=T0 + HOUR)
    assert not domain_verified_at(holder_id=hoshi_pub.holder.pk, host=SITE, at=T0 + HOUR)
    assert [c.holder_id for c in domain_claims_visible_to(user=hoshi_pub.user)] == [hoshi_pub.holder.pk]
    assert domain_claims_visible_to(user=operator).count() == 2


def test_the_database_keeps_one_open_verification_per_claim(studio_kaze, operator):
    from django.db import IntegrityError, transaction

    claim, _ = domain_claim_create(holder=studio_kaze.holder, domain=SITE)
    domain_verify_operator(claim=claim, note="contract", actor=operator)
    with pytest.raises(IntegrityError), transaction.atomic():
        DomainVerification.objects.create(claim=claim, holder_id=claim.holder_id, domain=SITE, method="dns")


def test_recheck_sweep_queues_due_claims_but_not_operator_verified_ones(studio_kaze, hoshi_pub, operator, resolver,
                                                                       django_capture_on_commit_callbacks):
    due, _ = domain_claim_create(holder=studio_kaze.holder, domain=SITE)
    vouched, _ = domain_claim_create(holder=hoshi_pub.holder, domain="hoshi.example")
    domain_verify_operator(claim=vouched, note="contract", actor=operator)
    resolver.records[(f"_kyodaku.{SITE}", "TXT")] = [f'"{due.dns_value}"']
    with django_capture_on_commit_callbacks(execute=True):
        assert domain_claims_recheck() == 1
    assert domain_verified_at(holder_id=studio_kaze.holder.pk, host=SITE,
                              at=datetime.now(UTC) + timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert domain_claims_recheck() == 0  # just checked


def test_verify_domain_command(studio_kaze, resolver, capsys):
    call_command("verify_domain", "studio-kaze", SITE, "--method", "operator", "--note", "registrar letter",
                 "--json")
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert '"verified": true' in out
    assert DomainVerification.objects.get().recorded_by == "command:verify_domain"
    call_command("verify_domain", "studio-kaze", SITE, "--withdraw")
    assert DomainVerification.objects.get().ended_at is not None
    with pytest.raises(CommandError):
        call_command("verify_domain", "studio-kaze", SITE, "--method", "operator")  # no note
    with pytest.raises(CommandError):
        call_command("verify_domain", "nobody", SITE, "--method", "operator", "--note", "x")
    call_command("verify_domain", "studio-kaze", SITE)  # a check: no record, not verified
    assert "not verified" in capsys.readouterr().out
    assert DomainClaim.objects.count() == 1
