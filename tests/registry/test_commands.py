"""The operators' commands: a human summary by default, one JSON object on the last line with --json."""
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from registry.models import Holder, Mandate, Membership

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_operator_creates_a_holder_and_gets_json_on_the_last_line():
    out = run("create_holder", "studio-kaze", "--name", "Studio Kaze", "--kind", "studio", "--country", "jp",
              "--licensing-url", "https://studio-kaze.example/licensing", "--json")
    payload = json.loads(out.strip().splitlines()[-1])
    assert payload["code"] == "studio-kaze" and payload["country"] == "JP"
    assert Holder.objects.filter(code="studio-kaze", kind="studio").exists()


def test_create_holder_prints_a_human_summary_by_default():
    assert "Created holder studio-kaze" in run("create_holder", "studio-kaze", "--name", "Studio Kaze",
                                               "--kind", "studio")


def test_create_holder_refuses_a_duplicate_code_with_a_reason(studio_kaze):
    with pytest.raises(CommandError, match="already exists"):
        run("create_holder", "studio-kaze", "--name", "Again", "--kind", "studio")


def test_operator_gives_a_collective_a_mandate_until_a_date(tsubasa):
    run("create_holder", "jaa", "--name", "JAA", "--kind", "collective")
    payload = json.loads(run("create_mandate", "--agent", "jaa", "--principal", "tsubasa-anime",
                             "--until", "2030-01-01", "--json").strip().splitlines()[-1])
    assert payload["valid_until"].startswith("2030-01-01")
    assert Mandate.objects.get().principal == tsubasa.holder


def test_create_mandate_names_an_unknown_holder(tsubasa):
    with pytest.raises(CommandError, match="No holder with code 'nobody'"):
        run("create_mandate", "--agent", "nobody", "--principal", "tsubasa-anime")


def test_create_holder_user_reads_the_password_and_sets_the_role(studio_kaze, monkeypatch):
    monkeypatch.setattr("sys.stdin", StringIO("s3cret-pass-phrase\n"))
    run("create_holder_user", "--holder", "studio-kaze", "--username", "kaze-viewer-2", "--role", "viewer")
    membership = Membership.objects.get(user__username="kaze-viewer-2")
    assert membership.role == "viewer" and membership.holder == studio_kaze.holder
    assert membership.user.check_password("s3cret-pass-phrase") and not membership.user.is_staff
