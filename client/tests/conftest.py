"""The client's tests run against a live Kyodaku (pytest-django's live server) with the project's personas."""
import pytest

from receipts import services as receipt_services
from tests.conftest import (  # noqa: F401  (fixtures and hooks of the project's suite)
    _seed_data_survives_transactional_tests,
    hoshi_pub,
    pytest_runtest_setup,
    studio_kaze,
)


@pytest.fixture
def registry(live_server, settings, tmp_path):
    """The live server's URL, with signing keys and snapshot files of the test's own."""
    settings.KYODAKU_SIGNING_KEY_DIR = tmp_path / "signing-keys"
    settings.KYODAKU_SIGNING_KEY = ""
    settings.KYODAKU_SIGNING_KEY_AUTOCREATE = True
    settings.KYODAKU_BASE_URL = live_server.url
    settings.STORAGES = {**settings.STORAGES, "snapshots": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "snaps")}}}
    receipt_services._SIGNERS.clear()
    yield live_server.url
    receipt_services._SIGNERS.clear()


@pytest.fixture
def api_key(transactional_db):
    from keys.services import api_key_create

    _, plain = api_key_create(name="Crawler Co", rate="none")
    return plain
