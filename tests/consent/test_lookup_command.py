"""`manage.py lookup ID --purpose P --jurisdiction J [--as-of T] [--json]` prints exactly the API's result."""
import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from consent.lookup import lookup_one
from consent.services import declaration_file
from registry.services import work_register

# Not marked postgres: on SQLite (the local default) these also cover the selectors' portable path.
pytestmark = [pytest.mark.django_db]

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(*args) -> str:
    out = StringIO()
    call_command("lookup", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def reserved_work(studio_kaze):
    work = work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze no Tani", kind="film",
                         identifiers=["isbn:978-4-9901661-3-7"], at=T0).work
    declaration_file(holder=studio_kaze.holder, scope="work", work=work, purpose="train-ai", consent="reserve",
                     at=T0)
    return work


def test_operator_sees_the_api_result_pretty_printed(reserved_work):
    printed = run("isbn:4-9901661-3-2", "--purpose", "train-genai", "--jurisdiction", "jp", "--as-of",
                  "2026-02-01T00:00:00Z")

    expected = lookup_one(id="isbn:4-9901661-3-2", purpose="train-genai", jurisdiction="JP",
                          as_of=datetime(2026, 2, 1, tzinfo=UTC))
    assert json.loads(printed) == expected
    assert printed.startswith("{\n  \"id\"")
    assert (expected["outcome"], expected["basis"], expected["work"]["id"]) == ("denied", "reserved",
                                                                                 str(reserved_work.pk))


def test_with_json_the_result_is_one_line(reserved_work):
    printed = run("ref:studio-kaze/SK-1", "--purpose", "search", "--jurisdiction", "US", "--as-of",
                  "2026-02-01T09:00:00+09:00", "--json")

    lines = printed.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[-1])
    assert (result["as_of"], result["outcome"], result["basis"]) == ("2026-02-01T00:00:00Z", "allowed",
                                                                     "not-reserved")


def test_an_unregistered_identifier_is_answered_not_refused(db):
    result = json.loads(run("doi:10.1000/unknown", "--purpose", "tdm", "--jurisdiction", "*", "--json"))
    assert (result["registered"], result["basis"]) == (False, "permission-required")


@pytest.mark.parametrize(("args", "reason"), [
    (("isbn:978-4-9901661-3-8", "--purpose", "tdm", "--jurisdiction", "JP"), "ISBN checksum does not match"),
    (("isbn:9784990166137", "--purpose", "training", "--jurisdiction", "JP"), "unknown purpose"),
    (("isbn:9784990166137", "--purpose", "tdm", "--jurisdiction", "UK"), "did you mean 'GB'"),
    (("isbn:9784990166137", "--purpose", "tdm", "--jurisdiction", "JP", "--as-of", "yesterday"), "not an ISO 8601"),
    (("isbn:9784990166137", "--purpose", "tdm", "--jurisdiction", "JP", "--as-of", "2026-01-01T00:00:00"),
     "no time zone"),
    (("isbn:9784990166137", "--purpose", "tdm", "--jurisdiction", "JP", "--as-of", "1990-01-01T00:00:00Z"),
     "No jurisdiction rule applies"),
    (("isbn:9784990166137", "--purpose", "tdm", "--jurisdiction", "JP", "--as-of", "2999-01-01T00:00:00Z"),
     "later than now"),
], ids=["bad-id", "bad-purpose", "bad-jurisdiction", "bad-time", "naive-time", "before-every-rule", "future"])
def test_bad_input_is_a_command_error_with_the_reason(db, args, reason):
    with pytest.raises(CommandError, match=reason):
        run(*args)
