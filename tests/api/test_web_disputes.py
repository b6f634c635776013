"""interop.md "Domain control": Hoshi Publishing, without verified control of studio-kaze.example, cannot dispute
Studio Kaze's verified web identifier over the API (409 domain-not-verified, nothing filed); once Hoshi verifies
too, the same filing opens a dispute as usual. Operators' cap on open disputes per claimant (409 too-many-disputes)."""
import pytest

from domains.services import domain_claim_create, domain_verify_operator
from registry.models import Dispute, Work
from registry.services import work_register

from .conftest import assert_problem

URL = "/api/v1/works"
WEB_ID = "url-prefix:https://studio-kaze.example/films/"


def verify(holder, domain="studio-kaze.example"):
    claim, _ = domain_claim_create(holder=holder, domain=domain)
    domain_verify_operator(claim=claim, note="registrar letter", actor="test")


@pytest.fixture
def kaze_film(studio_kaze):
    return work_register(holder=studio_kaze.holder, work_ref="SK-001", title="Kaze no Tani", kind="film",
                         identifiers=["isbn:978-4-9901661-3-7", WEB_ID]).work


def test_unverified_hoshi_cannot_dispute_studio_kazes_verified_web_identifier(hoshi, studio_kaze, kaze_film):
    verify(studio_kaze.holder)
    refused = hoshi.post(URL, {"work_ref": "HP-9", "title": "Copy", "identifiers": [WEB_ID]}, format="json")
    body = assert_problem(refused, 409, "domain-not-verified")
    assert "studio-kaze.example" in body["detail"]
    assert Dispute.objects.count() == 0
    assert not Work.objects.filter(work_ref="HP-9").exists()  # the refused request files nothing


def test_once_hoshi_verifies_too_the_claim_opens_a_dispute(hoshi, hoshi_pub, studio_kaze, kaze_film):
    verify(studio_kaze.holder)
    verify(hoshi_pub.holder, "films.studio-kaze.example")  # another host: still not the one disputed
    assert_problem(hoshi.post(URL, {"work_ref": "HP-9", "title": "Copy", "identifiers": [WEB_ID]}, format="json"),
                   409, "domain-not-verified")
    verify(hoshi_pub.holder)
    response = hoshi.post(URL, {"work_ref": "HP-9", "title": "Copy", "identifiers": [WEB_ID]}, format="json")
    assert response.status_code == 201, response.content
    assert [(d["identifier"], d["status"]) for d in response.json()["disputes"]] == [(WEB_ID, "open")]
    assert Dispute.objects.filter(work=kaze_film, claimant=hoshi_pub.holder, resolved_at__isnull=True).count() == 1


def test_an_unverified_holders_web_identifier_and_other_schemes_stay_disputable(hoshi, kaze_film):
    # Studio Kaze has not verified its domain: nothing to protect, the dispute opens as before.
    response = hoshi.post(URL, {"work_ref": "HP-9", "title": "Copy",
                                "identifiers": [WEB_ID, "isbn:9784990166137"]}, format="json")
    assert response.status_code == 201, response.content
    assert Dispute.objects.count() == 2


def test_operators_cap_open_disputes_per_claimant(settings, hoshi, hoshi_pub, kaze_film):
    settings.KYODAKU_MAX_OPEN_DISPUTES_PER_CLAIMANT = 1
    first = hoshi.post(URL, {"work_ref": "HP-1", "title": "A", "identifiers": ["isbn:9784990166137"]}, format="json")
    assert first.status_code == 201, first.content
    assert_problem(hoshi.post(URL, {"work_ref": "HP-2", "title": "B", "identifiers": [WEB_ID]}, format="json"),
                   409, "too-many-disputes")
    assert Dispute.objects.filter(claimant=hoshi_pub.holder).count() == 1
    # Re-filing the claim already open is not a new dispute: not refused.
    again = hoshi.post(URL, {"work_ref": "HP-1", "identifiers": ["isbn:9784990166137"]}, format="json")
    assert again.status_code == 200, again.content
