"""Every line of claims-csv.md, as the rights holders who send such files would meet it."""
from pathlib import Path

import pytest

from audit.models import AuditEvent
from audit.selectors import audit_verify
from claims.models import Submission
from consent.models import Declaration
from consent.services import declaration_file
from registry.models import Dispute, Identifier, Work
from registry.services import work_register

from .conftest import HEADER, errors_csv_text, errors_of
from .helpers import csv_text, isbn13

EXAMPLES = Path(__file__).resolve().parent / "examples"  # copies of the contract's sample files
pytestmark = pytest.mark.django_db


def _counts(s: Submission) -> dict:
    return {k: getattr(s, k) for k in ("rows_total", "rows_done", "rows_ok", "rows_failed", "works_created",
                                      "works_updated", "declarations_created", "disputes_opened")}


# ------------------------------------------------------------------------------------------------ the samples

def test_studio_kaze_small_example_is_imported_with_every_column(studio_kaze, hoshi_pub, submit):
    submission = submit(studio_kaze, (EXAMPLES / "claims-small.csv").read_bytes())
    assert submission.status == "done", submission.error
    assert submission.rows_ok == submission.rows_total and submission.rows_failed == 0
    work = Work.objects.get(holder=studio_kaze.holder, work_ref="KZ-0002")
    assert (work.title, work.original_title, work.kind) == ("Lantern Festival", "灯籠祭り", "series")
    grant = Declaration.objects.get(work=work)
    assert (grant.purpose, grant.jurisdiction, grant.consent) == ("train-genai", "JP", "grant")
    assert grant.conditions == "Non-commercial research models only, attribution required"
    assert grant.effective_from.isoformat() == "2026-01-01T00:00:00+00:00"
    assert Declaration.objects.filter(scope="catalogue", holder=studio_kaze.holder).exists()
    # opt-out is an alias of reserve
    rain = Work.objects.get(holder=studio_kaze.holder, work_ref="KZ-0003")
    assert Declaration.objects.get(work=rain).consent == "reserve"
    assert audit_verify() == []


def test_hoshi_pub_cp932_file_with_crlf_and_several_purposes_and_jurisdictions(hoshi_pub, submit):
    submission = submit(hoshi_pub, (EXAMPLES / "claims-cp932.csv").read_bytes())
    assert submission.status == "done", submission.error
    assert submission.encoding == "cp932"
    work = Work.objects.get(holder=hoshi_pub.holder, work_ref="HP-101")
    assert work.original_title == "星降る学園 2"
    pairs = set(Declaration.objects.filter(work=work).values_list("purpose", "jurisdiction"))
    assert pairs == {("train-ai", "JP"), ("train-ai", "EU"), ("search", "JP"), ("search", "EU")}


@pytest.mark.parametrize("name", ["claims-small.csv", "claims-cp932.csv"])
def test_each_contract_sample_is_accepted_whole_and_sending_it_again_files_nothing(studio_kaze, hoshi_pub, submit,
                                                                                   name):
    """The shared samples (examples/README.md: holders studio-kaze and hoshi-pub created first): every row
    accepted, and the same file again creates no work, declaration or dispute (claims-csv.md "Idempotent")."""
    who = studio_kaze if name == "claims-small.csv" else hoshi_pub
    first = submit(who, (EXAMPLES / name).read_bytes())
    assert (first.status, first.rows_failed, first.rows_ok) == ("done", 0, first.rows_total), errors_of(first)
    again = submit(who, (EXAMPLES / name).read_bytes())
    assert (again.status, again.rows_failed) == ("done", 0)
    assert (again.works_created, again.declarations_created, again.disputes_opened) == (0, 0, 0)


# ------------------------------------------------------------------------------------------------- encodings

ROWS = ["studio-kaze,KZ-1,風の塔,塔のあいだの風,film,isbn:" + isbn13(1) + ",train-ai,JP,reserve,work"]


