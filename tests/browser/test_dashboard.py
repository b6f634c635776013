"""The holder's dashboard in a real browser (issue 17), in English and in Japanese: a studio's licensing editor
opens the admin and sees how often AI developers asked about her works: charts drawn by the vendored Chart.js
under the site's Content-Security-Policy, the same figures as tables, the CSV download; another studio sees only
its own. Screenshots land in test-artifacts/screenshots/ (CI keeps them; docs/img holds copies for docs/admin.md).
"""
from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import LookupCount, LookupOrganisationCount
from keys.services import organisation_ensure
from tests.browser.conftest import SCREENSHOTS, log_in

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the live server; see conftest
    pytest.mark.browser, pytest.mark.postgres,
]
SLOTS = (("train-ai", "JP", "denied", 3), ("train-genai", "EU", "denied", 2), ("search", "US", "allowed", 4),
         ("train-ai", "US", "allowed", 1))


@pytest.fixture
def figures(studio_kaze, hoshi_pub, make_work):
    today = timezone.now().date()
    works = [make_work(studio_kaze.holder, f"SK-{n}", title=title) for n, title in
             enumerate(("Kaze no Oto", "Sora no Iro", "Umi no Koe"), start=1)]
    hoshi = make_work(hoshi_pub.holder, "HP-1", title="Hoshi no Umi")
    open_labs = organisation_ensure(name="Open Labs")
    open_labs.name_shown_to_holders = True
    open_labs.save()
    quiet = organisation_ensure(name="Quiet Labs")
    rows = []
    for back in range(30):
        day = today - timedelta(days=back)
        for n, work in enumerate(works):
            for purpose, jurisdiction, outcome, k in SLOTS:
                count = (back * 7 + n * 5 + k) % (6 + k) + (n == 0) * 3
                if count:
                    rows.append(LookupCount(holder=studio_kaze.holder, work=work, day=day, purpose=purpose,
                                            jurisdiction=jurisdiction, outcome=outcome, count=count,
                                            pointed_to_licence=outcome == "denied"))
        rows.append(LookupCount(holder=hoshi_pub.holder, work=hoshi, day=day, purpose="train-ai", jurisdiction="JP",
                                outcome="allowed", count=999))
    LookupCount.objects.bulk_create(rows)
    for org, outcome, n in ((open_labs, "denied", 120), (open_labs, "allowed", 80), (quiet, "denied", 60)):
        LookupOrganisationCount.objects.create(holder=studio_kaze.holder, organisation=org, day=today,
                                               outcome=outcome, count=n)
    kaze_total = sum(r.count for r in rows if r.holder_id == studio_kaze.holder.pk)
    return kaze_total


def open_dashboard(page, username):
    log_in(page, username)
    page.goto("/?days=30")
    page.wait_for_selector("#lookup-dashboard")
    # Chart.js drew every chart (the library loaded from our static files, under the CSP).
    page.wait_for_function("() => ['chart-days', 'chart-purposes', 'chart-jurisdictions'].every("
                           "id => window.Chart && Chart.getChart(document.getElementById(id)))")


def save(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#lookup-dashboard").screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_the_studio_editor_reads_her_dashboard_in_english_and_downloads_the_csv(new_page, studio_kaze, figures):
    page = new_page()
    page.set_viewport_size({"width": 1280, "height": 1000})
    open_dashboard(page, "kaze-editor")
    assert page.inner_text("#total-lookups") == str(figures)
    assert "Lookups of your works by AI developers" in page.inner_text("#lookup-dashboard h2")
    assert page.locator("#table-works tbody tr").count() == 3
    organisations = page.inner_text("#table-organisations")
    assert "Open Labs" in organisations and "Quiet Labs" not in organisations
    assert "AI developers who did not share their name" in organisations
    assert "Hoshi no Umi" not in page.content()
    save(page, "dashboard-en")
    with page.expect_download() as download:
        page.click("#dashboard-csv")
    text = download.value.path().read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "day,purpose,jurisdiction,outcome,pointed_to_licence,lookups"
    assert sum(int(line.rsplit(",", 1)[1]) for line in text.splitlines()[1:]) == figures


def test_the_dashboard_reads_in_japanese(browser, live_server, studio_kaze, figures, compiled_translations):
    context = browser.new_context(base_url=live_server.url, locale="ja-JP", timezone_id="Asia/Tokyo",
                                  viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(15_000)
    violations = []
    page = context.new_page()
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    try:
        open_dashboard(page, "kaze-editor")
        assert page.get_attribute("html", "lang") == "ja"
        assert page.inner_text("#lookup-dashboard h2") == "AI 開発者による作品の照会"
        assert "CSV をダウンロード" in page.inner_text("#dashboard-csv")
        assert "組織名を公開していない AI 開発者" in page.inner_text("#table-organisations")
        assert "利用目的別" in page.inner_text("#table-purposes caption")
        save(page, "ja-dashboard")
        page.locator("#registry-export").screenshot(path=str(SCREENSHOTS / "ja-registry-export.png"))
    finally:
        context.close()
    assert violations == []


def test_another_studio_sees_only_its_own_figures(new_page, hoshi_pub, figures):
    page = new_page()
    open_dashboard(page, "hoshi-editor")
    assert page.inner_text("#total-lookups") == str(999 * 30)
    assert "Kaze no Oto" not in page.content() and "Open Labs" not in page.content()
