"""A Japanese licensing manager answers permission requests in her inbox, in a real browser (issue 18): a Japanese
Chromium in Tokyo time. She sees the open count, opens Mirai AI's request, accepts it narrowed to Japan with her
terms, and declines Kumo Labs'; a read-only colleague sees the requests but no buttons. Screenshots land in
test-artifacts/screenshots/ (docs/img/ holds reduced copies for docs/licences.md).
"""
import pytest

from consent.models import PermissionRequest
from consent.request_services import request_open
from registry.models import Organisation
from tests.browser import test_japanese_manager as manager
from tests.browser.conftest import log_in
from tests.browser.test_japanese_manager import in_japanese, shot, shot_of

japanese_page = manager.japanese_page  # her Japanese Chromium in Tokyo time, the same fixture

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the live server; see conftest
    pytest.mark.browser, pytest.mark.postgres,
]
ISBN = "isbn:9784990166137"


@pytest.fixture
def requests_to_kaze(studio_kaze, kaze_viewer, make_work, settings):
    settings.KYODAKU_PERMISSION_REQUEST_RATE = "none"
    make_work(studio_kaze.holder, "SK-1", title="Kaze no Tani", original_title="風の谷", kind="film",
              identifiers=[ISBN])
    make_work(studio_kaze.holder, "SK-2", title="Umi", original_title="海", kind="film")
    mirai = request_open(organisation=Organisation.objects.create(name="Mirai AI"), works=[ISBN],
                         purposes=["train-ai"], jurisdictions=["JP", "EU"], contact="legal@mirai.example",
                         message="日本語モデルの学習に使わせてください。")
    kumo = request_open(organisation=Organisation.objects.create(name="Kumo Labs"), holder="studio-kaze",
                        purposes=["train-genai"], contact="ml@kumo.example")
    return mirai, kumo


def test_she_accepts_one_request_narrowed_and_declines_another_in_japanese(japanese_page, requests_to_kaze,
                                                                          compiled_translations):
    mirai, kumo = requests_to_kaze
    page = japanese_page()
    log_in(page, "kaze-editor")
    in_japanese(page)

    assert "回答待ちの許諾申請が 2 件あります" in page.inner_text("#needs-attention")  # the index's badge
    page.click("#attention-requests a")
    assert "許諾申請（未処理 2 件）" in page.inner_text("#content h1")
    assert "Mirai AI" in page.inner_text("#result_list") and "カタログ全体" in page.inner_text("#result_list")
    shot(page, "20-permission-inbox")
    shot_of(page, "#content", "permission-inbox")

    page.goto(f"/consent/permissionrequest/{mirai.pk}/change/")
    assert "日本語モデルの学習に使わせてください。" in page.inner_text("#content")
    shot_of(page, "#content", "permission-request")
    page.click("#accept-request")
    page.wait_for_selector("#accept-form")
    assert page.input_value("#id_jurisdictions") == "EU JP"  # prefilled from the request
    page.fill("#id_jurisdictions", "US")  # wider than asked: refused, in Japanese
    page.click("#accept-form input[type=submit]")
    assert "広げることはできません" in page.inner_text("#accept-form")
    page.fill("#id_jurisdictions", "JP")
    page.fill("#id_license_url", "https://studio-kaze.example/licensing/mirai")
    page.fill("#id_conditions", "クレジット表記をお願いします。")
    shot_of(page, "#content", "permission-accept")
    page.click("#accept-form input[type=submit]")
    page.wait_for_selector(".messagelist .success")
    assert "承諾し、ライセンスを登録しました" in page.inner_text(".messagelist")
    accepted = PermissionRequest.objects.get(pk=mirai.pk)
    assert accepted.state == "accepted" and accepted.licences.get().jurisdictions == ["JP"]

    page.goto(f"/consent/permissionrequest/{kumo.pk}/decline/")
    page.fill("#id_reason", "カタログ全体の許諾は行っていません。")
    page.click("#decline-form input[type=submit]")
    page.wait_for_selector(".messagelist .success")
    assert PermissionRequest.objects.get(pk=kumo.pk).state == "declined"
    page.goto("/consent/permissionrequest/")
    assert "許諾申請（未処理 0 件）" in page.inner_text("#content h1")
    shot(page, "21-permission-inbox-decided")


def test_a_read_only_colleague_sees_the_request_without_buttons(japanese_page, requests_to_kaze,
                                                                compiled_translations):
    mirai, _ = requests_to_kaze
    page = japanese_page()
    log_in(page, "kaze-viewer")
    in_japanese(page)
    page.goto(f"/consent/permissionrequest/{mirai.pk}/change/")
    assert "Mirai AI" in page.inner_text("#content")
    assert page.locator("#accept-request").count() == 0 and page.locator("#decline-request").count() == 0
