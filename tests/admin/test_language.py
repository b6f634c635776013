"""English by default; the language switch in the header (login page included) turns the admin Japanese."""
import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_login_page_offers_the_language_switch_in_english_by_default(client):
    page = client.get(reverse("admin:login")).content.decode()
    assert 'id="language-switch"' in page and 'value="ja"' in page
    assert "Kyodaku consent registry" in page


def test_switching_to_japanese_translates_kyodakus_own_strings(login, studio_kaze, make_work, compiled_translations):
    work = make_work(studio_kaze.holder, "SK-1")
    client = login(studio_kaze.user)
    response = client.post(reverse("set_language"), {"language": "ja", "next": "/"})
    assert response.status_code == 302
    page = client.get(reverse("admin:registry_work_change", args=[work.pk])).content.decode()
    assert "Kyodaku 許諾レジストリ" in page  # site header
    assert "AI 開発者に現在返される回答" in page  # the answers panel
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert "Kyodaku consent registry" in client.get(reverse("admin:index")).content.decode()
