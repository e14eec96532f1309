"""The review queue (frontend/review.html) in a real browser against the real local stack: the queue fills from
scored comments, decisions with notes, a conflict with another moderator, filters and counts, keys, error and empty
states, phone width, user text that looks like HTML, paging, and signing in from the queue.

Each test gets a gateway of its own, with its own review database and AUTH=jwt (the development issuer), in front of
the session stack's model server: the queue holds exactly what the test scored, and decisions carry a user's name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from toxiguard.config import LABELS
from toxiguard.lambda_functions import REVIEWS_FILE
from toxiguard.serving.local.auth import MODERATE_SCOPE, REVIEW_SCOPE, AuthSettings
from toxiguard.serving.local.gateway import Gateway
from toxiguard.serving.local.issuer import LOCAL_CLIENT_ID, LocalIssuer
from toxiguard.serving.local.stack import handler_environment

from .conftest import PHONE, checked_page, deployed_csp, display_name, enforce_csp, open_page, shown_score
from .fake_hosted_ui import running_hosted_ui

pytestmark = pytest.mark.slow  # the stack loads the shipped model in a server process

HOUR = 3600
EXPIRED = -60  # a lifetime that ended a minute ago
PAGE_SIZE = 50  # the API's default page, which the queue asks for
# Comments the shipped model sends to review, and ones it scores severe_toxic high enough to block with BLOCK_AT.
THREAT = "I will find where you live and hurt you."
INSULT = "You are a dumb loser."
MORON = "shut up you moron"
BLOCKED = "You stupid fucking idiot, go to hell you piece of shit"
BLOCK_AT = {"severe_toxic": 0.75}  # the block thresholds these gateways apply (other labels never block)
INJECTION = '<img src=x onerror="window.__injected = 1"> you are a stupid idiot'
NOTE_INJECTION = "<script>window.__injected = 2</script> spam"

# Where each score row's fill ends and its review and block marks sit, as fractions of the bar's rendered width.
BAR_GEOMETRY = """(article) => [...article.querySelectorAll(".score-row")].map((row) => {
  const track = row.querySelector(".bar").getBoundingClientRect();
  const at = (mark) => mark && (mark.getBoundingClientRect().left + mark.getBoundingClientRect().width / 2 -
                                track.left) / track.width;
  return {
    label: row.dataset.label,
    flagged: row.classList.contains("is-flagged"),
    value: row.querySelector(".score-value").textContent,
    fill: row.querySelector(".bar-fill").getBoundingClientRect().width / track.width,
    review: at(row.querySelector(".bar-threshold")),
    block: at(row.querySelector(".bar-block")),
  };
})"""


@dataclasses.dataclass
class Console:
    """A gateway with the review queue, its own review database and tokens from `issuer`."""

    url: str
    issuer: LocalIssuer

    def token(self, user: str = "alice", scopes=(REVIEW_SCOPE,), ttl: int = HOUR) -> str:
        return self.issuer.mint_token(list(scopes), user, ttl)

    def page_url(self, token: str | None = None) -> str:
        """The review queue, signed in with `token` (by default alice's, with the review scope)."""
        return f"{self.url}/review.html#access_token={token or self.token()}"

    def score(self, texts: list[str], refs: list[str]) -> list[dict]:
        """Score and store `texts` (one request, so one created_at) as the platform would; their results."""
        token = self.token("platform", (MODERATE_SCOPE,))
        reply = requests.post(
            f"{self.url}/v1/moderate",
            json={"texts": texts, "refs": refs, "store": True},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        reply.raise_for_status()
        assert reply.json()["stored"] is True
        return reply.json()["results"]

    def review(self, review_id: str) -> dict:
        """The item as the API has it now."""
        headers = {"Authorization": f"Bearer {self.token()}"}
        reply = requests.get(f"{self.url}/v1/reviews/{review_id}", headers=headers, timeout=10)
        reply.raise_for_status()
        return reply.json()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Where the development issuer keeps the key pair that signs this module's tokens."""
    return tmp_path_factory.mktemp("toxiguard-data")


@contextlib.contextmanager
def console_gateway(stack, data_dir: Path, reviews_db: Path, **auth_settings) -> Iterator[Console]:
    """A gateway with AUTH=jwt (plus `auth_settings`), its review queue in `reviews_db` and BLOCK_AT, in front of
    the session stack's model server."""
    environment = handler_environment(stack.manifest, stack.model_url, stack.settings.endpoint_name, reviews_db)
    review_thresholds = stack.manifest["thresholds"]
    block = {label: None for label in LABELS}
    block.update({label: max(at, review_thresholds[label]) for label, at in BLOCK_AT.items()})
    auth = AuthSettings(mode="jwt", data_dir=data_dir, **auth_settings)
    gateway = Gateway(
        {**environment, "MODEL_BLOCK_THRESHOLDS": json.dumps(block)}, port=0, reviews_file=REVIEWS_FILE, auth=auth
    ).start()
    try:
        yield Console(gateway.url, LocalIssuer(data_dir))
    finally:
        gateway.close()


@pytest.fixture
def console(stack, data_dir, tmp_path) -> Iterator[Console]:
    with console_gateway(stack, data_dir, tmp_path / "reviews.sqlite3") as gateway:
        yield gateway


@pytest.fixture
def second_page(browser):
    """Another moderator's browser."""
    with checked_page(browser, "the second page") as page:
        yield page


# --- Helpers ----------------------------------------------------------------------------------------------------------


def open_queue(page, url: str) -> None:
    """Open the review queue and wait until it has loaded (items, the empty state or a problem)."""
    open_page(page, url)
    expect(page.locator("#queue-body")).to_have_attribute("aria-busy", "false")


def item(page, ref: str):
    """The queue's item for the comment with this ref (its article is named after it)."""
    return page.get_by_role("article", name=f"Comment {ref}", exact=True)


def shown_refs(page) -> list[str]:
    return [title.removeprefix("Comment ") for title in page.locator(".review-item-title").all_text_contents()]


def count(page, status: str):
    return page.locator(f"[data-count={status}]")


def choose_status(page, status: str) -> None:
    page.get_by_role("radio", name=re.compile(f"^{status}")).check()
    expect(page.locator("#queue-body")).to_have_attribute("aria-busy", "false")


def no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"], "page scrolls sideways"


def hold_decisions(page) -> list:
    """Hold the page's decision requests until the test lets each go (`route.continue_()`), so that what the page
    shows before the API answers can be seen."""
    held = []
    page.route("**/v1/reviews/*/decision", lambda route: held.append(route))
    return held


# --- The queue --------------------------------------------------------------------------------------------------------


def test_the_queue_fills_from_scored_comments_newest_first_with_scores_and_both_thresholds(page, console, screenshot):
    older = console.score([THREAT, INSULT], ["thread-1", "thread-2"])
    newer = console.score([BLOCKED], ["thread-3"])
    assert [result["action"] for result in older + newer] == ["review", "review", "block"]
    # Under the Content-Security-Policy the site module deploys the page with.
    enforce_csp(page, f"{console.url}/review.html", deployed_csp(console.url))
    open_queue(page, console.page_url())

    assert shown_refs(page)[0] == "thread-3", "the newest comment comes first"
    assert sorted(shown_refs(page)) == ["thread-1", "thread-2", "thread-3"]
    expect(count(page, "pending")).to_have_text("3")
    expect(count(page, "approved")).to_have_text("0")
    expect(page.locator("#queue-status")).to_have_text("3 pending comments shown.")
    expect(page.locator("#load-more")).to_be_hidden()
    expect(page.locator("#account-status")).to_contain_text("Signed in as alice")

    scored = zip([THREAT, INSULT, BLOCKED], ["thread-1", "thread-2", "thread-3"], older + newer, strict=True)
    for text, ref, result in scored:
        stored = console.review(result["review_id"])
        article = item(page, ref)
        expect(article.locator(".review-text")).to_have_text(text)
        expect(article.locator(".badge-action")).to_have_text("Blocked" if result["action"] == "block" else "Review")
        expect(article.locator(".review-labels")).to_have_text(
            "Flagged: " + ", ".join(display_name(label) for label in result["labels"])
        )
        expect(article.locator("time")).to_have_attribute("datetime", stored["created_at"])
        expect(article.locator(".review-meta")).to_contain_text(f"model {stored['model_version']}")
        rows = article.evaluate(BAR_GEOMETRY)
        assert [row["label"] for row in rows] == list(LABELS)
        for row in rows:
            label = row["label"]
            review, block = stored["thresholds"]["review"][label], stored["thresholds"]["block"][label]
            assert row["fill"] == pytest.approx(result["scores"][label], abs=0.01), label
            assert row["review"] == pytest.approx(review, abs=0.01), label
            assert (row["block"] is None) == (block is None), label
            if block is not None:
                assert row["block"] == pytest.approx(block, abs=0.01), label
            assert row["value"] == shown_score(result["scores"][label])
            assert row["flagged"] == (label in result["labels"])
    expect(item(page, "thread-3").locator("[data-label=severe_toxic] .score-note")).to_contain_text("Blocks")
    assert page.evaluate("window.__violations") == []
    screenshot(page, "desktop-review-queue")

    page.set_viewport_size(PHONE)
    no_sideways_scroll(page)
    screenshot(page, "phone-review-queue")


def test_the_queue_is_a_tab_away_from_the_checker_and_shares_its_sign_in(page, console):
    open_page(page, f"{console.url}/#access_token={console.token(scopes=(MODERATE_SCOPE, REVIEW_SCOPE))}")
    expect(page.get_by_role("link", name="Check comments")).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name="Review queue").click()
    expect(page).to_have_url(f"{console.url}/review.html")
    expect(page.get_by_role("heading", name="Review queue", level=1)).to_be_visible()
    expect(page.locator("#account-status")).to_contain_text("Signed in as alice")  # this tab's sign-in came along
    expect(page.get_by_text("Nothing is waiting for review")).to_be_visible()
    page.get_by_role("link", name="Check comments").click()
    expect(page.get_by_role("heading", name="Check a comment")).to_be_visible()


def test_approve_and_remove_with_a_note_leave_the_pending_list_at_once(page, console):
    kept, removed = console.score([INSULT, MORON], ["kept", "removed"])
    open_queue(page, console.page_url())
    expect(count(page, "pending")).to_have_text("2")

    held = hold_decisions(page)
    item(page, "kept").get_by_label("Note (optional)").fill("Harsh but about the edit")
    with page.expect_request("**/decision"):
        item(page, "kept").get_by_role("button", name="Approve").click()
    # Before the API answers: the item has left the list and the counts have moved.
    expect(item(page, "kept")).to_have_count(0)
    expect(count(page, "pending")).to_have_text("1")
    expect(count(page, "approved")).to_have_text("1")
    expect(page.locator("#queue-status")).to_have_text("Approved: comment kept.")
    assert len(held) == 1
    request = held[0].request
    assert request.post_data_json == {"decision": "approve", "note": "Harsh but about the edit"}
    assert request.headers["authorization"].startswith("Bearer ")
    with page.expect_response("**/decision") as answer:
        held.pop().continue_()
    assert answer.value.status == 200
    page.unroute("**/v1/reviews/*/decision")

    with page.expect_response("**/decision") as answer:
        item(page, "removed").get_by_role("button", name="Remove").click()
    assert answer.value.json()["status"] == "removed" and answer.value.json()["note"] is None
    expect(page.get_by_text("Nothing is waiting for review")).to_be_visible()
    expect(page.locator(".empty-title")).to_be_focused()  # the decided item took the focus with it
    expect(count(page, "pending")).to_have_text("0")
    expect(count(page, "removed")).to_have_text("1")

    for status, ref, result, note in [("Approved", "kept", kept, "Harsh but about the edit"),
                                      ("Removed", "removed", removed, None)]:  # fmt: skip
        stored = console.review(result["review_id"])
        assert (stored["status"], stored["decided_by"], stored["note"]) == (status.lower(), "alice", note)
        choose_status(page, status)
        assert shown_refs(page) == [ref]
        decided = item(page, ref)
        expect(decided.locator(".badge-status")).to_have_text(status)
        expect(decided.locator("[data-meta=decision] dd")).to_have_text(f"{status} by alice")
        expect(decided.locator("[data-meta=note]")).to_have_count(1 if note else 0)
        if note:
            expect(decided.locator("[data-meta=note] dd")).to_have_text(note)
        expect(decided.get_by_role("button", name="Approve")).to_have_count(0)  # decided once, for good
    expect(count(page, "approved")).to_have_text("1")


def test_a_decision_another_moderator_made_first_rolls_back_and_says_who_decided_what(page, second_page, console):
    [result] = console.score([INSULT], ["contested"])
    open_queue(page, console.page_url(console.token("alice")))
    open_queue(second_page, console.page_url(console.token("bob")))

    item(page, "contested").get_by_label("Note (optional)").fill("Fine in context")
    with page.expect_response("**/decision"):
        item(page, "contested").get_by_role("button", name="Approve").click()

    # Bob still sees it pending; his removal shows at once, then comes back as alice left it.
    held = hold_decisions(second_page)
    with second_page.expect_request("**/decision"):
        item(second_page, "contested").get_by_role("button", name="Remove").click()
    expect(item(second_page, "contested")).to_have_count(0)
    expect(count(second_page, "removed")).to_have_text("1")
    assert len(held) == 1
    with second_page.expect_response("**/decision") as answer:
        held.pop().continue_()
    assert answer.value.status == 409

    contested = item(second_page, "contested")
    problem = contested.get_by_role("alert")
    expect(problem.locator(".notice-title")).to_have_text(re.compile(r"^alice already approved this comment at "))
    expect(problem.locator(".notice-detail")).to_have_text("Your removal was not saved. The comment stays approved.")
    expect(problem.locator(".notice-code")).to_have_text("decision_conflict · HTTP 409")
    expect(contested.locator(".badge-status")).to_have_text("Approved")
    expect(contested.locator("[data-meta=decision] dd")).to_have_text("Approved by alice")
    expect(contested.locator("[data-meta=note] dd")).to_have_text("Fine in context")
    expect(contested.get_by_role("button", name="Remove")).to_have_count(0)
    expect(contested).to_be_focused()
    expect(count(second_page, "pending")).to_have_text("0")
    expect(count(second_page, "approved")).to_have_text("1")
    expect(count(second_page, "removed")).to_have_text("0")
    assert console.review(result["review_id"])["decided_by"] == "alice"


def test_a_decision_the_api_fails_comes_back_pending_with_the_reason(page, console):
    console.score([INSULT, MORON], ["first", "second"])
    open_queue(page, console.page_url())
    unavailable = {"error": {"code": "review_store_unavailable", "message": "the review store is unavailable"}}
    page.route("**/v1/reviews/*/decision", lambda route: route.fulfill(status=503, json=unavailable))

    item(page, "first").get_by_label("Note (optional)").fill("Off topic")
    item(page, "first").get_by_role("button", name="Remove").click()
    problem = item(page, "first").get_by_role("alert")
    expect(problem.locator(".notice-title")).to_have_text("The review queue is unavailable")
    expect(problem.locator(".notice-detail")).to_have_text("the review store is unavailable. Try again in a moment.")
    expect(item(page, "first").get_by_label("Note (optional)")).to_have_value("Off topic")  # nothing typed is lost
    assert sorted(shown_refs(page)) == ["first", "second"]
    expect(count(page, "pending")).to_have_text("2")
    expect(count(page, "removed")).to_have_text("0")

    page.unroute("**/v1/reviews/*/decision")
    page.route("**/v1/**", lambda route: route.abort())  # the API is down: health does not answer either
    item(page, "second").get_by_role("button", name="Approve").click()
    expect(item(page, "second").get_by_role("alert").locator(".notice-title")).to_have_text(
        "Can't reach the moderation API"
    )
    expect(page.locator("#api-banner")).to_contain_text("not reachable")
    expect(count(page, "pending")).to_have_text("2")

    # Once the API answers again, the same buttons work.
    page.unroute("**/v1/**")
    with page.expect_response("**/decision") as answer:
        item(page, "first").get_by_role("button", name="Remove").click()
    assert answer.value.json()["note"] == "Off topic"
    expect(item(page, "first")).to_have_count(0)


def test_filters_by_status_label_and_action_and_counts_per_status(page, console):
    refs = ["threat", "insult", "blocked", "moron"]
    results = console.score([THREAT, INSULT, BLOCKED, MORON], refs)
    assert [result["action"] for result in results] == ["review", "review", "block", "review"]
    assert "threat" in results[0]["labels"] and all("threat" not in result["labels"] for result in results[1:])
    open_queue(page, console.page_url())
    with page.expect_response("**/decision"):
        item(page, "moron").get_by_role("button", name="Remove").click()

    requests_sent = []
    page.on("request", lambda request: requests_sent.append(request.url) if "/v1/reviews?" in request.url else None)
    page.get_by_label("Action", exact=True).select_option("block")
    expect(page.locator("#queue-body")).to_have_attribute("aria-busy", "false")
    assert shown_refs(page) == ["blocked"]
    assert requests_sent[-1].endswith("/v1/reviews?status=pending&action=block")

    page.get_by_label("Action", exact=True).select_option("")
    page.get_by_label("Label", exact=True).select_option("threat")
    expect(page.locator("#queue-body")).to_have_attribute("aria-busy", "false")
    assert shown_refs(page) == ["threat"]
    assert requests_sent[-1].endswith("/v1/reviews?status=pending&label=threat")

    # Counts are per status, whatever the label and action filters.
    expect(count(page, "pending")).to_have_text("3")
    expect(count(page, "removed")).to_have_text("1")
    page.get_by_label("Action", exact=True).select_option("block")
    expect(page.get_by_text("No pending comments match these filters")).to_be_visible()
    page.get_by_role("button", name="Show every label and action").click()
    expect(page.locator("#queue-body")).to_have_attribute("aria-busy", "false")
    assert sorted(shown_refs(page)) == ["blocked", "insult", "threat"]
    expect(page.get_by_label("Label", exact=True)).to_have_value("")

    choose_status(page, "Removed")
    assert shown_refs(page) == ["moron"]
    assert requests_sent[-1].endswith("/v1/reviews?status=removed")
    choose_status(page, "Approved")
    expect(page.get_by_text("No approved comments")).to_be_visible()


def test_the_queue_works_from_the_keyboard(page, console):
    console.score([THREAT, INSULT, MORON], ["first", "second", "third"])
    open_queue(page, console.page_url())
    expect(page.locator("#shortcut-hint")).to_be_visible()
    expect(page.locator("#shortcut-hint")).to_contain_text("J / K next / previous comment, A approve, R remove")
    expect(page.locator("#queue-status")).to_have_attribute("aria-live", "polite")
    order = shown_refs(page)

    page.keyboard.press("j")
    expect(item(page, order[0])).to_be_focused()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid", "no focus ring"
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")  # stays on the last
    expect(item(page, order[2])).to_be_focused()
    page.keyboard.press("k")
    expect(item(page, order[1])).to_be_focused()
    expect(item(page, order[1])).to_have_attribute("aria-current", "true")

    # In the note, a and r are letters: nothing is decided while typing.
    page.keyboard.press("Tab")
    expect(item(page, order[1]).get_by_label("Note (optional)")).to_be_focused()
    page.keyboard.type("rude and a repeat")
    expect(count(page, "pending")).to_have_text("3")
    page.keyboard.press("Tab")
    expect(item(page, order[1]).get_by_role("button", name="Approve")).to_be_focused()
    with page.expect_response("**/decision") as answer:
        page.keyboard.press("a")
    assert (answer.value.json()["status"], answer.value.json()["note"]) == ("approved", "rude and a repeat")
    expect(item(page, order[2])).to_be_focused()  # the next comment takes the selection

    with page.expect_response("**/decision") as answer:
        page.keyboard.press("r")
    assert answer.value.json()["status"] == "removed"
    expect(item(page, order[0])).to_be_focused()  # the last one went: back to the one before
    assert shown_refs(page) == [order[0]]
    expect(count(page, "pending")).to_have_text("1")

    # The status radios switch with the arrow keys; the keys then work on that list.
    page.locator("input[name=status]:checked").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name=re.compile("^Approved"))).to_be_checked()
    expect(page.locator("#queue-body")).to_have_attribute("aria-busy", "false")
    assert shown_refs(page) == [order[1]]
    page.keyboard.press("j")
    page.keyboard.press("r")  # a decided comment cannot be decided again
    expect(page.locator("#queue-status")).to_contain_text("only pending comments can be approved or removed")


