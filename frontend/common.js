/*
 * toxiguard web pages: what the comment checker (app.js) and the review queue (review.js) share.
 *
 * DOM building that never writes HTML, label names and number formats, score bars with their threshold ticks, API
 * calls (with the signed-in user's token, renewed once when refused), and the chrome both pages carry with the same
 * element ids: the header's service status and account line, the API banner and the sign-in panel (`setUpPage`).
 *
 * config.js sets window.TOXIGUARD_CONFIG = {apiUrl: "...", auth: {...}}; an empty apiUrl means the page's own origin.
 * Comments are user text: they only ever reach a page through textContent and attributes, never as HTML.
 */
window.toxiguardCommon = (() => {
  "use strict";

  const config = window.TOXIGUARD_CONFIG || {};
  const auth = window.toxiguardAuth;
  const API_URL = String(config.apiUrl || "").replace(/\/+$/, "");
  const REQUEST_TIMEOUT_MS = positiveNumber(config.requestTimeoutMs, 10000);
  const HEALTH_TIMEOUT_MS = positiveNumber(config.healthTimeoutMs, 5000);
  const LONGEST_TIMER_MS = 2 ** 31 - 1; // setTimeout fires at once beyond this

  // The model's labels, in the API's order, with the names people see.
  const LABEL_NAMES = {
    toxic: "Toxic",
    severe_toxic: "Severe toxic",
    obscene: "Obscene",
    threat: "Threat",
    insult: "Insult",
    identity_hate: "Identity hate",
  };

  function positiveNumber(value, fallback) {
    const number = Number(value);
    return Number.isFinite(number) && number > 0 ? number : fallback;
  }

  // --- DOM --------------------------------------------------------------------------------------------------------

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
  // A definition list of [name, value] pairs, each in a div keyed by its name (`data-meta`) for styling and tests.
  function metaList(pairs, className = "meta") {
    return el(
      "dl",
      { className },
      pairs.map(([name, value]) =>
        el("div", { attrs: { "data-meta": name.toLowerCase().replace(/ /g, "-") } }, [
          el("dt", { text: name }),
          el("dd", { text: value }),
        ]),
      ),
    );
  }

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

  /** An error notice (role=alert): a headline, the detail, and the API's code for support. */
  function notice(title, detail, code, actions = []) {
    return el("div", { className: "notice", attrs: { role: "alert" } }, [
      icon("error"),
      el("div", {}, [
        el("p", { className: "notice-title", text: title }),
        el("p", { className: "notice-detail", text: detail }),
        code ? el("p", { className: "notice-code", text: code }) : null,
        actions.length ? el("div", { className: "notice-actions" }, actions) : null,
      ]),
    ]);
  }

  // --- Formats ----------------------------------------------------------------------------------------------------

  const labelName = (label) => LABEL_NAMES[label] || label.replace(/_/g, " ");
  const formatScore = (score) => (score > 0 && score < 0.005 ? "<0.01" : score.toFixed(2));
  const percent = (value) => `${(Math.min(Math.max(value, 0), 1) * 100).toFixed(2)}%`;

  /** A moment as people read it: the time alone today, else the date too. */
  function formatTime(ms) {
    const when = new Date(ms);
    return when.toDateString() === new Date().toDateString()
      ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  // --- Score bars -------------------------------------------------------------------------------------------------

  /**
   * One label's score as a bar, its review threshold as a tick and, when given (not null or undefined), its block
   * threshold as a second, taller mark; the numbers are written out too, so no mark relies on sight alone.
   */
  function scoreRow(label, score, { review, block }, flagged) {
    const blocks = block != null && score >= block;
    const marks = [el("span", { className: "bar-fill", style: { width: percent(score) } })];
    marks.push(el("span", { className: "bar-threshold", style: { left: percent(review) } }));
    if (block != null) marks.push(el("span", { className: "bar-block", style: { left: percent(block) } }));
    const note = [blocks ? "Blocks" : flagged ? "Flagged" : "", `threshold ${review.toFixed(2)}`];
    if (block != null) note.push(`block ${block.toFixed(2)}`);
    const noteText = note.filter(Boolean).join(" · ");
    return el("li", { className: `score-row${flagged ? " is-flagged" : ""}`, attrs: { "data-label": label } }, [
      el("span", { className: "score-label", text: labelName(label) }),
      el("span", { className: "bar", attrs: { "aria-hidden": "true" } }, marks),
      el("span", { className: "score-value", text: formatScore(score) }),
      el("span", { className: "score-note", text: noteText.charAt(0).toUpperCase() + noteText.slice(1) }),
    ]);
  }

  /** What the bars' colours and marks mean; `withBlock` adds the block threshold's mark. */
  function scoresLegend({ withBlock = false } = {}) {
    const item = (swatchClass, text) =>
      el("span", { className: "legend-item" }, [
        el("span", { className: swatchClass, attrs: { "aria-hidden": "true" } }),
        el("span", { text }),
      ]);
    return el("p", { className: "scores-legend" }, [
      item("legend-bar", "Score"),
      item("legend-bar legend-bar-flagged", "Flagged score"),
      item("legend-tick", withBlock ? "Review threshold" : "Threshold"),
      withBlock ? item("legend-tick legend-tick-block", "Block threshold") : null,
    ]);
  }

  // --- API --------------------------------------------------------------------------------------------------------

  /** Why a call got no HTTP answer: "unreachable" (network, CORS, DNS) or "timeout". */
  class NoAnswer extends Error {
    constructor(kind) {
      super(kind);
      this.kind = kind;
    }
  }

  /** One API call with a timeout (and a bearer token if given): a POST with `payload`, else a GET. Resolves with
   * the status, parsed JSON (or null) and the round trip in ms. */
  async function callApi(path, { payload, token, timeoutMs = REQUEST_TIMEOUT_MS }) {
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

  /**
   * An API call with the signed-in user's token. A refused token is renewed once (Cognito sign-ins) and the request
   * sent again: on a 401, and on a request that got no answer it could read, which is how a browser sees API
   * Gateway's own 401 (it carries no CORS headers; docs/api.md). Throws NoAnswer, or auth's SignInProblem.
   */
  async function callSignedIn(path, { payload } = {}) {
    const send = async () => callApi(path, { payload, token: await auth.accessToken() });
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

  /** The API's `{"error": {"code", "message"}}`, or null when the answer has none. */
  function apiError(reply) {
    const error = reply.body && reply.body.error;
    return error && typeof error.message === "string" ? error : null;
  }

  // --- The pages' chrome: service status, banner, account line, sign-in panel -------------------------------------

  /**
   * Wire the header, the API banner and the sign-in panel, and start signing in from the address (auth.js).
   * `task` is what the page is for ("check comments"), `scope` the API scope it needs ("moderate"),
   * `showProblem(title, detail, code)` shows a problem where the page shows its results, and `onSignOut` (optional)
   * clears what the page shows for the person who signed out.
   */
  function setUpPage({ task, scope, showProblem, onSignOut = () => {} }) {
    const banner = document.getElementById("api-banner");
    const signInPanel = document.getElementById("sign-in");
    const signInReason = document.getElementById("sign-in-reason");
    const signOutButton = document.getElementById("sign-out-button");
    const scopeName = `toxiguard/${scope}`;
    // How to get a token that may do this page's task, by sign-in mode, for a 403.
    const permissionHelp = {
      none: `The API wants a token with the ${scopeName} scope, and this page's config.js sends none.`,
      local: `This token lacks the ${scopeName} scope. Get one that has it: toxiguard token --scope ${scope}.`,
      cognito:
        `Your sign-in does not grant the ${scopeName} scope. Ask whoever runs toxiguard to allow it for this ` +
        "page's app client, then sign out and in again.",
    }[auth.mode];
    let expiryTimer = 0;

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
        `You cannot ${task} until it is back. Tried ${API_URL || window.location.origin}.`,
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
            ? `Comments cannot be scored until it is back (${body.error.message}).`
            : "Comments cannot be scored until it is back.",
        );
      } else {
        setServiceStatus("down", `API error (HTTP ${reply.status})`);
        showBanner("The moderation API is having trouble.", `Its health check answered HTTP ${reply.status}.`);
      }
      return false;
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

    function signInProblemCode(problem) {
      return [problem.code, problem.status && `HTTP ${problem.status}`].filter(Boolean).join(" · ");
    }

    function showSignInProblem(problem) {
      showProblem(problem.title, problem.detail, signInProblemCode(problem));
    }

    /** Why a signed-in call failed, as {title, detail, code}: a failed sign-in (the header shows who is signed in
     * now), or no answer from the API (`explainNoAnswer`). */
    async function explainFailure(failure) {
      if (failure instanceof auth.SignInProblem) {
        renderAccount();
        return { title: failure.title, detail: failure.detail, code: signInProblemCode(failure) };
      }
      return explainNoAnswer(failure);
    }

    /** When nobody is signed in but the API wants someone: what to say instead of sending a request that can only
     * be refused; null when the request may go. */
    function signInNeeded() {
      if (!auth.required || auth.user()) return null;
      const where = auth.mode === "cognito" ? "Use the Sign in button above." : "See above how to get a token.";
      return { title: `Sign in to ${task}`, detail: `You need to be signed in to ${task}. ${where}` };
    }

    /** 401 and 403 as {title, detail, code}: the local gateway's error shape, or API Gateway's own `{"message"}` on
     * AWS. A refused sign-in is forgotten (it was renewed already, if it could be) and the panel says why. */
    function explainRefusal(reply) {
      const error = (reply.body && reply.body.error) || {};
      const code = [error.code, `HTTP ${reply.status}`].filter(Boolean).join(" · ");
      if (reply.status === 403) {
        return { title: `Your account lacks the ${scope} permission`, detail: permissionHelp, code };
      }
      if (!auth.required) {
        const detail = "This page's config.js does not set up signing in. Tell whoever runs toxiguard.";
        return { title: "The API wants a sign-in", detail, code };
      }
      auth.forget(); // refused even after renewal: it will not be accepted later
      const why = typeof error.message === "string" ? `The API refused your token: ${error.message}.` : "";
      renderAccount(why || "The API refused your sign-in.");
      return { title: `Sign in again to ${task}`, detail: why || "The API did not accept your sign-in.", code };
    }

    /** A call that got no answer (NoAnswer), as {title, detail}; tells an API that is down from one that refused. */
    async function explainNoAnswer(failure) {
      if (failure.kind === "timeout") {
        const detail = `No answer within ${REQUEST_TIMEOUT_MS / 1000} seconds. Try again in a moment.`;
        return { title: "The API took too long to answer", detail };
      }
      // A browser cannot read API Gateway's own answers (a refused token, too many requests: no CORS headers). With
      // sign-in on, the health check, which the function answers, tells those apart from an API that is down.
      if (auth.required && (await checkHealth())) {
        return {
          title: "The API did not accept the request",
          detail:
            "It is online, but its answer could not be read: it may have refused your sign-in, or be busy. Try " +
            "again in a moment; if this keeps happening, sign out and sign in again.",
        };
      }
      apiIsDown();
      return { title: "Can't reach the moderation API", detail: "Check your connection, or try again in a moment." };
    }

    /** Take a token or finish a sign-in from the address; requests wait for it. */
    async function startAuth() {
      try {
        await auth.start();
      } catch (problem) {
        if (!(problem instanceof auth.SignInProblem)) throw problem;
        showSignInProblem(problem);
      }
      renderAccount();
    }

    document.getElementById("api-banner-retry").addEventListener("click", checkHealth);
    for (const node of document.querySelectorAll("[data-auth-mode]")) node.hidden = node.dataset.authMode !== auth.mode;
    document.getElementById("sign-in-button").addEventListener("click", () => auth.signIn().catch(showSignInProblem));
    signOutButton.addEventListener("click", async () => {
      await auth.signOut(); // Cognito: on to the hosted UI's sign-out, which comes back to its logout URI
      renderAccount("You signed out.");
      onSignOut();
      document.getElementById("sign-in-title").focus(); // the button is gone: keep the keyboard on the page
    });

    return {
      authReady: startAuth(),
      apiIsUp,
      checkHealth,
      renderAccount,
      showSignInProblem,
      signInNeeded,
      explainRefusal,
      explainNoAnswer,
      explainFailure,
    };
  }

  return {
    auth,
    LABEL_NAMES,
    positiveNumber,
    el,
    metaList,
    icon,
    notice,
    labelName,
    formatScore,
    formatTime,
    scoreRow,
    scoresLegend,
    NoAnswer,
    callApi,
    callSignedIn,
    apiError,
    setUpPage,
  };
})();
