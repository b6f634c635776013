"""Declarations are append-only: filing supersedes, identical filing changes nothing, revoking ends."""
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from audit.models import AuditEvent
from consent.models import Declaration, Rule
from consent.services import declaration_file, declaration_revoke, rule_set
from core.errors import Conflict, NotFound, ReadOnlyRole, ValidationFailed
from registry.services import work_register

pytestmark = pytest.mark.django_db


@pytest.fixture
def kaze_work(studio_kaze):
    return work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Wind").work


def file(persona, work=None, **kwargs):
    defaults = dict(holder=persona.holder, scope="work" if work else "catalogue", work=work, purpose="train-ai",
                    jurisdiction="JP", consent="reserve")
    return declaration_file(**{**defaults, **kwargs})


def test_filing_into_an_empty_slot_creates_a_current_declaration(studio_kaze, kaze_work):
    declaration, created = file(studio_kaze, kaze_work)
    assert created and declaration.is_current and declaration.effective_from == declaration.recorded_at


def test_filing_an_identical_declaration_creates_nothing(studio_kaze, kaze_work):
    first, _ = file(studio_kaze, kaze_work, license_url="https://k.example/l")
    again, created = file(studio_kaze, kaze_work, jurisdiction="jp", license_url="https://k.example/l")
    assert not created and again == first
    assert Declaration.objects.count() == 1


def test_filing_a_different_statement_supersedes_the_one_in_force(studio_kaze, kaze_work):
    first, _ = file(studio_kaze, kaze_work, consent="reserve")
    second, created = file(studio_kaze, kaze_work, consent="grant")
    first.refresh_from_db()
    assert created
    assert first.superseded_by == second and first.superseded_at == second.recorded_at
    assert list(Declaration.objects.filter(superseded_at__isnull=True, revoked_at__isnull=True)) == [second]


def test_catalogue_and_work_slots_are_separate(studio_kaze, kaze_work):
    file(studio_kaze, kaze_work)
    file(studio_kaze)
    assert Declaration.objects.filter(superseded_at__isnull=True).count() == 2


def test_opt_out_alias_files_a_reservation(studio_kaze):
    declaration, _ = file(studio_kaze, consent="opt-out")
    assert declaration.consent == "reserve"


def test_revoking_ends_the_declaration_and_it_cannot_be_revoked_twice(studio_kaze, kaze_work):
    declaration, _ = file(studio_kaze, kaze_work)
    declaration_revoke(declaration=declaration, actor=studio_kaze.user)
    declaration.refresh_from_db()
    assert declaration.revoked_at is not None and declaration.revoked_by == studio_kaze.user
    with pytest.raises(Conflict):
        declaration_revoke(declaration=declaration)


def test_only_users_who_may_file_for_the_holder_revoke_its_declarations(studio_kaze, kaze_viewer, hoshi_pub,
                                                                          kaze_work):
    """declaration_revoke itself checks the user (the admin and the API only call it)."""
    declaration, _ = file(studio_kaze, kaze_work)

    with pytest.raises(ReadOnlyRole):
        declaration_revoke(declaration=declaration, actor=kaze_viewer.user)
    with pytest.raises(NotFound):  # another holder's user: the declaration's holder is not revealed
        declaration_revoke(declaration=declaration, actor=hoshi_pub.user)
    declaration.refresh_from_db()
    assert declaration.revoked_at is None

    declaration_revoke(declaration=declaration, actor=studio_kaze.user)
    declaration.refresh_from_db()
    assert declaration.revoked_at is not None


def test_a_superseded_declaration_cannot_be_revoked(studio_kaze, kaze_work):
    first, _ = file(studio_kaze, kaze_work)
    file(studio_kaze, kaze_work, consent="grant")
    with pytest.raises(Conflict):
        declaration_revoke(declaration=first)


def test_every_invalid_field_is_reported(studio_kaze, hoshi_pub):
    other_work = work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Stars").work
    with pytest.raises(ValidationFailed) as exc:
        declaration_file(holder=studio_kaze.holder, scope="work", work=other_work, purpose="train-everything",
                         jurisdiction="XX", consent="maybe")
    codes = {e["field"]: e["code"] for e in exc.value.errors}
    assert codes == {"work": "not-found", "purpose": "unknown-purpose", "jurisdiction": "unknown-jurisdiction",
                     "consent": "invalid-consent"}


def test_effective_period_must_end_after_it_starts(studio_kaze):
    now = timezone.now()
    with pytest.raises(ValidationFailed):
        file(studio_kaze, effective_from=now, effective_until=now - timedelta(days=1))


