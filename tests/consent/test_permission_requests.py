"""Permission requests, the services (domain.md "Licences and permission requests"; consent.request_services).

Personas: Mirai AI (an AI developer's organisation) asks Studio Kaze; Hoshi Publishing is another holder; Kumo Labs
another organisation. Rules proven: a request targets one holder; the holder may narrow it on accept, never widen;
the state machine (open -> accepted | declined | withdrawn, nothing after); the per-organisation caps; every change
is an audit event whose content is a private commitment; the database refuses inconsistent states.
"""
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.selectors import audit_events_after
from consent.models import Licence, PermissionRequest
from consent.request_services import request_accept, request_decline, request_open, request_withdraw
from core.errors import Conflict, NotAuthorizedForHolder, NotFound, ReadOnlyRole, TooManyRequests, ValidationFailed
from registry.models import Organisation
from registry.services import work_register

pytestmark = pytest.mark.django_db

ISBN = "isbn:978-4-9901661-3-7"
HOSHI_ISBN = "isbn:978-0-306-40615-7"


@pytest.fixture
def world(studio_kaze, hoshi_pub, settings):
    settings.KYODAKU_PERMISSION_REQUEST_RATE = "none"
    mirai = Organisation.objects.create(name="Mirai AI", contact_email="legal@mirai.example")
    kumo = Organisation.objects.create(name="Kumo Labs")
    sk1 = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani", kind="film",
                        identifiers=[ISBN]).work
    sk2 = work_register(holder=studio_kaze.holder, work_ref="SK-2", title="Umi", kind="film").work
    hp1 = work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Hoshi", kind="manga",
                        identifiers=[HOSHI_ISBN]).work
    return {"mirai": mirai, "kumo": kumo, "sk1": sk1, "sk2": sk2, "hp1": hp1}


def open_for(world, **kw):
    kw.setdefault("purposes", ["train-ai"])
    kw.setdefault("jurisdictions", ["JP", "EU"])
    kw.setdefault("works", [str(world["sk1"].pk), str(world["sk2"].pk)])
    return request_open(organisation=kw.pop("organisation", world["mirai"]), **kw)


def errors_of(exc_info) -> dict:
    return {e["field"]: e["code"] for e in exc_info.value.errors}


def test_mirai_names_works_by_id_or_identifier_and_the_request_targets_their_holder(world, studio_kaze):
    request = open_for(world, works=[ISBN, str(world["sk2"].pk)], message="For our JP model.")
    assert request.holder == studio_kaze.holder and request.scope == "work" and request.state == "open"
    assert set(request.works.all()) == {world["sk1"], world["sk2"]}
    assert request.contact == "legal@mirai.example"  # the organisation's address by default


def test_a_request_naming_only_the_holder_asks_for_its_catalogue(world, studio_kaze):
    request = open_for(world, works=[], holder="studio-kaze")
    assert request.scope == "catalogue" and not request.works.exists()


def test_works_of_two_holders_are_refused_not_split(world):
    with pytest.raises(ValidationFailed) as exc:
        open_for(world, works=[ISBN, HOSHI_ISBN])
    assert errors_of(exc)["works"] == "several-holders"
    assert not PermissionRequest.objects.exists()


def test_unknown_works_and_bad_input_are_reported_by_position(world):
    with pytest.raises(ValidationFailed) as exc:
        open_for(world, works=["isbn:978-1-4028-9462-6", "00000000-0000-7000-8000-000000000000", "isbn:123"],
                 purposes=["nope"], jurisdictions=["XX"], contact="not-mail", organisation=world["kumo"])
    codes = errors_of(exc)
    assert codes["works[0]"] == "not-registered" and codes["works[1]"] == "not-found"
    assert codes["works[2]"] == "invalid-identifier"
    assert codes["purposes"] == "unknown-purpose" and codes["jurisdictions"] == "unknown-jurisdiction"
    assert codes["contact"] == "invalid"


def test_a_holder_named_beside_another_holders_works_is_refused(world):
    with pytest.raises(ValidationFailed) as exc:
        open_for(world, holder="hoshi-pub")
    assert errors_of(exc)["works"] == "not-this-holder"


