"""The Spawning-compatible endpoint (interop.md): `POST /api/v2/query/urls/`, for a crawler that switches from
Spawning to Kyodaku by changing one URL. Persona: an AI developer's crawler with an API key."""
import pytest
from django.core.management import CommandError, call_command

from consent.lookup import lookup_many
from core.errors import ValidationFailed
from keys.models import APIKey
from keys.services import api_key_create
from tests.api.conftest import assert_problem, client_for

from .spawning_world import DOMAIN, PREFIX, RESERVED, UNVERIFIED, build_world, url_mix

pytestmark = pytest.mark.django_db
PATH = "/api/v2/query/urls/"


@pytest.fixture
def world(studio_kaze, hoshi_pub):
    build_world(studio_kaze, hoshi_pub)


def crawler(*, keyword="API", **defaults):
    _, plain = api_key_create(name="Crawler Co", rate="none", **defaults)
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {plain}")
    return client


def ask(client, lines, query=""):
    return client.post(PATH + query, data="\n".join(lines).encode(), content_type="text/plain")


def native(lines, *, purpose="train-ai", jurisdiction):
    """Kyodaku's own answer per line, through the batch lookup (None: not a URL)."""
    results = lookup_many(ids=[f"url:{line.strip()}" for line in lines], purpose=purpose, jurisdiction=jurisdiction)
    return [None if "error" in r or not line.strip().lower().startswith(("http://", "https://")) else r
            for line, r in zip(lines, results, strict=True)]


@pytest.mark.parametrize("jurisdiction", ["JP", "FR"])
def test_crawler_gets_one_spawning_entry_per_line_matching_kyodakus_answers(world, jurisdiction):
    lines = url_mix(60)
    response = ask(crawler(), lines, f"?jurisdiction={jurisdiction}")
    assert response.status_code == 200, response.content
    entries = response.json()["urls"]
    assert [e["url"] for e in entries] == lines
    for entry, answer in zip(entries, native(lines, jurisdiction=jurisdiction), strict=True):
        if answer is None:
            assert entry["optOut"] is True and entry["optIn"] is False and entry["error"]["code"], entry
        else:
            assert set(entry) == {"url", "optOut", "optIn", "verified"}
            assert entry["verified"] is answer["verified"]
            assert entry["optOut"] is (answer["outcome"] == "denied")
            assert entry["optIn"] is (answer["basis"] == "granted")


def test_the_mix_covers_every_kind_of_answer(world):
    by_url = {e["url"]: e for e in ask(crawler(default_jurisdiction="JP"), url_mix(12)).json()["urls"]}
    assert by_url[RESERVED] == {"url": RESERVED, "optOut": True, "optIn": False, "verified": True}
    assert by_url[f"{PREFIX}item/1"] == {"url": f"{PREFIX}item/1", "optOut": False, "optIn": True, "verified": True}
    assert by_url[f"https://www.{DOMAIN}/page/2"]["optIn"] is True  # Hoshi's JP grant through its domain
    assert by_url["https://elsewhere.example/4"] == {"url": "https://elsewhere.example/4", "optOut": True,
                                                     "optIn": False, "verified": None}  # JP: permission required
    # Hoshi's catalogue grant reached through a host Hoshi has not verified does not count
    assert by_url[f"{UNVERIFIED}6"] == {"url": f"{UNVERIFIED}6", "optOut": True, "optIn": False, "verified": False}
    fr = {e["url"]: e for e in ask(crawler(default_jurisdiction="FR"), url_mix(12)).json()["urls"]}
    assert fr["https://elsewhere.example/4"]["optOut"] is False  # EU: not reserved
    assert fr[f"https://www.{DOMAIN}/page/2"] == {"url": f"https://www.{DOMAIN}/page/2", "optOut": False,
                                                  "optIn": False, "verified": True}  # the JP grant stays in Japan


def test_bad_lines_fail_closed_with_an_error_and_keep_their_place(world):
    lines = ["", "not a url", RESERVED, "isbn:9784990166137", "https://", "  "]
    entries = ask(crawler(default_jurisdiction="FR"), lines).json()["urls"]
    assert [e["url"] for e in entries] == lines
    assert [e["optOut"] for e in entries] == [True] * 6
    assert [e.get("error", {}).get("code") for e in entries] == [
        "empty-line", "invalid-identifier", None, "invalid-identifier", "invalid-identifier", "empty-line"]


def test_lines_are_counted_as_datadiligence_joins_them(world):
    client = crawler(default_jurisdiction="FR")
    body = f"{RESERVED}\r\nhttps://elsewhere.example/\n".encode()
    entries = client.post(PATH, data=body, content_type="text/plain").json()["urls"]
    assert [e["url"] for e in entries] == [RESERVED, "https://elsewhere.example/", ""]
    assert client.post(PATH, data=b"", content_type="text/plain").json()["urls"][0]["error"]["code"] == "empty-line"


