"""Every admin page Kyodaku registers renders for each persona, with data in every table: no 500 anywhere."""
import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse

from registry.models import Dispute
from tests.admin.csp import csp_problems

pytestmark = pytest.mark.django_db


@pytest.fixture
def registry_with_everything(studio_kaze, hoshi_pub, collective, tsubasa, make_work, reserve,
                             django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from claims.services import claims_submission_create

    kaze = make_work(studio_kaze.holder, "SK-1", identifiers=["isbn:9784990166137"])
    reserve(kaze)
    reserve(kaze, consent="grant")  # one superseded, one current
    make_work(hoshi_pub.holder, "HP-1", identifiers=["isbn:9784990166137"])  # opens a dispute
    reserve(make_work(tsubasa.holder, "TS-1"), jurisdiction="JP")
    with django_capture_on_commit_callbacks(execute=True):
        claims_submission_create(user=studio_kaze.user, holder_code="studio-kaze", file=SimpleUploadedFile(
            "c.csv", b"holder,work_ref,title,purpose\nstudio-kaze,SK-9,T,nope\n"))
    assert Dispute.objects.count() == 1
    from domains.services import domain_claim_create, domain_verify_operator

    claim, _ = domain_claim_create(holder=studio_kaze.holder, domain="kaze.example")
    domain_verify_operator(claim=claim, note="registrar letter", actor="test")


def page_names():
    for model in admin.site._registry:
        yield f"admin:{model._meta.app_label}_{model._meta.model_name}"


@pytest.mark.parametrize("persona", ["operator", "studio_kaze", "collective", "kaze_viewer"])
def test_every_list_add_change_and_history_page_renders(request, login, registry_with_everything, kaze_viewer,
                                                         persona):
    user = request.getfixturevalue(persona)
    client = login(getattr(user, "user", user))
    for name in page_names():
        listing = client.get(reverse(f"{name}_changelist"))
        assert listing.status_code in (200, 403), (name, listing.status_code)
        add = client.get(reverse(f"{name}_add"))
        assert add.status_code in (200, 403), (name, add.status_code)
        # ...and works under the Content-Security-Policy: nothing inline that the browser would refuse.
        for page in (listing, add):
            assert page.status_code != 200 or not csp_problems(page), (name, csp_problems(page))
        if listing.status_code != 200:
            continue
        for obj in list(listing.context["cl"].result_list)[:2]:
            for view in ("change", "history"):
                try:
                    url = reverse(f"{name}_{view}", args=[obj.pk])
                except NoReverseMatch:
                    continue
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)
                assert not csp_problems(response), (url, csp_problems(response))
