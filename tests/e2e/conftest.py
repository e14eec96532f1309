"""Browser tests: Debian's chromium, driven by Playwright, against the whole local stack (model server + gateway).

One browser and one stack per session keep the suite fast; each test gets a fresh browser context (no shared
cookies, routes or state). Screenshots go to tests/e2e/artifacts/ (git-ignored).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

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
SITE_MODULE = Path(__file__).resolve().parents[2] / "terraform" / "modules" / "site" / "main.tf"


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


@pytest.fixture(scope="module")
def auth_stack(local_stack_factory, tmp_path_factory):
    """The local stack with AUTH=jwt and the development issuer, whose key pair goes to a temporary
    TOXIGUARD_DATA_DIR: started for the sign-in tests' module and stopped after it."""
    data_dir = tmp_path_factory.mktemp("toxiguard-data")
    with local_stack_factory({"AUTH": "jwt", "TOXIGUARD_DATA_DIR": str(data_dir)}) as stack:
        yield stack


@contextlib.contextmanager
def checked_page(browser, name: str = "the page"):
    """A page in a fresh context (a browser of its own); any uncaught JavaScript error on it fails the test."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    yield page
    context.close()
    assert not errors, f"uncaught JavaScript errors on {name}: {errors}"


@pytest.fixture
def page(browser):
    with checked_page(browser) as page:
        yield page


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


# --- Helpers the page tests share -------------------------------------------------------------------------------------


def open_page(page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#service-status")).not_to_have_attribute("data-state", "checking")


def moderate(page, action) -> dict:
    """Run `action` (a click or key press) and return the JSON the page got from POST /v1/moderate."""
    with page.expect_response(lambda r: r.url.endswith("/v1/moderate") and r.request.method == "POST") as reply:
        action()
    return reply.value.json()


def display_name(label: str) -> str:
    """A label as the pages name it: `identity_hate` -> `Identity hate`."""
    return label.replace("_", " ").capitalize()


def shown_score(score: float) -> str:
    """A score as the pages write it."""
    return "<0.01" if 0 < score < 0.005 else f"{score:.2f}"


def comment_box(page, batch: bool = False):
    return page.get_by_label("Comments, one per line" if batch else "Comment", exact=True)


def tab_to(page, selector: str, presses: int = 12) -> None:
    """Press Tab until the focused element matches `selector`; fail if it never does."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("(selector) => document.activeElement.matches(selector)", selector):
            return
    pytest.fail(f"Tab never reached {selector}")


def deployed_csp(*connect_origins: str) -> str:
    """The Content-Security-Policy CloudFront sends with the page (terraform/modules/site), with `connect_origins`
    where the module puts its own: the API's origin, and with sign-in on, the hosted UI's."""
    block = re.search(r'content_security_policy = join\("; ", \[(.*?)\]\)', SITE_MODULE.read_text(), re.S)
    directives = re.findall(r'^\s*"(.*)",?$', block.group(1), re.M)
    csp = "; ".join(
        re.sub(r"\$\{.*\}", " ".join(connect_origins), directive) if directive.startswith("connect-src") else directive
        for directive in directives
    )
    assert "${" not in csp, f"the site module's CSP interpolates more than this test fills in: {csp}"
    return csp


def enforce_csp(page, site_url: str, csp: str) -> None:
    """Send `csp` with the page at `site_url` (whatever its query), as CloudFront does; each document records the
    violations it sees in `window.__violations`, as "<directive> <blocked URI>"."""

    def with_csp(route):
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": csp})

    page.route(lambda url: url.partition("?")[0].rstrip("/") == site_url.rstrip("/"), with_csp)
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));"
    )
