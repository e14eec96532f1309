/*
 * toxiguard web pages: who is signed in, and the access token the API calls carry (POST /v1/moderate on the comment
 * checker, the review routes on the review queue; both pages share this tab's sign-in).
 *
 * config.js's `auth.mode` says how the page gets a token (frontend/README.md):
 *   none     it sends none;
 *   local    it takes a token handed over once in its address, `#access_token=<jwt>` (the local development issuer:
 *            `make demo` with AUTH=jwt prints such a link), and removes it from the address bar;
 *   cognito  it signs in with Cognito's hosted UI: authorization code with PKCE (S256), the code exchanged at
 *            `${domain}/oauth2/token`, the access token renewed there with the refresh token shortly before it
 *            expires, or when the API refuses it.
 * Tokens live in sessionStorage: this tab only, gone when it closes. localStorage would keep them on the computer
 * for whoever opens this browser profile next, and share them with every tab. Any script the page runs could read
 * either, which is why the page runs none but its own (Content-Security-Policy) and never writes HTML.
 *
 * The page does not check a token's signature (the API does); it reads claims only to show who is signed in.
 */
window.toxiguardAuth = (() => {
  "use strict";

  const config = (window.TOXIGUARD_CONFIG || {}).auth || { mode: "none" };
  const mode = String(config.mode || "none");
  const MODES = ["none", "local", "cognito"];
  const SESSION_KEY = "toxiguard.session"; // {accessToken, refreshToken, expiresAt (ms), user}
  // {state, verifier, returnTo}, from leaving for the hosted UI until coming back.
  const PKCE_KEY = "toxiguard.pkce";
  // Renew this long before the token expires: for the request's own time and for a clock that runs a little slow.
  const RENEW_MARGIN_MS = 60 * 1000;
  const TOKEN_TIMEOUT_MS = 10 * 1000;
  const REVOKE_TIMEOUT_MS = 3 * 1000;
  const CALLBACK_PARAMETERS = ["code", "state", "error", "error_description"];
  const NOT_SET_UP = "This page's sign-in is not set up correctly";
  const TELL_ADMIN = "The sign-in service refused this page's settings (config.js). Tell whoever runs toxiguard.";

  /** Why signing in failed or ended, in words for the person at the page; `code` (and `status`) for support. */
  class SignInProblem extends Error {
    constructor(title, detail, code = "", status = 0) {
      super(title);
      Object.assign(this, { title, detail, code, status });
    }
  }

  // --- Storage (a browser may block sessionStorage: then nothing is kept) -----------------------------------------

  function load(key) {
    try {
      return JSON.parse(sessionStorage.getItem(key));
    } catch {
      return null;
    }
  }

  function save(key, value) {
    try {
      sessionStorage.setItem(key, JSON.stringify(value));
      return true;
    } catch {
      return false;
    }
  }

  function remove(key) {
    try {
      sessionStorage.removeItem(key);
    } catch {
      // Blocked storage holds nothing to remove.
    }
  }

  let session = load(SESSION_KEY);

  function keep(newSession) {
    session = newSession;
    save(SESSION_KEY, session);
  }

  /** Forget this tab's tokens (a hosted UI session, if any, stays: `signOut` ends that too). */
  function forget() {
    session = null;
    remove(SESSION_KEY);
  }

  /** Change the address bar without loading anything. */
  function replaceAddress(url) {
    window.history.replaceState(window.history.state, "", `${url.pathname}${url.search}${url.hash}`);
  }

  // --- Tokens -----------------------------------------------------------------------------------------------------

  const base64url = (bytes) =>
    btoa(String.fromCharCode(...bytes))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
  const randomText = (byteCount) => base64url(crypto.getRandomValues(new Uint8Array(byteCount)));

  /** A JWT's claims, unverified; null when `token` is not a JWT. */
  function claimsOf(token) {
    try {
      const payload = String(token).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0))));
      return claims && typeof claims === "object" ? claims : null;
    } catch {
      return null;
    }
  }

  /** Who the tokens belong to: the ID token's e-mail (a Cognito username may be an id), a username, or `sub`. */
  function userName(accessClaims, idClaims = {}) {
    const names = [idClaims.email, idClaims["cognito:username"], accessClaims.username, accessClaims.sub];
    return names.find((name) => typeof name === "string" && name !== "") || "an unnamed user";
  }

  // --- local: a token handed over in the address ------------------------------------------------------------------

  function takeHandedOverToken() {
    const url = new URL(window.location.href);
    const token = new URLSearchParams(url.hash.slice(1)).get("access_token");
    if (token === null) return;
    url.hash = "";
    replaceAddress(url); // at once: the address bar, history and bookmarks should not keep a token
    const claims = claimsOf(token);
    if (!claims || typeof claims.exp !== "number") {
      throw new SignInProblem("The sign-in link holds no readable token", "Copy the whole link, or get a new token.");
    }
    keep({ accessToken: token, refreshToken: null, expiresAt: claims.exp * 1000, user: userName(claims) });
  }

  // --- cognito: authorization code with PKCE ----------------------------------------------------------------------

  function hostedUi() {
    const { domain, clientId, redirectUri, logoutUri, scopes } = config;
    const base = String(domain || "").replace(/\/+$/, "");
    const valid =
      /^https?:\/\/[^/]+$/.test(base) &&
      typeof clientId === "string" &&
      clientId !== "" &&
      /^https?:\/\//.test(String(redirectUri || "")) &&
      Array.isArray(scopes) &&
      scopes.length > 0;
    if (!valid) throw new SignInProblem(NOT_SET_UP, "config.js lacks its domain, client id, redirect URI or scopes.");
    return { domain: base, clientId, redirectUri, logoutUri: logoutUri || redirectUri, scopes };
  }

  /** A form POSTed to the hosted UI's token endpoint: the new session, or a SignInProblem saying what went wrong. */
  async function requestTokens(form, previous = null) {
    const { domain } = hostedUi();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TOKEN_TIMEOUT_MS);
    let response;
    let body;
    try {
      response = await fetch(`${domain}/oauth2/token`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(form),
        cache: "no-store",
        signal: controller.signal,
      });
      body = await response.json().catch(() => null);
    } catch {
      throw new SignInProblem("Can't reach the sign-in service", `No answer from ${domain}. Try again in a moment.`);
    } finally {
      clearTimeout(timer);
    }
    const accessClaims = body && claimsOf(body.access_token);
    if (!response.ok || !accessClaims) {
      const code = (body && typeof body.error === "string" && body.error) || "unexpected_answer";
      if (code === "invalid_grant") {
        // A used or expired code, or a refresh token past its lifetime or revoked: only a new sign-in helps.
        throw new SignInProblem("Your sign-in has expired", "Sign in again.", code, response.status);
      }
      const setup = ["invalid_client", "unauthorized_client", "invalid_scope", "invalid_request"].includes(code);
      throw new SignInProblem(
        setup ? NOT_SET_UP : "The sign-in service could not sign you in",
        setup ? TELL_ADMIN : "Try signing in again in a moment.",
        code,
        response.status,
      );
    }
    // expires_in is relative, so a wrong clock on this computer does not matter; the token's exp is the fallback.
    const lifetimeMs = Number(body.expires_in) * 1000 || accessClaims.exp * 1000 - Date.now();
    const idClaims = claimsOf(body.id_token);
    return {
      accessToken: body.access_token,
      // Cognito sends a refresh token with the code's tokens, and with renewed ones only when rotation is on.
      refreshToken: body.refresh_token || (previous && previous.refreshToken) || null,
      expiresAt: Date.now() + lifetimeMs,
      user: !idClaims && previous ? previous.user : userName(accessClaims, idClaims || {}),
    };
  }

  async function completeSignIn() {
    const url = new URL(window.location.href);
    const answer = new URLSearchParams(url.search);
    if (!answer.has("state") || !(answer.has("code") || answer.has("error"))) return;
    const pending = load(PKCE_KEY);
    remove(PKCE_KEY);
    CALLBACK_PARAMETERS.forEach((name) => url.searchParams.delete(name));
    replaceAddress(url); // a code is single-use, but it has no business in history or bookmarks
    const error = answer.get("error");
    if (error === "access_denied") {
      throw new SignInProblem("Sign-in was cancelled", "Sign in again.", error);
    }
    if (error) throw new SignInProblem(NOT_SET_UP, answer.get("error_description") || TELL_ADMIN, error);
    // The state proves this answers a sign-in this tab started, not a code someone else slipped into a link.
    if (!pending || pending.state !== answer.get("state")) {
      throw new SignInProblem(
        "The sign-in could not be completed",
        "It was not started from this tab. Sign in again.",
        "state_mismatch",
      );
    }
    const { clientId, redirectUri } = hostedUi();
    const form = { grant_type: "authorization_code", client_id: clientId, code: answer.get("code") };
    keep(await requestTokens({ ...form, redirect_uri: redirectUri, code_verifier: pending.verifier }));
    returnToSignInPage(pending.returnTo, url);
  }

  /** The hosted UI sends everyone back to the one registered redirect URI (the checker, "/"): a sign-in started on
   * another page (the review queue) goes on there, signed in. Only a path on this origin is followed. */
  function returnToSignInPage(returnTo, here) {
    const path = String(returnTo || "");
    if (!path.startsWith("/") || path.startsWith("//") || path === `${here.pathname}${here.search}`) return;
    window.location.replace(path);
  }

  let renewing = null;

  /** Renew the access token with the refresh token: true when done, false when this session cannot renew;
   * SignInProblem when the sign-in service refuses (the session is then forgotten) or cannot be reached. */
  function renew() {
    if (mode !== "cognito" || !session || !session.refreshToken) return Promise.resolve(false);
    renewing ??= (async () => {
      const previous = session;
      const { clientId } = hostedUi();
      const form = { grant_type: "refresh_token", client_id: clientId, refresh_token: previous.refreshToken };
      try {
        keep(await requestTokens(form, previous));
        return true;
      } catch (problem) {
        if (problem.code === "invalid_grant") forget();
        throw problem;
      } finally {
        renewing = null;
      }
    })();
    return renewing;
  }

  /** POST a form to the hosted UI without waiting long or minding the answer. */
  async function postQuietly(url, form, timeoutMs) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      await fetch(url, { method: "POST", body: new URLSearchParams(form), signal: controller.signal });
    } catch {
      // Best effort: see signOut.
    } finally {
      clearTimeout(timer);
    }
  }

  // --- What the pages use --------------------------------------------------------------------------------------------

  return {
    SignInProblem,
    mode,
    /** Whether the API's calls (other than health) need someone signed in. */
    required: mode !== "none",

    /** Take what the address brings (a handed-over token, the hosted UI's answer) and check the settings; a
     * SignInProblem when that fails. Call once, first. */
    async start() {
      if (!MODES.includes(mode)) throw new SignInProblem(NOT_SET_UP, `config.js names no sign-in mode "${mode}".`);
      if (mode === "local") takeHandedOverToken();
      if (mode === "cognito") {
        hostedUi();
        await completeSignIn();
      }
    },

    /** Who is signed in, `{name, expiresAt}` (expiresAt: ms since the epoch), or null. */
    user() {
      return session && { name: session.user, expiresAt: session.expiresAt };
    },

    /** The access token to send, renewed first when it is about to expire; null when nobody is signed in. */
    async accessToken() {
      if (!session) return null;
      if (session.refreshToken && session.expiresAt - Date.now() < RENEW_MARGIN_MS) await renew();
      return session && session.accessToken;
    },

    renew,
    forget,

    /** cognito: leave for the hosted UI, with a new PKCE verifier and state kept in this tab for the way back. */
    async signIn() {
      const { domain, clientId, redirectUri, scopes } = hostedUi();
      if (!window.crypto || !crypto.subtle) {
        throw new SignInProblem("This page cannot sign in here", "Signing in needs the page on https or localhost.");
      }
      const verifier = randomText(32); // 43 characters (RFC 7636's least), 256 random bits
      const state = randomText(16);
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
      const returnTo = `${window.location.pathname}${window.location.search}`;
      if (!save(PKCE_KEY, { state, verifier, returnTo })) {
        throw new SignInProblem("This browser blocks signing in", "Allow this site to keep data for the session.");
      }
      const query = new URLSearchParams({
        response_type: "code",
        client_id: clientId,
        redirect_uri: redirectUri,
        scope: scopes.join(" "),
        state,
        code_challenge: base64url(new Uint8Array(digest)),
        code_challenge_method: "S256",
      });
      window.location.assign(`${domain}/oauth2/authorize?${query}`);
    },

    /** Forget the tokens; cognito: also revoke the refresh token and end the hosted UI's session, which sends the
     * browser back to the page. */
    async signOut() {
      const refreshToken = session && session.refreshToken;
      forget();
      if (mode !== "cognito") return;
      const { domain, clientId, logoutUri } = hostedUi();
      // The tokens are gone from this tab whatever the answer; unrevoked, the refresh token lapses by itself.
      if (refreshToken) {
        await postQuietly(`${domain}/oauth2/revoke`, { token: refreshToken, client_id: clientId }, REVOKE_TIMEOUT_MS);
      }
      window.location.assign(`${domain}/logout?${new URLSearchParams({ client_id: clientId, logout_uri: logoutUri })}`);
    },
  };
})();
