"""My registry out (issue 17): a holder exports its works, identifiers and declarations in force as a claims CSV
that import_claims takes back unchanged: the round trip creates nothing new. Streamed, UTF-8 (BOM) or CP932, from
GET /api/v1/export (holder token) and the admin. Personas: the demo's holders; Studio Kaze and Hoshi Publishing,
who never export each other's registry."""
import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEvent
from claims.export import ExportUnencodable, claims_export_stream, claims_export_unencodable
from consent.models import Declaration
from consent.services import declaration_file
from registry.models import Dispute, Holder, Identifier, Work
from registry.services import work_register
from tests.api.conftest import client_for

ROUND_TRIP_TABLES = (Work, Identifier, Declaration, Dispute, AuditEvent)


def registry_state():
    return {model.__name__: model.objects.count() for model in ROUND_TRIP_TABLES}


def export_bytes(holder, encoding="utf-8") -> bytes:
    return b"".join(claims_export_stream(holder=holder, encoding=encoding, chunk=3))


def import_back(path, code) -> dict:
    out = io.StringIO()
    call_command("import_claims", str(path), "--as", code, "--wait", "--json", stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


@pytest.mark.django_db(transaction=True)  # the command commits; the task runs after the commit
def test_every_demo_holders_export_imports_back_creating_nothing(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("seed_demo", stdout=io.StringIO())
    holders = list(Holder.objects.filter(works__isnull=False).distinct())
    assert len(holders) >= 3
    before = registry_state()
    exported_declarations = 0
    for holder in holders:
        data = export_bytes(holder)
        assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark
        path = tmp_path / f"{holder.code}.csv"
        path.write_bytes(data)
        state = import_back(path, holder.code)
        assert state["status"] == "done", (holder.code, state)
        assert state["rows_failed"] == 0 and state["rows_total"] >= holder.works.count()
        assert registry_state() == before, holder.code  # no new work, identifier, declaration, dispute, event
        assert export_bytes(holder) == data  # and the registry says the same as before
        exported_declarations += data.count(b",reserve,") + data.count(b",grant,")
    assert exported_declarations > 0


@pytest.mark.django_db
def test_the_export_holds_works_declarations_in_force_and_catalogue_rows(studio_kaze):
    """Rule: current declarations only (a superseded one is history), work rows in id order, catalogue rows last."""
    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="風の音", kind="film",
                         identifiers=["doi:10.5555/sk-1", "isbn:9784990166137"]).work
    work_register(holder=studio_kaze.holder, work_ref="SK-2", title="Sora", kind="film")
    declaration_file(holder=studio_kaze.holder, work=work, purpose="train-ai", jurisdiction="EU", consent="reserve",
                     license_url="https://studio-kaze.example/licensing")
    old, _ = declaration_file(holder=studio_kaze.holder, work=work, purpose="search", jurisdiction="*",
                              consent="grant")
    declaration_file(holder=studio_kaze.holder, work=work, purpose="search", jurisdiction="*", consent="reserve")
    declaration_file(holder=studio_kaze.holder, work=None, scope="catalogue", purpose="train-genai", jurisdiction="JP",
                     consent="reserve")
    lines = export_bytes(studio_kaze.holder).decode("utf-8-sig").splitlines()
    assert lines[0] == ("holder,work_ref,title,original_title,kind,identifiers,purpose,jurisdiction,consent,scope,"
                        "effective_from,effective_until,license_url,conditions")
    body = lines[1:]
    assert len(body) == 4  # SK-1 twice (the superseded grant is not there), SK-2 once, one catalogue row
    assert body[0].startswith("studio-kaze,SK-1,風の音,,film,doi:10.5555/sk-1;isbn:9784990166137,search,*,"
                              "reserve,work,")
    assert ",train-ai,EU,reserve,work," in body[1] and body[1].endswith(",https://studio-kaze.example/licensing,")
    assert body[2] == "studio-kaze,SK-2,Sora,,film,,,,,work,,,,"
    assert body[3].startswith("studio-kaze,,,,,,train-genai,JP,reserve,catalogue,")
    assert ",search,*,grant," not in "".join(body)
    cp932 = export_bytes(studio_kaze.holder, "cp932")
    assert "風の音".encode("cp932") in cp932 and not cp932.startswith(b"\xef\xbb\xbf")


@pytest.mark.django_db
def test_api_export_streams_the_holders_own_registry_and_another_holders_is_404(studio_kaze, hoshi_pub):
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", kind="film")
    work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Hoshi", kind="book")
    client = client_for(studio_kaze.user)
    response = client.get("/api/v1/export", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "SK-1" in text and "HP-1" not in text
    response = client.get("/api/v1/export?encoding=cp932")
    assert response["Content-Type"] == "text/csv; charset=cp932"
    assert client.get("/api/v1/export?holder=hoshi-pub").status_code == 404
    assert client.get("/api/v1/export?holder=nobody").status_code == 404
    assert client.get("/api/v1/export?encoding=latin-1").status_code == 400


@pytest.mark.django_db
def test_a_collective_exports_its_principal_and_a_viewer_may_export(collective, tsubasa, kaze_viewer):
    work_register(holder=tsubasa.holder, work_ref="TS-1", title="Tsubasa", kind="film")
    response = client_for(collective.user).get("/api/v1/export?holder=tsubasa-anime")
    assert response.status_code == 200 and "TS-1" in b"".join(response.streaming_content).decode("utf-8-sig")
    assert client_for(kaze_viewer.user).get("/api/v1/export").status_code == 200


@pytest.mark.django_db
def test_the_admin_export_button_downloads_the_registry(client, studio_kaze, hoshi_pub):
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", kind="film")
    client.force_login(studio_kaze.user)
    assert 'id="export-cp932"' in client.get(reverse("admin:index")).content.decode()
    response = client.get(reverse("admin:registry-export-csv"))
    assert response.status_code == 200
    assert "SK-1" in b"".join(response.streaming_content).decode("utf-8-sig")
    assert client.get(reverse("admin:registry-export-csv") + "?holder=hoshi-pub").status_code == 404


# Characters CP932 lacks: an emoji, the em dash U+2014 (CP932 has the horizontal bar U+2015), a kanji outside JIS
# X 0208 and CP932's extensions (U+20BB7, the "tsuchi-yoshi"), an accented Latin letter.
NOT_IN_CP932 = "🎬 風—𠮷野 café"
# Characters it has, some only in Microsoft's extensions (NEC circled digits, IBM kanji), half-width kana, the
# fullwidth tilde and backslash, and ASCII's own "?": written as they are, read back the same.
IN_CP932 = "①髙～ｶﾅ＼ ?"


@pytest.fixture
def unencodable_registry(studio_kaze):
    """Studio Kaze: SK-1 with a title CP932 lacks, SK-2 clean, SK-3 whose declaration's conditions CP932 lacks, a
    catalogue-wide reservation with a licence URL CP932 lacks."""
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title=NOT_IN_CP932, kind="film")
    work_register(holder=studio_kaze.holder, work_ref="SK-2", title=IN_CP932, kind="film")
    sk3 = work_register(holder=studio_kaze.holder, work_ref="SK-3", title="Sora", kind="film").work
    declaration_file(holder=studio_kaze.holder, work=sk3, purpose="train-ai", jurisdiction="JP", consent="grant",
                     conditions="Attribution: Zoë")
    declaration_file(holder=studio_kaze.holder, work=None, scope="catalogue", purpose="train-genai",
                     jurisdiction="JP", consent="reserve", license_url="https://studio-kaze.example/ライセンス/🎬")
    return studio_kaze


@pytest.mark.django_db
def test_a_cp932_export_of_characters_cp932_lacks_is_refused_naming_each_row_and_column(unencodable_registry,
                                                                                      django_assert_num_queries):
    """Rule: nothing is exported as `?`. The CP932 export is refused before its first byte, naming the row (the
    work's catalogue number, or the catalogue row) and column of each value it cannot write."""
    holder = unencodable_registry.holder
    with pytest.raises(ExportUnencodable) as caught:
        claims_export_stream(holder=holder, encoding="cp932")
    assert caught.value.count == 3 and caught.value.code == "unencodable"
    assert [(e["row"], e["field"], e["character"]) for e in caught.value.errors] == [
        ("SK-1", "title", "🎬 (U+1F3AC)"),
        ("catalogue train-genai JP", "license_url", "🎬 (U+1F3AC)"),
        ("SK-3", "conditions", "ë (U+00EB)"),
    ]
    assert "SK-1, column title" in caught.value.detail
    # Works, identifiers, declarations: only their values that are not plain ASCII are read.
    with django_assert_num_queries(3):
        count, _ = claims_export_unencodable(holder=holder, codec="cp932")
    assert count == 3
    # UTF-8 holds every character: the same registry exports whole.
    text = export_bytes(holder).decode("utf-8-sig")
    assert NOT_IN_CP932 in text and "Attribution: Zoë" in text and IN_CP932 in text


@pytest.mark.django_db
def test_every_character_after_the_first_cp932_lacks_is_still_counted(studio_kaze):
    """The title's first unencodable character names it; a later one in the same value is the same value."""
    for n in range(25):
        work_register(holder=studio_kaze.holder, work_ref=f"SK-{n:02d}", title=f"{n} — {n} 🎬", kind="film")
    count, listed = claims_export_unencodable(holder=studio_kaze.holder, codec="cp932")
    assert count == 25 and len(listed) == 20
    assert {e["character"] for e in listed} == {"— (U+2014)"}


@pytest.mark.django_db
def test_characters_cp932_has_are_exported_as_they_are(studio_kaze):
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title=IN_CP932, original_title="風の音", kind="film")
    data = export_bytes(studio_kaze.holder, "cp932")
    assert IN_CP932 + ",風の音," in data.decode("cp932")


