"""interop.md "Domain control" on the claims path: a CSV row by unverified Hoshi Publishing that claims Studio Kaze's
verified web identifier gets the row error `domain-not-verified`; the rest of the row (its work, its other
identifiers, its declarations) is filed. Once Hoshi verifies too, the same row opens a dispute. The operators' cap
on open disputes per claimant applies across rows."""
import pytest

from consent.models import Declaration
from domains.services import domain_claim_create, domain_verify_operator
from registry.models import Dispute, Identifier, Work
from registry.services import work_register

from .conftest import HEADER, errors_of
from .helpers import csv_text

pytestmark = [pytest.mark.django_db]

WEB_ID = "url-prefix:https://studio-kaze.example/films/"


def verify(holder, domain="studio-kaze.example"):
    claim, _ = domain_claim_create(holder=holder, domain=domain)
    domain_verify_operator(claim=claim, note="registrar letter", actor="test")


@pytest.fixture
def kaze_film(studio_kaze):
    return work_register(holder=studio_kaze.holder, work_ref="SK-001", title="Kaze no Tani", kind="film",
                         identifiers=["isbn:978-4-9901661-3-7", WEB_ID]).work


def hoshi_row(work_ref="HP-9", ids=f"{WEB_ID};isbn:978-0-306-40615-7"):
    return f"hoshi-pub,{work_ref},Copy,,manga,{ids},train-ai,JP,reserve,work"


def test_unverified_claim_is_a_row_error_and_the_rest_of_the_row_is_kept(hoshi_pub, studio_kaze, kaze_film, submit):
    verify(studio_kaze.holder)
    submission = submit(hoshi_pub, csv_text(HEADER, hoshi_row(), hoshi_row("HP-10", "isbn:978-1-4028-9462-6")))
    assert errors_of(submission) == [(2, "identifiers", "domain-not-verified")]
    assert (submission.rows_ok, submission.rows_failed, submission.disputes_opened) == (1, 1, 0)
    assert Dispute.objects.count() == 0
    work = Work.objects.get(holder=hoshi_pub.holder, work_ref="HP-9")
    assert list(Identifier.objects.filter(work=work).values_list("scheme", flat=True)) == ["isbn"]
    assert Declaration.objects.filter(work=work, consent="reserve").count() == 1
    assert Identifier.objects.get(scheme="url-prefix", valid_until__isnull=True).work_id == kaze_film.pk


def test_once_hoshi_verifies_the_same_row_opens_a_dispute(hoshi_pub, studio_kaze, kaze_film, submit):
    verify(studio_kaze.holder)
    verify(hoshi_pub.holder)
    submission = submit(hoshi_pub, csv_text(HEADER, hoshi_row()))
    assert errors_of(submission) == []
    assert submission.disputes_opened == 1
    assert Dispute.objects.get().claimant_id == hoshi_pub.holder.pk


def test_cap_on_open_disputes_per_claimant_across_rows(settings, hoshi_pub, kaze_film, submit):
    settings.KYODAKU_MAX_OPEN_DISPUTES_PER_CLAIMANT = 1
    submission = submit(hoshi_pub, csv_text(HEADER, hoshi_row("HP-1", WEB_ID),
                                            hoshi_row("HP-2", "isbn:978-4-9901661-3-7")))
    assert errors_of(submission) == [(3, "identifiers", "too-many-disputes")]
    assert submission.disputes_opened == 1 and Dispute.objects.count() == 1
    assert Work.objects.filter(holder=hoshi_pub.holder).count() == 2  # the second row's work is still filed
