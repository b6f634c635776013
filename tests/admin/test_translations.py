"""A Japanese licensing manager reads the whole admin in Japanese: every project string has its translation in
locale/ja, and the pages built from data (names, bases, history) are in her language too (issue 20, item 2)."""
import ast
import os
import shutil
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from registry.identifier_messages import FIXED_MESSAGES

BASE = Path(settings.BASE_DIR)
CATALOGUE = BASE / "locale" / "ja" / "LC_MESSAGES" / "django.po"
# What makemessages would scan in a checkout, minus what holders never see (tests, benchmarks, docs).
SKIPPED_DIRS = {".venv", ".git", "tests", "bench", "docs", "test-artifacts", "media", "var", "node_modules",
                "__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache", "locale", "staticfiles"}


def copy_sources(target: Path) -> None:
    for root, dirs, files in os.walk(BASE):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        for name in files:
            if name.endswith((".py", ".html", ".txt")):
                source = Path(root) / name
                destination = target / source.relative_to(BASE)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination)
    (target / "locale" / "ja" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copyfile(CATALOGUE, target / "locale" / "ja" / "LC_MESSAGES" / "django.po")


def test_every_project_string_has_its_japanese_translation(tmp_path, monkeypatch, settings):
    """Rule: a string the project marks for translation and does not translate would reach a Japanese holder in
    English. makemessages over a copy of the sources, merged into a copy of the committed catalogue, must leave
    no entry empty or fuzzy."""
    if shutil.which("xgettext") is None or shutil.which("msgmerge") is None:
        message = "needs GNU gettext (xgettext, msgmerge): apt-get install gettext"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    copy_sources(tmp_path)
    settings.LOCALE_PATHS = []  # only the copy's locale/ directory, never the committed catalogue
    monkeypatch.chdir(tmp_path)
    call_command("makemessages", locale=["ja"], verbosity=0, no_obsolete=True)
    merged = polib.pofile(str(tmp_path / "locale" / "ja" / "LC_MESSAGES" / "django.po"))
    missing = [entry.msgid for entry in merged if not entry.obsolete
               and (not entry.translated() or "fuzzy" in entry.flags)]
    assert missing == [], f"untranslated in locale/ja (run makemessages and translate): {missing}"


def test_the_identifier_parsers_fixed_messages_are_all_listed_for_translation():
    """Rule: registry.identifiers is pure Python and speaks English; every fixed message it raises is listed in
    registry.identifier_messages so that the admin shows it in Japanese. A new message there fails this test."""
    raised = set()
    for module in ("identifiers.py", "identifier_numbers.py", "identifier_codes.py"):
        tree = ast.parse((BASE / "registry" / module).read_text(encoding="utf-8"))
        raised |= {node.args[0].value for node in ast.walk(tree)
                   if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "InvalidIdentifier"
                   and node.args and isinstance(node.args[0], ast.Constant)}
    assert raised <= set(FIXED_MESSAGES), sorted(raised - set(FIXED_MESSAGES))


def test_the_committed_catalogue_has_no_empty_or_fuzzy_entry():
    catalogue = polib.pofile(str(CATALOGUE))
    assert [e.msgid for e in catalogue if not e.obsolete and (not e.translated() or "fuzzy" in e.flags)] == []


@pytest.fixture
def japanese(login, compiled_translations):
    def client_for(user):
        client = login(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ja"
        return client

    return client_for


pytestmark_db = pytest.mark.django_db  # the catalogue tests above need no database


@pytestmark_db
def test_a_japanese_holder_reads_jurisdictions_rules_and_purposes_in_japanese(japanese, studio_kaze):
    client = japanese(studio_kaze.user)
    jurisdictions = client.get(reverse("admin:consent_jurisdiction_changelist")).content.decode()
    assert "日本" in jurisdictions and "欧州連合" in jurisdictions and "その他すべての地域（既定）" in jurisdictions
    assert "European Union" not in jurisdictions
    rules = client.get(reverse("admin:consent_rule_changelist")).content.decode()
    assert "保護的な既定値" in rules and "事前許諾" in rules
    assert "Protective default" not in rules
    add = client.get(reverse("admin:consent_declaration_add")).content.decode()
    assert "train-ai: AI モデルの学習" in add
    assert "training an AI model" not in add


@pytestmark_db
def test_a_japanese_holder_reads_the_history_as_sentences_not_dicts(japanese, studio_kaze, make_work):
    from registry.services import work_register

    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="風の谷", kind="film",
                         identifiers=["isbn:9784990166137"], actor=studio_kaze.user).work
    page = japanese(studio_kaze.user).get(reverse("admin:registry_work_history", args=[work.pk])).content.decode()
    assert "作品を登録" in page and "識別子を登録" in page
    assert "kaze-editor" in page or studio_kaze.user.username in page
    assert ">user:" not in page and ">work.register<" not in page and "{&#x27;" not in page
    assert "映画" in page  # the kind's label, not `film`
    assert str(studio_kaze.holder) in page and str(studio_kaze.holder.pk) not in page  # names, not ids


@pytestmark_db
def test_a_japanese_holder_gets_service_errors_in_japanese(japanese, studio_kaze):
    client = japanese(studio_kaze.user)
    response = client.post(reverse("admin:registry_work_add"), {
        "holder": studio_kaze.holder.pk, "work_ref": "SK-9", "title": "題名", "kind": "film",
        "identifiers-TOTAL_FORMS": "1", "identifiers-INITIAL_FORMS": "0", "identifiers-0-text": "isbn:9784990166130",
    })
    page = response.content.decode()
    assert "ISBN のチェックディジットが一致しません" in page
    assert "checksum does not match" not in page


@pytestmark_db
def test_the_list_counts_and_titles_read_as_japanese(japanese, studio_kaze, make_work):
    make_work(studio_kaze.holder, "SK-1")
    page = japanese(studio_kaze.user).get(reverse("admin:registry_work_changelist")).content.decode()
    assert "変更する作品を選択" in page
    assert "1 件の作品" in page


@pytestmark_db
def test_an_unknown_jurisdiction_is_explained_in_japanese(japanese, studio_kaze, make_work):
    work = make_work(studio_kaze.holder, "SK-1")
    response = japanese(studio_kaze.user).post(reverse("admin:consent_declaration_add"), {
        "holder": studio_kaze.holder.pk, "scope": "work", "work": work.pk, "purpose": "train-ai",
        "jurisdiction": "UK", "consent": "reserve"})
    page = response.content.decode()
    assert "不明な法域「UK」" in page and "unknown jurisdiction" not in page
