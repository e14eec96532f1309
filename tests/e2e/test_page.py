"""The web page in a real browser against the real local stack: scores, bars, verdicts, batch, safety, errors, keys."""

from __future__ import annotations

import json
import re
import socket

import pytest
from playwright.sync_api import expect

from toxiguard.config import LABELS

from .conftest import (
    PHONE,
    comment_box,
    deployed_csp,
    display_name,
    enforce_csp,
    moderate,
    open_page,
    shown_score,
    tab_to,
)

pytestmark = pytest.mark.slow  # the stack loads the shipped model in a server process

# The page's example buttons fill these.
FRIENDLY = "Thanks for fixing the references, the article reads much better now."
RUDE = "You are a pathetic idiot and nobody wants you here."
THREATENING = "I will find where you live and hurt you."
QUESTION = "Could you add a source for the population figure?"

# Where each score row's bar fill ends and its threshold tick sits, as fractions of the bar's rendered width.
BAR_GEOMETRY = """() => [...document.querySelectorAll("#results .score-row")].map((row) => {
  const track = row.querySelector(".bar").getBoundingClientRect();
  const fill = row.querySelector(".bar-fill").getBoundingClientRect();
  const tick = row.querySelector(".bar-threshold").getBoundingClientRect();
  return {
    label: row.dataset.label,
    flagged: row.classList.contains("is-flagged"),
    value: row.querySelector(".score-value").textContent,
    fill: fill.width / track.width,
    tick: (tick.left + tick.width / 2 - track.left) / track.width,
    tickHeight: tick.height,
  };
})"""


def serve_config(page, **config) -> None:
    """Answer the page's config.js as a deployment would write it, e.g. pointing at another API URL."""
    script = f"window.TOXIGUARD_CONFIG = {json.dumps(config)};"
    page.route("**/config.js", lambda route: route.fulfill(content_type="text/javascript", body=script))


def assert_single_result(page, reply: dict, model_version: str) -> None:
    """Six bars whose fill and tick follow the API's score and threshold, the verdict, model and round trip."""
    result, thresholds = reply["results"][0], reply["thresholds"]
    rows = page.evaluate(BAR_GEOMETRY)
    assert [row["label"] for row in rows] == list(LABELS)
    for row in rows:
        label = row["label"]
        assert row["fill"] == pytest.approx(result["scores"][label], abs=0.01), label
        assert row["tick"] == pytest.approx(thresholds[label], abs=0.01), label
        assert row["tickHeight"] > 0, f"{label}: threshold tick not drawn"
        assert row["value"] == shown_score(result["scores"][label])
        assert row["flagged"] == (label in result["labels"])
    verdict = page.locator("#results .verdict")
    expect(verdict.locator(".verdict-title")).to_have_text("Flagged" if result["flagged"] else "Not flagged")
    for label in result["labels"]:
        expect(verdict).to_contain_text(display_name(label))
    expect(page.locator("[data-meta=model] dd")).to_have_text(model_version)
    expect(page.locator("[data-meta=round-trip] dd")).to_have_text(re.compile(r"^\d[\d,]* ms$"))


def test_scores_comments_as_bars_with_verdicts_and_a_batch_table(page, stack, screenshot):
    open_page(page, stack.gateway_url)
    expect(page.locator("#service-status")).to_have_attribute("data-state", "ok")
    expect(page.locator("#service-status")).to_contain_text(stack.model_version)

    page.get_by_role("button", name="Friendly").click()
    expect(comment_box(page)).to_have_value(FRIENDLY)
    reply = moderate(page, page.get_by_role("button", name="Check comment").click)
    assert not reply["results"][0]["flagged"]
    assert_single_result(page, reply, stack.model_version)
    expect(page.locator("#results .verdict")).to_contain_text("below")

    page.get_by_role("button", name="Rude").click()
    reply = moderate(page, page.get_by_role("button", name="Check comment").click)
    assert reply["results"][0]["flagged"] and "insult" in reply["results"][0]["labels"]
    assert_single_result(page, reply, stack.model_version)
    expect(page.locator("#results .checked-comment")).to_have_text(RUDE)
    screenshot(page, "desktop-single")

    page.get_by_role("radio", name=re.compile("^Batch")).check()
    comment_box(page, batch=True).fill("\n".join([FRIENDLY, RUDE, "", THREATENING, QUESTION]))
    submit = page.get_by_role("button", name="Check 4 comments")
    reply = moderate(page, submit.click)
    results = reply["results"]
    assert [result["flagged"] for result in results[:2]] == [False, True]
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(4)
    expected_rows = zip([1, 2, 4, 5], [FRIENDLY, RUDE, THREATENING, QUESTION], results, strict=True)
    for row, (line, text, result) in zip(rows.all(), expected_rows, strict=True):
        cells = row.locator("td")
        expect(cells.nth(0)).to_have_text(str(line))
        expect(cells.nth(1)).to_have_text(text)
        expect(cells.nth(2)).to_have_text("Flagged" if result["flagged"] else "Not flagged")
        expect(cells.nth(3)).to_have_text(", ".join(map(display_name, result["labels"])) or "None")
        top_label = max(LABELS, key=lambda label: result["scores"][label])
        expect(cells.nth(4).locator("li").first).to_have_text(
            display_name(top_label) + shown_score(result["scores"][top_label])
        )
    flagged = sum(result["flagged"] for result in results)
    expect(page.locator(".batch-summary")).to_have_text(
        f"4 comments checked: {flagged} flagged, {4 - flagged} not flagged."
    )
    expect(page.locator("[data-meta=model] dd")).to_have_text(stack.model_version)
    screenshot(page, "desktop-batch")

    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "page scrolls sideways"
    screenshot(page, "phone-batch")
    page.get_by_role("radio", name="One comment").check()
    page.get_by_role("button", name="Threatening").click()
    moderate(page, page.get_by_role("button", name="Check comment").click)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "page scrolls sideways"
    screenshot(page, "phone-single")


