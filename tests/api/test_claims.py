"""POST /api/v1/claims, GET /api/v1/claims/{id}, GET /api/v1/claims/{id}/errors.csv (api.md, "Bulk claims")."""
import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from claims.models import Submission
from registry.models import Work

from .conftest import assert_problem

STATUS_KEYS = {"status", "rows_total", "rows_done", "rows_ok", "rows_failed", "works_created", "works_updated",
               "declarations_created", "disputes_opened", "error", "errors_url"}
GOOD = b"holder,work_ref,title,purpose,consent\nstudio-kaze,KZ-1,One,train-ai,reserve\nstudio-kaze,KZ-2,,,\n"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _post(client, data=GOOD, capture=None, **fields):
    payload = {"file": SimpleUploadedFile("claims.csv", data, content_type="text/csv"), **fields}
    if data is None:
        payload.pop("file")
    with capture(execute=True):
        return client.post("/api/v1/claims", payload, format="multipart")


def test_studio_kaze_submits_a_file_and_follows_it_to_its_error_report(kaze, django_capture_on_commit_callbacks):
    response = _post(kaze, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"id", "status", "url"}
    assert body["url"].endswith(f"/api/v1/claims/{body['id']}") and response["Location"] == body["url"]

    state = kaze.get(f"/api/v1/claims/{body['id']}").json()
    assert set(state) == STATUS_KEYS
    assert state["status"] == "done-with-errors"
    assert (state["rows_total"], state["rows_ok"], state["rows_failed"], state["works_created"],
            state["declarations_created"], state["error"]) == (2, 1, 1, 1, 1, None)
    assert state["rows_ok"] + state["rows_failed"] == state["rows_total"]

    report = kaze.get(state["errors_url"], HTTP_ACCEPT="text/csv")
    assert report.status_code == 200 and report["Content-Type"].startswith("text/csv")
    assert report["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(report.streaming_content).decode("utf-8-sig"))))
    assert rows == [["line", "column", "code", "message", "value", "work_ref", "title"],
                    ["3", "title", "missing-value", "A new work needs a title.", "", "KZ-2", ""]]


def test_studio_kaze_dry_run_over_the_api_writes_nothing(kaze, django_capture_on_commit_callbacks):
    response = _post(kaze, capture=django_capture_on_commit_callbacks, dry_run="true")
    assert response.status_code == 202
    assert Submission.objects.get().dry_run and not Work.objects.exists()
    assert kaze.get(response.json()["url"]).json()["works_created"] == 1


def test_studio_kaze_broken_file_is_accepted_then_reported_failed(kaze, django_capture_on_commit_callbacks):
    response = _post(kaze, data=b"PK\x03\x04" + b"\x00" * 40, capture=django_capture_on_commit_callbacks)
    assert response.status_code == 202
    state = kaze.get(response.json()["url"]).json()
    assert state["status"] == "failed" and "spreadsheet" in state["error"]


def test_studio_kaze_empty_file_is_accepted_then_reported_failed(kaze, django_capture_on_commit_callbacks):
    """api.md: the POST is refused only for a missing file, one over the size limit, or a holder the submitter may
    not file for; claims-csv.md: an empty file "fails with a reason". Before, DRF's FileField refused it (400)."""
    response = _post(kaze, data=b"", capture=django_capture_on_commit_callbacks)
    assert response.status_code == 202, response.content
    state = kaze.get(response.json()["url"]).json()
    assert state["status"] == "failed" and "empty" in state["error"], state
    assert not Work.objects.exists()


def test_hoshi_pub_cannot_see_studio_kaze_submission_or_its_errors(kaze, hoshi,
                                                                   django_capture_on_commit_callbacks):
    url = _post(kaze, capture=django_capture_on_commit_callbacks).json()["url"]
    assert_problem(hoshi.get(url), 404)
    assert_problem(hoshi.get(url + "/errors.csv"), 404)
    assert_problem(hoshi.get("/api/v1/claims/00000000-0000-4000-8000-000000000000"), 404)


def test_anonymous_and_api_keys_cannot_submit(anonymous, ai_developer, django_capture_on_commit_callbacks):
    assert anonymous.post("/api/v1/claims", {}, format="multipart").status_code == 401
    body = assert_problem(ai_developer.post("/api/v1/claims", {}, format="multipart"), 403, "permission-denied")
    assert "API key" in body["detail"] and "not provided" not in body["detail"], body
    assert not Submission.objects.exists()


def test_studio_kaze_post_without_a_file_is_a_problem(kaze, django_capture_on_commit_callbacks):
    body = assert_problem(_post(kaze, data=None, capture=django_capture_on_commit_callbacks), 400)
    assert body["errors"][0]["field"] == "file"


def test_studio_kaze_file_over_the_size_limit_is_413(kaze, settings, django_capture_on_commit_callbacks):
    settings.KYODAKU_CLAIMS_MAX_FILE_BYTES = 10
    assert_problem(_post(kaze, capture=django_capture_on_commit_callbacks), 413)
    assert not Submission.objects.exists()


def test_studio_kaze_cannot_submit_as_hoshi_pub(kaze, hoshi_pub, django_capture_on_commit_callbacks):
    assert_problem(_post(kaze, capture=django_capture_on_commit_callbacks, holder="hoshi-pub"), 404)
    assert_problem(_post(kaze, capture=django_capture_on_commit_callbacks, holder="nobody"), 404)
    assert not Submission.objects.exists()


def test_studio_kaze_viewer_cannot_submit(viewer, django_capture_on_commit_callbacks):
    assert_problem(_post(viewer, capture=django_capture_on_commit_callbacks), 403)


def test_collective_submits_as_itself_for_its_member(jaa, tsubasa, django_capture_on_commit_callbacks):
    data = b"holder,work_ref,title\ntsubasa-anime,TA-1,Wings\n"
    response = _post(jaa, data=data, capture=django_capture_on_commit_callbacks)
    assert jaa.get(response.json()["url"]).json()["works_created"] == 1
    assert Work.objects.get().holder == tsubasa.holder


def test_studio_kaze_submission_refused_when_the_queue_is_down(transactional_db, kaze, settings, monkeypatch):
    """Redis down at submission time: 503 problem and no submission row or file left behind."""
    from config.celery import app

    app.conf.task_always_eager  # noqa: B018 - loads the configuration, so the overrides below stick
    # The Django-namespaced keys are the ones Celery reads back.
    monkeypatch.setattr(app.conf, "CELERY_TASK_ALWAYS_EAGER", False)
    monkeypatch.setattr(app.conf, "CELERY_BROKER_URL", "redis://127.0.0.1:1/5")
    # Connections made earlier in the session (to the eager default) must not be reused.
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    # A real commit, so the dispatch runs inside the request as in production.
    upload = SimpleUploadedFile("claims.csv", GOOD, content_type="text/csv")
    response = kaze.post("/api/v1/claims", {"file": upload}, format="multipart")
    assert_problem(response, 503, "queue-unavailable")
    assert not Submission.objects.exists()
    assert not [p for p in (settings.MEDIA_ROOT).rglob("*") if p.is_file()]


def test_status_query_count_is_fixed(kaze, django_capture_on_commit_callbacks, django_assert_max_num_queries):
    url = _post(kaze, capture=django_capture_on_commit_callbacks).json()["url"]
    # token + user, membership, the submission with its holder
    with django_assert_max_num_queries(4):
        assert kaze.get(url).status_code == 200


# ---- issue 12 item 11: holder, role and size are checked before the body is read. A malformed multipart body
# would be a 400 if anything parsed it, and a Content-Length the body does not have would fail to read: getting
# the refusal instead proves the body was never touched.

MALFORMED = b"--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\n"


def _raw_post(client, path="/api/v1/claims", body=MALFORMED, length=None):
    return client.generic("POST", path, body, content_type="multipart/form-data; boundary=zz",
                          **({"CONTENT_LENGTH": str(length)} if length is not None else {}))


def test_studio_kaze_viewer_is_refused_before_the_body_is_read(viewer):
    assert_problem(_raw_post(viewer), 403)


def test_studio_kaze_naming_hoshi_in_the_query_is_refused_before_the_body_is_read(kaze, hoshi_pub):
    assert_problem(_raw_post(kaze, "/api/v1/claims?holder=hoshi-pub"), 404)


def test_studio_kaze_announced_body_over_the_limit_is_413_before_it_is_read(kaze, settings):
    settings.KYODAKU_CLAIMS_MAX_FILE_BYTES = 1000
    assert_problem(_raw_post(kaze, length=10**12), 413, "file-too-large")


def test_studio_kaze_file_over_the_limit_stops_being_read_at_the_limit(kaze, settings,
                                                                       django_capture_on_commit_callbacks):
    """The body's announced size is within the slack; the upload handler stops the file itself at the cap."""
    settings.KYODAKU_CLAIMS_MAX_FILE_BYTES = 10_000
    big = GOOD + b"studio-kaze,KZ-9,x\n" * 2000
    assert_problem(_post(kaze, data=big, capture=django_capture_on_commit_callbacks), 413, "file-too-large")
    assert not Submission.objects.exists()
