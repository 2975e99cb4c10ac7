"""Browser tests: the app served by uvicorn against the test database (tests/conftest.py's server_url),
driven in Debian's Chromium."""

import os
import shutil

import pytest
from playwright.sync_api import expect

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PUSH = 2000  # ms: a pushed row must show within this, without a reload
PASSWORD = "review-pw-for-tests"  # every browser test's reviewers log in with it
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    """Chromium for one module. Playwright's sync API runs an event loop in this thread, which
    Django's async-safety check would take for async code calling the ORM: the check is
    lifted for these tests only (as Playwright's Django guidance does), and restored after."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"Browser tests need Chromium at {CHROMIUM}: apt-get install chromium (or set CHROMIUM).")
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


@pytest.fixture
def log_in(browser, server_url):
    """Log in through the login page in a fresh browser context; returns the page it lands on."""
    contexts = []

    def log_in(username, *, next_path="/reviews/", route_sockets=None, route_pages=None, **context_options):
        contexts.append(browser.new_context(**context_options))
        if route_sockets:
            contexts[-1].route_web_socket("**/ws/reviews/", route_sockets)
        if route_pages:
            contexts[-1].route(*route_pages)
        page = contexts[-1].new_page()
        page.goto(f"{server_url}/accounts/login/?next={next_path}")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{server_url}{next_path}")
        page.wait_for_load_state()  # its deferred scripts (htmx, shortcuts, socket) have run
        return page

    yield log_in
    for context in contexts:
        context.close()


def live(page):
    """The queue page's websocket is open (queue_live.js marks the body)."""
    expect(page.locator("body")).to_have_attribute("data-live", "1", timeout=10_000)
    return page
