"""Issue 20 item 6 for a Japanese licensing manager: a failed upload says "failed" (no bar, no empty report),
times are in her time zone with the zone named, a missing page is the site's own page in her language."""
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from claims.models import Submission

pytestmark = pytest.mark.django_db


@pytest.fixture
def japanese(login, compiled_translations):
    def client_for(user):
        client = login(user)
        client.cookies["django_language"] = "ja"
        return client

    return client_for


def test_a_failed_upload_shows_failed_and_its_reason_not_a_progress_bar(japanese, studio_kaze,
                                                                        django_capture_on_commit_callbacks):
    client = japanese(studio_kaze.user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:claims_submission_add"), {
            "holder": studio_kaze.holder.pk,
            "file": SimpleUploadedFile("claims.csv", b"holder,work_ref,titel\nstudio-kaze,SK-1,T\n", "text/csv")})
    submission = Submission.objects.get()
    assert submission.status == "failed"
    assert submission.error.startswith("ヘッダーに不明な列があります：'titel'。")  # the submitter's language
    page = client.get(reverse("admin:claims_submission_change", args=[submission.pk])).content.decode()
    assert '<p id="progress-row" hidden>' in page
    assert '<p id="errors-link" hidden>' in page
    assert 'class="submission-failed">失敗' in page
    assert submission.error in page or submission.error.replace("'", "&#x27;") in page


def test_times_are_shown_in_the_browsers_time_zone_and_named(japanese, studio_kaze, make_work):
    work = make_work(studio_kaze.holder, "SK-1")
    client = japanese(studio_kaze.user)
    url = reverse("admin:registry_work_history", args=[work.pk])
    assert "UTC" in client.get(url).content.decode()  # the registry's TIME_ZONE before the browser says
    client.cookies["kyodaku_tz"] = "Asia%2FTokyo"  # as the page's script writes it
    assert "JST" in client.get(url).content.decode()
    client.cookies["kyodaku_tz"] = "Not/A_Zone"
    assert "UTC" in client.get(url).content.decode()  # a bad cookie falls back, never a 500


def test_a_missing_page_is_the_sites_own_page_in_japanese(japanese, studio_kaze, hoshi_pub, make_work):
    """Rule: another holder's work and an id that never existed answer the same 404, the site's own page."""
    client = japanese(studio_kaze.user)
    other = make_work(hoshi_pub.holder, "HP-1")
    for url in (reverse("admin:registry_work_change", args=[other.pk]),
                reverse("admin:registry_work_change", args=[uuid.uuid4()])):
        response = client.get(url)
        assert response.status_code == 404
        page = response.content.decode()
        assert "ページが見つかりません" in page and "Kyodaku 許諾レジストリ" in page
        assert 'id="language-switch"' in page


def test_an_api_404_is_still_problem_json(client):
    response = client.get("/api/v1/no-such-endpoint")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/problem+json")
