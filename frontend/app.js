/*
 * toxiguard web page: sends comments to the moderation API and shows per-label score bars with thresholds.
 *
 * API (docs/openapi.yaml): POST {apiUrl}/v1/moderate with {"text": ...} or {"texts": [...]}, GET {apiUrl}/v1/health.
 * With sign-in on (auth.js), POST /v1/moderate carries the signed-in user's access token; health never does.
 * What this page shares with the review queue (API calls, bars, header, sign-in panel) is in common.js.
 *
 * Comments are user text: they only ever reach the page through textContent and attributes, never as HTML.
 */
(() => {
  "use strict";

  const { auth, el, metaList, icon, notice, labelName, formatScore, scoreRow, scoresLegend } = window.toxiguardCommon;
  const { callSignedIn, apiError, setUpPage } = window.toxiguardCommon;
  // The API's limits; the API enforces them, the page only warns early.
  const MAX_TEXTS = 64;
  const MAX_TEXT_CHARS = 5000;
  const TOP_SCORES_SHOWN = 3;

  const EXAMPLES = {
    friendly: "Thanks for fixing the references, the article reads much better now.",
    rude: "You are a pathetic idiot and nobody wants you here.",
    threatening: "I will find where you live and hurt you.",
  };
  // Headlines for the API's error codes; the API's own message is shown under them.
  const ERROR_TITLES = {
    text_too_long: "This comment is too long",
    too_many_texts: "Too many comments in one batch",
    payload_too_large: "The request is too large",
    empty_text: "There is nothing to check",
    missing_text: "There is nothing to check",
    invalid_json: "The API could not read the request",
    invalid_request: "The API could not read the request",
    unsupported_media_type: "The API could not read the request",
    endpoint_throttled: "The model is busy",
    bad_model_response: "The model gave an unexpected answer",
    endpoint_unavailable: "The model is not available right now",
    endpoint_timeout: "The model took too long to answer",
    origin_not_allowed: "This page may not call the API",
  };

  const form = document.getElementById("moderate-form");
  const textarea = document.getElementById("comment");
  const textareaLabel = document.getElementById("comment-label");
  const countText = document.getElementById("comment-count");
  const submitButton = document.getElementById("submit-button");
  const resultsSection = document.getElementById("results");
  const resultsBody = document.getElementById("results-body");

  let busy = false;

  const formatMs = (ms) => `${Math.round(ms).toLocaleString("en")} ms`;
  const characterCount = (text) => Array.from(text).length; // code points, as the API counts them

  function isModerationResponse(body, count) {
    return (
      body !== null &&
      typeof body === "object" &&
      typeof body.thresholds === "object" &&
      Array.isArray(body.results) &&
      body.results.length === count &&
      body.results.every((result) => result && typeof result.scores === "object" && Array.isArray(result.labels))
    );
  }

  // --- Input ------------------------------------------------------------------------------------------------------

  const currentMode = () => form.elements.mode.value;

  /** Batch mode: one comment per non-blank line, with the line numbers the user sees. */
  function batchItems() {
    return textarea.value
      .split(/\r?\n/)
      .map((text, index) => ({ text, line: index + 1 }))
      .filter((item) => item.text.trim() !== "");
  }

  function updateInputState() {
    const batch = currentMode() === "batch";
    textareaLabel.textContent = batch ? "Comments, one per line" : "Comment";
    textarea.placeholder = batch ? "One comment per line (up to 64)…" : "Type or paste a comment…";
    let over = false;
    if (batch) {
      const items = batchItems();
      const tooLong = items.filter((item) => characterCount(item.text) > MAX_TEXT_CHARS);
      over = items.length > MAX_TEXTS || tooLong.length > 0;
      const problem =
        items.length > MAX_TEXTS
          ? " (too many)"
          : tooLong.length
            ? ` (line ${tooLong[0].line} is over ${MAX_TEXT_CHARS.toLocaleString("en")} characters)`
            : "";
      countText.textContent = `${items.length} / ${MAX_TEXTS} comments${problem}`;
      submitButton.textContent = items.length > 1 ? `Check ${items.length} comments` : "Check comments";
    } else {
      const count = characterCount(textarea.value);
      over = count > MAX_TEXT_CHARS;
      const limit = MAX_TEXT_CHARS.toLocaleString("en");
      countText.textContent = `${count.toLocaleString("en")} / ${limit} characters${over ? " (too long)" : ""}`;
      submitButton.textContent = "Check comment";
    }
    countText.classList.toggle("count-over", over);
  }

  function fillExample(name) {
    const example = EXAMPLES[name];
    if (currentMode() === "batch" && textarea.value.trim() !== "") {
      textarea.value = `${textarea.value.replace(/\s+$/, "")}\n${example}`; // batch: build up a list
    } else {
      textarea.value = example;
    }
    updateInputState();
    textarea.focus();
  }

  // --- Submit -----------------------------------------------------------------------------------------------------

  function setBusy(isBusy) {
    busy = isBusy;
    // aria-disabled rather than disabled: a disabled button would drop keyboard focus.
    submitButton.setAttribute("aria-disabled", String(isBusy));
    resultsSection.setAttribute("aria-busy", String(isBusy));
    if (isBusy) submitButton.textContent = "Checking…";
    else updateInputState();
  }

  async function submit() {
    if (busy) return;
    const batch = currentMode() === "batch";
    const items = batch ? batchItems() : [{ text: textarea.value, line: 1 }];
    if (items.length === 0 || items[0].text.trim() === "") {
      const hint = batch ? "Add at least one comment, one per line." : "Type or paste a comment first.";
      showNotice("There is nothing to check", hint);
      return;
    }
    if (items.length > MAX_TEXTS) {
      const hint = `You have ${items.length} comments; the API takes at most ${MAX_TEXTS} at a time.`;
      showNotice("Too many comments in one batch", hint);
      return;
    }
    const payload = batch ? { texts: items.map((item) => item.text) } : { text: items[0].text };
    setBusy(true);
    let reply;
    try {
      await page.authReady;
      // A request without a token can only be refused: say how to sign in instead.
      const signIn = page.signInNeeded();
      if (signIn) {
        showNotice(signIn.title, signIn.detail);
        return;
      }
      reply = await callSignedIn("/v1/moderate", { payload });
    } catch (failure) {
      if (failure instanceof auth.SignInProblem) {
        page.showSignInProblem(failure);
        page.renderAccount();
      } else {
        const { title, detail } = await page.explainNoAnswer(failure);
        showNotice(title, detail);
      }
      return;
    } finally {
      setBusy(false);
    }
    if (reply.status === 401 || reply.status === 403) {
      const { title, detail, code } = page.explainRefusal(reply);
      showNotice(title, detail, code);
      return;
    }
    if (!reply.ok || !isModerationResponse(reply.body, items.length)) {
      showHttpError(reply, batch ? items : null);
      return;
    }
    page.apiIsUp(reply.body.model_version);
    if (batch) renderBatch(items, reply);
    else renderSingle(items[0].text, reply);
  }

  function showHttpError(reply, batchItemsSent) {
    const error = apiError(reply);
    if (!error) {
      showNotice("The API gave an unexpected answer", `HTTP ${reply.status}. Try again in a moment.`);
      return;
    }
    let title = ERROR_TITLES[error.code] || "The API could not check this";
    let detail = error.message;
    if (batchItemsSent) {
      if (error.code === "text_too_long") title = "One of the comments is too long";
      // "`texts[3]` has ..." -> point at the line the user typed.
      const match = /texts\[(\d+)\]/.exec(error.message);
      const item = match && batchItemsSent[Number(match[1])];
      if (item) detail = `Line ${item.line}: ${error.message}`;
    }
    const retryAfter = reply.headers.get("Retry-After");
    if (reply.status === 429 && retryAfter) {
      detail += `. Try again in ${retryAfter} ${retryAfter === "1" ? "second" : "seconds"}.`;
    }
    if (reply.status >= 500) detail += ". Try again in a moment.";
    showNotice(title, detail, `${error.code} · HTTP ${reply.status}`);
  }

  // --- Results ----------------------------------------------------------------------------------------------------

  function replaceResults(...nodes) {
    resultsBody.replaceChildren(...nodes);
  }

  function showNotice(title, detail, code) {
    replaceResults(notice(title, detail, code));
  }

  function replyFacts(reply) {
    return metaList([
      ["Model", reply.body.model_version],
      ["Round trip", formatMs(reply.elapsedMs)],
    ]);
  }

  function verdict(result) {
    const flagged = Boolean(result.flagged);
    const detail = flagged
      ? `At or above the threshold: ${result.labels.map(labelName).join(", ")}`
      : "Every score is below its label's threshold.";
    return el("div", { className: `verdict ${flagged ? "verdict-flagged" : "verdict-clear"}` }, [
      icon(flagged ? "flagged" : "clear"),
      el("div", {}, [
        el("p", { className: "verdict-title", text: flagged ? "Flagged" : "Not flagged" }),
        el("p", { className: "verdict-detail", text: detail }),
      ]),
    ]);
  }

  function renderSingle(text, reply) {
    const { thresholds } = reply.body;
    const result = reply.body.results[0];
    const rows = Object.keys(thresholds).map((label) => {
      const threshold = { review: Number(thresholds[label]) };
      return scoreRow(label, Number(result.scores[label]), threshold, result.labels.includes(label));
    });
    replaceResults(
      el("article", { className: "result", attrs: { "data-result": "single" } }, [
        verdict(result),
        replyFacts(reply),
        el("blockquote", { className: "checked-comment", text }),
        scoresLegend(),
        el("ul", { className: "scores", attrs: { "aria-label": "Scores by label" } }, rows),
      ]),
    );
  }

  function topScores(result, labels) {
    const ranked = [...labels].sort((a, b) => result.scores[b] - result.scores[a]).slice(0, TOP_SCORES_SHOWN);
    return el(
      "ul",
      { className: "top-scores" },
      ranked.map((label) =>
        el("li", { className: result.labels.includes(label) ? "is-flagged" : "" }, [
          el("span", { text: labelName(label) }),
          el("span", { className: "top-score-value", text: formatScore(Number(result.scores[label])) }),
        ]),
      ),
    );
  }

  const COLUMNS = [
    ["Line", "cell-line"],
    ["Comment", "cell-comment"],
    ["Verdict", "cell-verdict"],
    ["Labels", "cell-labels"],
    ["Top scores", "cell-top-scores"],
  ];

  function batchRow(item, result, labels) {
    const flagged = Boolean(result.flagged);
    // data-column names each cell on phones, where every row becomes a card.
    const cells = [
      el("span", { text: String(item.line) }),
      el("span", { className: "comment-text", text: item.text }),
      el("span", { className: `badge ${flagged ? "badge-flagged" : "badge-clear"}` }, [
        icon(flagged ? "flagged" : "clear"),
        el("span", { text: flagged ? "Flagged" : "Not flagged" }),
      ]),
      el("span", { text: result.labels.length ? result.labels.map(labelName).join(", ") : "None" }),
      topScores(result, labels),
    ];
    return el(
      "tr",
      { className: flagged ? "is-flagged" : "" },
      cells.map((content, index) => {
        const [name, className] = COLUMNS[index];
        return el("td", { className, attrs: { "data-column": name } }, [content]);
      }),
    );
  }

  function renderBatch(items, reply) {
    const labels = Object.keys(reply.body.thresholds);
    const results = reply.body.results;
    const flagged = results.filter((result) => result.flagged).length;
    const checked = `${results.length} ${results.length === 1 ? "comment" : "comments"} checked`;
    replaceResults(
      el("article", { className: "result", attrs: { "data-result": "batch" } }, [
        el("p", {
          className: "batch-summary",
          text: `${checked}: ${flagged} flagged, ${results.length - flagged} not flagged.`,
        }),
        replyFacts(reply),
        el("div", { className: "table-wrap" }, [
          el("table", { className: "batch-table" }, [
            el("caption", { className: "visually-hidden", text: "Batch results, one row per comment" }),
            el("thead", {}, [el("tr", {}, COLUMNS.map(([name]) => el("th", { text: name, attrs: { scope: "col" } })))]),
            el("tbody", {}, results.map((result, index) => batchRow(items[index], result, labels))),
          ]),
        ]),
      ]),
    );
  }

  // --- Wiring -----------------------------------------------------------------------------------------------------

  const isMac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
  if (isMac) document.getElementById("shortcut-key").textContent = "⌘";

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
    }
  });
  textarea.addEventListener("input", updateInputState);
  for (const radio of form.elements.mode) radio.addEventListener("change", updateInputState);
  for (const button of document.querySelectorAll("[data-example]")) {
    button.addEventListener("click", () => fillExample(button.dataset.example));
  }
  document.getElementById("clear-button").addEventListener("click", () => {
    textarea.value = "";
    updateInputState();
    textarea.focus();
  });

  const page = setUpPage({ task: "check comments", scope: "moderate", showProblem: showNotice });
  updateInputState();
  page.checkHealth();
})();
