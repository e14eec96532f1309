/*
 * toxiguard web page: sends comments to the moderation API and shows per-label score bars with thresholds.
 *
 * API (docs/openapi.yaml): POST {apiUrl}/v1/moderate with {"text": ...} or {"texts": [...]}, GET {apiUrl}/v1/health.
 * config.js sets window.TOXIGUARD_CONFIG = {apiUrl: "...", auth: {...}}; an empty apiUrl means the page's own origin.
 * With sign-in on (auth.js), POST /v1/moderate carries the signed-in user's access token; health never does.
 *
 * Comments are user text: they only ever reach the page through textContent and attributes, never as HTML.
 */
(() => {
  "use strict";

  const config = window.TOXIGUARD_CONFIG || {};
  const auth = window.toxiguardAuth;
  const API_URL = String(config.apiUrl || "").replace(/\/+$/, "");
  const REQUEST_TIMEOUT_MS = positiveNumber(config.requestTimeoutMs, 10000);
  const HEALTH_TIMEOUT_MS = positiveNumber(config.healthTimeoutMs, 5000);
  // The API's limits; the API enforces them, the page only warns early.
  const MAX_TEXTS = 64;
  const MAX_TEXT_CHARS = 5000;
  const TOP_SCORES_SHOWN = 3;

  const LABEL_NAMES = {
    toxic: "Toxic",
    severe_toxic: "Severe toxic",
    obscene: "Obscene",
    threat: "Threat",
    insult: "Insult",
    identity_hate: "Identity hate",
  };
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
  // How to get a token that may score comments, by sign-in mode, for a 403.
  const PERMISSION_HELP = {
    none: "The API wants a token with the toxiguard/moderate scope, and this page's config.js sends none.",
    local: "This token lacks the toxiguard/moderate scope. Get one that has it: toxiguard token --scope moderate.",
    cognito:
      "Your sign-in does not grant the toxiguard/moderate scope. Ask whoever runs toxiguard to allow it for this " +
      "page's app client, then sign out and in again.",
  };
  const LONGEST_TIMER_MS = 2 ** 31 - 1; // setTimeout fires at once beyond this

  const form = document.getElementById("moderate-form");
  const textarea = document.getElementById("comment");
  const textareaLabel = document.getElementById("comment-label");
  const countText = document.getElementById("comment-count");
  const submitButton = document.getElementById("submit-button");
  const resultsSection = document.getElementById("results");
  const resultsBody = document.getElementById("results-body");
  const banner = document.getElementById("api-banner");
  const signInPanel = document.getElementById("sign-in");
  const signInReason = document.getElementById("sign-in-reason");
  const signOutButton = document.getElementById("sign-out-button");

  let busy = false;
  let expiryTimer = 0;

  function positiveNumber(value, fallback) {
    const number = Number(value);
    return Number.isFinite(number) && number > 0 ? number : fallback;
  }

  /** A DOM element with text and attributes set safely (never innerHTML). */
  function el(tag, { className, text, attrs, style } = {}, children = []) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    Object.assign(node.style, style); // through the CSSOM, which a strict Content-Security-Policy allows
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    for (const child of children) if (child) node.append(child);
    return node;
  }

  /** Small inline icons, so flagged / not flagged never relies on colour alone. */
  function icon(kind) {
    const paths = {
      flagged: ["M12 3 2 21h20z", "M12 10v5m0 3v.01"],
      clear: ["M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20z", "m7.5 12.5 3 3 6-6.5"],
      error: ["M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20z", "M12 7v6m0 3.5v.01"],
    }[kind];
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", `icon icon-${kind}`);
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    paths.forEach((d, index) => {
      const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
      path.setAttribute("d", d);
      if (index > 0) path.setAttribute("class", "icon-mark");
      svg.append(path);
    });
    return svg;
  }

  const labelName = (label) => LABEL_NAMES[label] || label.replace(/_/g, " ");
  const formatScore = (score) => (score > 0 && score < 0.005 ? "<0.01" : score.toFixed(2));
  const formatMs = (ms) => `${Math.round(ms).toLocaleString("en")} ms`;
  const characterCount = (text) => Array.from(text).length; // code points, as the API counts them
  const percent = (value) => `${(Math.min(Math.max(value, 0), 1) * 100).toFixed(2)}%`;

  // --- API --------------------------------------------------------------------------------------------------------

  /** Why a call got no HTTP answer: "unreachable" (network, CORS, DNS) or "timeout". */
  class NoAnswer extends Error {
    constructor(kind) {
      super(kind);
      this.kind = kind;
    }
  }

  /** One API call with a timeout (and a bearer token if given); resolves with the status, parsed JSON (or null)
   * and the round trip in ms. */
  async function callApi(path, { payload, token, timeoutMs }) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const started = performance.now();
    const headers = payload === undefined ? {} : { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    try {
      const response = await fetch(`${API_URL}${path}`, {
        method: payload === undefined ? "GET" : "POST",
        headers,
        body: payload === undefined ? undefined : JSON.stringify(payload),
        signal: controller.signal,
        cache: "no-store",
      });
      const text = await response.text();
      const elapsedMs = performance.now() - started;
      let body = null;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON (a proxy's error page, say): callers treat a null body as an unexpected answer.
      }
      return { status: response.status, ok: response.ok, headers: response.headers, body, elapsedMs };
    } catch {
      throw new NoAnswer(controller.signal.aborted ? "timeout" : "unreachable");
    } finally {
      clearTimeout(timer);
    }
  }

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

  // --- Service status ---------------------------------------------------------------------------------------------

  function setServiceStatus(state, text) {
    document.getElementById("service-status").dataset.state = state;
    document.getElementById("service-status-text").textContent = text;
  }

  function showBanner(title, detail) {
    document.getElementById("api-banner-title").textContent = title;
    document.getElementById("api-banner-detail").textContent = detail;
    banner.hidden = false;
  }

  function apiIsUp(modelVersion) {
    setServiceStatus("ok", `API online · model ${modelVersion}`);
    banner.hidden = true;
  }

  function apiIsDown() {
    setServiceStatus("down", "API unreachable");
    showBanner(
      "The moderation API is not reachable right now.",
      `Checking comments will not work until it is back. Tried ${API_URL || window.location.origin}.`,
    );
  }

  /** GET /v1/health (never with a token) and show what it says; resolves true when the API and model answer. */
  async function checkHealth() {
    setServiceStatus("checking", "Connecting to the API…");
    let reply;
    try {
      reply = await callApi("/v1/health", { timeoutMs: HEALTH_TIMEOUT_MS });
    } catch {
      apiIsDown();
      return false;
    }
    const body = reply.body || {};
    if (reply.ok && body.status === "ok") {
      apiIsUp(body.model_version);
      return true;
    }
    if (body.model_version) {
      // The API answers but the model endpoint does not (503 "unavailable").
      setServiceStatus("degraded", `Model ${body.model_version} not answering`);
      showBanner(
        "The API is up, but the model is not answering.",
        body.error && body.error.message
          ? `Checking comments will fail until it is back (${body.error.message}).`
          : "Checking comments will fail until it is back.",
      );
    } else {
      setServiceStatus("down", `API error (HTTP ${reply.status})`);
      showBanner("The moderation API is having trouble.", `Its health check answered HTTP ${reply.status}.`);
    }
    return false;
  }

  // --- Sign-in (auth.js) ------------------------------------------------------------------------------------------

  function formatTime(ms) {
    const when = new Date(ms);
    return when.toDateString() === new Date().toDateString()
      ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  /** The header's account line and the sign-in panel; `reason` says why nobody is signed in (any more). */
  function renderAccount(reason = "") {
    if (!auth.required) return;
    const user = auth.user();
    const status = [el("span", { text: user ? "Signed in as " : "Not signed in" })];
    clearTimeout(expiryTimer);
    if (user) {
      status.push(el("strong", { className: "account-name", text: user.name }));
      // A handed-over token cannot be renewed, so its end is worth showing; Cognito sign-ins renew themselves.
      if (auth.mode === "local") {
        const left = user.expiresAt - Date.now();
        const expiry = left > 0 ? ` until ${formatTime(user.expiresAt)}` : " · token expired";
        status.push(el("span", { className: `account-expiry${left > 0 ? "" : " is-expired"}`, text: expiry }));
        if (left > 0) expiryTimer = setTimeout(renderAccount, Math.min(left + 1000, LONGEST_TIMER_MS));
      }
    }
    document.getElementById("account-status").replaceChildren(...status);
    document.getElementById("account").hidden = false;
    signOutButton.hidden = !user;
    signInPanel.hidden = Boolean(user);
    signInReason.textContent = reason;
    signInReason.hidden = !reason;
  }

  function showSignInProblem(problem) {
    const code = [problem.code, problem.status && `HTTP ${problem.status}`].filter(Boolean).join(" · ");
    showNotice(problem.title, problem.detail, code);
  }

  /** 401 and 403: the local gateway's error shape, or API Gateway's own `{"message": ...}` on AWS. */
  function showRefusal(reply) {
    const error = (reply.body && reply.body.error) || {};
    const code = [error.code, `HTTP ${reply.status}`].filter(Boolean).join(" · ");
    if (reply.status === 403) {
      showNotice("Your account lacks the moderate permission", PERMISSION_HELP[auth.mode], code);
      return;
    }
    if (!auth.required) {
      const detail = "This page's config.js does not set up signing in. Tell whoever runs toxiguard.";
      showNotice("The API wants a sign-in", detail, code);
      return;
    }
    auth.forget(); // refused even after renewal: it will not be accepted later
    const why = typeof error.message === "string" ? `The API refused your token: ${error.message}.` : "";
    renderAccount(why || "The API refused your sign-in.");
    showNotice("Sign in again to check comments", why || "The API did not accept your sign-in.", code);
  }

  /**
   * POST /v1/moderate with the signed-in user's token. A refused token is renewed once (Cognito sign-ins) and the
   * request sent again: on a 401, and on a request that got no answer it could read, which is how a browser sees
   * API Gateway's own 401 (it carries no CORS headers; docs/api.md).
   */
  async function moderate(payload) {
    const send = async () =>
      callApi("/v1/moderate", { payload, token: await auth.accessToken(), timeoutMs: REQUEST_TIMEOUT_MS });
    let reply;
    try {
      reply = await send();
    } catch (failure) {
      const unreadable = failure instanceof NoAnswer && failure.kind === "unreachable";
      if (unreadable && (await auth.renew().catch(() => false))) return send();
      throw failure;
    }
    return reply.status === 401 && (await auth.renew()) ? send() : reply;
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
      await authReady;
      if (auth.required && !auth.user()) {
        // A request without a token can only be refused: say how to sign in instead.
        const where = auth.mode === "cognito" ? "Use the Sign in button above." : "See above how to get a token.";
        showNotice("Sign in to check comments", `Checking comments needs a signed-in moderator. ${where}`);
        return;
      }
      reply = await moderate(payload);
    } catch (failure) {
      if (failure instanceof auth.SignInProblem) {
        showSignInProblem(failure);
        renderAccount();
      } else {
        await showNoAnswer(failure);
      }
      return;
    } finally {
      setBusy(false);
    }
    if (reply.status === 401 || reply.status === 403) {
      showRefusal(reply);
      return;
    }
    if (!reply.ok || !isModerationResponse(reply.body, items.length)) {
      showHttpError(reply, batch ? items : null);
      return;
    }
    apiIsUp(reply.body.model_version);
    if (batch) renderBatch(items, reply);
    else renderSingle(items[0].text, reply);
  }

  async function showNoAnswer(failure) {
    if (failure.kind === "timeout") {
      showNotice(
        "The API took too long to answer",
        `No answer within ${REQUEST_TIMEOUT_MS / 1000} seconds. Try again in a moment.`,
      );
      return;
    }
    // A browser cannot read API Gateway's own answers (a refused token, too many requests: no CORS headers). With
    // sign-in on, the health check, which the function answers, tells those apart from an API that is down.
    if (auth.required && (await checkHealth())) {
      showNotice(
        "The API did not accept the request",
        "It is online, but its answer could not be read: it may have refused your sign-in, or be busy. Try again " +
          "in a moment; if this keeps happening, sign out and sign in again.",
      );
      return;
    }
    apiIsDown();
    showNotice(
      "Can't reach the moderation API",
      "Check your connection, or try again in a moment. Your text is still in the box.",
    );
  }

  function showHttpError(reply, batchItemsSent) {
    const error = reply.body && reply.body.error;
    if (!error || typeof error.message !== "string") {
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
    replaceResults(
      el("div", { className: "notice", attrs: { role: "alert" } }, [
        icon("error"),
        el("div", {}, [
          el("p", { className: "notice-title", text: title }),
          el("p", { className: "notice-detail", text: detail }),
          code ? el("p", { className: "notice-code", text: code }) : null,
        ]),
      ]),
    );
  }

  function metaList(reply) {
    const entries = [
      ["Model", reply.body.model_version],
      ["Round trip", formatMs(reply.elapsedMs)],
    ];
    return el(
      "dl",
      { className: "meta" },
      entries.map(([name, value]) =>
        el("div", { attrs: { "data-meta": name.toLowerCase().replace(/ /g, "-") } }, [
          el("dt", { text: name }),
          el("dd", { text: value }),
        ]),
      ),
    );
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

  function scoreRow(label, score, threshold, flagged) {
    return el("li", { className: `score-row${flagged ? " is-flagged" : ""}`, attrs: { "data-label": label } }, [
      el("span", { className: "score-label", text: labelName(label) }),
      el("span", { className: "bar", attrs: { "aria-hidden": "true" } }, [
        el("span", { className: "bar-fill", style: { width: percent(score) } }),
        el("span", { className: "bar-threshold", style: { left: percent(threshold) } }),
      ]),
      el("span", { className: "score-value", text: formatScore(score) }),
      el("span", {
        className: "score-note",
        text: flagged ? `Flagged · threshold ${threshold.toFixed(2)}` : `Threshold ${threshold.toFixed(2)}`,
      }),
    ]);
  }

  function scoresLegend() {
    const item = (swatchClass, text) =>
      el("span", { className: "legend-item" }, [
        el("span", { className: swatchClass, attrs: { "aria-hidden": "true" } }),
        el("span", { text }),
      ]);
    return el("p", { className: "scores-legend" }, [
      item("legend-bar", "Score"),
      item("legend-bar legend-bar-flagged", "Flagged score"),
      item("legend-tick", "Threshold"),
    ]);
  }

  function renderSingle(text, reply) {
    const { thresholds } = reply.body;
    const result = reply.body.results[0];
    const rows = Object.keys(thresholds).map((label) =>
      scoreRow(label, Number(result.scores[label]), Number(thresholds[label]), result.labels.includes(label)),
    );
    replaceResults(
      el("article", { className: "result", attrs: { "data-result": "single" } }, [
        verdict(result),
        metaList(reply),
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
        metaList(reply),
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
  document.getElementById("api-banner-retry").addEventListener("click", checkHealth);

  for (const node of document.querySelectorAll("[data-auth-mode]")) node.hidden = node.dataset.authMode !== auth.mode;
  document.getElementById("sign-in-button").addEventListener("click", () => auth.signIn().catch(showSignInProblem));
  signOutButton.addEventListener("click", async () => {
    await auth.signOut(); // Cognito: on to the hosted UI's sign-out, which comes back here
    renderAccount("You signed out.");
    document.getElementById("sign-in-title").focus(); // the button is gone: keep the keyboard on the page
  });

  /** Take a token or finish a sign-in from the address; a submit waits for it. */
  async function startAuth() {
    try {
      await auth.start();
    } catch (problem) {
      if (!(problem instanceof auth.SignInProblem)) throw problem;
      showSignInProblem(problem);
    }
    renderAccount();
  }

  const authReady = startAuth();
  updateInputState();
  checkHealth();
})();