def test_kaze_accepts_narrowing_purposes_jurisdictions_works_and_period(world, studio_kaze):
    until = timezone.now() + timedelta(days=365)
    request = open_for(world, purposes=["train-ai"], jurisdictions=["*"])
    request_accept(request=request, actor=studio_kaze.user, license_url="https://kaze.example/deal",
                   conditions="Credit the studio.", purposes=["train-genai"], jurisdictions=["JP", "FR"],
                   works=[world["sk1"].pk], effective_until=until)
    request.refresh_from_db()
    assert request.state == "accepted" and request.decided_by == studio_kaze.user
    (licence,) = request.licences.all()
    assert (licence.work, licence.licensee, licence.purposes, licence.jurisdictions) == (
        world["sk1"], world["mirai"], ["train-genai"], ["FR", "JP"])
    assert licence.effective_until == until and licence.conditions == "Credit the studio."


def test_accepting_as_asked_files_one_licence_per_work_or_one_for_the_catalogue(world, studio_kaze):
    by_work = open_for(world)
    request_accept(request=by_work, actor=studio_kaze.user)
    assert sorted(lic.work_id for lic in by_work.licences.all()) == sorted([world["sk1"].pk, world["sk2"].pk])
    catalogue = open_for(world, works=[], holder="studio-kaze", organisation=world["kumo"],
                         contact="ml@kumo.example")
    request_accept(request=catalogue, actor=studio_kaze.user)
    (licence,) = catalogue.licences.all()
    assert licence.scope == "catalogue" and licence.licensee == world["kumo"]


def test_an_eu_request_may_be_narrowed_to_a_member_state(world, studio_kaze):
    request = open_for(world, jurisdictions=["EU"])
    request_accept(request=request, actor=studio_kaze.user, jurisdictions=["DE"])
    assert request.licences.first().jurisdictions == ["DE"]


@pytest.mark.parametrize("widening, field", [
    ({"purposes": ["tdm"]}, "purposes"),                        # the parent of what was asked
    ({"jurisdictions": ["US"]}, "jurisdictions"),
    ({"works": "hp1"}, "works"),                                 # another holder's work
    ({"works": "sk-not-asked"}, "works"),
    ({"effective_until": "later"}, "effective_until"),
    ({"effective_from": "earlier"}, "effective_from"),
])
def test_widening_is_refused_and_nothing_is_filed(world, studio_kaze, widening, field):
    start, end = timezone.now() + timedelta(days=1), timezone.now() + timedelta(days=30)
    request = open_for(world, works=[str(world["sk1"].pk)], effective_from=start, effective_until=end)
    values = {"tdm": ["tdm"], "US": ["US"]}
    kw = {}
    for key, value in widening.items():
        if key == "works":
            kw["works"] = [world["hp1"].pk] if value == "hp1" else [world["sk2"].pk]
        elif key == "effective_until":
            kw[key] = end + timedelta(days=1)
        elif key == "effective_from":
            kw[key] = start - timedelta(days=1)
        else:
            kw[key] = values[value[0]]
    with pytest.raises(ValidationFailed) as exc:
        request_accept(request=request, actor=studio_kaze.user, **kw)
    assert errors_of(exc)[field] == "widens-request"
    request.refresh_from_db()
    assert request.state == "open" and not Licence.objects.exists()


def test_only_the_holders_writers_decide(world, studio_kaze, hoshi_pub, kaze_viewer):
    request = open_for(world)
    with pytest.raises(NotAuthorizedForHolder):
        request_accept(request=request, actor=hoshi_pub.user)
    with pytest.raises(ReadOnlyRole):
        request_decline(request=request, actor=kaze_viewer.user, reason="No.")


def test_the_state_machine_allows_one_decision_only(world, studio_kaze):
    request = open_for(world)
    with pytest.raises(ValidationFailed):
        request_decline(request=request, actor=studio_kaze.user, reason="  ")
    request_decline(request=request, actor=studio_kaze.user, reason="We do not license this film.")
    with pytest.raises(Conflict):
        request_accept(request=request, actor=studio_kaze.user)
    with pytest.raises(Conflict):
        request_withdraw(request=request, organisation=world["mirai"])
    withdrawn = open_for(world)
    with pytest.raises(NotFound):
        request_withdraw(request=withdrawn, organisation=world["kumo"])
    request_withdraw(request=withdrawn, organisation=world["mirai"])
    with pytest.raises(Conflict):
        request_decline(request=withdrawn, actor=studio_kaze.user, reason="Too late.")


