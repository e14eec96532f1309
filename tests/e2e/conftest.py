"""Browser tests: Debian's chromium, driven by Playwright, against the whole local stack (model server + gateway).

One browser and one stack per session keep the suite fast; each test gets a fresh browser context (no shared
cookies, routes or state). Screenshots go to tests/e2e/artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Headless and offline: nothing in the browser may reach the internet (no component updates, sync, QUIC probes).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOT_DIR = Path(__file__).parent / "artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium (never a browser Playwright downloads); skipped when absent, except in CI."""
    if not CHROMIUM.exists():
        reason = f"Debian's chromium is not installed at {CHROMIUM}: `make browser` installs it"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def stack(local_stack):
    """The session's local stack (tests/conftest.py), shared with the serving tests when they run together."""
    return local_stack


@pytest.fixture
def page(browser):
    """A page in a fresh context; any uncaught JavaScript error fails the test that caused it."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    yield page
    context.close()
    assert not errors, f"uncaught JavaScript errors on the page: {errors}"


@pytest.fixture
def screenshot():
    """`screenshot(page, name)` saves a full-page PNG as tests/e2e/artifacts/<name>.png and prints where."""

    def save(page, name: str) -> Path:
        SCREENSHOT_DIR.mkdir(exist_ok=True)
        path = SCREENSHOT_DIR / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    return save
