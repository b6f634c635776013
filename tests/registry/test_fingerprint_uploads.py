"""Fingerprints from files (issue 16 item 2): a holder uploads a work's file, the task attaches its codes.

Personas: Studio Kaze uploads stills of its works; Hoshi Publishing must never see or touch them; an AI developer
then finds the work from a resized copy. Tasks run eagerly here (tests/registry/test_fingerprint_worker.py runs the
real worker)."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from audit.selectors import audit_verify
from demo.images import image_bytes, procedural_image, transform
from registry.fingerprints import codes_for_bytes
from registry.identifiers import parse_identifier
from registry.models import Dispute, FingerprintJob, Identifier
from registry.services import work_register
from tests.api.conftest import assert_problem, client_for

ASK = {"purpose": "train-genai", "jurisdiction": "JP"}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def kaze_work(studio_kaze):
    return work_register(holder=studio_kaze.holder, work_ref="KZ-100", title="Kaze still 100", kind="image").work


def _url(work) -> str:
    return f"/api/v1/works/{work.pk}/files"


@pytest.fixture
def upload(django_capture_on_commit_callbacks):
    """POST a file; the response comes back after the task queued at commit has run (eagerly)."""

    def post(client, work, data: bytes, name="still.png", **fields):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(_url(work), {"file": SimpleUploadedFile(name, data), **fields}, format="multipart")

    return post


def _job(client, response) -> dict:
    assert response.status_code == 202, response.content
    return client.get(response.json()["url"]).json()


def _stored(media) -> list:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def test_kaze_uploads_a_still_and_a_crawler_finds_the_work_from_a_resized_copy(upload, studio_kaze, kaze_work, media):
    from keys.services import api_key_create

    image = procedural_image(11)
    data = image_bytes(image, "PNG")
    kaze = client_for(studio_kaze.user)
    response = upload(kaze, kaze_work, data)
    assert response.status_code == 202, response.content
    assert response.json()["state"] == "queued"  # answered before the task ran
    job = _job(kaze, response)
    assert job["state"] == "done" and job["error"] == "" and job["url"].endswith(f"/files/{job['id']}")
    assert response["Location"] == job["url"]
    expected = codes_for_bytes(data)
    assert job["codes"] == expected
    attached = {(i.scheme, i.value) for i in Identifier.objects.filter(work=kaze_work, valid_until__isnull=True)}
    assert attached == {(scheme, parse_identifier(f"{scheme}:{value}").value) for scheme, value in expected.items()}
    assert _stored(media) == [] and job["file_kept"] is False  # deleted after, keep not asked
    assert audit_verify() == []

    followed = client_for(studio_kaze.user).get(job["url"]).json()
    assert (followed["state"], followed["codes"]) == ("done", expected)

    _, key = api_key_create(name="Crawler Co", rate="none")
    resized = image_bytes(transform(image, "resize-50%"), "JPEG", quality=85)
    body = client_for(api_key=key).post("/api/v1/match", {"file": SimpleUploadedFile("copy.jpg", resized), **ASK},
                                        format="multipart").json()
    assert body["matches"] and body["matches"][0]["work"]["id"] == str(kaze_work.pk)
    assert body["matches"][0]["method"] in ("iscc", "pdq", "phash")


def test_kaze_asks_to_keep_the_file_and_it_is_kept(upload, studio_kaze, kaze_work, media):
    kaze = client_for(studio_kaze.user)
    response = upload(kaze, kaze_work, image_bytes(procedural_image(12), "PNG"), keep="true")
    job = FingerprintJob.objects.get(pk=response.json()["id"])
    assert job.state == "done" and job.keep and job.file
    assert len(_stored(media)) == 1 and _job(kaze, response)["file_kept"] is True


def _png_header_only(width: int, height: int) -> bytes:
    return image_bytes(Image.new("1", (width, height)), "PNG")


@pytest.mark.parametrize(("data", "name", "says"), [
    (_png_header_only(10_000, 10_000), "100-megapixels.png", "pixels"),
    (image_bytes(procedural_image(3), "JPEG")[:2000], "truncated.jpg", "damaged or truncated"),
    (bytes(range(256)) * 8, "fake.png", "neither an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "broken.png", "neither an image"),
    (b"MZ\x90\x00" + bytes(range(256)) * 4, "still.jpg", "neither an image"),  # an executable with an image's name
])
def test_a_hostile_file_fails_the_job_with_a_clear_error_and_attaches_nothing(upload, studio_kaze, kaze_work, media,
                                                                               data, name, says):
    kaze = client_for(studio_kaze.user)
    job = _job(kaze, upload(kaze, kaze_work, data, name=name, keep="true"))
    assert job["state"] == "failed" and says in job["error"] and job["codes"] == {}
    assert not Identifier.objects.filter(work=kaze_work).exists()
    assert _stored(media) == [] and job["file_kept"] is False  # a failed file is deleted even when keep was asked


def test_a_failure_while_attaching_leaves_no_half_state(upload, studio_kaze, kaze_work, media, monkeypatch):
    """The fourth identifier's row fails: the three before it are rolled back with it, the job says failed."""
    from registry import services

    real_create = Identifier.objects.create
    calls = []

    def flaky_create(**kwargs):
        calls.append(kwargs["scheme"])
        if len(calls) == 4:
            raise RuntimeError("database went away")
        return real_create(**kwargs)

    monkeypatch.setattr(services.Identifier.objects, "create", flaky_create)
    kaze = client_for(studio_kaze.user)
    job = _job(kaze, upload(kaze, kaze_work, image_bytes(procedural_image(13), "PNG")))
    assert job["state"] == "failed" and "internal error" in job["error"]
    assert len(calls) == 4 and not Identifier.objects.filter(work=kaze_work).exists()
    assert _stored(media) == []


