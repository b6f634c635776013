"""A rights holder's day in a real browser: register a work with an ISBN, file a reservation, see the answer
change, upload a CSV and watch it finish, download the error report; another holder cannot open the work; the
Japanese switch shows Japanese."""
import csv
import io
import re
from pathlib import Path

import pytest

from registry.models import Work
from tests.browser.conftest import log_in

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the live server; see conftest
    pytest.mark.browser, pytest.mark.postgres,
]

CLAIMS_CSV = (
    "holder,work_ref,title,original_title,kind,identifiers,purpose,jurisdiction,consent\n"
    "studio-kaze,SK-200,Sora no Uta,空の歌,film,isbn:978-4-06-182631-1,train-genai,JP;EU,reserve\n"
    "studio-kaze,SK-201,Umi no Koe,海の声,film,,search,*,grant\n"
    "studio-kaze,SK-202,Broken Row,,film,,paint-ai,JP,reserve\n"
)


def answer(page, purpose: str, jurisdiction: str):
    cell = page.locator(f'#answers tr[data-purpose="{purpose}"] td[data-jurisdiction="{jurisdiction}"]')
    return cell.get_attribute("data-outcome"), cell.get_attribute("data-basis")


def test_holder_registers_files_uploads_and_is_walled_off(new_page, screenshot, studio_kaze, hoshi_pub, tmp_path,
                                                          compiled_translations):
    page = new_page()
    log_in(page, "kaze-editor")
    screenshot(page, "01-index")

    # Register a work with an ISBN (hyphenated ISBN-10: the registry stores ISBN-13).
    page.goto("/registry/work/add/")
    page.fill("#id_work_ref", "SK-100")
    page.fill("#id_title", "Kaze no Tani")
    page.fill("#id_original_title", "風の谷")
    page.select_option("#id_kind", "film")
    page.fill("#id_identifiers-0-text", "isbn:4-9901661-3-2")
    page.click("input[name=_continue]")
    page.wait_for_selector("#answers")
    work = Work.objects.get(holder=studio_kaze.holder, work_ref="SK-100")
    assert page.input_value("#id_identifiers-0-text") == "isbn:9784990166137"
    assert answer(page, "train-genai", "EU") == ("allowed", "not-reserved")
    assert answer(page, "train-genai", "JP") == ("denied", "permission-required")
    screenshot(page, "02-work-before-reservation")

    # File a reservation of AI training everywhere, from the work's page.
    page.click("#file-declaration")
    page.wait_for_selector("#declaration_form")
    page.select_option("#id_purpose", "train-ai")
    page.select_option("#id_consent", "reserve")
    screenshot(page, "03-file-declaration")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    page.goto(f"/registry/work/{work.pk}/change/")
    assert answer(page, "train-genai", "EU") == ("denied", "reserved")
    assert answer(page, "train-genai", "US") == ("denied", "reserved")
    assert answer(page, "search", "EU") == ("allowed", "not-reserved")
    screenshot(page, "04-work-after-reservation")

    # Upload a CSV and watch the submission finish; then download its error report.
    claims = tmp_path / "claims.csv"
    claims.write_text(CLAIMS_CSV, encoding="utf-8")
    page.goto("/claims/submission/add/")
    page.set_input_files("#id_file", str(claims))
    page.click("input[name=_save]")
    page.wait_for_selector("#submission-progress")
    page.wait_for_function(
        "() => ['done', 'done-with-errors', 'failed']"
        ".includes(document.getElementById('submission-status').dataset.status)")
    assert page.get_attribute("#submission-status", "data-status") == "done-with-errors"
    assert page.inner_text('[data-count="rows_ok"]') == "2"
    assert page.inner_text('[data-count="rows_failed"]') == "1"
    assert page.get_attribute("#progress-bar", "value") == "3"
    screenshot(page, "05-claims-finished")
    with page.expect_download() as download_info:
        page.click("#errors-link a")
    report = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(report)))
    assert rows[0] == ["line", "column", "code", "message", "value", "work_ref", "title"]
    assert [row[:3] for row in rows[1:]] == [["4", "purpose", "unknown-purpose"]]

    # Another holder's editor cannot open the work by its URL.
    other = new_page()
    log_in(other, "hoshi-editor")
    response = other.goto(f"/registry/work/{work.pk}/change/")
    assert response.status == 404
    assert "Kaze no Tani" not in other.content()
    other.goto("/registry/work/")
    assert "Kaze no Tani" not in other.content()

    # The language switch shows the admin in Japanese, Kyodaku's own words included.
    page.goto(f"/registry/work/{work.pk}/change/")
    page.click('#language-switch button[value="ja"]')
    page.wait_for_selector('html[lang="ja"]')
    assert "ようこそ" in page.inner_text("#user-tools")  # Django's own catalogue
    heading = page.inner_text("#answers h2")
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", heading), heading  # and ours: kana or kanji
    screenshot(page, "06-work-in-japanese")
    page.click('#language-switch button[value="en"]')
    page.wait_for_selector('html[lang="en"]')