def test_when_the_queue_cannot_load_it_says_why_and_tries_again(page, console, screenshot):
    console.score([INSULT], ["later"])
    unavailable = {"error": {"code": "review_store_unavailable", "message": "the review store failed"}}
    page.route("**/v1/reviews?*", lambda route: route.fulfill(status=503, json=unavailable))
    open_queue(page, console.page_url())
    problem = page.locator("#queue-body [role=alert]")
    expect(problem.locator(".notice-title")).to_have_text("The review queue is unavailable")
    expect(problem.locator(".notice-detail")).to_have_text("the review store failed. Try again in a moment.")
    expect(problem.locator(".notice-code")).to_have_text("review_store_unavailable · HTTP 503")
    screenshot(page, "desktop-review-queue-unavailable")

    # With sign-in on, a request that gets no readable answer may be API Gateway refusing the token (no CORS
    # headers): the health check tells that apart from an API that is down.
    page.unroute("**/v1/reviews?*")
    page.route("**/v1/reviews?*", lambda route: route.abort())
    problem.get_by_role("button", name="Try again").click()
    expect(problem.locator(".notice-title")).to_have_text("The API did not accept the request")
    page.route("**/v1/health", lambda route: route.abort())
    problem.get_by_role("button", name="Try again").click()
    expect(problem.locator(".notice-title")).to_have_text("Can't reach the moderation API")
    expect(page.locator("#service-status")).to_have_attribute("data-state", "down")

    page.unroute("**/v1/reviews?*")
    page.unroute("**/v1/health")
    problem.get_by_role("button", name="Try again").click()
    expect(item(page, "later")).to_be_visible()