def test_hoshi_cannot_see_kazes_job_nor_upload_to_kazes_work(upload, studio_kaze, hoshi_pub, kaze_work, media):
    job = upload(client_for(studio_kaze.user), kaze_work, image_bytes(procedural_image(14), "PNG")).json()
    hoshi = client_for(hoshi_pub.user)
    assert_problem(hoshi.get(job["url"]), 404)
    assert_problem(upload(hoshi, kaze_work, image_bytes(procedural_image(15), "PNG")), 404)
    assert FingerprintJob.objects.filter(work=kaze_work).count() == 1
    hoshi_work = work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Hoshi 1", kind="image").work
    # Kaze's job under Hoshi's work id: still no such job.
    assert_problem(client_for(studio_kaze.user).get(f"/api/v1/works/{hoshi_work.pk}/files/{job['id']}"), 404)


def test_a_viewer_cannot_upload_and_an_api_key_is_the_wrong_credential(upload, kaze_viewer, kaze_work, media):
    assert_problem(upload(client_for(kaze_viewer.user), kaze_work, b"hello"), 403)
    from keys.services import api_key_create

    _, key = api_key_create(name="Crawler Co", rate="none")
    assert upload(client_for(api_key=key), kaze_work, b"hello").status_code == 403


def test_bad_input_is_a_problem_not_a_job(upload, studio_kaze, kaze_work, media, settings):
    kaze = client_for(studio_kaze.user)
    problem = assert_problem(kaze.post(_url(kaze_work), {"keep": "true"}, format="multipart"), 400)
    assert problem["errors"][0]["field"] == "file"
    assert_problem(upload(kaze, kaze_work, b""), 400)
    settings.KYODAKU_FINGERPRINT_MAX_FILE_BYTES = 1000
    assert_problem(upload(kaze, kaze_work, b"x" * 5000, name="big.txt"), 413)
    assert_problem(upload(kaze, kaze_work, b"x" * 200_000, name="big.txt"), 413)  # refused from its length
    assert not FingerprintJob.objects.exists() and _stored(media) == []


def test_a_code_registered_to_hoshis_work_opens_a_dispute_instead_of_moving(upload, studio_kaze, hoshi_pub, kaze_work,
                                                                             media):
    data = image_bytes(procedural_image(16), "PNG")
    sha = codes_for_bytes(data)["sha256"]
    hoshi_work = work_register(holder=hoshi_pub.holder, work_ref="HP-2", title="Hoshi 2", kind="image",
                               identifiers=[f"sha256:{sha}"]).work
    kaze = client_for(studio_kaze.user)
    job = _job(kaze, upload(kaze, kaze_work, data))
    assert job["state"] == "done" and job["disputes_opened"] == 1
    dispute = Dispute.objects.get(scheme="sha256", value=sha)
    assert dispute.work_id == hoshi_work.pk and dispute.claimant_id == studio_kaze.holder.pk
    assert Identifier.objects.get(scheme="sha256", value=sha, valid_until__isnull=True).work_id == hoshi_work.pk
    assert set(Identifier.objects.filter(work=kaze_work).values_list("scheme", flat=True)) == {"iscc", "phash", "pdq"}


# ---- the admin -----------------------------------------------------------------------------------------------
def test_kaze_uploads_files_from_the_works_admin_page_and_sees_their_state(upload, client, studio_kaze, hoshi_pub,
                                                                           kaze_work, media,
                                                                           django_capture_on_commit_callbacks):
    client.force_login(studio_kaze.user)
    page = client.get(reverse("admin:registry_work_change", args=[kaze_work.pk]))
    url = reverse("admin:registry_work_fingerprints", args=[kaze_work.pk])
    assert url in page.content.decode()
    files = [SimpleUploadedFile("a.png", image_bytes(procedural_image(31), "PNG")),
             SimpleUploadedFile("b.jpg", b"not a jpeg at all\x00")]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"files": files})
    assert response.status_code == 302
    states = dict(FingerprintJob.objects.filter(work=kaze_work).values_list("file_name", "state"))
    assert states == {"a.png": "done", "b.jpg": "failed"}
    listing = client.get(url).content.decode()
    assert 'data-state="done"' in listing and 'data-state="failed"' in listing
    assert client.get(reverse("admin:registry_fingerprintjob_changelist")).content.decode().count("a.png") == 1

    client.force_login(hoshi_pub.user)
    assert client.get(url).status_code == 404
    assert client.post(url, {"files": [SimpleUploadedFile("c.png", b"x")]}).status_code == 404
    assert "a.png" not in client.get(reverse("admin:registry_fingerprintjob_changelist")).content.decode()
    assert FingerprintJob.objects.count() == 2


def test_a_viewer_sees_the_uploads_but_cannot_upload(client, kaze_viewer, kaze_work, media):
    client.force_login(kaze_viewer.user)
    url = reverse("admin:registry_work_fingerprints", args=[kaze_work.pk])
    assert 'id="fingerprint-upload"' not in client.get(url).content.decode()
    assert client.post(url, {"files": [SimpleUploadedFile("c.png", b"x")]}).status_code == 404
