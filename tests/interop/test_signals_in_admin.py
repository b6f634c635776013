"""Signals in from the admin: Studio Kaze's editor pastes the studio's robots.txt, previews each line's fate, then
files it; a viewer may not import; uploading works as pasting does."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from consent.models import Declaration
from domains.services import domain_claim_create, domain_verify_operator

pytestmark = pytest.mark.django_db
ROBOTS = "User-Agent: *\nContent-Usage: train-ai=n\nCrawl-delay: 5\n"


@pytest.fixture
def verified(studio_kaze, operator):
    claim, _ = domain_claim_create(holder=studio_kaze.holder, domain="kaze.example")
    domain_verify_operator(claim=claim, note="letter", actor=operator)
    return claim


def form(**extra):
    return {"holder": "studio-kaze", "kind": "robots.txt", "domain": "kaze.example", "jurisdiction": "*",
            "vocabulary": "aipref-vocab-08", **extra}


def test_preview_then_confirm(client, studio_kaze, verified):
    client.force_login(studio_kaze.user)
    url = reverse("admin:signals-import")
    assert client.get(url + "?domain=kaze.example").status_code == 200
    preview = client.post(url, form(content=ROBOTS, preview="1"))
    page = preview.content.decode()
    assert preview.status_code == 200 and "signals-preview" in page and "crawl-delay" in page
    assert Declaration.objects.count() == 0
    filed = client.post(url, form(content=ROBOTS, confirm="1"))
    assert filed.status_code == 302
    assert Declaration.objects.get().purpose == "train-genai"
    upload = client.post(url, form(upload=SimpleUploadedFile("robots.txt", ROBOTS.encode()), confirm="1"))
    assert upload.status_code == 302 and Declaration.objects.count() == 1  # the same file: nothing new


def test_errors_show_on_the_form_and_viewers_may_not_import(client, studio_kaze, kaze_viewer, verified):
    client.force_login(studio_kaze.user)
    page = client.post(reverse("admin:signals-import"), form(content="nonsense", preview="1")).content.decode()
    assert "Nothing in this file" in page
    page = client.post(reverse("admin:signals-import"), form(content=ROBOTS, domain="other.example",
                                                             preview="1")).content.decode()
    assert "has not verified control" in page
    client.force_login(kaze_viewer.user)
    assert client.get(reverse("admin:signals-import")).status_code == 403
