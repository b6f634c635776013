"""The claims upload page: it starts a submission through claims.services, shows progress and the error report,
and a submission is its submitter's alone."""
import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from claims.models import Submission
from registry.models import Work

pytestmark = pytest.mark.django_db

CSV = (
    "holder,work_ref,title,identifiers,purpose,jurisdiction,consent\n"
    "studio-kaze,SK-1,Kaze no Tani,isbn:978-4-9901661-3-7,train-genai,*,reserve\n"
    "studio-kaze,SK-2,Sora no Uta,,paint-ai,JP,reserve\n"
    "studio-kaze,SK-3,Umi no Koe,,,,\n"
)


def upload(client, holder, *, dry_run=False, content=CSV, capture=None):
    data = {"holder": holder.pk, "file": SimpleUploadedFile("claims.csv", content.encode(), "text/csv")}
    if dry_run:
        data["dry_run"] = "on"
    with capture(execute=True):
        return client.post(reverse("admin:claims_submission_add"), data)


def test_editor_uploads_a_csv_and_sees_counts_and_the_error_report(login, studio_kaze,
                                                                   django_capture_on_commit_callbacks):
    client = login(studio_kaze.user)
    response = upload(client, studio_kaze.holder, capture=django_capture_on_commit_callbacks)
    submission = Submission.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{submission.pk}/change/")
    status = client.get(reverse("admin:claims_submission_status", args=[submission.pk])).json()
    assert status["status"] == "done-with-errors" and status["final"] is True
    assert (status["rows_total"], status["rows_ok"], status["rows_failed"], status["works_created"]) == (3, 2, 1, 2)
    page = client.get(response["Location"])
    assert b'id="progress-bar"' in page.content and status["errors_url"].encode() in page.content
    report = client.get(status["errors_url"])
    assert report["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == ["line", "column", "code", "message", "value", "work_ref", "title"]
    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [("3", "purpose", "unknown-purpose")]


def test_a_dry_run_writes_nothing_but_counts(login, studio_kaze, django_capture_on_commit_callbacks):
    client = login(studio_kaze.user)
    upload(client, studio_kaze.holder, dry_run=True, capture=django_capture_on_commit_callbacks)
    submission = Submission.objects.get()
    assert submission.dry_run and (submission.rows_ok, submission.rows_failed) == (2, 1)
    assert not Work.objects.exists()


def test_another_holder_cannot_see_the_submission_its_status_or_its_errors(
        login, studio_kaze, hoshi_pub, django_capture_on_commit_callbacks):
    upload(login(studio_kaze.user), studio_kaze.holder, capture=django_capture_on_commit_callbacks)
    submission = Submission.objects.get()
    client = login(hoshi_pub.user)
    for name in ("change", "status", "errors"):
        assert client.get(reverse(f"admin:claims_submission_{name}", args=[submission.pk])).status_code == 404
    assert list(client.get(reverse("admin:claims_submission_changelist")).context["cl"].result_list) == []


def test_a_holder_the_user_may_not_file_for_is_not_a_choice(login, studio_kaze, hoshi_pub,
                                                            django_capture_on_commit_callbacks):
    response = upload(login(hoshi_pub.user), studio_kaze.holder, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 200 and "holder" in response.context["adminform"].form.errors
    assert not Submission.objects.exists()


def test_viewer_cannot_upload(login, kaze_viewer, django_capture_on_commit_callbacks):
    client = login(kaze_viewer.user)
    assert client.get(reverse("admin:claims_submission_add")).status_code == 403
    assert upload(client, kaze_viewer.holder, capture=django_capture_on_commit_callbacks).status_code == 403
    assert not Submission.objects.exists()


def test_collective_uploads_for_its_principal(login, collective, tsubasa, django_capture_on_commit_callbacks):
    content = "holder,work_ref,title\ntsubasa-anime,TS-1,Tsubasa no Uta\n"
    upload(login(collective.user), tsubasa.holder, content=content, capture=django_capture_on_commit_callbacks)
    submission = Submission.objects.get()
    assert (submission.holder, submission.agent, submission.status) == (tsubasa.holder, collective.holder, "done")
    assert Work.objects.get().filed_by_agent == collective.holder


# ---- issue 12 item 11: the upload page refuses before the body is read (before the CSRF check would read it).

def _raw_upload(client, length=None):
    body = b"--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\n"
    return client.generic("POST", reverse("admin:claims_submission_add"), body,
                          content_type="multipart/form-data; boundary=zz",
                          **({"CONTENT_LENGTH": str(length)} if length is not None else {}))


def test_viewer_upload_is_refused_before_its_body_is_read(login, kaze_viewer):
    response = _raw_upload(login(kaze_viewer.user))
    assert response.status_code == 403  # a parsed malformed body would have been a 400


def test_editor_upload_announced_over_the_limit_is_refused_before_its_body_is_read(login, studio_kaze, settings):
    settings.KYODAKU_CLAIMS_MAX_FILE_BYTES = 1000
    response = _raw_upload(login(studio_kaze.user), length=10**12)
    assert response.status_code == 413


def test_editor_upload_over_the_limit_stops_being_read_at_the_limit(login, studio_kaze, settings,
                                                                    django_capture_on_commit_callbacks):
    settings.KYODAKU_CLAIMS_MAX_FILE_BYTES = 5_000
    response = upload(login(studio_kaze.user), studio_kaze.holder, content=CSV + "studio-kaze,X,y\n" * 1000,
                      capture=django_capture_on_commit_callbacks)
    assert response.status_code == 413
    assert not Submission.objects.exists()
