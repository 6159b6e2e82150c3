"""Playwright fixtures: one headless system Chromium per session, a fresh context per test.

Playwright's own browser download is not used: the tests drive Debian's `chromium`
(CHROMIUM_PATH, default /usr/bin/chromium). When it is missing the tests skip locally and fail
with CI=true (the policy in tests/conftest.py, applied here before launching, because a
session fixture is set up before the per-test marker check runs).
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from integrations.models import Integration
from tests.conftest import CHROMIUM, _missing

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def _allow_db_next_to_playwright() -> Iterator[None]:
    # Playwright's sync API runs an asyncio loop in this thread; Django then refuses ORM calls
    # from it ("You cannot call this from an async context"). The tests are synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser(_allow_db_next_to_playwright):
    if not shutil.which(CHROMIUM):
        _missing(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser, live_server, transactional_db):
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP, locale="en-US")
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context, secrets_never_shown):
    page = context.new_page()
    secrets_never_shown.watch(page)
    yield page
    page.close()


class SecretsNeverShown:
    """Checks that no secret value is in the HTML of any page the test looked at.

    `seen(page)` asserts on the current page and returns its HTML. The secrets are the values
    the test typed (`typed`) plus every secret stored in the database at that moment. Every
    page the browser navigated to must have been checked: teardown fails otherwise.
    """

    def __init__(self) -> None:
        self.typed: set[str] = set()
        self.navigated: set[str] = set()
        self.checked: set[str] = set()

    def watch(self, page) -> None:
        page.on("framenavigated", self._navigated)

    def _navigated(self, frame) -> None:
        if frame.parent_frame is None:
            self.navigated.add(frame.url)

    def stored(self) -> set[str]:
        values = set()
        for integration in Integration.all_objects.all():
            values.update(
                getattr(integration, name).reveal()  # a SealedSecret: its plaintext
                for name in type(integration).secret_field_names()
            )
        return {value for value in values if value}

    def seen(self, page) -> str:
        html = page.content()
        self.checked.add(page.url)
        for secret in self.typed | self.stored():
            if secret in html:
                # Say where, without printing the secret itself into the test log.
                at = html.index(secret)
                around = f"{html[max(0, at - 120) : at]}«SECRET»{html[at + len(secret) :][:60]}"
                pytest.fail(f"a secret value is in the HTML of {page.url}:\n{around}")
        return html

    def unchecked(self) -> set[str]:
        return self.navigated - self.checked - {"about:blank"}


@pytest.fixture
def secrets_never_shown() -> Iterator[SecretsNeverShown]:
    guard = SecretsNeverShown()
    yield guard
    assert not guard.unchecked(), f"pages never checked for secrets: {sorted(guard.unchecked())}"


@pytest.fixture
def log_in_as(context, live_server):
    """Give the browser a session of `user` without going through the form (faster)."""

    def log_in(user: User) -> None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies["sessionid"]
        context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": live_server.url}])

    return log_in


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
