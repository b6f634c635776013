"""The Japanese catalogue compiles without GNU gettext, and Japanese users get Japanese."""
import shutil
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.utils import translation
from django.utils.translation import gettext

PO = Path(settings.BASE_DIR) / "locale" / "ja" / "LC_MESSAGES" / "django.po"


def test_compile_translations_writes_a_catalogue_gettext_reads(tmp_path):
    target = tmp_path / "ja" / "LC_MESSAGES"
    target.mkdir(parents=True)
    shutil.copy(PO, target / "django.po")
    out = StringIO()
    with translation.override(None):
        from django.test import override_settings

        with override_settings(LOCALE_PATHS=[tmp_path]):
            call_command("compile_translations", stdout=out)
    assert (target / "django.mo").stat().st_size > 1000
    assert "translated" in out.getvalue()


def test_every_project_string_has_a_japanese_translation():
    import polib

    catalogue = polib.pofile(str(PO))
    assert catalogue.percent_translated() == 100, [e.msgid for e in catalogue.untranslated_entries()][:10]


def test_a_japanese_user_reads_japanese_for_a_domain_word():
    with translation.override("ja"):
        assert gettext("holder") != "holder"