def test_database_rejects_a_second_current_declaration_in_a_work_slot(studio_kaze, kaze_work):
    first, _ = file(studio_kaze, kaze_work)
    with pytest.raises(IntegrityError), transaction.atomic():
        Declaration.objects.create(holder=first.holder, scope="work", work=kaze_work, purpose="train-ai",
                                   jurisdiction="JP", consent="grant", effective_from=timezone.now())


def test_database_rejects_a_second_current_declaration_in_a_catalogue_slot(studio_kaze):
    first, _ = file(studio_kaze)
    with pytest.raises(IntegrityError), transaction.atomic():
        Declaration.objects.create(holder=first.holder, scope="catalogue", purpose="train-ai",
                                   jurisdiction="JP", consent="grant", effective_from=timezone.now())


def test_database_rejects_a_work_scope_declaration_without_a_work(studio_kaze):
    with pytest.raises(IntegrityError), transaction.atomic():
        Declaration.objects.create(holder=studio_kaze.holder, scope="work", purpose="train-ai",
                                   jurisdiction="JP", consent="grant", effective_from=timezone.now())


@pytest.mark.postgres
def test_postgres_refuses_to_edit_a_declarations_statement(studio_kaze, kaze_work):
    declaration, _ = file(studio_kaze, kaze_work)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        Declaration.objects.filter(pk=declaration.pk).update(consent="grant")


@pytest.mark.postgres
def test_postgres_refuses_to_delete_a_declaration(studio_kaze, kaze_work):
    declaration, _ = file(studio_kaze, kaze_work)
    with pytest.raises(IntegrityError, match="never deleted"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM consent_declaration WHERE id = %s", [declaration.pk])


@pytest.mark.postgres
def test_postgres_refuses_to_undo_a_revocation(studio_kaze, kaze_work):
    declaration, _ = file(studio_kaze, kaze_work)
    declaration_revoke(declaration=declaration)
    with pytest.raises(IntegrityError), transaction.atomic():
        Declaration.objects.filter(pk=declaration.pk).update(revoked_at=None)


def test_filing_supersession_and_revocation_are_audited(studio_kaze, kaze_work):
    first, _ = file(studio_kaze, kaze_work, actor=studio_kaze.user)
    second, _ = file(studio_kaze, kaze_work, consent="grant", actor=studio_kaze.user)
    declaration_revoke(declaration=second, actor=studio_kaze.user)
    actions = list(AuditEvent.objects.filter(object_type="declaration").values_list("action", "object_id"))
    assert actions == [("declaration.file", str(first.pk)), ("declaration.file", str(second.pk)),
                       ("declaration.supersede", str(first.pk)), ("declaration.revoke", str(second.pk))]
    assert all(a == f"user:{studio_kaze.user.pk}" for a in AuditEvent.objects.filter(
        object_type="declaration").values_list("actor", flat=True))


def test_seeded_rules_give_eu_member_states_the_eu_parent():
    from consent.models import Jurisdiction

    members = Jurisdiction.objects.filter(parent_id="EU")
    assert members.count() == 27 and members.filter(code="FR").exists() and members.filter(code="GR").exists()
    current = dict(Rule.objects.filter(valid_until__isnull=True).values_list("jurisdiction_id", "regime"))
    assert current == {"*": "prior-permission", "JP": "prior-permission", "EU": "opt-out", "GB": "opt-out",
                       "US": "opt-out"}


def test_changing_a_rule_versions_it_instead_of_editing(operator):
    old = Rule.objects.get(jurisdiction_id="GB", valid_until__isnull=True)
    new = rule_set(jurisdiction="GB", regime="prior-permission", basis="Hypothetical statute, s. 1",
                   actor=operator)
    old.refresh_from_db()
    assert old.valid_until == new.valid_from and old.regime == "opt-out"
    assert rule_set(jurisdiction="GB", regime="prior-permission", basis="Hypothetical statute, s. 1") == new


def test_deleting_the_user_who_filed_and_revoked_keeps_the_declaration_and_forgets_the_user(studio_kaze, kaze_work):
    """The user references have no database constraint (bulk imports would check one per row); Django keeps them
    right: on_delete=SET_NULL, which the append-only trigger allows."""
    declaration, _ = file(studio_kaze, kaze_work, actor=studio_kaze.user)
    declaration_revoke(declaration=declaration, actor=studio_kaze.user)
    studio_kaze.user.delete()
    declaration.refresh_from_db()
    assert (declaration.filed_by_id, declaration.revoked_by_id, declaration.consent) == (None, None, "reserve")
    assert declaration.revoked_at is not None
