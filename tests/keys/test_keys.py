"""API keys: shown once, stored hashed, revocable, rate-limited; issued by command or in the admin."""
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from core.errors import Conflict, ValidationFailed
from keys.models import APIKey, HolderToken
from keys.rates import InvalidRate, Rate, parse_rate
from keys.selectors import token_hash
from keys.services import api_key_create, api_key_revoke


@pytest.mark.parametrize(("text", "rate"), [
    ("100/s", Rate(100, 1)), ("6000/min", Rate(6000, 60)), ("1/hour", Rate(1, 3600)), (" 5 / MIN ", Rate(5, 60)),
    ("none", None), ("None", None),
])
def test_rates_are_read_as_written(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "100", "0/s", "-1/s", "10/day", "ten/s", "10/s/s", None])
def test_nonsense_rates_are_refused(text):
    with pytest.raises(InvalidRate):
        parse_rate(text)


def test_key_is_stored_only_as_a_hash(db):
    api_key, plain = api_key_create(name="Crawler Co", rate="10/s")
    stored = APIKey.objects.get(pk=api_key.pk)
    assert plain not in (stored.hashed_key, stored.id) and plain.split(".")[1] not in stored.hashed_key
    assert stored.hashed_key.startswith("sha512$$")
    assert APIKey.objects.is_valid(plain) and stored.rate == "10/s"


def test_revoked_key_stays_revoked(db):
    api_key, plain = api_key_create(name="Crawler Co")
    api_key_revoke(api_key=api_key)
    assert not APIKey.objects.is_valid(plain)
    with pytest.raises(Conflict):
        api_key_revoke(api_key=api_key)


def test_bad_name_or_rate_is_refused(db):
    with pytest.raises(ValidationFailed):
        api_key_create(name="x" * 51)
    with pytest.raises(ValidationFailed):
        api_key_create(name="ok", rate="lots")


def test_create_api_key_command_prints_the_key_once(db):
    out = StringIO()
    call_command("create_api_key", "Dataset Lab", "--rate", "600/min", "--json", stdout=out)
    payload = json.loads(out.getvalue().strip().splitlines()[-1])
    assert payload["name"] == "Dataset Lab" and payload["rate"] == "600/min"
    assert APIKey.objects.is_valid(payload["key"])
    human = StringIO()
    call_command("create_api_key", "Bulk job", "--rate", "none", stdout=human)
    assert "cannot be shown again" in human.getvalue()
    with pytest.raises(CommandError):
        call_command("create_api_key", "Bad", "--rate", "fast", stdout=StringIO())


