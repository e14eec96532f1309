"""Signing in on the web page, in a real browser against the real local stack with AUTH=jwt: a development token
handed over in the address (auth mode `local`), and Cognito's hosted UI (mode `cognito`: code + PKCE, renewal,
sign-out), played by a small fake that hands out the development issuer's tokens."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from toxiguard.serving.local.auth import MODERATE_SCOPE, REVIEW_SCOPE, SCOPES, AuthSettings
from toxiguard.serving.local.gateway import Gateway
from toxiguard.serving.local.issuer import LOCAL_CLIENT_ID, LocalIssuer
from toxiguard.serving.local.stack import handler_environment

from .conftest import PHONE, deployed_csp, enforce_csp, moderate, open_page, tab_to
from .fake_hosted_ui import running_hosted_ui

pytestmark = pytest.mark.slow  # the stack loads the shipped model in a server process

HOUR = 3600
EXPIRED = -60  # a lifetime that ended a minute ago
READ_SESSION = "JSON.parse(sessionStorage.getItem('toxiguard.session'))"


@pytest.fixture(scope="module")
def issuer(auth_stack) -> LocalIssuer:
    """The development issuer whose tokens the auth stack's gateway accepts."""
    return LocalIssuer(auth_stack.settings.auth.data_dir)


def api_calls(page) -> list[tuple[str, int, str | None]]:
    """Every answer the page gets from the API, in order: (request line, status, the request's Authorization)."""
    calls = []

    def record(response):
        if "/v1/" in response.url:
            request = response.request
            line = f"{request.method} {urlsplit(response.url).path}"
            calls.append((line, response.status, request.headers.get("authorization")))

    page.on("response", record)
    return calls


def check_rude(page) -> None:
    page.get_by_role("button", name="Rude").click()
    page.get_by_role("button", name="Check comment").click()


@contextlib.contextmanager
def another_gateway(auth_stack, auth: AuthSettings, api_url: str = "", **handler_settings: str):
    """Another gateway in front of the auth stack's model server, with other sign-in settings, API URL (config.js) or
    handler settings."""
    environment = handler_environment(auth_stack.manifest, auth_stack.model_url, auth_stack.settings.endpoint_name)
    gateway = Gateway({**environment, **handler_settings}, port=0, api_url=api_url, auth=auth).start()
    try:
        yield gateway
    finally:
        gateway.close()


# --- mode local: a token handed over in the address ------------------------------------------------------------------


def test_a_handed_over_token_signs_in_is_sent_with_comments_only_and_signs_out(page, auth_stack, issuer, screenshot):
    token = issuer.mint_token([MODERATE_SCOPE], "alice", HOUR)
    calls = api_calls(page)
    open_page(page, f"{auth_stack.gateway_url}/#access_token={token}")

    assert page.evaluate("location.href") == f"{auth_stack.gateway_url}/", "the token stayed in the address"
    account = page.locator("#account-status")
    expect(account).to_have_text(re.compile(r"^Signed in as alice until \d"))
    expect(page.locator("#sign-in")).to_be_hidden()
    assert page.evaluate(READ_SESSION)["accessToken"] == token

    reply = moderate(page, lambda: check_rude(page))
    assert reply["results"][0]["flagged"]
    expect(page.locator("#results .verdict-title")).to_have_text("Flagged")
    # The token goes with comments and nowhere else: health stays anonymous.
    assert calls == [("GET /v1/health", 200, None), ("POST /v1/moderate", 200, f"Bearer {token}")]
    screenshot(page, "desktop-signed-in")

    page.reload()  # sessionStorage keeps the sign-in for this tab
    expect(account).to_contain_text("Signed in as alice")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "page scrolls sideways"
    screenshot(page, "phone-signed-in")

    tab_to(page, "#sign-out-button")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid", "no focus ring"
    page.keyboard.press("Enter")
    panel = page.locator("#sign-in")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("You signed out.")
    expect(page.locator("#sign-in-title")).to_be_focused()  # not lost with the button that went away
    expect(account).to_have_text("Not signed in")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    assert page.evaluate(READ_SESSION) is None
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "page scrolls sideways"
    screenshot(page, "phone-signed-out")


