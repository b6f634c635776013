"""Operators' work (disputes, mandates, holder users) and what each holder role may do."""
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from registry.models import Dispute, Holder, Mandate, Membership, Role
from tests.factories import HolderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispute(studio_kaze, hoshi_pub, make_work):
    make_work(hoshi_pub.holder, "HP-1", identifiers=["isbn:9784990166137"])
    make_work(studio_kaze.holder, "SK-1", identifiers=["isbn:9784990166137"])
    return Dispute.objects.get()


def resolve(client, dispute, resolution, note="Checked the colophon."):
    url = reverse("admin:registry_dispute_change", args=[dispute.pk])
    return client.post(url, {"resolution": resolution, "resolution_note": note})


def test_operator_transfers_a_disputed_isbn_to_the_claimant_with_a_note(login, operator, dispute):
    assert resolve(login(operator), dispute, "transferred").status_code == 302
    dispute.refresh_from_db()
    assert (dispute.resolution, dispute.resolution_note) == ("transferred", "Checked the colophon.")
    current = dispute.claimant_work.identifiers.get(valid_until__isnull=True)
    assert str(current) == "isbn:9784990166137"


def test_operator_keeps_a_disputed_isbn_with_its_holder(login, operator, dispute):
    assert resolve(login(operator), dispute, "kept").status_code == 302
    dispute.refresh_from_db()
    assert dispute.resolution == "kept" and dispute.work.identifiers.filter(valid_until__isnull=True).count() == 1


def test_holders_see_a_dispute_but_cannot_resolve_it(login, studio_kaze, dispute):
    client = login(studio_kaze.user)
    assert client.get(reverse("admin:registry_dispute_change", args=[dispute.pk])).status_code == 200
    assert resolve(client, dispute, "transferred").status_code == 403
    dispute.refresh_from_db()
    assert dispute.resolved_at is None


def test_operator_creates_a_mandate_through_the_service(login, operator, tsubasa):
    agent = HolderFactory(code="music-coop", kind="collective")
    response = login(operator).post(reverse("admin:registry_mandate_add"), {
        "agent": agent.pk, "principal": tsubasa.holder.pk, "valid_from_0": "2026-01-01", "valid_from_1": "00:00:00",
        "valid_until_0": "", "valid_until_1": ""})
    assert response.status_code == 302
    assert Mandate.objects.filter(agent=agent, principal=tsubasa.holder).exists()


def test_a_collective_cannot_create_mandates(login, collective, studio_kaze):
    assert login(collective.user).get(reverse("admin:registry_mandate_add")).status_code == 403


def test_collective_sees_its_mandate_and_its_principal(login, collective, tsubasa):
    client = login(collective.user)
    mandates = client.get(reverse("admin:registry_mandate_changelist")).context["cl"].result_list
    assert [(m.agent.code, m.principal.code) for m in mandates] == [("jaa", "tsubasa-anime")]
    assert client.get(reverse("admin:registry_holder_change", args=[tsubasa.holder.pk])).status_code == 200


def test_operator_adds_a_holder_user_with_a_role_who_can_then_log_in(login, operator, studio_kaze, client):
    response = login(operator).post(reverse("admin:registry_membership_add"), {
        "holder": studio_kaze.holder.pk, "username": "kaze-new", "email": "new@studio-kaze.example",
        "role": "viewer", "password1": "a-long-unusual-passphrase", "password2": "a-long-unusual-passphrase"})
    assert response.status_code == 302
    membership = Membership.objects.get(user__username="kaze-new")
    assert (membership.holder, membership.role, membership.user.is_staff) == (studio_kaze.holder, "viewer", False)
    client.logout()
    # Through the login form, as a person would (the login throttle needs the request).
    response = client.post(reverse("admin:login"), {"username": "kaze-new", "password": "a-long-unusual-passphrase"})
    assert response.status_code == 302
    assert client.get(reverse("admin:registry_work_changelist")).status_code == 200


def test_an_editor_cannot_add_users_but_a_holder_admin_adds_colleagues(login, studio_kaze, hoshi_pub):
    assert login(studio_kaze.user).get(reverse("admin:registry_membership_add")).status_code == 403
    admin_user = get_user_model().objects.create_user("kaze-admin", password="x")
    Membership.objects.create(user=admin_user, holder=studio_kaze.holder, role=Role.ADMIN)
    client = login(admin_user)
    form = client.get(reverse("admin:registry_membership_add")).context["adminform"].form
    assert list(form.fields["holder"].queryset) == [studio_kaze.holder]
    response = client.post(reverse("admin:registry_membership_add"), {
        "holder": hoshi_pub.holder.pk, "username": "intruder", "role": "admin", "password1": "a-long-unusual-pw1",
        "password2": "a-long-unusual-pw1"})
    assert response.status_code == 200 and not Membership.objects.filter(user__username="intruder").exists()