def test_the_page_works_under_the_content_security_policy_it_is_deployed_with(page, stack):
    csp = deployed_csp(stack.gateway_url)
    assert "default-src 'none'" in csp and f"connect-src 'self' {stack.gateway_url};" in csp
    enforce_csp(page, stack.gateway_url, csp)
    open_page(page, stack.gateway_url)
    expect(page.locator("#service-status")).to_have_attribute("data-state", "ok")
    page.get_by_role("button", name="Rude").click()
    reply = moderate(page, page.get_by_role("button", name="Check comment").click)
    assert_single_result(page, reply, stack.model_version)
    assert page.evaluate("window.__violations") == []

    # The policy is really enforced: a call to any other origin is refused.
    page.evaluate("fetch('http://localhost:9/').catch(() => null)")
    page.wait_for_function("window.__violations.length > 0")
    assert page.evaluate("window.__violations") == ["connect-src http://localhost:9/"]


INJECTIONS = [
    '<img src=x onerror="window.__injected = 1">',
    "<script>window.__injected = 2</script>",
    '"><svg onload="window.__injected = 3"></svg>',
]


def test_comments_containing_html_are_shown_as_text_and_never_run(page, stack):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_page(page, stack.gateway_url)

    comment_box(page).fill(INJECTIONS[0])
    moderate(page, page.get_by_role("button", name="Check comment").click)
    expect(page.locator("#results .checked-comment")).to_have_text(INJECTIONS[0])

    page.get_by_role("radio", name=re.compile("^Batch")).check()
    comment_box(page, batch=True).fill("\n".join(INJECTIONS))
    moderate(page, page.get_by_role("button", name="Check 3 comments").click)
    expect(page.locator("#results .comment-text")).to_have_text(INJECTIONS)

    assert page.locator("#results img, #results script, #results svg:not(.icon)").count() == 0
    assert page.evaluate("window.__injected") is None
    assert dialogs == []


