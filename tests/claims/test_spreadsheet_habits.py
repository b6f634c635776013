"""Issue 20 items 1 and 4: a Japanese licensing manager's spreadsheet goes in as she wrote it, and the error report
comes back in a form her spreadsheet opens, in her language (claims-csv.md "Processing")."""
import csv
import io
from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils import translation

from claims.selectors import claims_errors_csv, claims_errors_csv_content_type
from claims.template import claims_template_csv, claims_template_guide_csv
from consent.models import Declaration
from registry.models import Identifier, Work

from .conftest import errors_of
from .helpers import csv_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user
HEADER = "holder,work_ref,title,kind,identifiers,purpose,jurisdiction,consent,effective_from"


def _report(submission) -> tuple[bytes, list[list[str]]]:
    data = b"".join(claims_errors_csv(submission=submission))
    text = data.decode("cp932") if submission.encoding == "cp932" else data.decode("utf-8-sig")
    return data, list(csv.reader(io.StringIO(text)))


# ------------------------------------------------------------------------------------- item 1: the error report

def test_hoshi_cp932_upload_gets_a_cp932_report_in_japanese_with_values_as_submitted(hoshi_pub, submit):
    text = csv_text(HEADER, "hoshi-pub,HP-1,星降る学園,漫画,,AIがくしゅう,JP,留保,",
                    "hoshi-pub,HP-2,月の港,漫画,,train-ai,JP,留保,")
    with translation.override("ja"):
        submission = submit(hoshi_pub, text.encode("cp932"))
    assert submission.encoding == "cp932" and submission.language == "ja"
    data, rows = _report(submission)
    assert not data.startswith(b"\xef\xbb\xbf")  # Excel reads CP932 without a mark
    assert claims_errors_csv_content_type(submission=submission) == "text/csv; charset=Windows-31J"
    assert rows[0] == ["line", "column", "code", "message", "value", "work_ref", "title"]
    line, column, code, message, value, work_ref, title = rows[1]
    assert (line, column, code, value, work_ref, title) == ("2", "purpose", "unknown-purpose", "AIがくしゅう", "HP-1",
                                                            "星降る学園")
    assert "利用目的 'AIがくしゅう' はありません" in message
    assert Work.objects.filter(work_ref="HP-2").exists()


def test_studio_kaze_utf8_upload_gets_a_report_with_a_byte_order_mark_in_english(studio_kaze, submit):
    with translation.override("en"):
        submission = submit(studio_kaze, csv_text(HEADER, "studio-kaze,KZ-1,Wind,bogus-kind,,,,,"))
    data, rows = _report(submission)
    assert data.startswith(b"\xef\xbb\xbf")
    assert claims_errors_csv_content_type(submission=submission) == "text/csv; charset=utf-8"
    assert rows[1][:3] == ["2", "kind", "invalid-kind"] and rows[1][3].startswith("Kind must be one of")
    assert rows[1][5:] == ["KZ-1", "Wind"]


def test_studio_kaze_report_over_the_api_names_its_charset(studio_kaze, hoshi_pub, submit):
    from tests.api.conftest import client_for

    with translation.override("ja"):
        submission = submit(hoshi_pub, csv_text(HEADER, "hoshi-pub,HP-1,星,謎,,,,,").encode("cp932"))
    response = client_for(hoshi_pub.user).get(reverse("claims-errors", kwargs={"id": submission.pk}))
    assert response["Content-Type"] == "text/csv; charset=Windows-31J"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("cp932"))))
    assert rows[1][:3] == ["2", "kind", "invalid-kind"] and rows[1][3].startswith("種類は次のいずれかです")
    assert rows[1][4] == "謎"


# -------------------------------------------------------------------------------- item 4: spreadsheet habits

def test_studio_kaze_several_rows_per_work_each_file_their_statement(studio_kaze, submit):
    submission = submit(studio_kaze, csv_text(HEADER, "studio-kaze,KZ-1,Wind,film,,train-ai,EU,reserve,",
                                              "studio-kaze,KZ-1,,,,search,*,grant,",
                                              "studio-kaze,KZ-1,Wind (remastered),,,,,,"))
    assert submission.status == "done", errors_of(submission)
    work = Work.objects.get(work_ref="KZ-1")
    assert work.title == "Wind (remastered)"  # the last row that gives a title
    assert set(Declaration.objects.filter(work=work).values_list("purpose", "jurisdiction", "consent")) == {
        ("train-ai", "EU", "reserve"), ("search", "*", "grant")}


def test_studio_kaze_the_same_statement_twice_is_a_duplicate_row_whatever_the_spelling(studio_kaze, submit):
    submission = submit(studio_kaze, csv_text(HEADER, "studio-kaze,KZ-1,Wind,film,,train-ai;search,JP,reserve,",
                                              "studio-kaze,KZ-1,Wind,film,,Search;AI学習,jp,grant,"))
    assert errors_of(submission) == [(2, "work_ref", "duplicate-row")]
    assert Declaration.objects.get(purpose="search").consent == "grant"