def test_without_a_token_the_page_says_how_to_get_one_and_sends_nothing(page, auth_stack, screenshot):
    calls = api_calls(page)
    open_page(page, auth_stack.gateway_url)
    panel = page.get_by_role("region", name="Sign in to check comments")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("make demo")
    expect(panel).to_contain_text("toxiguard token --scope moderate --user NAME")
    expect(panel.get_by_role("button", name="Sign in")).to_be_hidden()  # nothing to click in local mode
    expect(page.locator("#account-status")).to_have_text("Not signed in")

    check_rude(page)
    notice = page.locator("#results [role=alert]")
    expect(notice.locator(".notice-title")).to_have_text("Sign in to check comments")
    expect(notice).to_contain_text("how to get a token")
    assert calls == [("GET /v1/health", 200, None)], "a request without a token was sent"
    screenshot(page, "desktop-signed-out")


def test_an_expired_token_is_refused_by_the_api_and_the_page_says_so(page, auth_stack, issuer):
    token = issuer.mint_token([MODERATE_SCOPE], "alice", EXPIRED)
    open_page(page, f"{auth_stack.gateway_url}/#access_token={token}")
    expect(page.locator("#account-status")).to_contain_text("Signed in as alice · token expired")

    # The page sends it anyway: the API, not this computer's clock, decides.
    with page.expect_response("**/v1/moderate") as reply:
        check_rude(page)
    assert reply.value.status == 401
    notice = page.locator("#results [role=alert]")
    expect(notice.locator(".notice-title")).to_have_text("Sign in again to check comments")
    expect(notice.locator(".notice-detail")).to_have_text("The API refused your token: the token has expired.")
    expect(notice.locator(".notice-code")).to_have_text("unauthorized · HTTP 401")
    expect(page.locator("#sign-in-reason")).to_have_text("The API refused your token: the token has expired.")
    expect(page.locator("#sign-in")).to_contain_text("toxiguard token --scope moderate")
    assert page.evaluate(READ_SESSION) is None


def test_a_token_without_the_moderate_scope_gets_the_permission_message(page, auth_stack, issuer):
    open_page(page, f"{auth_stack.gateway_url}/#access_token={issuer.mint_token([REVIEW_SCOPE], 'bob', HOUR)}")
    with page.expect_response("**/v1/moderate") as reply:
        check_rude(page)
    assert reply.value.status == 403
    notice = page.locator("#results [role=alert]")
    expect(notice.locator(".notice-title")).to_have_text("Your account lacks the moderate permission")
    expect(notice.locator(".notice-detail")).to_contain_text("toxiguard token --scope moderate")
    expect(notice.locator(".notice-code")).to_have_text("insufficient_scope · HTTP 403")
    expect(page.locator("#account-status")).to_contain_text("Signed in as bob")  # the token is valid, just not for this


def test_a_page_on_another_origin_than_the_api_sends_its_token(page, auth_stack, issuer):
    # As deployed: the page on CloudFront, the API on execute-api, the page's origin in ALLOWED_ORIGINS. Here one
    # gateway serves the page, another the API. No page.route in this test: while Playwright intercepts requests, it
    # answers CORS preflights itself, and the API's own answer is the point.
    auth = auth_stack.settings.auth
    with (
        another_gateway(auth_stack, auth, ALLOWED_ORIGINS="*") as api,
        another_gateway(auth_stack, auth, api_url=api.url) as site,
    ):
        open_page(page, f"{site.url}/#access_token={issuer.mint_token([MODERATE_SCOPE], 'alice', HOUR)}")
        expect(page.locator("#service-status")).to_have_attribute("data-state", "ok")
        check_rude(page)
        expect(page.locator("#results .verdict-title")).to_have_text("Flagged")


# --- mode cognito: the hosted UI, played by a fake -------------------------------------------------------------------


@pytest.fixture
def hosted_ui(auth_stack):
    """A fake hosted UI, and a gateway whose config.js signs in with it (auth mode `cognito`), in front of the auth
    stack's model server and accepting its development issuer's tokens; `hosted_ui.page_url` is the page."""
    with running_hosted_ui(LOCAL_CLIENT_ID) as ui:
        auth = dataclasses.replace(auth_stack.settings.auth, cognito_domain=ui.url, page_client_id=LOCAL_CLIENT_ID)
        with another_gateway(auth_stack, auth) as gateway:
            ui.page_url = f"{gateway.url}/"
            yield ui


def sign_in(page) -> None:
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#account-status")).to_contain_text("Signed in as alice@example.org")


