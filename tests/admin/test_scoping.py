"""Scoping: a holder's users see only their holder's data (and their principals'); anything else is a 404."""
import pytest
from django.urls import reverse

from registry.models import Dispute

pytestmark = pytest.mark.django_db


def change_url(obj):
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def test_studio_kaze_editor_lists_only_studio_kaze_works(login, studio_kaze, hoshi_pub, make_work):
    make_work(studio_kaze.holder, "SK-1", title="Kaze no Tani")
    make_work(hoshi_pub.holder, "HP-1", title="Hoshi no Ko")
    page = login(studio_kaze.user).get(reverse("admin:registry_work_changelist"))
    assert page.status_code == 200
    assert "Kaze no Tani" in page.content.decode()
    assert "Hoshi no Ko" not in page.content.decode()


@pytest.mark.parametrize("view", ["change", "history"])
def test_hoshi_editor_gets_404_for_a_studio_kaze_work_url(login, studio_kaze, hoshi_pub, make_work, view):
    work = make_work(studio_kaze.holder, "SK-1")
    url = reverse(f"admin:registry_work_{view}", args=[work.pk])
    assert login(hoshi_pub.user).get(url).status_code == 404


def test_a_missing_work_url_is_the_same_404(login, hoshi_pub):
    url = reverse("admin:registry_work_change", args=["8d4a4b1e-0000-4000-8000-000000000000"])
    assert login(hoshi_pub.user).get(url).status_code == 404


def test_hoshi_editor_gets_404_for_a_studio_kaze_declaration(login, studio_kaze, hoshi_pub, make_work, reserve):
    declaration = reserve(make_work(studio_kaze.holder, "SK-1"))
    assert login(hoshi_pub.user).get(change_url(declaration)).status_code == 404


def test_collective_sees_and_opens_its_principals_works(login, collective, tsubasa, studio_kaze, make_work):
    principal_work = make_work(tsubasa.holder, "TS-1", title="Tsubasa no Uta")
    make_work(studio_kaze.holder, "SK-1", title="Kaze no Tani")
    client = login(collective.user)
    listing = client.get(reverse("admin:registry_work_changelist")).content.decode()
    assert "Tsubasa no Uta" in listing and "Kaze no Tani" not in listing
    assert client.get(change_url(principal_work)).status_code == 200


def test_principal_does_not_see_the_collectives_own_works(login, collective, tsubasa, make_work):
    own = make_work(collective.holder, "JAA-1", title="Association Report")
    assert login(tsubasa.user).get(change_url(own)).status_code == 404


def test_operator_sees_every_holders_works(login, operator, studio_kaze, hoshi_pub, make_work):
    make_work(studio_kaze.holder, "SK-1", title="Kaze no Tani")
    make_work(hoshi_pub.holder, "HP-1", title="Hoshi no Ko")
    listing = login(operator).get(reverse("admin:registry_work_changelist")).content.decode()
    assert "Kaze no Tani" in listing and "Hoshi no Ko" in listing


def test_work_autocomplete_offers_only_works_in_scope(login, studio_kaze, hoshi_pub, make_work):
    make_work(studio_kaze.holder, "SK-1", title="Kaze Shared Title")
    make_work(hoshi_pub.holder, "HP-1", title="Hoshi Shared Title")
    response = login(hoshi_pub.user).get(reverse("admin:autocomplete"), {
        "app_label": "consent", "model_name": "declaration", "field_name": "work", "term": "Shared"})
    assert response.status_code == 200
    titles = [item["text"] for item in response.json()["results"]]
    assert titles == ["Hoshi Shared Title [HP-1]"]


def test_hoshi_editor_cannot_file_a_declaration_for_a_studio_kaze_work(login, studio_kaze, hoshi_pub, make_work):
    work = make_work(studio_kaze.holder, "SK-1")
    response = login(hoshi_pub.user).post(reverse("admin:consent_declaration_add"), {
        "holder": studio_kaze.holder.pk, "scope": "work", "work": work.pk, "purpose": "train-ai",
        "jurisdiction": "*", "consent": "reserve"})
    assert response.status_code == 200  # the form again, with errors: neither the holder nor the work is a choice
    assert work.declarations.count() == 0
    errors = response.context["adminform"].form.errors
    assert "holder" in errors and "work" in errors


def test_revoke_action_ignores_declarations_out_of_scope(login, studio_kaze, hoshi_pub, make_work, reserve):
    declaration = reserve(make_work(studio_kaze.holder, "SK-1"))
    login(hoshi_pub.user).post(reverse("admin:consent_declaration_changelist"), {
        "action": "revoke_declarations", "_selected_action": [declaration.pk]})
    declaration.refresh_from_db()
    assert declaration.revoked_at is None


def test_disputes_are_seen_by_both_parties_and_nobody_else(login, studio_kaze, hoshi_pub, tsubasa, make_work):
    make_work(studio_kaze.holder, "SK-1", identifiers=["isbn:9784990166137"])
    make_work(hoshi_pub.holder, "HP-1", identifiers=["isbn:978-4-9901661-3-7"])
    dispute = Dispute.objects.get()
    assert login(studio_kaze.user).get(change_url(dispute)).status_code == 200
    assert login(hoshi_pub.user).get(change_url(dispute)).status_code == 200
    assert login(tsubasa.user).get(change_url(dispute)).status_code == 404


def test_holder_list_shows_own_holder_and_principals_only(login, collective, tsubasa, studio_kaze):
    listing = login(collective.user).get(reverse("admin:registry_holder_changelist")).content.decode()
    assert "jaa" in listing and "tsubasa-anime" in listing and "studio-kaze" not in listing


def test_a_user_without_membership_cannot_enter_the_admin(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="stranger"))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_holder_user_logs_in_with_a_password(client, studio_kaze):
    response = client.post(reverse("admin:login"), {"username": "kaze-editor", "password": "correct-horse-battery",
                                                    "next": "/"})
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
