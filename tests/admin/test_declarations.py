"""Declarations in the admin: filed through consent.services, superseded on edit, revoked by an action."""
import pytest
from django.urls import reverse

from audit.models import AuditEvent
from consent.models import Declaration
from tests.admin.conftest import form_data

pytestmark = pytest.mark.django_db

ADD = "admin:consent_declaration_add"


def file_form(holder, work, **fields):
    data = {"holder": holder.pk, "scope": "work", "work": work.pk, "purpose": "train-genai", "jurisdiction": "*",
            "consent": "reserve", "license_url": "", "conditions": "", "effective_from_0": "",
            "effective_from_1": "", "effective_until_0": "", "effective_until_1": ""}
    data.update(fields)
    return data


def test_editor_files_a_reservation_through_the_service(login, studio_kaze, make_work):
    work = make_work(studio_kaze.holder, "SK-1")
    response = login(studio_kaze.user).post(reverse(ADD), file_form(studio_kaze.holder, work, jurisdiction="jp"))
    assert response.status_code == 302
    declaration = Declaration.objects.get()
    assert (declaration.consent, declaration.jurisdiction, declaration.filed_by) == ("reserve", "JP", studio_kaze.user)
    assert AuditEvent.objects.filter(action="declaration.file", object_id=str(declaration.pk)).exists()


@pytest.mark.parametrize(("field", "value"), [("jurisdiction", "XX"), ("jurisdiction", "UK")])
def test_an_unknown_jurisdiction_is_an_error_on_its_field(login, studio_kaze, make_work, field, value):
    work = make_work(studio_kaze.holder, "SK-1")
    response = login(studio_kaze.user).post(reverse(ADD), file_form(studio_kaze.holder, work, **{field: value}))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not Declaration.objects.exists()


def test_a_catalogue_declaration_naming_a_work_is_refused_on_the_form(login, studio_kaze, make_work):
    work = make_work(studio_kaze.holder, "SK-1")
    response = login(studio_kaze.user).post(reverse(ADD), file_form(studio_kaze.holder, work, scope="catalogue"))
    assert response.status_code == 200 and "work" in response.context["adminform"].form.errors


def test_collective_files_for_its_principal_and_is_recorded_as_agent(login, collective, tsubasa, make_work):
    work = make_work(tsubasa.holder, "TS-1")
    assert login(collective.user).post(reverse(ADD), file_form(tsubasa.holder, work)).status_code == 302
    assert Declaration.objects.get().filed_by_agent == collective.holder


def test_editing_a_declaration_supersedes_it_and_the_form_says_so(login, studio_kaze, make_work, reserve):
    old = reserve(make_work(studio_kaze.holder, "SK-1"))
    client = login(studio_kaze.user)
    url = reverse("admin:consent_declaration_change", args=[old.pk])
    page = client.get(url)
    assert b'id="supersede-notice"' in page.content
    data = form_data(page)
    data["consent"] = "grant"
    response = client.post(url, data)
    old.refresh_from_db()
    new = Declaration.objects.get(superseded_at__isnull=True)
    assert response.status_code == 302 and response["Location"].endswith(f"{new.pk}/change/")
    assert (old.superseded_by, new.consent, new.purpose) == (new, "grant", old.purpose)
    assert Declaration.objects.count() == 2


def test_a_superseded_declaration_is_read_only_history(login, studio_kaze, make_work, reserve):
    work = make_work(studio_kaze.holder, "SK-1")
    old = reserve(work)
    reserve(work, consent="grant")
    client = login(studio_kaze.user)
    page = client.get(reverse("admin:consent_declaration_change", args=[old.pk]))
    assert page.status_code == 200 and page.context["has_change_permission"] is False
    response = client.post(reverse("admin:consent_declaration_change", args=[old.pk]), {"consent": "reserve"})
    assert response.status_code == 403


def test_revoke_action_revokes_through_the_service(login, studio_kaze, make_work, reserve):
    declaration = reserve(make_work(studio_kaze.holder, "SK-1"))
    login(studio_kaze.user).post(reverse("admin:consent_declaration_changelist"), {
        "action": "revoke_declarations", "_selected_action": [declaration.pk]})
    declaration.refresh_from_db()
    assert declaration.revoked_at is not None and declaration.revoked_by == studio_kaze.user
    assert AuditEvent.objects.filter(action="declaration.revoke").count() == 1


def test_viewer_has_no_revoke_action_and_cannot_post_it(login, kaze_viewer, make_work, reserve):
    declaration = reserve(make_work(kaze_viewer.holder, "SK-1"))
    client = login(kaze_viewer.user)
    page = client.get(reverse("admin:consent_declaration_changelist"))
    assert "revoke_declarations" not in page.content.decode()
    client.post(reverse("admin:consent_declaration_changelist"), {
        "action": "revoke_declarations", "_selected_action": [declaration.pk]})
    declaration.refresh_from_db()
    assert declaration.revoked_at is None


def test_nobody_deletes_a_declaration(login, operator, studio_kaze, make_work, reserve):
    declaration = reserve(make_work(studio_kaze.holder, "SK-1"))
    client = login(operator)
    assert client.get(reverse("admin:consent_declaration_delete", args=[declaration.pk])).status_code == 403
    page = client.get(reverse("admin:consent_declaration_changelist"))
    assert "delete_selected" not in page.content.decode()


def test_declaration_history_page_shows_its_audit_events(login, studio_kaze, make_work, reserve):
    work = make_work(studio_kaze.holder, "SK-1")
    old = reserve(work)
    reserve(work, consent="grant")
    page = login(studio_kaze.user).get(reverse("admin:consent_declaration_history", args=[old.pk]))
    actions = [event.action for event in page.context["audit_events"]]
    assert actions == ["declaration.file", "declaration.supersede"]