def test_key_defaults_apply_and_query_parameters_override_them(world):
    client = crawler(default_jurisdiction="FR", default_purpose="search")
    assert ask(client, ["https://elsewhere.example/"]).json()["urls"][0]["optOut"] is False
    assert ask(client, ["https://elsewhere.example/"], "?jurisdiction=JP").json()["urls"][0]["optOut"] is True
    # the url-prefix grant is for train-ai: with the key's default purpose `search` it does not decide ...
    assert ask(client, [f"{PREFIX}a"], "?jurisdiction=JP").json()["urls"][0]["optIn"] is False
    # ... and with purpose=train-genai it does (a train-ai grant covers its descendant)
    assert ask(client, [f"{PREFIX}a"], "?jurisdiction=JP&purpose=train-genai").json()["urls"][0]["optIn"] is True


def test_purpose_defaults_to_train_ai(world):
    client = crawler()
    assert ask(client, [f"{PREFIX}a"], "?jurisdiction=JP").json()["urls"][0]["optIn"] is True


def test_a_key_without_defaults_and_no_parameters_gets_a_problem_naming_jurisdiction(world):
    body = assert_problem(ask(crawler(), [RESERVED]), 400, "invalid")
    assert [e["field"] for e in body["errors"]] == ["jurisdiction"]


def test_unknown_purpose_or_jurisdiction_is_a_400_for_the_whole_request(world):
    assert_problem(ask(crawler(), [RESERVED], "?jurisdiction=XX"), 400, "unknown-jurisdiction")
    assert_problem(ask(crawler(), [RESERVED], "?jurisdiction=JP&purpose=fun"), 400, "unknown-purpose")
    assert_problem(ask(crawler(), [RESERVED], "?jurisdiction=JP&as_of=2026-01-01"), 400)


def test_both_authorization_forms_and_nothing_else(world):
    assert ask(crawler(keyword="API", default_jurisdiction="JP"), [RESERVED]).status_code == 200
    assert ask(crawler(keyword="Api-Key", default_jurisdiction="JP"), [RESERVED]).status_code == 200
    assert_problem(ask(client_for(), [RESERVED], "?jurisdiction=JP"), 401)
    anonymous = client_for()
    anonymous.credentials(HTTP_AUTHORIZATION="API nope.nope")
    assert_problem(ask(anonymous, [RESERVED], "?jurisdiction=JP"), 401)


def test_too_many_lines_is_413_and_bad_bodies_are_400(world, settings):
    settings.KYODAKU_LOOKUP_BATCH_MAX = 5
    client = crawler(default_jurisdiction="JP")
    assert_problem(ask(client, [RESERVED] * 6), 413)
    assert ask(client, [RESERVED] * 5).status_code == 200
    assert_problem(client.post(PATH, data=b"https://a.example/\xff", content_type="text/plain"), 400,
                   "invalid-encoding")
    assert_problem(client.post(PATH, data=b'{"urls": []}', content_type="application/json"), 415)


def test_rate_limit_counts_a_request_once(world):
    _, plain = api_key_create(name="Slow crawler", rate="2/min", default_jurisdiction="JP")
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION=f"API {plain}")
    assert ask(client, [RESERVED] * 50).status_code == 200
    assert ask(client, [RESERVED]).status_code == 200
    response = ask(client, [RESERVED])
    assert_problem(response, 429)
    assert int(response["Retry-After"]) >= 1


@pytest.mark.postgres
def test_a_request_costs_a_fixed_number_of_queries(world, django_assert_max_num_queries):
    client = crawler(default_jurisdiction="JP")
    ask(client, url_mix(3))  # warm: the key's record and the rule book are cached after this
    for count in (10, 3000):
        # 1 rule-table fingerprint, 2 identifiers (exact + url-prefix + domain in one UNION),
        # 3 declarations in force, 4 open disputes, 5 the holders' domain verifications, 6 the key's
        # organisation's licences (docs/licences.md)
        with django_assert_max_num_queries(6):
            assert ask(client, url_mix(count)).status_code == 200


def test_create_api_key_with_defaults(db, capsys):
    call_command("create_api_key", "Crawler Co", "--purpose", "train-genai", "--jurisdiction", "jp", "--json")
    key = APIKey.objects.get(name="Crawler Co")
    assert (key.default_purpose, key.default_jurisdiction) == ("train-genai", "JP")
    with pytest.raises(CommandError, match="did you mean 'GB'"):
        call_command("create_api_key", "Bad", "--jurisdiction", "UK")
    with pytest.raises(CommandError, match="unknown purpose"):
        call_command("create_api_key", "Bad", "--purpose", "fun")
    assert not APIKey.objects.filter(name="Bad").exists()


def test_key_defaults_are_checked_on_update_and_by_the_database(db):
    from django.db import IntegrityError, transaction

    from keys.services import api_key_update

    key, _ = api_key_create(name="Crawler Co")
    with pytest.raises(ValidationFailed):
        api_key_update(api_key=key, default_purpose="fun")
    api_key_update(api_key=key, default_jurisdiction="fr")
    assert APIKey.objects.get(pk=key.pk).default_jurisdiction == "FR"
    with pytest.raises(IntegrityError), transaction.atomic():
        APIKey.objects.filter(pk=key.pk).update(default_purpose="fun")
