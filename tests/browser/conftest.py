"""Playwright for Python driving Debian's Chromium (never a downloaded browser) against pytest-django's live server.

One browser for the whole module; each test gets fresh contexts (separate cookie jars) for its users.

The live server needs a transactional database, which is emptied after each test: the tests say so in their
`django_db` marker, so that pytest-django runs them with the other transactional tests, at the end, and the
suite's own fixture (tests/conftest.py) puts the migrations' seed rules back after each flush. (Django's
`serialized_rollback` does not mix with flushes that re-create content types, so it is not used.)
"""
import os
from pathlib import Path

import pytest
from django.conf import settings

from tests.admin.conftest import make_work  # noqa: F401  (shared with the admin's tests)

CHROMIUM = os.environ.get("KYODAKU_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"needs Chromium at {CHROMIUM} (Debian's package; .ci/run installs it)"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django refuses ORM calls there unless told it is
    # safe. It is: the test's own database calls are ordinary synchronous calls made between browser steps. Set
    # only while the browser runs, so that no other test (nor a subprocess it starts) inherits it.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync"])
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(browser, live_server):
    """A page in a fresh context. Every page is watched for Content-Security-Policy violations: Chromium reports
    each blocked script, style or frame on the console, and a test whose pages had one fails (the admin must work
    under its policy, not merely look as if it does)."""
    contexts = []
    violations = []

    def watch(message):
        if "Content Security Policy" in message.text:
            violations.append(f"{message.location.get('url', '')}: {message.text}")

    def open_page():
        context = browser.new_context(base_url=live_server.url, accept_downloads=True, locale="en-GB")
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("console", watch)
        return page

    open_page.csp_violations = violations  # a test that provokes one on purpose checks and clears it
    yield open_page
    for context in contexts:
        context.close()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


@pytest.fixture
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> None:
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return save


def log_in(page, username: str, password: str = "correct-horse-battery") -> None:
    page.goto("/login/?next=/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")
