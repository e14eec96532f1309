/*
 * toxiguard review queue: moderators approve (keep) or remove the comments the model sent to review or blocked.
 *
 * API (docs/openapi.yaml), all with the signed-in user's token (scope toxiguard/review):
 *   GET  {apiUrl}/v1/reviews?status=&label=&action=&cursor=   newest first; the first page also has `counts`
 *   POST {apiUrl}/v1/reviews/{id}/decision {"decision": "approve"|"remove", "note"?}
 * A decision shows at once (the item leaves the pending list) and is rolled back when the API does not confirm it:
 * on 409 the item comes back as another moderator left it, with who decided what; on any other failure it comes back
 * pending, with the reason. What this page shares with the comment checker is in common.js.
 *
 * Comments and notes are user text: they only ever reach the page through textContent and attributes, never as HTML.
 */
(() => {
  "use strict";

  const common = window.toxiguardCommon;
  const { auth, LABEL_NAMES, el, metaList, icon, notice, labelName, formatTime, scoreRow, scoresLegend } = common;
  const { callSignedIn, apiError, setUpPage } = common;

  const DECIDED_STATUS = { approve: "approved", remove: "removed" };
  const DECISION_NOUN = { approve: "approval", remove: "removal" };
  const STATUS_NAMES = { pending: "Pending", approved: "Approved", removed: "Removed" };
  const ACTION_NAMES = { review: "Review", block: "Blocked" };
  const MAX_NOTE_CHARS = 1000; // the API's limit
  // Headlines for the API's error codes; the API's own message is shown under them.
  const ERROR_TITLES = {
    review_store_unavailable: "The review queue is unavailable",
    review_not_found: "This comment is no longer in the queue",
    invalid_request: "The API could not read the request",
    invalid_json: "The API could not read the request",
    decision_conflict: "Someone else decided this comment first",
    origin_not_allowed: "This page may not call the API",
  };

  const queueBody = document.getElementById("queue-body");
  const queueStatus = document.getElementById("queue-status");
  const loadMoreButton = document.getElementById("load-more");
  const statusRadios = document.querySelectorAll("input[name=status]");
  const labelFilter = document.getElementById("label-filter");
  const actionFilter = document.getElementById("action-filter");

  // Entries in the API's order (newest first): {item, node (the <li>), deciding}. A deciding entry is off screen
  // until the API confirms (then it is dropped) or refuses (then it comes back where it was).
  let entries = [];
  let nextCursor = null;
  let counts = null;
  let selectedId = null;
  // Bumped by every fresh load, so that answers and rollbacks meant for an earlier list leave the new one alone.
  let generation = 0;
  let signInProblem = null; // a sign-in that failed (auth.js), shown instead of the plain "sign in" notice

  const filters = () => ({
    status: document.querySelector("input[name=status]:checked").value,
    label: labelFilter.value,
    action: actionFilter.value,
  });
  const visibleEntries = () => entries.filter((entry) => !entry.deciding);
  const entryOf = (node) => {
    const article = node && node.closest && node.closest(".review-item");
    return article ? entries.find((entry) => entry.item.id === article.dataset.reviewId) : undefined;
  };
  const itemName = (item) =>
    item.ref ? `comment ${item.ref}` : `comment from ${formatTime(Date.parse(item.created_at))}`;
  const capitalize = (text) => text.charAt(0).toUpperCase() + text.slice(1);

  /** Whether keys typed now go into a text field (then they are text, not shortcuts). */
  function isTextEntry(node) {
    if (!node || !node.tagName) return false;
    if (node.isContentEditable || node.tagName === "TEXTAREA" || node.tagName === "SELECT") return true;
    return node.tagName === "INPUT" && !["radio", "checkbox", "button", "submit", "reset"].includes(node.type);
  }

  function announce(message) {
    queueStatus.textContent = message;
  }

  // --- Counts -----------------------------------------------------------------------------------------------------

  function renderCounts() {
    for (const node of document.querySelectorAll("[data-count]")) {
      node.textContent = counts ? String(counts[node.dataset.count]) : "";
    }
  }

  function adjustCount(status, change) {
    if (!counts) return;
    counts[status] = Math.max(0, counts[status] + change);
    renderCounts();
  }

  // --- Items ------------------------------------------------------------------------------------------------------

  function badge(className, text) {
    return el("span", { className: `badge ${className}`, text });
  }

  function scoreList(item) {
    const { review, block } = item.thresholds;
    const rows = Object.keys(review).map((label) => {
      const threshold = { review: Number(review[label]), block: block[label] == null ? null : Number(block[label]) };
      return scoreRow(label, Number(item.scores[label]), threshold, item.labels.includes(label));
    });
    return el("ul", { className: "scores scores-compact", attrs: { "aria-label": "Scores by label" } }, rows);
  }

  function decisionControls(item) {
    const noteId = `note-${item.id}`;
    const button = (decision, text, className, key) =>
      el("button", {
        className: `button ${className}`,
        text,
        attrs: { type: "button", "data-decision": decision, "aria-keyshortcuts": key },
      });
    return el("div", { className: "decide" }, [
      el("label", { className: "note-label", text: "Note (optional)", attrs: { for: noteId } }),
      el("input", {
        className: "note-input",
        attrs: { id: noteId, type: "text", maxlength: String(MAX_NOTE_CHARS), autocomplete: "off" },
      }),
      el("div", { className: "decide-actions" }, [
        button("approve", "Approve", "button-primary button-approve", "A"),
        button("remove", "Remove", "button-remove", "R"),
      ]),
    ]);
  }

  function decisionRecord(item) {
    const facts = [["Decision", `${STATUS_NAMES[item.status]} by ${item.decided_by}`]];
    if (item.decided_at) facts.push(["When", formatTime(Date.parse(item.decided_at))]);
    if (item.note) facts.push(["Note", item.note]);
    return metaList(facts, "meta decision-record");
  }

  function itemNode(item) {
    const titleId = `review-${item.id}-title`;
    const pending = item.status === "pending";
    const article = el(
      "article",
      {
        className: "review-item",
        attrs: { tabindex: "-1", "aria-labelledby": titleId, "data-review-id": item.id, "data-status": item.status },
      },
      [
        el("div", { className: "review-item-head" }, [
          el("h2", { className: "review-item-title", text: capitalize(itemName(item)), attrs: { id: titleId } }),
          badge(`badge-action badge-action-${item.action}`, ACTION_NAMES[item.action] || item.action),
          pending ? null : badge(`badge-status badge-status-${item.status}`, STATUS_NAMES[item.status]),
        ]),
        el("p", { className: "review-meta" }, [
          el("time", { text: formatTime(Date.parse(item.created_at)), attrs: { datetime: item.created_at } }),
          el("span", { text: ` · model ${item.model_version}` }),
        ]),
        el("blockquote", { className: "review-text", text: item.text }),
        el("p", {
          className: "review-labels",
          text: item.labels.length ? `Flagged: ${item.labels.map(labelName).join(", ")}` : "No label flagged",
        }),
        scoreList(item),
        pending ? decisionControls(item) : decisionRecord(item),
        el("div", { className: "item-problem" }),
      ],
    );
    return el("li", { className: "queue-entry" }, [article]);
  }

  function articleOf(entry) {
    return entry.node.querySelector(".review-item");
  }

  function showItemProblem(entry, { title, detail, code }) {
    entry.node.querySelector(".item-problem").replaceChildren(notice(title, detail, code));
  }

  // --- Selection and focus ----------------------------------------------------------------------------------------

  function select(entry, { focus = true } = {}) {
    for (const node of queueBody.querySelectorAll(".review-item.is-selected")) {
      node.classList.remove("is-selected");
      node.removeAttribute("aria-current");
    }
    selectedId = entry ? entry.item.id : null;
    if (!entry) return;
    const article = articleOf(entry);
    article.classList.add("is-selected");
    article.setAttribute("aria-current", "true");
    if (focus) article.focus();
  }

  function moveSelection(step) {
    const shown = visibleEntries();
    if (!shown.length) return;
    const index = shown.findIndex((entry) => entry.item.id === selectedId);
    const next = index < 0 ? (step > 0 ? 0 : shown.length - 1) : Math.min(Math.max(index + step, 0), shown.length - 1);
    select(shown[next]);
  }

  // --- The list and its states ------------------------------------------------------------------------------------

  function showQueueProblem({ title, detail, code }, retry = true) {
    const actions = retry
      ? [el("button", { className: "button button-secondary", text: "Try again", attrs: { type: "button" } })]
      : [];
    if (retry) actions[0].addEventListener("click", loadQueue);
    queueBody.replaceChildren(notice(title, detail, code, actions));
    loadMoreButton.hidden = true;
  }

  function emptyState() {
    const { status, label, action } = filters();
    const filtered = Boolean(label || action);
    const title = filtered
      ? `No ${status} comments match these filters`
      : { pending: "Nothing is waiting for review", approved: "No approved comments", removed: "No removed comments" }[
          status
        ];
    const detail = filtered
      ? "Counts above are for every label and action."
      : status === "pending"
        ? "Comments the model sends to review or blocks show up here when they are scored."
        : `Comments moderators ${status === "approved" ? "approve" : "remove"} are listed here until they expire.`;
    const clear = filtered
      ? el("button", {
          className: "button button-secondary",
          text: "Show every label and action",
          attrs: { type: "button" },
        })
      : null;
    if (clear) {
      clear.addEventListener("click", () => {
        labelFilter.value = "";
        actionFilter.value = "";
        loadQueue();
      });
    }
    return el("div", { className: "empty-state" }, [
      icon("clear"),
      el("div", {}, [
        el("p", { className: "empty-title", text: title, attrs: { tabindex: "-1" } }),
        el("p", { className: "empty-detail", text: detail }),
        clear,
      ]),
    ]);
  }

  /** The list as `entries` has it (or the empty state); focus stays where it was unless its node went away. */
  function renderList() {
    const shown = visibleEntries();
    if (!shown.length) {
      queueBody.replaceChildren(emptyState());
      return;
    }
    const list = el("ul", {
      className: "queue",
      attrs: { "aria-label": `${STATUS_NAMES[filters().status]} comments` },
    });
    list.append(...shown.map((entry) => entry.node));
    queueBody.replaceChildren(scoresLegend({ withBlock: true }), list);
  }

  function isReviewPage(body) {
    return (
      body !== null &&
      typeof body === "object" &&
      Array.isArray(body.items) &&
      body.items.every(
        (item) =>
          item &&
          typeof item.id === "string" &&
          typeof item.text === "string" &&
          typeof item.scores === "object" &&
          item.thresholds &&
          typeof item.thresholds.review === "object",
      )
    );
  }

  function explainReply(reply) {
    if (reply.status === 401 || reply.status === 403) return page.explainRefusal(reply);
    const error = apiError(reply);
    if (!error) {
      return { title: "The API gave an unexpected answer", detail: `HTTP ${reply.status}. Try again in a moment.` };
    }
    const detail = reply.status >= 500 ? `${error.message}. Try again in a moment.` : error.message;
    const title = ERROR_TITLES[error.code] || "The API could not do this";
    return { title, detail, code: `${error.code} · HTTP ${reply.status}` };
  }

  /** GET one page of the queue with the current filters: {items, next_cursor, counts?}, or {problem}. */
  async function fetchPage(cursor) {
    const { status, label, action } = filters();
    const query = new URLSearchParams({ status });
    if (label) query.set("label", label);
    if (action) query.set("action", action);
    if (cursor) query.set("cursor", cursor);
    let reply;
    try {
      reply = await callSignedIn(`/v1/reviews?${query}`);
    } catch (failure) {
      return { problem: await page.explainFailure(failure) };
    }
    if (!reply.ok || !isReviewPage(reply.body)) return { problem: explainReply(reply) };
    return reply.body;
  }

  // The cursor is a keyset (created_at, id): pages never overlap, whatever is scored or decided meanwhile.
  const newEntries = (items) => items.map((item) => ({ item, node: itemNode(item), deciding: false }));

  function showLoadMore() {
    loadMoreButton.hidden = nextCursor === null;
    loadMoreButton.textContent = "Load more";
    loadMoreButton.setAttribute("aria-disabled", "false");
  }

  /** The first page for the current filters, with the counts, replacing whatever is shown. */
  async function loadQueue() {
    const thisLoad = ++generation;
    entries = [];
    nextCursor = null;
    selectedId = null;
    loadMoreButton.hidden = true;
    queueBody.setAttribute("aria-busy", "true");
    queueBody.replaceChildren(el("p", { className: "placeholder", text: "Loading the queue…" }));
    announce("Loading the queue…");
    await page.authReady;
    const needed = page.signInNeeded();
    if (needed) {
      queueBody.setAttribute("aria-busy", "false");
      showQueueProblem(signInProblem || needed, false);
      announce("");
      return;
    }
    const result = await fetchPage(null);
    if (thisLoad !== generation) return; // the filters changed meanwhile: a newer load owns the list
    queueBody.setAttribute("aria-busy", "false");
    if (result.problem) {
      showQueueProblem(result.problem);
      announce("");
      return;
    }
    counts = result.counts || counts;
    renderCounts();
    entries = newEntries(result.items);
    nextCursor = result.next_cursor || null;
    renderList();
    showLoadMore();
    const status = filters().status;
    const more = nextCursor ? ", more to load" : "";
    announce(`${entries.length} ${status} ${entries.length === 1 ? "comment" : "comments"} shown${more}.`);
  }

  async function loadMore() {
    if (nextCursor === null || loadMoreButton.getAttribute("aria-disabled") === "true") return;
    const thisLoad = generation;
    loadMoreButton.setAttribute("aria-disabled", "true");
    loadMoreButton.textContent = "Loading…";
    const result = await fetchPage(nextCursor);
    if (thisLoad !== generation) return;
    if (result.problem) {
      showLoadMore();
      announce(`${result.problem.title}. ${result.problem.detail}`);
      return;
    }
    const added = newEntries(result.items);
    entries.push(...added);
    nextCursor = result.next_cursor || null;
    const list = queueBody.querySelector(".queue");
    if (list) list.append(...added.map((entry) => entry.node));
    else renderList();
    showLoadMore();
    announce(`${added.length} more ${added.length === 1 ? "comment" : "comments"} loaded.`);
    if (added.length) select(added[0]); // the keyboard carries on with the first new comment
  }

  // --- Decisions --------------------------------------------------------------------------------------------------

  /** Put an entry back where it was in the list (its node may have been re-rendered). */
  function putBack(entry) {
    entry.deciding = false;
    const list = queueBody.querySelector(".queue");
    if (!list) {
      renderList();
      return;
    }
    const index = entries.indexOf(entry);
    const after = entries.slice(index + 1).find((other) => !other.deciding);
    list.insertBefore(entry.node, after ? after.node : null);
  }

  async function decide(entry, decision) {
    const { item } = entry;
    if (entry.deciding || item.status !== "pending") return;
    const thisList = generation;
    const note = entry.node.querySelector(".note-input").value.trim();
    const shown = visibleEntries();
    const index = shown.indexOf(entry);
    const focusWasInList = queueBody.contains(document.activeElement);
    const decidedStatus = DECIDED_STATUS[decision];

    // At once: the item leaves the list, the counts move, the next item takes the selection.
    entry.deciding = true;
    entry.node.remove();
    entry.node.querySelector(".item-problem").replaceChildren();
    adjustCount("pending", -1);
    adjustCount(decidedStatus, +1);
    const next = shown[index + 1] || shown[index - 1];
    if (!next) renderList();
    if (selectedId === item.id || focusWasInList) {
      if (next) select(next);
      else {
        select(null);
        const emptyTitle = queueBody.querySelector(".empty-title");
        if (emptyTitle) emptyTitle.focus();
      }
    }
    announce(`${STATUS_NAMES[decidedStatus]}: ${itemName(item)}.`);

    let reply;
    let problem = null;
    try {
      reply = await callSignedIn(`/v1/reviews/${encodeURIComponent(item.id)}/decision`, {
        payload: note ? { decision, note } : { decision },
      });
    } catch (failure) {
      problem = await page.explainFailure(failure);
    }
    if (!problem && reply.ok) {
      entries = entries.filter((other) => other !== entry);
      return;
    }

    // Rolled back: the counts return, and the item comes back as the API has it now.
    adjustCount(decidedStatus, -1);
    const current = reply && reply.status === 409 && reply.body && reply.body.review;
    if (current) {
      adjustCount(current.status, +1);
      const when = current.decided_at ? ` at ${formatTime(Date.parse(current.decided_at))}` : "";
      problem = {
        title: `${current.decided_by} already ${current.status} this comment${when}`,
        detail: `Your ${DECISION_NOUN[decision]} was not saved. The comment stays ${current.status}.`,
        code: "decision_conflict · HTTP 409",
      };
    } else {
      adjustCount("pending", +1);
      problem = problem || explainReply(reply);
    }
    if (thisList !== generation) {
      // The list was reloaded meanwhile and shows the API's truth; say what happened to this decision.
      announce(`${capitalize(itemName(item))}: ${problem.title}. ${problem.detail}`);
      return;
    }
    if (current) {
      entry.item = current;
      entry.node = itemNode(current);
    } else {
      entry.node.querySelector(".note-input").value = note;
    }
    putBack(entry);
    showItemProblem(entry, problem);
    announce(`${capitalize(itemName(item))} is back: ${problem.title}.`);
    if (!isTextEntry(document.activeElement)) select(entry);
  }

  function decideSelected(decision) {
    const entry = entries.find((candidate) => candidate.item.id === selectedId && !candidate.deciding);
    if (!entry) {
      announce("Select a comment first: J and K move between comments.");
    } else if (entry.item.status !== "pending") {
      announce(`This comment is ${entry.item.status} already; only pending comments can be approved or removed.`);
    } else {
      decide(entry, decision);
    }
  }

  // --- Wiring -----------------------------------------------------------------------------------------------------

  const page = setUpPage({
    task: "review comments",
    scope: "review",
    showProblem: (title, detail, code) => {
      signInProblem = { title, detail, code };
      showQueueProblem(signInProblem, false);
    },
    onSignOut: () => {
      // Comments are not left on screen for whoever uses this browser next.
      signInProblem = null;
      counts = null;
      renderCounts();
      loadQueue();
    },
  });

  for (const [label, name] of Object.entries(LABEL_NAMES)) {
    labelFilter.append(el("option", { text: name, attrs: { value: label } }));
  }
  for (const radio of statusRadios) radio.addEventListener("change", loadQueue);
  labelFilter.addEventListener("change", loadQueue);
  actionFilter.addEventListener("change", loadQueue);
  document.getElementById("refresh-button").addEventListener("click", loadQueue);
  loadMoreButton.addEventListener("click", loadMore);

  queueBody.addEventListener("click", (event) => {
    const button = event.target.closest("[data-decision]");
    const entry = button && entryOf(button);
    if (entry) decide(entry, button.dataset.decision);
  });
  // Whatever item holds the focus (a click, Tab into its note) is the one the keys act on.
  queueBody.addEventListener("focusin", (event) => {
    const entry = entryOf(event.target);
    if (entry && entry.item.id !== selectedId) select(entry, { focus: false });
  });
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || isTextEntry(event.target)) return;
    const actions = {
      j: () => moveSelection(1),
      k: () => moveSelection(-1),
      a: () => decideSelected("approve"),
      r: () => decideSelected("remove"),
    };
    const action = actions[event.key.toLowerCase()];
    if (!action) return;
    event.preventDefault();
    action();
  });

  page.checkHealth();
  loadQueue();
})();
