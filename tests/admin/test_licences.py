"""The licence admin (domain.md "Licences and permission requests"): holders' users list and read their licences,
editors file and revoke them; nothing is edited or deleted; Japanese and English.

Personas: Studio Kaze's editor licenses a work to Mirai AI and revokes it; Kaze's viewer only looks; Hoshi
Publishing's editor never sees Kaze's licences (404); an operator sees all.
"""
import pytest
from django.urls import reverse

from consent.licence_services import licence_file
from consent.models import Licence
from registry.models import Organisation

pytestmark = pytest.mark.django_db
ISBN = "isbn:978-4-9901661-3-7"
LIST = "admin:consent_licence_changelist"


@pytest.fixture
def world(studio_kaze, make_work):
    work = make_work(studio_kaze.holder, "SK-1", title="Kaze no Tani", identifiers=[ISBN])
    mirai = Organisation.objects.create(name="Mirai AI")
    licence = licence_file(holder=studio_kaze.holder, licensee=mirai, scope="work", work=work,
                           purposes=["train-genai"], jurisdictions=["JP"], actor=studio_kaze.user)
    return {"work": work, "mirai": mirai, "licence": licence}


def test_kaze_lists_and_reads_its_licences(world, login, studio_kaze):
    client = login(studio_kaze.user)
    page = client.get(reverse(LIST)).content.decode()
    assert "Mirai AI" in page and "Kaze no Tani" in page
    detail = client.get(reverse("admin:consent_licence_change", args=[world["licence"].pk])).content.decode()
    assert "train-genai" in detail and 'name="_save"' not in detail


def test_kaze_files_a_licence_naming_the_licensee_by_code(world, login, studio_kaze):
    client = login(studio_kaze.user)
    add = reverse("admin:consent_licence_add")
    body = {"holder": studio_kaze.holder.pk, "licensee_code": "nobody", "scope": "catalogue",
            "purposes": ["train-ai"], "jurisdictions": "JP EU"}
    refused = client.post(add, body)
    assert refused.status_code == 200 and "No organisation with this code." in refused.content.decode()
    assert client.post(add, {**body, "licensee_code": "mirai-ai", "jurisdictions": "XX"}).status_code == 200
    response = client.post(add, {**body, "licensee_code": "mirai-ai"})
    assert response.status_code == 302, response.content.decode()[:2000]
    catalogue = Licence.objects.get(scope="catalogue")
    assert (catalogue.licensee, catalogue.jurisdictions, catalogue.purposes) == (world["mirai"], ["EU", "JP"],
                                                                                 ["train-ai"])


def test_kaze_revokes_and_the_history_stays(world, login, studio_kaze):
    client = login(studio_kaze.user)
    response = client.post(reverse(LIST), {"action": "revoke_licences", "_selected_action": [world["licence"].pk]})
    assert response.status_code == 302
    world["licence"].refresh_from_db()
    assert world["licence"].revoked_at is not None
    assert "Mirai AI" in client.get(reverse(LIST), {"state": "revoked"}).content.decode()
    assert "Mirai AI" not in client.get(reverse(LIST), {"state": "current"}).content.decode()


def test_the_viewer_looks_but_cannot_file_or_revoke(world, login, kaze_viewer):
    client = login(kaze_viewer.user)
    page = client.get(reverse(LIST)).content.decode()
    assert "Mirai AI" in page and "revoke_licences" not in page
    assert client.get(reverse("admin:consent_licence_add")).status_code == 403
    client.post(reverse(LIST), {"action": "revoke_licences", "_selected_action": [world["licence"].pk]})
    world["licence"].refresh_from_db()
    assert world["licence"].revoked_at is None


def test_hoshi_never_sees_kazes_licences(world, login, hoshi_pub):
    client = login(hoshi_pub.user)
    assert "Mirai AI" not in client.get(reverse(LIST)).content.decode()
    assert client.get(reverse("admin:consent_licence_change", args=[world["licence"].pk])).status_code == 404


def test_an_operator_sees_every_licence(world, login, operator):
    assert "Mirai AI" in login(operator).get(reverse(LIST)).content.decode()


def test_the_licence_pages_speak_japanese(world, login, studio_kaze, compiled_translations):
    client = login(studio_kaze.user)
    page = client.get(reverse(LIST), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "ライセンス" in page
    form = client.get(reverse("admin:consent_licence_add"), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "ライセンシー" in form and "組織のコード" in form
