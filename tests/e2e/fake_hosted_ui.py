"""A fake of Cognito's hosted UI for the browser tests: the endpoints the page signs in with, on 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt

from toxiguard.serving.local.auth import PAGE_SCOPES

HOUR = 3600


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class FakeHostedUi(ThreadingHTTPServer):
    """Cognito's hosted UI as the page uses it, on 127.0.0.1: `/oauth2/authorize` (signs `alice` in at once and sends
    a code back), `/oauth2/token` (the code for tokens, with the PKCE check; a refresh token for new ones),
    `/oauth2/revoke` and `/logout`, with Cognito's checks of a public client. The tokens it answers with are queued
    by the test (`issue`); what it was asked for, and anything it refused, is recorded."""

    def __init__(self, client_id: str):
        super().__init__(("127.0.0.1", 0), HostedUiRequest)
        self.url = f"http://127.0.0.1:{self.server_port}"
        self.client_id = client_id
        self.page_url = ""  # the page's URL: the registered redirect and sign-out URL
        self.answers: list[dict] = []  # token endpoint answers, in order
        self.challenges: dict[str, str] = {}  # code -> code_challenge
        self.refresh_tokens: set[str] = set()
        self.grants: list[str] = []
        self.revoked: list[str] = []
        self.sign_outs = 0
        self.refusals: list[str] = []
        # An ID token for display only (the page does not verify it, having it straight from the token endpoint).
        self.id_token = jwt.encode({"sub": "alice-id", "email": "alice@example.org"}, secrets.token_bytes(32), "HS256")

    def issue(self, access_token: str, expires_in: int = HOUR) -> None:
        self.answers.append(
            {"access_token": access_token, "id_token": self.id_token, "token_type": "Bearer", "expires_in": expires_in}
        )


class HostedUiRequest(BaseHTTPRequestHandler):
    server: FakeHostedUi

    def log_message(self, format, *args):  # quiet
        pass

    def do_GET(self):
        url = urlsplit(self.path)
        routes = {"/oauth2/authorize": self.authorize, "/logout": self.logout}
        routes.get(url.path, self.not_found)(dict(parse_qsl(url.query)))

    def do_POST(self):
        form = dict(parse_qsl(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()))
        routes = {"/oauth2/token": self.token, "/oauth2/revoke": self.revoke}
        routes.get(self.path, self.not_found)(form)

    @property
    def page_url(self) -> str:
        return self.server.page_url

    def refuse(self, reason: str, error: str = "invalid_request") -> None:
        self.server.refusals.append(f"{self.path.partition('?')[0]}: {reason}")
        self.send_json(400, {"error": error})

    def expect(self, values: dict, **expected) -> bool:
        """Whether `values` has the `expected` ones; refused when not."""
        wrong = sorted(name for name, value in expected.items() if values.get(name) != value)
        if wrong:
            self.refuse(f"wrong {', '.join(wrong)}")
        return not wrong

    def not_found(self, _: dict) -> None:
        self.send_json(404, {"error": "not_found"})

    def authorize(self, query: dict) -> None:
        scope = " ".join(PAGE_SCOPES)
        if not self.expect(query, response_type="code", client_id=self.server.client_id, redirect_uri=self.page_url,
                           scope=scope, code_challenge_method="S256"):  # fmt: skip
            return
        if not query.get("state") or not re.fullmatch(r"[A-Za-z0-9_-]{43}", query.get("code_challenge", "")):
            self.refuse("no state, or a code_challenge that is not a base64url SHA-256")
            return
        code = secrets.token_urlsafe(16)
        self.server.challenges[code] = query["code_challenge"]
        self.redirect(f"{self.page_url}?{urlencode({'code': code, 'state': query['state']})}")

    def token(self, form: dict) -> None:
        server = self.server
        grant = form.get("grant_type", "")
        server.grants.append(grant)
        if not self.expect(form, client_id=server.client_id):
            return
        if grant == "authorization_code":
            challenge = server.challenges.pop(form.get("code", ""), None)  # a code works once
            verifier = form.get("code_verifier", "")
            if challenge is None or not 43 <= len(verifier) <= 128 or s256(verifier) != challenge:
                self.refuse("the code is unknown, or the PKCE verifier does not match its challenge", "invalid_grant")
                return
            if not self.expect(form, redirect_uri=self.page_url):
                return
        elif grant != "refresh_token" or form.get("refresh_token") not in server.refresh_tokens:
            self.refuse(f"grant {grant!r} with an unknown refresh token", "invalid_grant")
            return
        answer = server.answers.pop(0)
        if "error" in answer:
            self.send_json(400, answer)
            return
        if grant == "authorization_code":  # Cognito hands out a refresh token with the code's tokens only
            answer = {**answer, "refresh_token": secrets.token_urlsafe(24)}
            server.refresh_tokens.add(answer["refresh_token"])
        self.send_json(200, answer)

    def revoke(self, form: dict) -> None:
        if self.expect(form, client_id=self.server.client_id):
            self.server.revoked.append(form.get("token", ""))
            self.send_json(200, {})

    def logout(self, query: dict) -> None:
        if self.expect(query, client_id=self.server.client_id, logout_uri=self.page_url):
            self.server.sign_outs += 1
            self.redirect(self.page_url)

    def redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def send_json(self, status: int, body: dict) -> None:
        content = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        # The page calls the token endpoint from its own origin, as Cognito allows.
        self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


@contextlib.contextmanager
def running_hosted_ui(client_id: str) -> Iterator[FakeHostedUi]:
    """A FakeHostedUi for the page's app client `client_id`, serving in a background thread until the block ends; set
    its `page_url` before the page signs in."""
    ui = FakeHostedUi(client_id)
    threading.Thread(target=ui.serve_forever, daemon=True).start()
    try:
        yield ui
    finally:
        ui.shutdown()
        ui.server_close()
