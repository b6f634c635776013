"""The holder's inbox of permission requests in the admin, and the e-mails (domain.md "Licences and permission
requests").

Personas: Mirai AI asks Studio Kaze; Kaze's editor accepts (narrowing) or declines; Kaze's viewer only looks; Hoshi
Publishing's editor never sees Kaze's requests (404); an operator sees all. E-mails: Kaze's users on a new request
(Japanese and English), Mirai's contact on a decision (in the language the request was filed in).
"""
import pytest
from django.core import mail
from django.urls import reverse

from consent.models import PermissionRequest
from consent.request_services import request_decline, request_open
from registry.models import Organisation

pytestmark = pytest.mark.django_db
ISBN = "isbn:978-4-9901661-3-7"


@pytest.fixture
def inbox(studio_kaze, kaze_viewer, make_work, settings, django_capture_on_commit_callbacks):
    settings.KYODAKU_PERMISSION_REQUEST_RATE = "none"
    work = make_work(studio_kaze.holder, "SK-1", title="Kaze no Tani", identifiers=[ISBN])
    mirai = Organisation.objects.create(name="Mirai AI")
    with django_capture_on_commit_callbacks(execute=True):
        request = request_open(organisation=mirai, works=[ISBN], purposes=["train-ai"], jurisdictions=["JP", "EU"],
                               message="For our Japanese model.", contact="legal@mirai.example", language="ja")
    return {"work": work, "mirai": mirai, "request": request}


def test_kazes_users_are_mailed_about_a_new_request_in_japanese_and_english(inbox, studio_kaze, kaze_viewer,
                                                                           compiled_translations):
    assert sorted(m.to[0] for m in mail.outbox) == sorted([studio_kaze.user.email, kaze_viewer.user.email])
    message = mail.outbox[0]
    assert "許諾申請" in message.subject and "permission request" in message.subject
    assert "Mirai AI" in message.body and "For our Japanese model." in message.body
    assert reverse("admin:consent_permissionrequest_change", args=[inbox["request"].pk]) in message.body


def test_the_developer_is_mailed_the_decision_in_its_language(inbox, studio_kaze, compiled_translations,
                                                              django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        request_decline(request=inbox["request"], actor=studio_kaze.user, reason="この作品は許諾しません。")
    (message,) = mail.outbox
    assert message.to == ["legal@mirai.example"]
    assert "却下" in message.subject and "declined" not in message.subject
    assert "この作品は許諾しません。" in message.body


def test_the_inbox_lists_kazes_requests_with_the_open_count(inbox, login, studio_kaze):
    page = login(studio_kaze.user).get(reverse("admin:consent_permissionrequest_changelist")).content.decode()
    assert "Permission requests (1 open)" in page and "Mirai AI" in page
    closed = login(studio_kaze.user).get(reverse("admin:consent_permissionrequest_changelist"),
                                         {"state": "declined"}).content.decode()
    assert "Mirai AI" not in closed


def test_hoshi_never_sees_kazes_requests(inbox, login, hoshi_pub):
    client = login(hoshi_pub.user)
    assert "Mirai AI" not in client.get(reverse("admin:consent_permissionrequest_changelist")).content.decode()
    pk = inbox["request"].pk
    assert client.get(reverse("admin:consent_permissionrequest_change", args=[pk])).status_code == 404
    assert client.post(reverse("admin:consent_permissionrequest_accept", args=[pk]), {}).status_code == 404


def test_the_viewer_looks_but_cannot_decide(inbox, login, kaze_viewer):
    client = login(kaze_viewer.user)
    pk = inbox["request"].pk
    page = client.get(reverse("admin:consent_permissionrequest_change", args=[pk])).content.decode()
    assert "For our Japanese model." in page and 'id="accept-request"' not in page
    assert client.get(reverse("admin:consent_permissionrequest_decline", args=[pk])).status_code == 404


def test_kaze_accepts_with_terms_and_a_narrower_scope(inbox, login, studio_kaze):
    client = login(studio_kaze.user)
    pk = inbox["request"].pk
    form = client.get(reverse("admin:consent_permissionrequest_accept", args=[pk])).content.decode()
    assert 'value="EU JP"' in form  # prefilled from the request
    widened = client.post(reverse("admin:consent_permissionrequest_accept", args=[pk]), {
        "purposes": ["train-ai"], "jurisdictions": "US", "works": [inbox["work"].pk]})
    assert "not widen it" in widened.content.decode()
    response = client.post(reverse("admin:consent_permissionrequest_accept", args=[pk]), {
        "license_url": "https://studio-kaze.example/deal", "conditions": "Credit us.", "purposes": ["train-genai"],
        "jurisdictions": "JP", "works": [inbox["work"].pk]})
    assert response.status_code == 302
    request = PermissionRequest.objects.get(pk=pk)
    (licence,) = request.licences.all()
    assert request.state == "accepted" and (licence.purposes, licence.jurisdictions) == (["train-genai"], ["JP"])


def test_kaze_declines_with_a_reason(inbox, login, studio_kaze):
    client = login(studio_kaze.user)
    pk = inbox["request"].pk
    assert client.post(reverse("admin:consent_permissionrequest_decline", args=[pk]), {"reason": ""}).status_code \
        == 200
    assert client.post(reverse("admin:consent_permissionrequest_decline", args=[pk]),
                       {"reason": "Not now."}).status_code == 302
    assert PermissionRequest.objects.get(pk=pk).reason == "Not now."


def test_an_operator_sees_every_request(inbox, login, operator):
    page = login(operator).get(reverse("admin:consent_permissionrequest_changelist")).content.decode()
    assert "Mirai AI" in page


def test_the_index_counts_the_requests_waiting_for_kaze_only(inbox, login, studio_kaze, hoshi_pub):
    page = login(studio_kaze.user).get(reverse("admin:index")).content.decode()
    assert 'id="open-requests-badge">1<' in page and "1 permission request waits for your answer" in page
    assert 'id="open-requests-badge"' not in login(hoshi_pub.user).get(reverse("admin:index")).content.decode()
