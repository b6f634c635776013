"""Holders' users' API tokens: stored only as hashes, expiring, rotated, revoked; the old plain-text tokens migrate
to hashes that the same token still opens."""
import hashlib
import importlib
from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from core.errors import Conflict, ValidationFailed
from keys.models import HolderToken
from keys.selectors import token_hash
from keys.services import holder_token_create, holder_token_issue, holder_token_revoke

WORKS = "/api/v1/works"


def as_token(plain: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {plain}")
    return client


def test_studio_kaze_token_is_stored_only_as_its_hash(studio_kaze):
    token, plain = holder_token_create(user=studio_kaze.user, name="nightly sync")
    stored = HolderToken.objects.filter(pk=token.pk).values()[0]
    assert plain not in {str(v) for v in stored.values()}
    assert stored["key_hash"] == hashlib.sha256(plain.encode()).hexdigest() and plain.startswith(stored["prefix"])
    assert as_token(plain).get(WORKS).status_code == 200


def test_expired_token_of_studio_kaze_is_refused_with_401(studio_kaze):
    token, plain = holder_token_create(user=studio_kaze.user, days=1)
    assert as_token(plain).get(WORKS).status_code == 200
    # A day later (moved back in time rather than waiting for it).
    HolderToken.objects.filter(pk=token.pk).update(created=token.created - timedelta(days=1, seconds=1),
                                                   expires_at=token.expires_at - timedelta(days=1, seconds=1))
    response = as_token(plain).get(WORKS)
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["detail"] == "Invalid, expired or revoked token."


def test_default_lifetime_comes_from_the_setting(studio_kaze, settings):
    settings.KYODAKU_HOLDER_TOKEN_DAYS = 30
    token, _ = holder_token_create(user=studio_kaze.user)
    assert token.expires_at - token.created == timedelta(days=30)
    with pytest.raises(ValidationFailed):
        holder_token_create(user=studio_kaze.user, days=0)


def test_rotation_revokes_the_users_other_tokens_and_only_theirs(studio_kaze, hoshi_pub):
    _, old = holder_token_create(user=studio_kaze.user)
    _, hoshi = holder_token_create(user=hoshi_pub.user)
    _, new = holder_token_create(user=studio_kaze.user, rotate=True)
    assert as_token(old).get(WORKS).status_code == 401
    assert as_token(new).get(WORKS).status_code == 200
    assert as_token(hoshi).get(WORKS).status_code == 200


def test_revoked_token_and_inactive_user_are_refused(studio_kaze):
    token, plain = holder_token_create(user=studio_kaze.user)
    holder_token_revoke(token=token)
    assert as_token(plain).get(WORKS).status_code == 401
    with pytest.raises(Conflict):
        holder_token_revoke(token=token)
    _, plain = holder_token_create(user=studio_kaze.user)
    studio_kaze.user.is_active = False
    studio_kaze.user.save()
    assert as_token(plain).get(WORKS).status_code == 401


@pytest.mark.parametrize("forged", ["", "x", "a" * 500, "abcd1234.", "\udcff", "Token"])
def test_forged_tokens_get_401_problem_not_500(db, forged):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {forged}".encode("utf-8", "surrogatepass").decode("latin-1"))
    response = client.get(WORKS)
    assert response.status_code == 401, response.content


def test_a_token_shows_hoshi_pub_only_its_own_works(studio_kaze, hoshi_pub):
    from registry.services import work_register

    work_register(holder=studio_kaze.holder, work_ref="SK-1", title="Kaze", kind="book", identifiers=[])
    _, plain = holder_token_issue(holder=hoshi_pub.holder, username="hoshi-bot")[1:3]
    assert as_token(plain).get(WORKS).json()["results"] == []


def test_database_refuses_a_token_that_expires_before_it_was_made(studio_kaze):
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        HolderToken.objects.create(user=studio_kaze.user, prefix="x", key_hash="0" * 64, created=now,
                                   expires_at=now)


def test_create_holder_token_rotate_replaces_the_users_token(studio_kaze):
    import json

    def issue(*extra):
        out = StringIO()
        call_command("create_holder_token", "--holder", "studio-kaze", "--user", "kaze-editor", "--json", *extra,
                     stdout=out)
        return json.loads(out.getvalue().strip().splitlines()[-1])

    first = issue("--days", "7", "--name", "CI")
    second = issue("--rotate")
    assert as_token(first["token"]).get(WORKS).status_code == 401
    assert as_token(second["token"]).get(WORKS).status_code == 200
    assert HolderToken.objects.get(prefix=first["prefix"]).name == "CI"


def test_operator_issues_a_token_in_the_admin_shown_once_and_revokes_it(client, operator, studio_kaze):
    client.force_login(operator)
    response = client.post(reverse("admin:keys_holdertoken_add"),
                           {"user": studio_kaze.user.pk, "name": "from the admin", "days": "10"}, follow=True)
    assert response.status_code == 200
    message = next(str(m) for m in response.context["messages"] if "will not be shown again" in str(m))
    plain = message.split(" is: ", 1)[1].split(". Store", 1)[0]
    token = HolderToken.objects.get(key_hash=token_hash(plain))
    assert token.user == studio_kaze.user and token.expires_at - token.created == timedelta(days=10)
    assert plain not in client.get(reverse("admin:keys_holdertoken_changelist")).content.decode()
    client.post(reverse("admin:keys_holdertoken_changelist"),
                {"action": "revoke_tokens", "_selected_action": [token.pk]})
    assert as_token(plain).get(WORKS).status_code == 401


def test_holder_users_do_not_see_tokens_in_the_admin(client, studio_kaze):
    client.force_login(studio_kaze.user)
    assert client.get(reverse("admin:keys_holdertoken_changelist")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_existing_plain_text_tokens_migrate_to_hashes_that_the_same_token_opens(studio_kaze):
    """Rule: upgrading keeps every holder's automation working, and leaves no plain-text token in the database."""
    legacy = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"  # DRF's format: 40 hex characters
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp with time zone"
                       " NOT NULL, user_id integer NOT NULL)")
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, %s)", [legacy, timezone.now(), studio_kaze.user.pk])
    migration = importlib.import_module("keys.migrations.0003_holder_tokens")
    with connection.schema_editor() as editor:
        migration.hash_legacy_tokens(apps, editor)
    assert "authtoken_token" not in connection.introspection.table_names()
    token = HolderToken.objects.get()
    assert token.key_hash == token_hash(legacy) and token.user == studio_kaze.user
    assert token.expires_at > timezone.now() + timedelta(days=89)
    assert as_token(legacy).get(WORKS).status_code == 200
