"""manage.py import_claims FILE --as CODE [--wait] [--dry-run] [--json] (api.md, management commands)."""
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from registry.models import Work

from .helpers import csv_text

pytestmark = pytest.mark.django_db(transaction=True)  # the command commits; the task runs after the commit


def _run(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("import_claims", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue()


def test_operator_imports_for_studio_kaze_and_gets_the_status_object(studio_kaze, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    path = tmp_path / "claims.csv"
    path.write_text(csv_text("holder,work_ref,title", "studio-kaze,KZ-1,One", "studio-kaze,KZ-2,"))
    code, out = _run(str(path), "--as", "studio-kaze", "--wait", "--json")
    assert code == 0
    state = json.loads(out.strip().splitlines()[-1])
    assert state["status"] == "done-with-errors" and (state["rows_ok"], state["rows_failed"]) == (1, 1)
    assert state["errors_url"].endswith("/errors.csv")
    assert Work.objects.filter(work_ref="KZ-1").exists()


def test_operator_dry_run_prints_a_summary_and_writes_nothing(studio_kaze, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    path = tmp_path / "claims.csv"
    path.write_text(csv_text("holder,work_ref,title", "studio-kaze,KZ-1,One"))
    code, out = _run(str(path), "--as", "studio-kaze", "--wait", "--dry-run")
    assert code == 0 and "Dry run" in out and "1 would be created" in out
    assert not Work.objects.exists()


def test_failed_file_exits_1(studio_kaze, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    path = tmp_path / "claims.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 30)
    code, out = _run(str(path), "--as", "studio-kaze", "--wait", "--json")
    assert code == 1
    assert json.loads(out.strip().splitlines()[-1])["status"] == "failed"


def test_unknown_holder_or_file_is_a_command_error(studio_kaze, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    path = tmp_path / "claims.csv"
    path.write_text("holder,work_ref\n")
    with pytest.raises(CommandError):
        call_command("import_claims", str(path), "--as", "nobody")
    with pytest.raises(CommandError):
        call_command("import_claims", str(tmp_path / "missing.csv"), "--as", "studio-kaze")