@pytest.mark.django_db
def test_the_wave_dash_is_written_as_cp932s_and_reads_back_as_the_fullwidth_tilde(studio_kaze):
    """Documented, not refused (docs/claims.md, "Export"): CP932 writes U+301C WAVE DASH (text from Mac and Unix
    sources) as its own wave dash 0x8160, as Windows does, which reads back as U+FF5E: the same glyph in a
    spreadsheet, another character on import. Likewise U+2212, U+2016, U+00A2, U+00A3, U+00AC."""
    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="風の音〜夏", kind="film")
    data = export_bytes(studio_kaze.holder, "cp932")
    assert b"\x81\x60" in data and "風の音～夏" in data.decode("cp932")


@pytest.mark.django_db
def test_the_api_answers_a_cp932_export_it_cannot_write_with_a_problem_naming_the_values(unencodable_registry):
    client = client_for(unencodable_registry.user)
    response = client.get("/api/v1/export?encoding=cp932")
    assert response.status_code == 400 and response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "unencodable" and body["type"].endswith(":unencodable")
    assert {(e["row"], e["field"], e["code"]) for e in body["errors"]} == {
        ("SK-1", "title", "unencodable"), ("SK-3", "conditions", "unencodable"),
        ("catalogue train-genai JP", "license_url", "unencodable")}
    assert client.get("/api/v1/export?encoding=utf-8").status_code == 200


