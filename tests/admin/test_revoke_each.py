"""The admin's one revoke loop (registry.admin_base.revoke_each), behind both "revoke the selected declarations"
and "revoke the selected licences": rows in force are revoked through their service, rows already ended are
skipped and counted, a row the service refuses is named in an error and the others still go through.

Personas: Studio Kaze's editor revokes Kaze's declarations and its licence to Mirai AI.
"""
import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory
from django.urls import reverse

from consent.licence_services import licence_file, licence_revoke
from consent.models import Declaration, Licence
from consent.services import declaration_revoke
from registry.admin_base import revoke_each
from registry.models import Organisation

pytestmark = pytest.mark.django_db


@pytest.fixture
def kaze_rows(studio_kaze, make_work, reserve):
    """Two rows of each kind for Kaze: the first in force, the second already revoked."""
    first, second = make_work(studio_kaze.holder, "SK-1"), make_work(studio_kaze.holder, "SK-2")
    declarations = [reserve(first), reserve(second)]
    declaration_revoke(declaration=declarations[1])
    mirai = Organisation.objects.create(name="Mirai AI")
    licences = [licence_file(holder=studio_kaze.holder, licensee=mirai, scope="work", work=work,
                             purposes=["train-genai"], jurisdictions=["JP"]) for work in (first, second)]
    licence_revoke(licence=licences[1])
    return {"declaration": declarations, "licence": licences}


@pytest.mark.parametrize(("kind", "action", "revoked", "skipped"), [
    ("declaration", "revoke_declarations", "1 declaration revoked.",
     "1 declaration was skipped: it is no longer in force."),
    ("licence", "revoke_licences", "1 licence revoked.", "1 licence was skipped: it is no longer in force."),
])
def test_both_actions_revoke_what_is_in_force_and_count_what_is_not(kind, action, revoked, skipped, kaze_rows,
                                                                    login, studio_kaze):
    rows = kaze_rows[kind]
    client = login(studio_kaze.user)
    response = client.post(reverse(f"admin:consent_{kind}_changelist"),
                           {"action": action, "_selected_action": [row.pk for row in rows]})
    shown = [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]
    assert shown == [("success", revoked), ("warning", skipped)]
    rows[0].refresh_from_db()
    assert rows[0].revoked_at is not None


@pytest.mark.parametrize(("model", "revoke"), [
    (Declaration, lambda row, user: declaration_revoke(declaration=row, actor=user)),
    (Licence, lambda row, user: licence_revoke(licence=row, actor=user)),
])
def test_a_row_revoked_meanwhile_is_named_and_the_others_still_go(model, revoke, kaze_rows, studio_kaze):
    kind = model._meta.model_name
    in_force = kaze_rows[kind][0]
    # The list was drawn while this row was in force; it was revoked elsewhere before the loop reached it.
    stale = model.objects.get(pk=kaze_rows[kind][1].pk)
    stale.revoked_at = None
    request = RequestFactory().post("/")
    request.user = studio_kaze.user
    request.session = {}
    request._messages = FallbackStorage(request)
    revoke_each(admin.site._registry[model], request, [stale, in_force],
                revoke=lambda row: revoke(row, studio_kaze.user),
                revoked_message=lambda n: f"{n} revoked", skipped_message=lambda n: f"{n} skipped")

    shown = [(m.level_tag, m.message) for m in request._messages]
    assert shown == [("error", f"{stale}: This {kind} is already revoked."), ("success", "1 revoked")]
    in_force.refresh_from_db()
    assert in_force.revoked_at is not None