@pytest.mark.parametrize("written, expected", [
    ("2026/4/1", datetime(2026, 3, 31, 15, 0, tzinfo=UTC)),
    ("2026/04/01 9:00", datetime(2026, 4, 1, 0, 0, tzinfo=UTC)),
    ("2026-04-01", datetime(2026, 3, 31, 15, 0, tzinfo=UTC)),
    ("2026-04-01T09:00:00+00:00", datetime(2026, 4, 1, 9, 0, tzinfo=UTC)),
])
def test_studio_kaze_excel_dates_are_read_in_the_registrys_time_zone(studio_kaze, submit, settings, written,
                                                                     expected):
    settings.TIME_ZONE = "Asia/Tokyo"
    submission = submit(studio_kaze, csv_text(HEADER, f"studio-kaze,KZ-1,Wind,film,,train-ai,JP,reserve,{written}"))
    assert submission.status == "done", errors_of(submission)
    assert Declaration.objects.get().effective_from == expected


def test_studio_kaze_values_as_the_admin_shows_them_in_japanese(studio_kaze, submit):
    submission = submit(studio_kaze, csv_text(
        HEADER,
        "studio-kaze,KZ-1,風の塔,映画,,AI モデルの学習,JP,留保,",
        "studio-kaze,KZ-2,星の本,漫画,,train-genai: 生成 AI モデルの学習,JP,許諾,",
        "studio-kaze,KZ-3,Ｗｉｎｄ,ＢＯＯＫ,,検索,EU,Opt-Out,"))
    assert submission.status == "done", errors_of(submission)
    assert Work.objects.get(work_ref="KZ-1").kind == "film" and Work.objects.get(work_ref="KZ-2").kind == "manga"
    assert Work.objects.get(work_ref="KZ-3").kind == "book"
    assert set(Declaration.objects.values_list("work__work_ref", "purpose", "consent")) == {
        ("KZ-1", "train-ai", "reserve"), ("KZ-2", "train-genai", "grant"), ("KZ-3", "search", "reserve")}


def test_studio_kaze_identifiers_without_a_scheme_where_unambiguous(studio_kaze, submit):
    submission = submit(studio_kaze, csv_text(
        HEADER, "studio-kaze,KZ-1,Wind,film,9784991234156;https://studio-kaze.example/works/1,,,,",
        "studio-kaze,KZ-2,Other,film,KZ-0001,,,,"))
    assert errors_of(submission) == [(3, "identifiers", "invalid-identifier")]
    assert set(Identifier.objects.values_list("scheme", "value")) == {
        ("isbn", "9784991234156"), ("url", "https://studio-kaze.example/works/1")}


# ------------------------------------------------------------------------------------------------- the template

@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_studio_kaze_template_sample_row_imports_as_is(studio_kaze, submit, encoding):
    data = claims_template_csv(encoding=encoding, holder_code="studio-kaze")
    assert data.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8")
    submission = submit(studio_kaze, data)
    assert submission.status == "done", (submission.error, errors_of(submission))
    assert Work.objects.get(work_ref="KZ-0001").kind == "film"
    assert Declaration.objects.filter(consent="reserve").count() == 4


def test_the_column_guide_explains_every_column_in_japanese():
    rows = list(csv.reader(io.StringIO(claims_template_guide_csv(encoding="cp932").decode("cp932"))))
    assert rows[0] == ["列名", "必須", "内容", "例"]
    assert [row[0] for row in rows[1:]][:3] == ["holder", "work_ref", "title"] and len(rows) == 15


def test_studio_kaze_upload_page_links_the_template(login, studio_kaze):
    client = login(studio_kaze.user)
    page = client.get(reverse("admin:claims_submission_add"))
    template_url = reverse("admin:claims_submission_template")
    assert f'{template_url}?encoding=cp932'.encode() in page.content
    response = client.get(template_url + "?encoding=cp932")
    assert response["Content-Type"] == "text/csv; charset=Windows-31J"
    assert response.content.decode("cp932").splitlines()[1].startswith("studio-kaze,KZ-0001,風の谷の物語")


def test_a_dry_run_page_says_would_be_created(login, studio_kaze, submit):
    submission = submit(studio_kaze, csv_text(HEADER, "studio-kaze,KZ-1,Wind,film,,,,,"), dry_run=True)
    page = login(studio_kaze.user).get(reverse("admin:claims_submission_change", args=[submission.pk]))
    assert b"works that would be created" in page.content and b"dry-run-note" in page.content
    assert not Work.objects.exists()