def test_holder_users_do_not_see_operator_tools(login, studio_kaze):
    client = login(studio_kaze.user)
    index = client.get(reverse("admin:index")).content.decode()
    assert "Audit events" not in index and "/auth/user/" not in index
    assert client.get(reverse("admin:registry_holder_add")).status_code == 403
    assert client.get(reverse("admin:audit_auditevent_changelist")).status_code == 403


def test_work_history_page_shows_its_audit_events(login, studio_kaze, make_work):
    work = make_work(studio_kaze.holder, "SK-1", identifiers=["isbn:9784990166137"])
    page = login(studio_kaze.user).get(reverse("admin:registry_work_history", args=[work.pk]))
    assert [e.action for e in page.context["audit_events"]] == ["work.register", "identifier.add"]


def test_create_holder_user_command_reads_the_password_from_stdin(studio_kaze, client, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-unusual-passphrase\n"))
    out = io.StringIO()
    call_command("create_holder_user", "--holder", "studio-kaze", "--username", "kaze-cli", "--role", "viewer",
                 "--json", stdout=out)
    assert out.getvalue().strip().splitlines()[-1] == (
        '{"username": "kaze-cli", "holder": "studio-kaze", "role": "viewer"}')
    assert "a-long-unusual-passphrase" not in out.getvalue()
    response = client.post(reverse("admin:login"), {"username": "kaze-cli", "password": "a-long-unusual-passphrase"})
    assert response.status_code == 302
    page = client.get(reverse("admin:registry_work_changelist"))
    assert page.status_code == 200 and page.context["has_add_permission"] is False


def test_create_holder_user_command_refuses_an_unknown_holder(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_holder_user", "--holder", "nobody", "--username", "x", "--password", "pw")
    assert not Holder.objects.exists()


def test_operator_ends_a_mandate_with_the_action_and_the_collective_loses_the_principal(
        login, operator, collective, tsubasa, make_work):
    work = make_work(tsubasa.holder, "TS-1")
    mandate = Mandate.objects.get(agent=collective.holder)
    login(operator).post(reverse("admin:registry_mandate_changelist"), {
        "action": "end_mandates", "_selected_action": [mandate.pk]})
    mandate.refresh_from_db()
    assert mandate.valid_until is not None
    assert login(collective.user).get(reverse("admin:registry_work_change", args=[work.pk])).status_code == 404


def test_operator_registers_and_verifies_a_holder_through_the_service(login, operator):
    from audit.models import AuditEvent

    client = login(operator)
    response = client.post(reverse("admin:registry_holder_add"), {
        "code": "umi-records", "name": "Umi Records", "kind": "label", "country": "JP", "licensing_url": ""})
    assert response.status_code == 302
    holder = Holder.objects.get(code="umi-records")
    url = reverse("admin:registry_holder_change", args=[holder.pk])
    client.post(url, {"name": "Umi Records", "kind": "label", "country": "JP", "licensing_url": "",
                      "verified": "on"})
    holder.refresh_from_db()
    assert holder.verified
    assert [e.action for e in AuditEvent.objects.filter(object_id=str(holder.pk))] == ["holder.create",
                                                                                       "holder.update"]


def test_operator_versions_a_rule_and_holders_only_read_rules(login, operator, studio_kaze):
    from consent.models import Rule

    current = Rule.objects.get(jurisdiction_id="US", purpose="*", valid_until__isnull=True)
    response = login(operator).post(reverse("admin:consent_rule_change", args=[current.pk]), {
        "regime": "prior-permission", "basis": "A test basis."})
    assert response.status_code == 302
    current.refresh_from_db()
    assert current.valid_until is not None
    assert Rule.objects.get(jurisdiction_id="US", purpose="*", valid_until__isnull=True).regime == "prior-permission"
    added = login(operator).post(reverse("admin:consent_rule_add"), {
        "jurisdiction_code": "fr", "purpose": "train-genai", "regime": "prior-permission", "basis": "A test."})
    assert added.status_code == 302
    assert Rule.objects.get(jurisdiction_id="FR", purpose="train-genai", valid_until__isnull=True)
    client = login(studio_kaze.user)
    assert client.get(reverse("admin:consent_rule_changelist")).status_code == 200
    assert client.get(reverse("admin:consent_rule_add")).status_code == 403


def test_holder_users_cannot_reach_api_keys_or_django_users(login, studio_kaze):
    client = login(studio_kaze.user)
    assert client.get(reverse("admin:keys_apikey_changelist")).status_code == 403
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403


def test_a_staff_operator_without_permission_rows_issues_an_api_key(login, db):
    from keys.models import APIKey
    from tests.factories import UserFactory

    staff = UserFactory(username="registry-staff", is_staff=True)  # not a superuser, no permission rows
    response = login(staff).post(reverse("admin:keys_apikey_add"), {"name": "crawler-co", "rate": "10/s"})
    assert response.status_code == 302
    assert APIKey.objects.get(name="crawler-co").rate == "10/s"
    assert "will not be shown again" in str(list(response.wsgi_request._messages)[0])
