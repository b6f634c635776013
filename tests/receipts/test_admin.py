"""Operators see the signing keys in the admin, read-only; holder users do not see them at all."""
import pytest
from django.test import Client

from receipts.services import signing_key_ensure

pytestmark = [pytest.mark.django_db]


def test_operator_sees_the_signing_keys_and_cannot_edit_them(operator):
    key = signing_key_ensure()
    client = Client()
    client.force_login(operator)

    listing = client.get("/receipts/signingkey/")
    assert listing.status_code == 200 and key.kid in listing.content.decode()
    assert client.get("/receipts/signingkey/add/").status_code == 403
    detail = client.post(f"/receipts/signingkey/{key.kid}/change/", {"status": "retired"})
    assert detail.status_code == 403
    key.refresh_from_db()
    assert key.status == "active"


def test_studio_kaze_editor_does_not_see_the_signing_keys(studio_kaze):
    signing_key_ensure()
    client = Client()
    client.force_login(studio_kaze.user)

    assert client.get("/receipts/signingkey/").status_code in (403, 404)
    assert "signingkey" not in client.get("/").content.decode()
