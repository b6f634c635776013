"""Personas and service checks shared by every test.

Personas: two rights holders who must never see each other's data (Studio Kaze and Hoshi Publishing), a
collective with a mandate for one member studio (Tsubasa), and an operator (registry staff).
"""
import os
import socket
from dataclasses import dataclass

import pytest
from django.db import connection
from hypothesis import HealthCheck, settings

from tests.factories import HolderFactory, MembershipFactory, UserFactory

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"

# Hypothesis's two wall-clock checks fail property tests on a loaded machine (two cores shared by many processes,
# as in CI) for no fault of the code: a 0.1 ms `canonical_json` example once took 252 ms because the process was
# not scheduled, and Hypothesis reported DeadlineExceeded/FlakyFailure. The properties themselves are what these
# tests prove; their speed is measured by bench/, not by a per-example deadline. Loaded here, before any test
# module is imported, so that every `@settings(...)` inherits it.
settings.register_profile("kyodaku", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("kyodaku")


def _service_missing(item, what: str):
    message = f"needs {what}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and REQUIRE_SERVICES=1 forbids skipping", pytrace=False)
    pytest.skip(message)


def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_answers() -> bool:
    from urllib.parse import urlparse

    parsed = urlparse(redis_url())
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _service_missing(item, "PostgreSQL (set DATABASE_URL=postgres://...)")
    if (item.get_closest_marker("redis") or item.get_closest_marker("worker")) and not redis_answers():
        _service_missing(item, f"Redis at {redis_url()}")
    if item.get_closest_marker("worker") and connection.vendor != "postgresql":
        _service_missing(item, "PostgreSQL for the worker process")


def _seed_if_missing() -> None:
    import importlib

    from django.apps import apps

    from consent.models import Rule

    if not Rule.objects.exists():
        importlib.import_module("consent.migrations.0002_seed_jurisdictions_and_rules").seed(apps, None)


@pytest.fixture(autouse=True)
def _each_test_starts_in_the_default_language():
    """Django's LocaleMiddleware activates a request's language in the test's thread and leaves it active after
    the response; a management command called later in another test would then speak Japanese. Every test starts
    and ends in the project's default language, whatever ran before it."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _seed_data_survives_transactional_tests(request, _django_db_marker):
    """A transactional test ends with a flush, which also empties what the migrations seeded (jurisdictions,
    rules and their audit events). The seed is put back right after that flush (pytest_runtest_teardown below), so
    that the tests after it, transactional or not, find the database as the migrations left it whatever the order;
    and, in case, before a transactional test starts.
    """
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker and marker.kwargs.get("transaction")) or {
        "transactional_db", "live_server"} & set(request.fixturenames)
    if transactional:
        request.getfixturevalue("transactional_db")  # set up now if the test asked for it by name
        request.node.stash[_RESEED_AFTER] = request.getfixturevalue("django_db_blocker")
        _seed_if_missing()
    yield


_RESEED_AFTER = pytest.StashKey[object]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After every fixture of a transactional test is torn down (its flush included): the seed again. Not after
    the session's last test, whose teardown has dropped the test database."""
    try:
        return (yield)
    finally:
        blocker = item.stash.get(_RESEED_AFTER, None)
        if blocker is not None and nextitem is not None:
            with blocker.unblock():
                _seed_if_missing()


@dataclass
class Persona:
    user: object
    holder: object

    @property
    def code(self) -> str:
        return self.holder.code


@pytest.fixture
def studio_kaze(db) -> Persona:
    """A studio's licensing editor."""
    holder = HolderFactory(code="studio-kaze", name="Studio Kaze", kind="studio", country="JP",
                           licensing_url="https://studio-kaze.example/licensing")
    user = UserFactory(username="kaze-editor")
    MembershipFactory(user=user, holder=holder, role="editor")
    return Persona(user=user, holder=holder)


@pytest.fixture
def hoshi_pub(db) -> Persona:
    """A publisher's editor: must never see Studio Kaze's data, nor Studio Kaze theirs."""
    holder = HolderFactory(code="hoshi-pub", name="Hoshi Publishing", kind="publisher", country="JP")
    user = UserFactory(username="hoshi-editor")
    MembershipFactory(user=user, holder=holder, role="editor")
    return Persona(user=user, holder=holder)


@pytest.fixture
def tsubasa(db) -> Persona:
    """A member studio of the collective, with its own editor."""
    holder = HolderFactory(code="tsubasa-anime", name="Tsubasa Animation", kind="studio", country="JP")
    user = UserFactory(username="tsubasa-editor")
    MembershipFactory(user=user, holder=holder, role="editor")
    return Persona(user=user, holder=holder)


@pytest.fixture
def collective(db, tsubasa) -> Persona:
    """A collective's editor, holding an active mandate for Tsubasa (and none for anyone else)."""
    from registry.services import mandate_create

    holder = HolderFactory(code="jaa", name="Japan Animation Association", kind="collective", country="JP")
    user = UserFactory(username="jaa-editor")
    MembershipFactory(user=user, holder=holder, role="editor")
    mandate_create(agent=holder, principal=tsubasa.holder)
    return Persona(user=user, holder=holder)


@pytest.fixture
def kaze_viewer(db, studio_kaze) -> Persona:
    """A read-only user of Studio Kaze."""
    user = UserFactory(username="kaze-viewer")
    MembershipFactory(user=user, holder=studio_kaze.holder, role="viewer")
    return Persona(user=user, holder=studio_kaze.holder)


@pytest.fixture
def operator(db):
    """Registry staff: a Django staff user with no holder."""
    return UserFactory(username="operator", is_staff=True, is_superuser=True)


@pytest.fixture(scope="session")
def compiled_translations():
    """The Japanese catalogue compiled as `make test` does, so that switching to Japanese has something to show."""
    from django.core.management import call_command

    call_command("compilemessages", locale=["ja"], ignore_patterns=[".venv", "node_modules"], verbosity=0)