def test_cognito_sign_in_with_pkce_renews_before_expiry_and_on_a_401_then_signs_out(page, hosted_ui, issuer,
                                                                                     screenshot):  # fmt: skip
    ui = hosted_ui
    renewed_but_refused = issuer.mint_token(SCOPES, "alice", EXPIRED)
    accepted = issuer.mint_token(SCOPES, "alice", HOUR)
    ui.issue(issuer.mint_token(SCOPES, "alice", HOUR), expires_in=30)  # the sign-in's: about to expire
    ui.issue(renewed_but_refused)  # its renewal, which the API finds expired (401)
    ui.issue(accepted)  # the renewal after the 401
    # All of it under the Content-Security-Policy the site module deploys with sign-in on.
    gateway_origin = ui.page_url.rstrip("/")
    enforce_csp(page, ui.page_url, deployed_csp(gateway_origin, ui.url))
    calls = api_calls(page)
    open_page(page, ui.page_url)
    expect(page.locator("#account-status")).to_have_text("Not signed in")
    expect(page.get_by_role("region", name="Sign in to check comments")).to_contain_text("moderator account")
    screenshot(page, "desktop-signed-out-cognito")

    sign_in(page)
    assert page.evaluate("location.href") == ui.page_url, "the code and state stayed in the address"
    assert ui.grants == ["authorization_code"] and ui.refusals == []
    assert page.evaluate("sessionStorage.getItem('toxiguard.pkce')") is None  # the verifier is used up
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    screenshot(page, "desktop-signed-in-cognito")

    check_rude(page)
    expect(page.locator("#results .verdict-title")).to_have_text("Flagged")
    assert calls == [
        ("GET /v1/health", 200, None),  # before signing in
        ("GET /v1/health", 200, None),  # back from the hosted UI
        ("POST /v1/moderate", 401, f"Bearer {renewed_but_refused}"),
        ("POST /v1/moderate", 200, f"Bearer {accepted}"),
    ]
    assert ui.grants == ["authorization_code", "refresh_token", "refresh_token"] and ui.refusals == []
    assert page.evaluate("window.__violations") == []

    refresh_token = page.evaluate(READ_SESSION)["refreshToken"]
    with page.expect_navigation(url=ui.page_url):  # through the hosted UI's /logout and back
        page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#account-status")).to_have_text("Not signed in")
    assert ui.revoked == [refresh_token] and ui.sign_outs == 1 and ui.refusals == []
    assert page.evaluate(READ_SESSION) is None


def test_cognito_an_unreadable_refusal_as_on_aws_renews_once_then_says_what_may_be_wrong(page, hosted_ui, issuer):
    # API Gateway's own 401 reaches a browser without CORS headers: the page sees a failed request.
    ui = hosted_ui
    ui.issue(issuer.mint_token(SCOPES, "alice", HOUR))
    ui.issue(issuer.mint_token(SCOPES, "alice", HOUR))
    attempts = []
    page.route("**/v1/moderate", lambda route: (attempts.append(route.request.url), route.abort()))
    open_page(page, ui.page_url)
    sign_in(page)

    check_rude(page)
    notice = page.locator("#results [role=alert]")
    expect(notice.locator(".notice-title")).to_have_text("The API did not accept the request")
    expect(notice).to_contain_text("sign out and sign in again")
    assert len(attempts) == 2 and ui.grants == ["authorization_code", "refresh_token"]
    expect(page.locator("#service-status")).to_have_attribute("data-state", "ok")  # health answered: not "down"
    expect(page.locator("#api-banner")).to_be_hidden()


def test_cognito_sign_in_problems_are_explained_and_a_forged_answer_is_refused(page, hosted_ui):
    ui = hosted_ui
    # A code and state this tab never asked for (someone else's link): no token request is made for it.
    open_page(page, f"{ui.page_url}?code=stolen&state=forged")
    notice = page.locator("#results [role=alert]")
    expect(notice.locator(".notice-title")).to_have_text("The sign-in could not be completed")
    expect(notice.locator(".notice-code")).to_have_text("state_mismatch")
    assert page.evaluate("location.href") == ui.page_url
    assert ui.grants == []

    # The token endpoint refuses the page's client: a message for people, the code for whoever runs it.
    ui.answers.append({"error": "invalid_client"})
    page.get_by_role("button", name="Sign in").click()
    expect(notice.locator(".notice-title")).to_have_text("This page's sign-in is not set up correctly")
    expect(notice.locator(".notice-detail")).to_contain_text("Tell whoever runs toxiguard")
    expect(notice.locator(".notice-code")).to_have_text("invalid_client · HTTP 400")
    expect(page.locator("#account-status")).to_have_text("Not signed in")
    assert ui.grants == ["authorization_code"] and ui.refusals == []
