"""Domains in the admin: Studio Kaze's editor claims a domain and sees how to show control; Hoshi Publishing's
editor cannot see it (404); an operator records control by other evidence."""
import pytest
from django.urls import reverse

from domains.models import DomainClaim, DomainVerification

pytestmark = pytest.mark.django_db


def test_holder_claims_a_domain_and_sees_the_token_others_get_404(login, studio_kaze, hoshi_pub, resolver,
                                                                  django_capture_on_commit_callbacks):
    client = login(studio_kaze.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:domains_domainclaim_add"),
                               {"holder": studio_kaze.holder.pk, "domain": "Kaze.Example",
                                "verifications-TOTAL_FORMS": 0, "verifications-INITIAL_FORMS": 0})
    assert response.status_code == 302, response.context["adminform"].form.errors
    claim = DomainClaim.objects.get()
    assert claim.domain == "kaze.example" and claim.last_checked_at is not None  # checked at once
    page = client.get(reverse("admin:domains_domainclaim_change", args=[claim.pk])).content.decode()
    assert claim.token in page and "_kyodaku.kaze.example" in page
    other = login(hoshi_pub.user)
    assert other.get(reverse("admin:domains_domainclaim_change", args=[claim.pk])).status_code == 404


def test_operator_verifies_with_a_note(login, operator, studio_kaze):
    from domains.services import domain_claim_create

    claim, _ = domain_claim_create(holder=studio_kaze.holder, domain="kaze.example")
    client = login(operator)
    response = client.post(reverse("admin:domains_domainclaim_change", args=[claim.pk]),
                           {"signals_public": "on", "operator_note": "trademark certificate",
                            "verifications-TOTAL_FORMS": 0, "verifications-INITIAL_FORMS": 0})
    assert response.status_code == 302, response.content[:3000]
    verification = DomainVerification.objects.get()
    assert verification.method == "operator" and verification.note == "trademark certificate"
    claim.refresh_from_db()
    assert claim.signals_public
    response = client.post(reverse("admin:domains_domainclaim_changelist"),
                           {"action": "withdraw_verification", "_selected_action": [claim.pk]})
    assert response.status_code == 302
    verification.refresh_from_db()
    assert verification.ended_at is not None
