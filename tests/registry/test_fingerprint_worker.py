"""Fingerprints from files with a real Celery worker process, the Redis broker and PostgreSQL (issue 16 item 2):
the upload commits, the task goes through the broker, the worker attaches the codes and deletes the file."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.selectors import audit_verify
from demo.images import image_bytes, procedural_image
from registry.fingerprinting import fingerprint_job_create
from registry.fingerprints import codes_for_bytes
from registry.models import FingerprintJob, Identifier
from registry.services import work_register
from tests.claims.test_worker import Worker, _wait, broker, media  # noqa: F401 - fixtures

pytestmark = [pytest.mark.worker, pytest.mark.redis, pytest.mark.postgres]


def test_studio_kaze_upload_is_fingerprinted_by_the_worker_and_the_file_deleted(transactional_db, studio_kaze,
                                                                                 broker, media):  # noqa: F811
    work = work_register(holder=studio_kaze.holder, work_ref="KZ-W1", title="Worker still", kind="image").work
    data = image_bytes(procedural_image(21), "PNG")
    worker = Worker(media, chunk_rows=100).start()
    try:
        job = fingerprint_job_create(work=work, user=studio_kaze.user, upload=SimpleUploadedFile("w.png", data))
        _wait(lambda: FingerprintJob.objects.filter(pk=job.pk).exclude(state="queued").exists(), 120,
              "the worker to fingerprint the file")
    finally:
        worker.stop()
    job.refresh_from_db()
    assert (job.state, job.error) == ("done", "")
    assert job.codes == codes_for_bytes(data)
    assert set(Identifier.objects.filter(work=work).values_list("scheme", flat=True)) == {
        "sha256", "iscc", "phash", "pdq"}
    assert not job.file and not [p for p in media.rglob("*") if p.is_file()]
    assert audit_verify() == []