def test_sign_in_problems_say_what_to_do(page, console):
    sent = []
    page.on("request", lambda request: sent.append(request.url) if "/v1/reviews" in request.url else None)
    open_queue(page, f"{console.url}/review.html")
    problem = page.locator("#queue-body [role=alert]")
    expect(problem.locator(".notice-title")).to_have_text("Sign in to review comments")
    panel = page.get_by_role("region", name="Sign in to review comments")
    expect(panel).to_contain_text("toxiguard token --scope review --user NAME")
    assert sent == [], "a request without a token was sent"

    page.goto("about:blank")  # a new token in the fragment alone would not load the page again
    open_queue(page, console.page_url(console.token(ttl=EXPIRED)))
    expect(problem.locator(".notice-title")).to_have_text("Sign in again to review comments")
    expect(problem.locator(".notice-detail")).to_have_text("The API refused your token: the token has expired.")
    expect(problem.locator(".notice-code")).to_have_text("unauthorized · HTTP 401")
    expect(page.locator("#sign-in-reason")).to_have_text("The API refused your token: the token has expired.")

    page.goto("about:blank")
    open_queue(page, console.page_url(console.token("carol", scopes=(MODERATE_SCOPE,))))
    expect(problem.locator(".notice-title")).to_have_text("Your account lacks the review permission")
    expect(problem.locator(".notice-detail")).to_contain_text("toxiguard/review")
    expect(problem.locator(".notice-detail")).to_contain_text("toxiguard token --scope review")
    expect(problem.locator(".notice-code")).to_have_text("insufficient_scope · HTTP 403")
    expect(page.locator("#account-status")).to_contain_text("Signed in as carol")

    # Signing out clears the queue from the screen.
    console.score([INSULT], ["private"])
    page.goto("about:blank")
    open_queue(page, console.page_url())
    expect(item(page, "private")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(problem.locator(".notice-title")).to_have_text("Sign in to review comments")
    expect(item(page, "private")).to_have_count(0)
    expect(page.locator("#sign-in-title")).to_be_focused()


def test_an_empty_queue_says_so(page, console, screenshot):
    open_queue(page, console.page_url())
    expect(page.get_by_text("Nothing is waiting for review")).to_be_visible()
    for status in ("pending", "approved", "removed"):
        expect(count(page, status)).to_have_text("0")
    expect(page.locator(".review-item")).to_have_count(0)
    expect(page.locator("#load-more")).to_be_hidden()
    expect(page.locator("#queue-status")).to_have_text("0 pending comments shown.")
    page.set_viewport_size(PHONE)
    no_sideways_scroll(page)
    screenshot(page, "phone-review-queue-empty")


def test_comment_text_and_notes_with_html_are_shown_as_text_and_never_run(page, console):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    [result] = console.score([INJECTION], ['"><b>ref</b>'])
    assert result["action"] != "allow"
    open_queue(page, console.page_url())
    article = item(page, '"><b>ref</b>')
    expect(article.locator(".review-text")).to_have_text(INJECTION)

    article.get_by_label("Note (optional)").fill(NOTE_INJECTION)
    with page.expect_response("**/decision"):
        article.get_by_role("button", name="Remove").click()
    choose_status(page, "Removed")
    expect(item(page, '"><b>ref</b>').locator("[data-meta=note] dd")).to_have_text(NOTE_INJECTION)

    assert page.locator("#queue-body img, #queue-body script, #queue-body b").count() == 0
    assert page.evaluate("window.__injected") is None
    assert dialogs == []


def test_load_more_follows_the_cursor_to_the_end_of_a_long_queue(page, console):
    texts = [f"you idiot number {n}" for n in range(PAGE_SIZE + 5)]
    results = console.score(texts, [f"long-{n}" for n in range(len(texts))])
    assert all(result["action"] != "allow" for result in results)
    open_queue(page, console.page_url())
    expect(page.locator(".review-item")).to_have_count(PAGE_SIZE)
    expect(page.locator("#queue-status")).to_have_text(f"{PAGE_SIZE} pending comments shown, more to load.")
    expect(count(page, "pending")).to_have_text(str(len(texts)))

    with page.expect_response(lambda reply: "cursor=" in reply.url) as answer:
        page.get_by_role("button", name="Load more").click()
    assert "counts" not in answer.value.json()
    expect(page.locator(".review-item")).to_have_count(len(texts))
    assert sorted(shown_refs(page)) == sorted(f"long-{n}" for n in range(len(texts)))  # each once
    expect(page.locator("#load-more")).to_be_hidden()
    expect(page.locator(".review-item").nth(PAGE_SIZE)).to_be_focused()  # the keyboard goes on from the new ones
    expect(page.locator("#queue-status")).to_have_text("5 more comments loaded.")


def test_a_cognito_sign_in_started_on_the_queue_comes_back_to_it(page, stack, data_dir, tmp_path):
    # The hosted UI sends everyone back to the one registered redirect URI, the checker at "/".
    with running_hosted_ui(LOCAL_CLIENT_ID) as ui:
        reviews_db = tmp_path / "reviews.sqlite3"
        settings = {"cognito_domain": ui.url, "page_client_id": LOCAL_CLIENT_ID}
        with console_gateway(stack, data_dir, reviews_db, **settings) as console:
            ui.page_url = f"{console.url}/"
            ui.issue(console.token("alice", (MODERATE_SCOPE, REVIEW_SCOPE)))
            console.score([INSULT], ["after-sign-in"])
            open_queue(page, f"{console.url}/review.html")
            expect(page.get_by_role("region", name="Sign in to review comments")).to_contain_text("moderator account")

            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(f"{console.url}/review.html")
            expect(page.locator("#account-status")).to_contain_text("Signed in as alice@example.org")
            expect(item(page, "after-sign-in")).to_be_visible()
            assert ui.grants == ["authorization_code"] and ui.refusals == []
