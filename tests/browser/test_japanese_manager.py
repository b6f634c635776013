"""A Japanese licensing manager does it alone, in a real browser (issue 20): a Japanese Chromium in Tokyo time.

She reads on her work's page why each answer is what it is (a catalogue-wide reservation, linked), sees the works
list fit her 1280 px screen, withdraws a dispute her studio opened by mistake, and the other studio sees it gone
from its needs-attention list. Screenshots land in test-artifacts/screenshots/ (CI keeps them).
"""
import pytest

from consent.services import declaration_file
from registry.models import Dispute
from tests.browser.conftest import SCREENSHOTS, log_in

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the live server; see conftest
    pytest.mark.browser, pytest.mark.postgres,
]
ISBN = "isbn:9784990166137"


@pytest.fixture
def japanese_page(browser, live_server):
    """A page whose browser speaks Japanese and lives in Tokyo; the admin follows after the first page."""
    contexts = []

    def open_page(width=1280, height=900):
        context = browser.new_context(base_url=live_server.url, accept_downloads=True, locale="ja-JP",
                                      timezone_id="Asia/Tokyo", viewport={"width": width, "height": height})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"ja-{name}.png"), full_page=True)


def shot_of(page, selector: str, name: str) -> None:
    """One element, for the docs (docs/img/ holds reduced copies of these)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(selector).screenshot(path=str(SCREENSHOTS / f"ja-{name}.png"))


def in_japanese(page) -> None:
    page.goto("/")
    if page.get_attribute("html", "lang") != "ja":
        page.click('#language-switch button[value="ja"]')
        page.wait_for_selector('html[lang="ja"]')


def test_login_page_keeps_the_title_and_language_buttons_on_one_line(japanese_page, compiled_translations):
    page = japanese_page()
    page.goto("/login/?next=/")
    assert page.get_attribute("html", "lang") == "ja"  # her browser asks for Japanese: no switch needed
    title, switch = page.locator("#site-name").bounding_box(), page.locator("#language-switch").bounding_box()
    assert abs((title["y"] + title["height"] / 2) - (switch["y"] + switch["height"] / 2)) < 12, (title, switch)
    shot(page, "01-login")


def test_the_work_page_explains_a_catalogue_wide_answer(japanese_page, studio_kaze, make_work,
                                                        compiled_translations):
    work = make_work(studio_kaze.holder, "SK-1", title="Kaze no Tani", original_title="風の谷", kind="film",
                     identifiers=[ISBN])
    catalogue, _ = declaration_file(holder=studio_kaze.holder, scope="catalogue", purpose="train-ai",
                                    jurisdiction="*", consent="reserve")
    for n in range(2, 12):
        make_work(studio_kaze.holder, f"SK-{n}", title=f"Sora no Uta {n}", original_title=f"空の歌 第{n}話",
                  kind="episode", identifiers=[f"url:https://studio-kaze.example/works/sk-{n}"])
    page = japanese_page()
    log_in(page, "kaze-editor")
    in_japanese(page)

    # The works list fits 1280 px: nothing scrolls sideways, and the consent column is on screen.
    page.goto("/registry/work/")
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    consent = page.locator("#result_list thead th.column-consent_state").bounding_box()
    assert consent is not None and consent["x"] + consent["width"] <= 1280
    assert "11 件の作品" in page.inner_text("#changelist-form .paginator")
    assert "<code>" not in page.inner_text("#result_list")  # identifiers are marked up, not shown as tags
    shot(page, "02-works-list")

    page.goto(f"/registry/work/{work.pk}/change/")
    cell = page.locator('#answers tr[data-purpose="train-genai"] td[data-jurisdiction="*"]')
    assert cell.get_attribute("data-outcome") == "denied"
    assert cell.get_attribute("data-decided-by") == "catalogue"
    assert "カタログ全体の宣言" in cell.inner_text()
    assert page.locator(f'#catalogue-declarations tr[data-declaration="{catalogue.pk}"]').count() == 1
    assert "カタログ全体" in page.inner_text("#catalogue-declarations")
    japan = page.locator('#answers tr[data-purpose="search"] td[data-jurisdiction="JP"]')
    assert japan.get_attribute("data-decided-by") == "rule" and "事前許諾" in japan.inner_text()
    page.locator("#answers").scroll_into_view_if_needed()
    shot(page, "03-work-answers")
    shot_of(page, "#answers", "answers-panel")
    shot_of(page, "#catalogue-declarations", "catalogue-declarations")
    cell.locator("a").click()
    page.wait_for_url(f"**/consent/declaration/{catalogue.pk}/change/")
    assert "カタログ全体" in page.inner_text("#content")
    shot(page, "04-catalogue-declaration")

    page.goto(f"/registry/work/{work.pk}/history/")
    history = page.inner_text("#audit-events")
    assert "作品を登録" in history and "システム" in history
    assert "JST" in history and "work.register" not in history
    shot(page, "05-history")
    shot_of(page, "#change-history", "history-panel")


def test_a_dispute_withdrawn_by_its_claimant(japanese_page, studio_kaze, hoshi_pub, make_work,
                                            compiled_translations):
    make_work(hoshi_pub.holder, "HP-1", title="Hoshi no Gakuen 1", original_title="星降る学園 1", kind="manga",
              identifiers=[ISBN])
    make_work(studio_kaze.holder, "SK-1", title="Kaze no Tani", original_title="風の谷", kind="film",
              identifiers=[ISBN])
    dispute = Dispute.objects.get()

    holder = japanese_page()
    log_in(holder, "hoshi-editor")
    in_japanese(holder)
    assert ISBN in holder.inner_text("#attention-about")
    shot(holder, "06-needs-attention")
    shot_of(holder, "#needs-attention", "needs-attention-panel")

    claimant = japanese_page()
    log_in(claimant, "kaze-editor")
    in_japanese(claimant)
    claimant.goto(f"/registry/dispute/{dispute.pk}/change/")
    page_text = claimant.inner_text("#content")
    assert "Hoshi no Gakuen 1 [HP-1]" in page_text  # the other side's work is named...
    other_work = f"/registry/work/{dispute.work_id}/change/"
    assert claimant.locator(f'a[href="{other_work}"]').count() == 0  # ...but not linked: it would be a 404
    shot(claimant, "07-dispute-claimant")
    shot_of(claimant, "#content", "dispute-page")
    claimant.once("dialog", lambda dialog: dialog.accept())
    claimant.click("#withdraw-dispute button")
    claimant.wait_for_selector(".messagelist .success")
    assert "取り下げ" in claimant.inner_text(".messagelist")
    shot(claimant, "08-dispute-withdrawn")
    dispute.refresh_from_db()
    assert dispute.resolution == "withdrawn"

    holder.goto("/")
    assert holder.locator("#needs-attention").count() == 0
    holder.goto(f"/registry/dispute/{dispute.pk}/change/")
    assert "申立人が取り下げ" in holder.inner_text("#content")


def test_a_missing_page_is_the_sites_own_in_japanese(japanese_page, studio_kaze, compiled_translations):
    page = japanese_page()
    log_in(page, "kaze-editor")
    in_japanese(page)
    response = page.goto("/registry/work/00000000-0000-7000-8000-000000000000/change/")
    assert response.status == 404
    assert "ページが見つかりません" in page.inner_text("#content")
    shot(page, "09-not-found")


CP932_CSV = (
    "holder,work_ref,title,original_title,kind,identifiers,purpose,jurisdiction,consent\r\n"
    "studio-kaze,SK-300,Kaze no Tani,風の谷,映画,isbn:978-4-9901661-3-7,train-ai,JP,留保\r\n"
    "studio-kaze,SK-301,Sora no Uta,空の歌,film,,絵画AI,JP,reserve\r\n"
    "studio-kaze,SK-302,=Umi no Koe,海の声,film,isbn:978-4-9901661-3-0,search,*,grant\r\n"
)


def excel_reads(data: bytes) -> str:
    """What Japanese Excel shows for a CSV it opens: UTF-8 only with a byte-order mark, otherwise CP932."""
    return data[3:].decode("utf-8") if data.startswith(b"\xef\xbb\xbf") else data.decode("cp932")


def test_a_cp932_upload_with_errors_and_its_report_as_excel_reads_it(japanese_page, studio_kaze, tmp_path,
                                                                      compiled_translations):
    import csv
    import io
    from pathlib import Path

    claims = tmp_path / "カタログ.csv"
    claims.write_bytes(CP932_CSV.encode("cp932"))
    page = japanese_page()
    log_in(page, "kaze-editor")
    in_japanese(page)
    page.goto("/claims/submission/add/")
    shot(page, "10-claims-upload")
    page.set_input_files("#id_file", str(claims))
    page.click("input[name=_save]")
    page.wait_for_selector("#submission-progress")
    page.wait_for_function(
        "['done', 'done-with-errors', 'failed'].includes(document.getElementById('submission-status').dataset.status)")
    assert page.get_attribute("#submission-status", "data-status") == "done-with-errors"
    assert page.inner_text("#submission-status") == "完了（エラーあり）"
    assert page.inner_text('[data-count="rows_failed"]') == "2"
    shot(page, "11-claims-done-with-errors")
    shot_of(page, "#submission-progress", "claims-progress-panel")
    with page.expect_download() as download_info:
        page.click("#errors-link a")
    data = Path(download_info.value.path()).read_bytes()
    rows = list(csv.reader(io.StringIO(excel_reads(data))))
    assert rows[0][:5] == ["line", "column", "code", "message", "value"]
    assert rows[0][5:] == ["work_ref", "title"]
    by_line = {row[0]: row for row in rows[1:]}
    assert by_line["3"][2] == "unknown-purpose" and by_line["3"][4] == "絵画AI"
    assert by_line["3"][5:] == ["SK-301", "Sora no Uta"]
    assert by_line["4"][2] == "invalid-identifier"
    assert by_line["4"][6].startswith("'=")  # a title that would start a formula is neutralised
    for row in rows[1:]:
        assert any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in row[3]), row  # Japanese
