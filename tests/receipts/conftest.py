import pytest

from receipts import services


@pytest.fixture(autouse=True)
def signing_key_dir(settings, tmp_path):
    """Every test gets its own key directory and no key from the environment; nothing is cached across tests."""
    settings.KYODAKU_SIGNING_KEY_DIR = tmp_path / "signing-keys"
    settings.KYODAKU_SIGNING_KEY = ""
    settings.KYODAKU_SIGNING_KEY_AUTOCREATE = True
    services._SIGNERS.clear()
    yield settings.KYODAKU_SIGNING_KEY_DIR
    services._SIGNERS.clear()