@pytest.mark.parametrize("encoding, prefix", [
    ("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
    ("cp932", b""),
])
def test_studio_kaze_file_in_each_supported_encoding_reads_the_same(studio_kaze, submit, encoding, prefix):
    data = prefix + csv_text(HEADER, *ROWS).encode(encoding)
    submission = submit(studio_kaze, data)
    assert submission.status == "done", submission.error
    work = Work.objects.get(work_ref="KZ-1")
    assert (work.title, work.original_title) == ("風の塔", "塔のあいだの風")


def test_studio_kaze_latin1_file_is_refused_not_guessed(studio_kaze, submit):
    data = csv_text(HEADER, "studio-kaze,KZ-1,Café résumé,,film,,,,,work").encode("cp1252")
    submission = submit(studio_kaze, data)
    assert submission.status == "failed"
    assert "encoding" in submission.error and "UTF-8" in submission.error
    assert not Work.objects.exists()


def test_studio_kaze_utf16_without_bom_is_refused(studio_kaze, submit):
    submission = submit(studio_kaze, csv_text(HEADER, *ROWS).encode("utf-16-le"))
    assert submission.status == "failed" and "byte-order mark" in submission.error


def test_studio_kaze_utf8_file_broken_half_way_writes_nothing(studio_kaze, submit, settings):
    settings.KYODAKU_CLAIMS_CHUNK_ROWS = 10
    good = [f"studio-kaze,KZ-{i},Title {i},,film,,,,,work" for i in range(200)]
    data = csv_text(HEADER, *good).encode("utf-8") + b"studio-kaze,KZ-X,\xff\xfe\xfd,,film,,,,,work\n"
    submission = submit(studio_kaze, data)
    assert submission.status == "failed" and "encoding" in submission.error
    assert not Work.objects.exists() and submission.rows_done == 0


# ---------------------------------------------------------------------------------------- files that are not CSV

@pytest.mark.parametrize("data, words", [
    (b"PK\x03\x04\x14\x00\x06\x00\x08\x00" + b"\x00" * 50 + b"[Content_Types].xml", "spreadsheet"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ".xls"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR", "PNG image"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG"),
    (b"", "empty"),
    (b"\n\n  \r\n", "no header"),
    (HEADER.encode() + b"\r\n", "no data rows"),
    (HEADER.encode() + b"\n,,,,,,,,,\n\n", "no data rows"),
    (b"holder,work_ref,titel\nstudio-kaze,KZ-1,x\n", "Unknown column"),
    (b"holder,title\nstudio-kaze,x\n", "lacks the required column work_ref"),
    (b"holder,work_ref,title,TITLE\nstudio-kaze,KZ-1,x,y\n", "more than once"),
    (b"holder,work_ref,\nstudio-kaze,KZ-1,\n", "no name for column 3"),
    (b"some text\x00with NULs\x00", "binary"),
], ids=["xlsx", "xls", "png", "jpeg", "empty", "blank", "header-only", "header-blank-rows", "unknown-column",
        "missing-column", "repeated-column", "unnamed-column", "nul-bytes"])
def test_studio_kaze_file_that_is_not_a_claims_csv_fails_with_a_reason(studio_kaze, submit, data, words):
    submission = submit(studio_kaze, data)
    assert submission.status == "failed"
    assert words in submission.error
    assert not Work.objects.exists()
    assert errors_csv_text(submission) == "line,column,code,message,value\r\n"


def test_studio_kaze_unclosed_quote_fails_the_file(studio_kaze, submit, monkeypatch):
    monkeypatch.setattr("claims.reading.CSV_FIELD_HARD_LIMIT", 1000)
    data = csv_text(HEADER, 'studio-kaze,KZ-1,"never closed,,film', *(["x" * 50] * 100))
    submission = submit(studio_kaze, data)
    assert submission.status == "failed" and "quote" in submission.error
    assert not Work.objects.exists()


# ------------------------------------------------------------------------------------- layout and line numbers

def test_studio_kaze_crlf_quoted_newlines_blank_lines_and_spaces(studio_kaze, submit):
    text = (
        "Holder , WORK_REF,title,conditions,purpose,consent\r\n"
        "\r\n"
        '  studio-kaze ,  KZ-1 ,"Rain, ""Again""","line one\r\nline two",train-ai,grant  \r\n'
        ",,,,,\r\n"
        'studio-kaze,KZ-2,"multi\nline\ntitle",,train-ai,maybe\r\n'
        "studio-kaze,KZ-3,Third,,bogus-purpose,grant\r\n"
    )
    submission = submit(studio_kaze, text)
    assert submission.rows_total == 3
    work = Work.objects.get(work_ref="KZ-1")
    assert work.title == 'Rain, "Again"'
    assert Declaration.objects.get(work=work).conditions == "line one\r\nline two"
    # Spreadsheet row numbers: header 1, blank 2, KZ-1 is row 3 (its cell's line break stays inside the row),
    # the blank-ish row 4, KZ-2 row 5 (three lines of title, one row), KZ-3 row 6.
    assert errors_of(submission) == [(5, "consent", "invalid-consent"), (6, "purpose", "unknown-purpose")]
    assert submission.rows_ok + submission.rows_failed == submission.rows_total


# ------------------------------------------------------------------------------------------------ row errors

def _one_error(studio_kaze, submit, row, header=HEADER):
    submission = submit(studio_kaze, csv_text(header, row))
    assert submission.status == "done-with-errors"
    assert (submission.rows_ok, submission.rows_failed) == (0, 1)
    (line, column, code), = errors_of(submission)
    assert line == 2
    return column, code


@pytest.mark.parametrize("row, column, code", [
    ("studio-kaze,KZ-1,,,film,,,,,work", "title", "missing-value"),
    ("studio-kaze,,Title,,film,,,,,work", "work_ref", "missing-value"),
    ("studio-kaze,KZ-1,Title,,film,,train-ai,JP,,work", "consent", "missing-value"),
    ("studio-kaze,KZ-1,Title,,film,isbn:9784000000001,,,,work", "identifiers", "invalid-identifier"),
    ("studio-kaze,KZ-1,Title,,film,imdb:tt0111161,,,,work", "identifiers", "invalid-identifier"),
    ("studio-kaze,KZ-1,Title,,film,ref:studio-kaze/KZ-1,,,,work", "identifiers", "invalid-identifier"),
    ("studio-kaze,KZ-1,Title,,movie,,,,,work", "kind", "invalid-kind"),
    ("studio-kaze,KZ-1,Title,,film,,,,,everything", "scope", "invalid-scope"),
    ("studio-kaze,KZ-1,,,,,train-ai,JP,reserve,catalogue", "work_ref", "invalid-scope"),
    ("studio-kaze,,Title,,,,train-ai,JP,reserve,catalogue", "title", "invalid-scope"),
    (f"studio-kaze,,,,,isbn:{isbn13(5)},train-ai,JP,reserve,catalogue", "identifiers", "invalid-scope"),
    ("studio-kaze,KZ-1,Title,,film,,train-everything,JP,grant,work", "purpose", "unknown-purpose"),
    ("studio-kaze,KZ-1,Title,,film,,train-ai,UK,grant,work", "jurisdiction", "unknown-jurisdiction"),
    ("studio-kaze,KZ-1,Title,,film,,train-ai,JP,maybe,work", "consent", "invalid-consent"),
    ("hoshi-pub,KZ-1,Title,,film,,,,,work", "holder", "not-authorized-for-holder"),
    ("no-such-holder,KZ-1,Title,,film,,,,,work", "holder", "not-authorized-for-holder"),
])
def test_studio_kaze_bad_row_is_rejected_with_its_code(studio_kaze, hoshi_pub, submit, row, column, code):
    assert _one_error(studio_kaze, submit, row) == (column, code)
    assert not Work.objects.exists() and not Declaration.objects.exists()


@pytest.mark.parametrize("header, row, column, code", [
    ("holder,work_ref,title,purpose", "studio-kaze,KZ-1,T,train-ai", "consent", "missing-value"),
    ("holder,work_ref,title,consent", "studio-kaze,KZ-1,T,grant", "purpose", "missing-value"),
    ("holder,work_ref,scope", "studio-kaze,,catalogue", "purpose", "missing-value"),
    ("holder,work_ref,scope,consent", "studio-kaze,,catalogue,reserve", "purpose", "missing-value"),
])
def test_studio_kaze_value_required_by_another_is_missing_also_when_its_column_is_absent(
        studio_kaze, submit, header, row, column, code):
    """claims-csv.md: `consent` is "required when `purpose` is set", a catalogue row "files declarations". A file
    whose header lacks the required column is the same empty value as an empty cell: a row error, not a crash of
    the whole submission (before: a purpose without a consent column stopped the import on a CheckViolation)."""
    assert _one_error(studio_kaze, submit, row, header) == (column, code)
    assert not Work.objects.exists() and not Declaration.objects.exists()


@pytest.mark.parametrize("column, value, code", [
    ("effective_from", "2026-13-01", "invalid-date"),
    ("effective_until", "tomorrow", "invalid-date"),
    ("license_url", "ftp://studio-kaze.example/licence", "invalid-url"),
    ("license_url", "not a url", "invalid-url"),
])
def test_studio_kaze_bad_dates_and_urls_are_rejected(studio_kaze, submit, column, value, code):
    header = "holder,work_ref,title,purpose,consent," + column
    assert _one_error(studio_kaze, submit, f"studio-kaze,KZ-1,T,train-ai,grant,{value}", header) == (column, code)


def test_studio_kaze_period_that_ends_before_it_starts_is_an_invalid_date(studio_kaze, submit):
    header = "holder,work_ref,title,purpose,consent,effective_from,effective_until"
    row = "studio-kaze,KZ-1,T,train-ai,grant,2027-01-01,2026-01-01T00:00:00+09:00"
    assert _one_error(studio_kaze, submit, row, header) == ("effective_until", "invalid-date")


def test_studio_kaze_end_in_the_past_without_a_start_is_an_invalid_date(studio_kaze, submit):
    header = "holder,work_ref,title,purpose,consent,effective_until"
    row = "studio-kaze,KZ-1,T,train-ai,grant,2020-01-01"
    assert _one_error(studio_kaze, submit, row, header) == ("effective_until", "invalid-date")
    assert not Work.objects.exists()


def test_studio_kaze_field_over_the_limit_is_field_too_long(studio_kaze, submit, settings):
    settings.KYODAKU_CLAIMS_MAX_FIELD_CHARS = 10_000
    header = "holder,work_ref,title,conditions,purpose,consent"
    row = f"studio-kaze,KZ-1,T,{'x' * 10_001},train-ai,grant"
    assert _one_error(studio_kaze, submit, row, header) == ("conditions", "field-too-long")
    row = f"studio-kaze,KZ-1,{'t' * 1001},,train-ai,grant"
    Submission.objects.all().delete()
    assert _one_error(studio_kaze, submit, row, header) == ("title", "field-too-long")


def test_studio_kaze_duplicate_key_later_row_wins(studio_kaze, submit):
    text = csv_text("holder,work_ref,title", "studio-kaze,KZ-1,First", "studio-kaze,KZ-2,Other",
                    "studio-kaze,KZ-1,Second")
    submission = submit(studio_kaze, text)
    assert Work.objects.get(work_ref="KZ-1").title == "Second"
    assert errors_of(submission) == [(2, "work_ref", "duplicate-row")]
    assert (submission.rows_ok, submission.rows_failed, submission.rows_total) == (2, 1, 3)


@pytest.mark.parametrize("rows", [
    # the same (purpose, jurisdiction) pair inside rows that also file other pairs
    ("studio-kaze,KZ-1,T,,train-ai;search,JP,reserve,work", "studio-kaze,KZ-1,T,,train-ai,JP;EU,grant,work"),
    # catalogue rows: the same holder, (empty) work_ref, purpose and jurisdiction
    ("studio-kaze,,,,train-ai,*,reserve,catalogue", "studio-kaze,,,,train-ai,*,grant,catalogue"),
    ("studio-kaze,,,,tdm;train-ai,JP,reserve,catalogue", "studio-kaze,,,,train-ai,jp,grant,catalogue"),
])
def test_studio_kaze_same_statement_twice_is_a_duplicate_row_and_the_file_stays_idempotent(studio_kaze, submit, rows):
    """claims-csv.md: `duplicate-row` is the same holder, work_ref, purpose and jurisdiction twice in one file; the
    earlier row is rejected and the later wins. Before, rows sharing one pair among others, and catalogue rows,
    were both filed (the later superseding the earlier), so sending the file again filed both once more."""
    header = "holder,work_ref,title,kind,purpose,jurisdiction,consent,scope"
    text = csv_text(header, *rows)
    first = submit(studio_kaze, text)
    assert errors_of(first) == [(2, "work_ref", "duplicate-row")]
    assert (first.rows_ok, first.rows_failed, first.rows_total) == (1, 1, 2)
    in_force = Declaration.objects.filter(superseded_at=None, revoked_at=None)
    assert set(in_force.values_list("consent", flat=True)) == {"grant"}
    assert Declaration.objects.count() == first.declarations_created
    again = submit(studio_kaze, text)
    assert again.declarations_created == 0 and Declaration.objects.count() == first.declarations_created


def test_studio_kaze_different_statements_about_one_work_are_no_duplicates(studio_kaze, submit):
    header = "holder,work_ref,title,kind,purpose,jurisdiction,consent,scope"
    submission = submit(studio_kaze, csv_text(header, "studio-kaze,KZ-1,T,,train-ai,EU,reserve,work",
                                              "studio-kaze,KZ-1,,,search,*,grant,work",
                                              "studio-kaze,KZ-1,T2,,,,,work",
                                              "studio-kaze,,,,train-ai,EU,reserve,catalogue"))
    assert submission.status == "done" and submission.rows_ok == 4, errors_of(submission)


def test_studio_kaze_row_with_several_errors_is_one_line_naming_them_all(studio_kaze, submit):
    submission = submit(studio_kaze, csv_text(HEADER, "studio-kaze,KZ-1,T,,movie,isbn:123,tdm,XX,grant,work"))
    text = errors_csv_text(submission)
    assert text.count("\r\n") == 2
    assert "invalid-kind" in text and "invalid-identifier" in text and "unknown-jurisdiction" in text


def test_studio_kaze_good_rows_are_kept_next_to_bad_ones(studio_kaze, submit):
    rows = [f"studio-kaze,KZ-{i},Title {i},,film,isbn:{isbn13(i)},train-ai,JP,reserve,work" for i in range(10)]
    rows[3] = "studio-kaze,KZ-3,Title 3,,film,isbn:9784000000001,train-ai,JP,reserve,work"
    rows[7] = "studio-kaze,KZ-7,Title 7,,film,,train-ai,JP,nope,work"
    submission = submit(studio_kaze, csv_text(HEADER, *rows))
    assert _counts(submission) == {"rows_total": 10, "rows_done": 10, "rows_ok": 8, "rows_failed": 2,
                                   "works_created": 8, "works_updated": 0, "declarations_created": 8,
                                   "disputes_opened": 0}
    assert [line for line, _c, _k in errors_of(submission)] == [5, 9]
    assert not Work.objects.filter(work_ref__in=["KZ-3", "KZ-7"]).exists()


def test_studio_kaze_row_with_too_many_values_is_rejected_not_truncated(studio_kaze, submit):
    submission = submit(studio_kaze, csv_text("holder,work_ref,title", "studio-kaze,KZ-1,Rain, Again"))
    assert errors_of(submission) == [(2, "", "too-many-values")]


# ------------------------------------------------------------------------------------------ limits (settings)

def test_studio_kaze_file_over_the_row_limit_fails_and_writes_nothing(studio_kaze, submit, settings):
    settings.KYODAKU_CLAIMS_MAX_ROWS = 5
    settings.KYODAKU_CLAIMS_CHUNK_ROWS = 2
    rows = [f"studio-kaze,KZ-{i},Title {i}" for i in range(6)]
    submission = submit(studio_kaze, csv_text("holder,work_ref,title", *rows))
    assert submission.status == "failed" and "more than 5 data rows" in submission.error
    assert not Work.objects.exists()


def test_studio_kaze_file_over_the_size_limit_is_refused_at_submission(studio_kaze, submit, settings):
    from claims.services import FileTooLarge

    settings.KYODAKU_CLAIMS_MAX_FILE_BYTES = 100
    with pytest.raises(FileTooLarge):
        submit(studio_kaze, csv_text("holder,work_ref,title", *["studio-kaze,KZ-1,T" * 3] * 10))
    assert not Submission.objects.exists()


# ------------------------------------------------------------------------------ semantics, disputes, mandates

def test_studio_kaze_catalogue_row_files_for_every_work_and_registers_none(studio_kaze, submit):
    submission = submit(studio_kaze, csv_text(HEADER, "studio-kaze,,,,,,train-ai;search,*;EU,reserve,catalogue"))
    assert submission.status == "done"
    assert not Work.objects.exists()
    assert set(Declaration.objects.filter(scope="catalogue").values_list("purpose", "jurisdiction")) == {
        ("train-ai", "*"), ("train-ai", "EU"), ("search", "*"), ("search", "EU")}
    assert submission.declarations_created == 4


def test_hoshi_pub_identifier_registered_to_studio_kaze_opens_a_dispute_and_keeps_the_rest(
        studio_kaze, hoshi_pub, submit):
    work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Kaze's", identifiers=[f"isbn:{isbn13(1)}"])
    text = csv_text(HEADER, f"hoshi-pub,HP-1,Hoshi's,,manga,isbn:{isbn13(1)};isbn:{isbn13(2)},train-ai,JP,reserve,work")
    submission = submit(hoshi_pub, text)
    assert submission.status == "done" and submission.disputes_opened == 1
    dispute = Dispute.objects.get()
    assert (dispute.claimant, dispute.holder, dispute.value) == (hoshi_pub.holder, studio_kaze.holder, isbn13(1))
    hp1 = Work.objects.get(work_ref="HP-1")
    assert Identifier.objects.get(scheme="isbn", value=isbn13(1), valid_until__isnull=True).work.work_ref == "KZ-1"
    assert Identifier.objects.filter(work=hp1, value=isbn13(2)).exists()
    assert Declaration.objects.filter(work=hp1).count() == 1
    again = submit(hoshi_pub, text)
    assert again.disputes_opened == 0 and Dispute.objects.count() == 1
    assert audit_verify() == []


def test_hoshi_pub_resubmitting_a_claim_still_open_after_kaze_moved_the_identifier_opens_no_second_dispute(
        studio_kaze, hoshi_pub, submit):
    """domain.md "Disputes", through the claims import as through the services: the open dispute over the ISBN
    stands when Studio Kaze has moved it to another of its works; the same CSV again opens nothing."""
    work_register(holder=studio_kaze.holder, work_ref="KZ-1", title="Kaze's", identifiers=[f"isbn:{isbn13(1)}"])
    text = csv_text(HEADER, f"hoshi-pub,HP-1,Hoshi's,,manga,isbn:{isbn13(1)},train-ai,JP,reserve,work")
    assert submit(hoshi_pub, text).disputes_opened == 1
    work_register(holder=studio_kaze.holder, work_ref="KZ-2", title="Kaze's new", identifiers=[f"isbn:{isbn13(1)}"])

    again = submit(hoshi_pub, text)

    assert again.status == "done" and again.disputes_opened == 0 and errors_of(again) == []
    dispute = Dispute.objects.get()
    assert dispute.resolved_at is None and dispute.work.work_ref == "KZ-1"
    assert Identifier.objects.get(value=isbn13(1), valid_until__isnull=True).work.work_ref == "KZ-2"
    assert audit_verify() == []


def test_collective_files_for_its_mandated_member_but_not_for_others(collective, tsubasa, hoshi_pub, submit):
    text = csv_text(HEADER, "tsubasa-anime,TA-1,Wings,,series,,train-ai,JP,reserve,work",
                    "hoshi-pub,HP-1,Not ours,,manga,,,,,work",
                    "jaa,JAA-1,Own work,,other,,,,,work")
    submission = submit(collective, text)
    assert errors_of(submission) == [(3, "holder", "not-authorized-for-holder")]
    work = Work.objects.get(work_ref="TA-1")
    assert work.holder == tsubasa.holder and work.filed_by_agent == collective.holder
    assert Declaration.objects.get(work=work).filed_by_agent == collective.holder
    assert Work.objects.get(work_ref="JAA-1").filed_by_agent is None


def test_tsubasa_cannot_file_for_the_collective(collective, tsubasa, submit):
    submission = submit(tsubasa, csv_text("holder,work_ref,title", "jaa,JAA-1,T"))
    assert errors_of(submission) == [(2, "holder", "not-authorized-for-holder")]


def test_studio_kaze_viewer_cannot_submit(kaze_viewer, submit):
    from core.errors import ReadOnlyRole

    with pytest.raises(ReadOnlyRole):
        submit(kaze_viewer, csv_text("holder,work_ref,title", "studio-kaze,KZ-1,T"))


def test_studio_kaze_import_equals_the_services_one_row_at_a_time(studio_kaze, hoshi_pub, submit):
    """Works as work_register, declarations as declaration_file: same rows, same outcome."""
    first = [
        f"studio-kaze,KZ-1,One,,film,isbn:{isbn13(1)},train-ai;search,JP,reserve,work",
        f"studio-kaze,KZ-2,Two,,book,isbn:{isbn13(2)},train-ai,*,grant,work",
        "studio-kaze,,,,,,tdm,EU,reserve,catalogue",
    ]
    second = [
        f"studio-kaze,KZ-1,One (new title),,,isbn:{isbn13(1)},train-ai,JP,grant,work",  # supersedes one slot
        f"studio-kaze,KZ-2,,,,isbn:{isbn13(1)},train-ai,*,grant,work",  # moves its own identifier; same grant
        f"hoshi-pub,HP-1,Hoshi,,manga,isbn:{isbn13(2)},,,,work",
    ]
    work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Hoshi", identifiers=[f"isbn:{isbn13(2)}"])

    s1 = submit(studio_kaze, csv_text(HEADER, *first))
    s2 = submit(studio_kaze, csv_text(HEADER, *second))
    assert (s1.works_created, s1.declarations_created) == (2, 4)
    assert (s2.works_updated, s2.declarations_created, s2.rows_failed) == (1, 1, 1)  # HP-1 row: not ours
    one = Work.objects.get(work_ref="KZ-1")
    two = Work.objects.get(work_ref="KZ-2")
    assert one.title == "One (new title)" and one.kind == "film"
    current = Declaration.objects.filter(work=one, superseded_at__isnull=True)
    assert set(current.values_list("purpose", "consent")) == {("train-ai", "grant"), ("search", "reserve")}
    old = Declaration.objects.get(work=one, purpose="train-ai", superseded_at__isnull=False)
    assert old.superseded_by.consent == "grant"
    assert Identifier.objects.get(value=isbn13(1), valid_until__isnull=True).work == two
    # the same through the services gives the same registry
    _, created = declaration_file(holder=studio_kaze.holder, work=two, purpose="train-ai", jurisdiction="*",
                                  consent="grant")
    assert created is False
    assert audit_verify() == []


def test_studio_kaze_same_file_twice_creates_nothing_new(studio_kaze, hoshi_pub, submit):
    work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Hoshi", identifiers=[f"isbn:{isbn13(9)}"])
    rows = [f"studio-kaze,KZ-{i},Title {i},,film,isbn:{isbn13(i)},train-ai;ai-use,JP;EU,reserve,work"
            for i in range(5)]
    rows.append(f"studio-kaze,KZ-9,Nine,,film,isbn:{isbn13(9)},,,,work")
    rows.append("studio-kaze,,,,,,search,*,grant,catalogue")
    text = csv_text(HEADER, *rows)
    first = submit(studio_kaze, text)
    tables = (Work.objects.count(), Identifier.objects.count(), Declaration.objects.count(), Dispute.objects.count())
    second = submit(studio_kaze, text)
    assert (first.works_created, first.declarations_created, first.disputes_opened) == (6, 21, 1)
    assert (second.works_created, second.works_updated, second.declarations_created, second.disputes_opened) == (
        0, 0, 0, 0)
    assert second.rows_ok == first.rows_ok == 7
    assert (Work.objects.count(), Identifier.objects.count(), Declaration.objects.count(),
            Dispute.objects.count()) == tables
    assert audit_verify() == []


def test_studio_kaze_dry_run_counts_like_a_real_run_and_writes_nothing(studio_kaze, submit):
    rows = [f"studio-kaze,KZ-{i},Title {i},,film,isbn:{isbn13(i)},train-ai,JP;EU,reserve,work" for i in range(5)]
    rows.append("studio-kaze,KZ-X,,,film,,,,,work")
    text = csv_text(HEADER, *rows)
    events = AuditEvent.objects.count()
    dry = submit(studio_kaze, text, dry_run=True)
    assert not Work.objects.exists() and not Declaration.objects.exists() and not Identifier.objects.exists()
    assert AuditEvent.objects.count() == events
    real = submit(studio_kaze, text)
    assert dry.dry_run and _counts(dry) == _counts(real)
    assert errors_of(dry) == errors_of(real) == [(7, "title", "missing-value")]


# ------------------------------------------------------------------------------------------- the error report

@pytest.mark.parametrize("value", ["=HYPERLINK(\"http://evil\")", "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_studio_kaze_error_report_never_echoes_a_formula(studio_kaze, submit, value):
    import csv
    import io

    quoted = '"' + value.replace('"', '""') + '"'
    submission = submit(studio_kaze, csv_text("holder,work_ref,title,kind", f"studio-kaze,KZ-1,T,{quoted}"))
    report = list(csv.reader(io.StringIO(errors_csv_text(submission))))
    assert report[0] == ["line", "column", "code", "message", "value"]
    line, column, code, _message, echoed = report[1]
    assert (line, column, code) == ("2", "kind", "invalid-kind")
    for cell in report[1]:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    # Values are trimmed first, so a leading tab or CR is gone; the rest keep their text behind an apostrophe.
    assert echoed == ("'" + value if value == value.strip() else value.strip())


def test_studio_kaze_error_report_of_a_clean_file_is_the_header_alone(studio_kaze, submit):
    submission = submit(studio_kaze, csv_text("holder,work_ref,title", "studio-kaze,KZ-1,T"))
    assert errors_csv_text(submission) == "line,column,code,message,value\r\n"


def test_studio_kaze_error_report_names_the_column_as_her_header_spells_it(studio_kaze, submit):
    """api.md: `column` is "the column's name as in the header" (names are case-insensitive, claims-csv.md): a
    header written `Title` is reported `Title`, not the canonical `title`; a whole-row problem keeps it empty."""
    text = csv_text("\ufeffHolder, WORK_REF ,Title,Purpose,consent", "studio-kaze,KZ-1,,train-ai,reserve",
                    "studio-kaze,KZ-2,T,train-ai,reserve,x", "studio-kaze,KZ-3,T,train-ai,")
    submission = submit(studio_kaze, text)
    assert errors_of(submission) == [(2, "Title", "missing-value"), (3, "", "too-many-values"),
                                     (4, "consent", "missing-value")]


# ------------------------------------------------------------------------------- resuming after a crash

def test_studio_kaze_submission_interrupted_mid_file_resumes_and_counts_every_row_once(
        studio_kaze, submit, settings, monkeypatch):
    from claims import copying
    from claims.services import claims_submission_process

    settings.KYODAKU_CLAIMS_CHUNK_ROWS = 4
    rows = [f"studio-kaze,KZ-{i},Title {i},,film,isbn:{isbn13(i)},train-ai,JP,reserve,work" for i in range(10)]
    rows[5] = "studio-kaze,KZ-5,,,film,,,,,work"
    real_write = copying.write_plan
    calls = {"n": 0}

    def crash_on_second_chunk(plan, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("worker killed")  # not an Exception: nothing catches it, like SIGKILL
        return real_write(plan, **kwargs)

    monkeypatch.setattr(copying, "write_plan", crash_on_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        submit(studio_kaze, csv_text(HEADER, *rows))
    submission = Submission.objects.get()
    assert (submission.status, submission.rows_done, Work.objects.count()) == ("running", 4, 4)
    claims_submission_process(submission_id=submission.pk)
    submission.refresh_from_db()
    assert submission.status == "done-with-errors"
    assert _counts(submission) == {"rows_total": 10, "rows_done": 10, "rows_ok": 9, "rows_failed": 1,
                                   "works_created": 9, "works_updated": 0, "declarations_created": 9,
                                   "disputes_opened": 0}
    assert Work.objects.count() == 9 and Identifier.objects.count() == 9
    assert audit_verify() == []
    # a late duplicate of the task does nothing
    claims_submission_process(submission_id=submission.pk)
    assert Work.objects.count() == 9


def test_finished_submission_file_is_removed_unless_kept(studio_kaze, submit, settings):
    submission = submit(studio_kaze, csv_text("holder,work_ref,title", "studio-kaze,KZ-1,T"))
    assert not submission.file
    settings.KYODAKU_CLAIMS_KEEP_FILES = True
    kept = submit(studio_kaze, csv_text("holder,work_ref,title", "studio-kaze,KZ-2,T"))
    assert kept.file and Path(kept.file.path).exists()


def test_studio_kaze_keys_with_quotes_commas_braces_and_backslashes_are_found_again(studio_kaze, submit):
    """The chunk's look-ups send keys as PostgreSQL array literals: characters that literal syntax gives meaning
    to must still find the same work and identifier on the second import."""
    row = 'studio-kaze,"KZ ""1"", {a\\b}",Title,,film,"url:https://kaze.example/a,b?q=""x""",train-ai,JP,reserve,work'
    first = submit(studio_kaze, csv_text(HEADER, row))
    second = submit(studio_kaze, csv_text(HEADER, row))
    assert (first.works_created, first.declarations_created) == (1, 1), errors_of(first)
    assert (second.works_created, second.works_updated, second.declarations_created, second.rows_ok) == (0, 0, 0, 1)
    assert Work.objects.get().work_ref == 'KZ "1", {a\\b}'


def test_studio_kaze_identifiers_without_a_scheme_where_unambiguous(studio_kaze, submit):
    # claims-csv.md / domain.md: an ISBN, a URL, a DOI, a SHA-256 may be written bare; "KZ-99" may not.
    row = ('studio-kaze,KZ-1,Title,,film,"978-4-9901661-3-7;https://Studio-Kaze.example/kz1;10.5555/KZ.1",'
           "train-ai,JP,reserve,work")
    bad = "studio-kaze,KZ-2,Two,,film,KZ-99,train-ai,JP,reserve,work"
    submission = submit(studio_kaze, csv_text(HEADER, row, bad))
    assert (submission.rows_ok, submission.rows_failed) == (1, 1)
    work = Work.objects.get(holder=studio_kaze.holder, work_ref="KZ-1")
    assert sorted(f"{i.scheme}:{i.value}" for i in Identifier.objects.filter(work=work)) == [
        "doi:10.5555/kz.1", "isbn:9784990166137", "url:https://studio-kaze.example/kz1"]
    assert errors_of(submission) == [(3, "identifiers", "invalid-identifier")]
