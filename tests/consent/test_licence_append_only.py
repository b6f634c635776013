"""Licences are append-only in the database itself (consent migration 0006), like declarations.

Persona: Studio Kaze licenses a work to Mirai AI; someone with database access (or a buggy service) tries to edit
or delete the licence behind the services' back. Rule proven: only `superseded_at`, `superseded_by` and `revoked_at`
may be set, once each; nothing else changes and nothing is deleted; deleting the filing user only clears `filed_by`.
"""
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from consent.licence_services import licence_file, licence_revoke
from consent.models import Licence
from registry.models import Organisation
from registry.services import work_register


@pytest.fixture
def licence(studio_kaze):
    mirai = Organisation.objects.create(name="Mirai AI")
    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani", kind="film",
                         identifiers=["isbn:978-4-9901661-3-7"]).work
    return licence_file(holder=studio_kaze.holder, licensee=mirai, scope="work", work=work, purposes=["train-genai"],
                        jurisdictions=["JP"], license_url="https://kaze.example/deal/1", actor=studio_kaze.user)


@pytest.mark.parametrize("change", [
    {"purposes": ["train-ai"]},
    {"jurisdictions": ["*"]},
    {"license_url": "https://kaze.example/other"},
    {"conditions": "changed"},
    {"effective_until": timezone.now() + timedelta(days=999)},
    {"recorded_at": timezone.now() - timedelta(days=1)},
    {"scope": "catalogue", "work": None},
])
def test_studio_kaze_licence_terms_cannot_be_edited_in_the_database(licence, change):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        Licence.objects.filter(pk=licence.pk).update(**change)


def test_a_licence_is_never_deleted(licence):
    with pytest.raises(IntegrityError, match="never deleted"), transaction.atomic():
        Licence.objects.filter(pk=licence.pk).delete()


def test_the_licensee_cannot_be_swapped(licence):
    kumo = Organisation.objects.create(name="Kumo Labs")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        Licence.objects.filter(pk=licence.pk).update(licensee=kumo)


def test_revoked_at_is_set_once_and_never_cleared_or_moved(licence):
    licence_revoke(licence=licence)
    for value in (None, timezone.now() + timedelta(days=1)):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
            Licence.objects.filter(pk=licence.pk).update(revoked_at=value)


def test_superseding_is_allowed_once_and_then_frozen(licence, studio_kaze):
    newer = licence_file(holder=licence.holder, licensee=licence.licensee, scope="work", work=licence.work,
                         purposes=["train-ai"], jurisdictions=["JP"], actor=studio_kaze.user)
    licence.refresh_from_db()
    assert licence.superseded_by_id == newer.pk and licence.superseded_at is not None
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        Licence.objects.filter(pk=licence.pk).update(superseded_at=None, superseded_by=None)


def test_deleting_the_user_who_filed_it_keeps_the_licence_and_forgets_the_user(licence, studio_kaze):
    studio_kaze.user.delete()
    licence.refresh_from_db()
    assert licence.filed_by_id is None and licence.purposes == ["train-genai"]