@pytest.fixture
def refusing_api_url():
    """A port that is bound but not listening: every connection is refused, as when the API is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def silent_api_url():
    """A port that accepts connections and never answers, as a hung API does."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_api_down_shows_a_banner_at_load_and_a_friendly_error_on_submit(page, stack, refusing_api_url, screenshot):
    serve_config(page, apiUrl=refusing_api_url)
    open_page(page, stack.gateway_url)
    expect(page.locator("#service-status")).to_have_attribute("data-state", "down")
    banner = page.locator("#api-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("not reachable")
    expect(banner.get_by_role("button", name="Try again")).to_be_visible()

    page.get_by_role("button", name="Rude").click()
    page.get_by_role("button", name="Check comment").click()
    notice = page.locator("#results [role=alert]")
    expect(notice.locator(".notice-title")).to_have_text("Can't reach the moderation API")
    expect(comment_box(page)).to_have_value(RUDE)
    screenshot(page, "desktop-api-down")


def test_a_hung_api_times_out_with_a_friendly_error(page, stack, silent_api_url):
    serve_config(page, apiUrl=silent_api_url, requestTimeoutMs=500, healthTimeoutMs=500)
    open_page(page, stack.gateway_url)
    expect(page.locator("#api-banner")).to_be_visible()

    page.get_by_role("button", name="Rude").click()
    page.get_by_role("button", name="Check comment").click()
    notice = page.locator("#results [role=alert]")
    expect(notice.locator(".notice-title")).to_have_text("The API took too long to answer")
    expect(notice).to_contain_text("0.5 seconds")
    expect(page.get_by_role("button", name="Check comment")).to_have_attribute("aria-disabled", "false")


def test_the_apis_rejection_is_shown_with_its_message(page, stack):
    open_page(page, stack.gateway_url)
    comment_box(page).fill("a" * 5001)
    expect(page.locator("#comment-count")).to_have_text("5,001 / 5,000 characters (too long)")
    with page.expect_response("**/v1/moderate") as reply:
        page.get_by_role("button", name="Check comment").click()
    assert reply.value.status == 413
    error = reply.value.json()["error"]
    assert error["code"] == "text_too_long"
    notice = page.locator("#results [role=alert]")
    expect(notice.locator(".notice-title")).to_have_text("This comment is too long")
    expect(notice.locator(".notice-detail")).to_have_text(error["message"])
    expect(notice.locator(".notice-code")).to_have_text("text_too_long · HTTP 413")

    # In a batch the message points at the line the user typed (blank lines are skipped, not sent).
    page.get_by_role("radio", name=re.compile("^Batch")).check()
    comment_box(page, batch=True).fill(f"{FRIENDLY}\n\n{'b' * 5001}")
    with page.expect_response("**/v1/moderate") as reply:
        page.get_by_role("button", name="Check 2 comments").click()
    message = reply.value.json()["error"]["message"]
    assert "texts[1]" in message
    expect(notice.locator(".notice-detail")).to_have_text(f"Line 3: {message}")


def test_throttling_asks_the_user_to_wait(page, stack):
    # The local endpoint cannot be made to throttle on demand, so this answer is the documented 429 contract.
    throttled = {"error": {"code": "endpoint_throttled", "message": "the model endpoint is busy; retry shortly"}}
    page.route(
        "**/v1/moderate",
        lambda route: route.fulfill(status=429, headers={"Retry-After": "1"}, json=throttled),
    )
    open_page(page, stack.gateway_url)
    page.get_by_role("button", name="Rude").click()
    page.get_by_role("button", name="Check comment").click()
    notice = page.locator("#results [role=alert]")
    expect(notice.locator(".notice-title")).to_have_text("The model is busy")
    expect(notice.locator(".notice-detail")).to_have_text(
        "the model endpoint is busy; retry shortly. Try again in 1 second."
    )


def test_a_model_endpoint_that_does_not_answer_is_reported_at_load(page, stack):
    # The API's documented 503 health answer; the local model server is shared by the session, so not stopped here.
    unavailable = {
        "status": "unavailable",
        "model_version": stack.model_version,
        "endpoint": {"name": "toxiguard", "reachable": False},
        "error": {"code": "endpoint_unavailable", "message": "the model endpoint is unavailable"},
    }
    page.route("**/v1/health", lambda route: route.fulfill(status=503, json=unavailable))
    open_page(page, stack.gateway_url)
    expect(page.locator("#service-status")).to_have_attribute("data-state", "degraded")
    expect(page.locator("#service-status")).to_contain_text(stack.model_version)
    expect(page.locator("#api-banner")).to_contain_text("the model endpoint is unavailable")


def test_empty_input_and_oversized_batches_are_caught_before_sending(page, stack):
    sent = []
    page.on("request", lambda request: sent.append(request.url) if "/v1/moderate" in request.url else None)
    open_page(page, stack.gateway_url)
    comment_box(page).fill("   ")
    page.get_by_role("button", name="Check comment").click()
    expect(page.locator("#results .notice-title")).to_have_text("There is nothing to check")

    page.get_by_role("radio", name=re.compile("^Batch")).check()
    comment_box(page, batch=True).fill("\n".join(f"comment {n}" for n in range(65)))
    expect(page.locator("#comment-count")).to_have_text("65 / 64 comments (too many)")
    page.get_by_role("button", name="Check 65 comments").click()
    expect(page.locator("#results .notice-title")).to_have_text("Too many comments in one batch")
    assert sent == []


def test_the_page_works_from_the_keyboard(page, stack):
    open_page(page, stack.gateway_url)
    expect(page.locator("#results")).to_have_attribute("aria-live", "polite")

    tab_to(page, "#comment")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid", "no focus ring"
    page.keyboard.type(RUDE)
    reply = moderate(page, lambda: page.keyboard.press("Control+Enter"))
    assert reply["results"][0]["flagged"]
    expect(page.locator("#results .verdict-title")).to_have_text("Flagged")

    tab_to(page, "[data-example=friendly]")
    page.keyboard.press("Enter")
    expect(comment_box(page)).to_have_value(FRIENDLY)
    expect(comment_box(page)).to_be_focused()  # an example puts the cursor back in the box, ready to submit

    tab_to(page, "#submit-button")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid", "no focus ring"
    reply = moderate(page, lambda: page.keyboard.press("Enter"))
    assert not reply["results"][0]["flagged"]
    expect(page.locator("#results .verdict-title")).to_have_text("Not flagged")
    expect(page.locator("#submit-button")).to_be_focused()
