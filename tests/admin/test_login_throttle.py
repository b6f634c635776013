"""The admin login throttle (django-axes): an outsider guessing a holder's or an operator's password is stopped
after a few tries, without being able to lock the real user out from elsewhere."""
import pytest
from django.test import RequestFactory, override_settings
from django.urls import reverse

from config.login_throttle import client_ip

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def kaze_editor(studio_kaze):
    studio_kaze.user.set_password(PASSWORD)
    studio_kaze.user.save()
    return studio_kaze.user


def attempt(client, username, password, **meta):
    return client.post(reverse("admin:login") + "?next=/", {"username": username, "password": password}, **meta)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@override_settings(AXES_FAILURE_LIMIT=3)
def test_outsider_guessing_a_holder_password_is_locked_out_even_with_the_right_one_then(client, kaze_editor):
    for _ in range(2):
        assert attempt(client, "kaze-editor", "guess", REMOTE_ADDR="198.51.100.7").status_code == 200
    locked = attempt(client, "kaze-editor", "guess", REMOTE_ADDR="198.51.100.7")
    assert locked.status_code == 429
    assert "locked after 3 failed logins" in locked.content.decode()
    # Now even the right password is refused from that address, and no session is made.
    again = attempt(client, "kaze-editor", PASSWORD, REMOTE_ADDR="198.51.100.7")
    assert again.status_code == 429 and not logged_in(client)


@override_settings(AXES_FAILURE_LIMIT=3)
def test_holder_editor_is_not_locked_out_by_an_outsider_failing_from_another_address(client, kaze_editor):
    for _ in range(3):
        attempt(client, "kaze-editor", "guess", REMOTE_ADDR="198.51.100.7")
    response = attempt(client, "kaze-editor", PASSWORD, REMOTE_ADDR="203.0.113.20")
    assert response.status_code == 302 and logged_in(client)


@override_settings(AXES_FAILURE_LIMIT=3)
def test_a_successful_login_forgets_earlier_typos(client, kaze_editor):
    for _ in range(2):
        attempt(client, "kaze-editor", "typo", REMOTE_ADDR="203.0.113.20")
    assert attempt(client, "kaze-editor", PASSWORD, REMOTE_ADDR="203.0.113.20").status_code == 302
    client.logout()
    for _ in range(2):
        attempt(client, "kaze-editor", "typo", REMOTE_ADDR="203.0.113.20")
    assert attempt(client, "kaze-editor", PASSWORD, REMOTE_ADDR="203.0.113.20").status_code == 302


@override_settings(AXES_FAILURE_LIMIT=3, KYODAKU_TRUSTED_PROXY_COUNT=1)
def test_behind_the_proxy_a_forged_forwarded_for_does_not_buy_fresh_attempts(client, kaze_editor):
    """Every request comes from the proxy's address; the client writes what it likes left of the proxy's entry."""
    for forged in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        attempt(client, "kaze-editor", "guess", REMOTE_ADDR="172.18.0.1",
                HTTP_X_FORWARDED_FOR=f"{forged}, 198.51.100.7")
    response = attempt(client, "kaze-editor", PASSWORD, REMOTE_ADDR="172.18.0.1",
                       HTTP_X_FORWARDED_FOR="10.0.0.4, 198.51.100.7")
    assert response.status_code == 429
    # The same user behind the same proxy from their own address is not affected.
    ok = attempt(client, "kaze-editor", PASSWORD, REMOTE_ADDR="172.18.0.1", HTTP_X_FORWARDED_FOR="203.0.113.20")
    assert ok.status_code == 302


@pytest.mark.parametrize(("proxies", "remote", "forwarded", "expected"), [
    (0, "198.51.100.7", "10.0.0.1", "198.51.100.7"),                 # no proxy trusted: the header is ignored
    (1, "172.18.0.1", "10.0.0.1, 198.51.100.7", "198.51.100.7"),     # the proxy's entry, not the forged one
    (2, "172.18.0.1", "10.0.0.1, 198.51.100.7, 172.18.0.9", "198.51.100.7"),
    (1, "198.51.100.7", "", "198.51.100.7"),                         # a direct connection
    (2, "172.18.0.1", "198.51.100.7", "172.18.0.1"),                 # fewer hops than proxies: not trusted
])
def test_client_address_is_counted_from_the_right_of_forwarded_for(settings, proxies, remote, forwarded, expected):
    settings.KYODAKU_TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