@pytest.mark.django_db
def test_the_admin_export_in_cp932_says_why_it_cannot_and_downloads_nothing(client, unencodable_registry):
    client.force_login(unencodable_registry.user)
    response = client.get(reverse("admin:registry-export-csv") + "?encoding=cp932", follow=True)
    assert response.redirect_chain == [(reverse("admin:index"), 302)]
    [message] = [str(m) for m in response.context["messages"]]
    assert "3 value(s)" in message and "row SK-1, column title" in message and "UTF-8" in message


def changes_after(seq: int) -> list[tuple[str, str]]:
    return list(AuditEvent.objects.filter(seq__gt=seq).order_by("seq").values_list("object_type", "object_id"))


def last_seq() -> int:
    return AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


@pytest.mark.django_db
def test_changes_a_lagging_replica_lacks_are_resolved_to_their_holders(studio_kaze, hoshi_pub,
                                                                        django_assert_max_num_queries):
    """claims_export_read_alias's question (docs/scaling.md, "Exports"): do the audited changes a replica has not
    replayed touch this holder's export? Another holder's works, identifiers and declarations do not; the holder's
    own do; any other kind of change, or an object that cannot be found, counts as the holder's."""
    from claims.export import claims_export_touched_by

    start = last_seq()
    registration = work_register(holder=hoshi_pub.holder, work_ref="HP-1", title="Umi", kind="manga",
                                 identifiers=["isbn:978-4-9901661-3-7"])
    declaration_file(holder=hoshi_pub.holder, scope="work", work=registration.work, purpose="train-ai",
                     jurisdiction="JP", consent="reserve")
    declaration_file(holder=hoshi_pub.holder, scope="catalogue", purpose="search", jurisdiction="*", consent="grant")
    hoshi_changes = changes_after(start)
    assert {kind for kind, _ in hoshi_changes} == {"work", "identifier", "declaration"}
    # three queries at most: works by holder, identifiers by their work's holder, declarations by filer and work
    with django_assert_max_num_queries(3):
        assert claims_export_touched_by(holder=studio_kaze.holder, events=hoshi_changes) is False
    assert claims_export_touched_by(holder=hoshi_pub.holder, events=hoshi_changes) is True
    for kind in ("work", "identifier", "declaration"):  # each kind alone is the holder's
        alone = [event for event in hoshi_changes if event[0] == kind]
        assert claims_export_touched_by(holder=hoshi_pub.holder, events=alone) is True, kind
        assert claims_export_touched_by(holder=studio_kaze.holder, events=alone) is False, kind
    assert claims_export_touched_by(holder=studio_kaze.holder, events=[]) is False
    unknown = "00000000-0000-4000-8000-000000000000"
    for odd in (("dispute", unknown), ("work", unknown), ("declaration", "not-a-uuid")):
        assert claims_export_touched_by(holder=studio_kaze.holder, events=[*hoshi_changes, odd]) is True, odd