def test_create_holder_token_creates_the_user_and_prints_the_token(studio_kaze, hoshi_pub):
    out = StringIO()
    call_command("create_holder_token", "--holder", "studio-kaze", "--user", "kaze-bot", "--json", stdout=out)
    payload = json.loads(out.getvalue().strip().splitlines()[-1])
    token = HolderToken.objects.get(user__username="kaze-bot")
    assert token.key_hash == token_hash(payload["token"]) and payload["token"].startswith(payload["prefix"])
    assert payload["user_created"] is True
    # A second call issues a second token (the first cannot be shown again: only its hash is kept).
    again = StringIO()
    call_command("create_holder_token", "--holder", "studio-kaze", "--user", "kaze-bot", "--json", stdout=again)
    second = json.loads(again.getvalue().strip())
    assert second["token"] != payload["token"] and second["user_created"] is False
    # An existing editor keeps their role; someone else's user cannot be borrowed.
    call_command("create_holder_token", "--holder", "studio-kaze", "--user", "kaze-editor", stdout=StringIO())
    assert studio_kaze.user.membership.role == "editor"
    with pytest.raises(CommandError):
        call_command("create_holder_token", "--holder", "studio-kaze", "--user", "hoshi-editor", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("create_holder_token", "--holder", "nobody", "--user", "x", stdout=StringIO())


def test_operator_issues_a_key_in_the_admin_and_sees_it_once(client, operator):
    client.force_login(operator)
    response = client.post("/keys/apikey/add/", {"name": "Admin-issued", "rate": "50/s"}, follow=True)
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    plain = next(m for m in messages if "Admin-issued" in m).split(" is: ")[1].split(".", 2)
    key = f"{plain[0]}.{plain[1]}"
    assert APIKey.objects.is_valid(key)
    api_key = APIKey.objects.get(name="Admin-issued")
    assert api_key.rate == "50/s"
    page = client.get(f"/keys/apikey/{api_key.pk}/change/")
    assert key not in page.content.decode()
    client.post("/keys/apikey/", {"action": "revoke_keys", "_selected_action": [api_key.pk]})
    assert not APIKey.objects.is_valid(key)


def test_admin_refuses_a_bad_rate(client, operator):
    client.force_login(operator)
    response = client.post("/keys/apikey/add/", {"name": "Bad", "rate": "fast"})
    assert response.status_code == 200 and not APIKey.objects.filter(name="Bad").exists()


@pytest.mark.redis
def test_rate_limit_is_shared_through_redis(db, settings):
    """Two processes share one count: the limit lives in Redis, not in a worker's memory."""
    from django.core.cache import caches

    from tests.conftest import redis_url

    url = redis_url().rsplit("/", 1)[0] + "/4"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    caches["default"].clear()
    from rest_framework.test import APIClient

    _, plain = api_key_create(name="Redis plan", rate="2/min")
    clients = [APIClient(), APIClient()]
    for c in clients:
        c.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    params = {"id": "isbn:9784990166137", "purpose": "tdm", "jurisdiction": "JP"}
    assert clients[0].get("/api/v1/lookup", params).status_code == 200
    assert clients[1].get("/api/v1/lookup", params).status_code == 200
    response = clients[0].get("/api/v1/lookup", params)
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    caches["default"].clear()


def test_changes_through_the_services_apply_at_once_despite_the_key_cache(db):
    from django.core.cache import cache
    from rest_framework.test import APIClient

    from keys.services import api_key_update

    cache.clear()
    api_key, plain = api_key_create(name="Cached", rate="none")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {plain}")
    params = {"id": "isbn:9784990166137", "purpose": "tdm", "jurisdiction": "JP"}
    assert client.get("/api/v1/lookup", params).status_code == 200  # the key's record is now cached
    api_key_update(api_key=api_key, rate="1/hour")
    assert client.get("/api/v1/lookup", params).status_code == 200
    assert client.get("/api/v1/lookup", params).status_code == 429
    api_key_revoke(api_key=api_key)
    assert client.get("/api/v1/lookup", params).status_code == 401


def test_key_issued_with_an_expiry_date_stops_working_after_it(db):
    from datetime import timedelta

    from django.utils import timezone

    current, current_plain = api_key_create(name="Trial", expiry_date=timezone.now() + timedelta(days=30))
    lapsed, lapsed_plain = api_key_create(name="Old trial", expiry_date=timezone.now() - timedelta(days=1))
    assert APIKey.objects.get(pk=current.pk).expiry_date == current.expiry_date
    assert APIKey.objects.is_valid(current_plain) and not APIKey.objects.is_valid(lapsed_plain)


def test_operator_issues_a_key_for_a_named_organisation_in_the_admin(client, operator):
    """Rule (api.md, licences): every key belongs to an organisation; the admin's key form names it, reusing an
    existing one, and shows it read-only afterwards."""
    from registry.models import Organisation

    client.force_login(operator)
    existing = Organisation.objects.create(name="Mirai AI")
    client.post("/keys/apikey/add/", {"name": "mirai-prod", "organisation_name": "Mirai AI"}, follow=True)
    client.post("/keys/apikey/add/", {"name": "mirai-staging", "organisation_name": "Mirai AI"}, follow=True)
    client.post("/keys/apikey/add/", {"name": "solo"}, follow=True)
    assert set(APIKey.objects.filter(name__startswith="mirai").values_list("organisation", flat=True)) == {existing.pk}
    assert APIKey.objects.get(name="solo").organisation.name == "solo"
    page = client.get(f"/keys/apikey/{APIKey.objects.get(name='mirai-prod').pk}/change/").content.decode()
    assert "Mirai AI" in page and 'name="organisation_name"' not in page


def test_create_api_key_command_names_the_organisation(db):
    """`create_api_key NAME --organisation ORG` (api.md): the key belongs to ORG, created when new."""
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("create_api_key", "crawler-1", "--organisation", "Kumo Labs", "--json", stdout=out)
    import json

    assert json.loads(out.getvalue())["organisation"] == "Kumo Labs"
    assert APIKey.objects.get(name="crawler-1").organisation.name == "Kumo Labs"