def test_the_database_refuses_a_state_that_contradicts_the_decision(world):
    request = open_for(world)
    for changes in ({"state": "declined", "decided_at": timezone.now()},  # declined without a reason
                    {"state": "accepted"},                                 # decided without a time
                    {"reason": "why"}):                                    # open with a reason
        with pytest.raises(IntegrityError), transaction.atomic():
            PermissionRequest.objects.filter(pk=request.pk).update(**changes)


def test_the_open_request_cap_is_a_409(world, settings):
    settings.KYODAKU_MAX_OPEN_PERMISSION_REQUESTS = 2
    open_for(world)
    open_for(world)
    with pytest.raises(Conflict) as exc:
        open_for(world)
    assert exc.value.code == "too-many-open-requests"
    open_for(world, organisation=world["kumo"], contact="ml@kumo.example")  # another organisation's own cap
    request_withdraw(request=PermissionRequest.objects.filter(organisation=world["mirai"]).first(),
                     organisation=world["mirai"])
    open_for(world)  # room again


def test_the_rate_is_a_429_with_the_seconds_to_wait(world, settings):
    settings.KYODAKU_PERMISSION_REQUEST_RATE = "2/hour"
    now = timezone.now()
    open_for(world, at=now - timedelta(minutes=50))
    open_for(world, at=now - timedelta(minutes=10))
    with pytest.raises(TooManyRequests) as exc:
        open_for(world, at=now)
    assert 590 <= exc.value.retry_after <= 600  # the first one leaves the hour in ten minutes
    open_for(world, at=now + timedelta(minutes=11))


def test_every_change_is_a_private_audit_event(world, studio_kaze):
    request = open_for(world, message="A secret plan")
    request_accept(request=request, actor=studio_kaze.user)
    other = open_for(world)
    request_withdraw(request=other, organisation=world["mirai"], api_key_prefix="abc")
    events = list(AuditEvent.objects.filter(object_type="permission_request").order_by("seq"))
    assert [e.action for e in events] == ["permission_request.open", "permission_request.accept",
                                          "permission_request.open", "permission_request.withdraw"]
    accepted = events[1].after
    assert accepted["organisation"] == str(world["mirai"].pk) and accepted["holder"] == "studio-kaze"
    assert accepted["state"] == "accepted" and accepted["licence"] in {str(pk) for pk in
                                                                        request.licences.values_list("pk", flat=True)}
    assert sorted(accepted["works"]) == sorted([str(world["sk1"].pk), str(world["sk2"].pk)])
    public = [e for e in audit_events_after(after=0, limit=1000) if e["object_type"] == "permission_request"]
    text = repr(public)
    assert len(public) == 4
    for private in ("Mirai", str(world["mirai"].pk), "studio-kaze", str(studio_kaze.holder.pk), "secret",
                    "legal@mirai.example"):
        assert private not in text


def test_verify_audit_vouches_for_requests_and_names_one_changed_behind_the_services_back(world, studio_kaze):
    from datetime import UTC as _UTC  # noqa: N811
    from zoneinfo import ZoneInfo

    from audit.selectors import audit_verify

    tokyo = timezone.now().astimezone(ZoneInfo("Asia/Tokyo")) + timedelta(days=400)
    accepted = open_for(world, effective_until=tokyo)  # a time given in another zone reads back in UTC
    request_accept(request=accepted, actor=studio_kaze.user)
    open_for(world, holder="studio-kaze", works=[])
    assert accepted.effective_until.astimezone(_UTC) == tokyo
    assert audit_verify() == []
    PermissionRequest.objects.filter(pk=accepted.pk).update(contact="someone@else.example")
    (problem,) = audit_verify()
    assert str(accepted.pk) in str(problem)
