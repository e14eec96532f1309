"""The API client's tokens: a fixed one, or OAuth 2.0 client credentials renewed as they expire or are refused."""

from __future__ import annotations

import base64
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from toxiguard import cli
from toxiguard.config import LABELS
from toxiguard.serving.client import (
    ApiError,
    ApiScorer,
    ClientCredentials,
    CredentialsError,
    StaticToken,
    credentials_from_env,
)

CLIENT_ID, CLIENT_SECRET = "backend-client", "s3cret"


class TokenApi(ThreadingHTTPServer):
    """On 127.0.0.1: a token endpoint as Cognito's `/oauth2/token` answers client credentials, and `POST /v1/moderate`
    that accepts the tokens in `accepted` (401 otherwise; 403 for all when `forbidden`), with the local gateway's
    error bodies or, `aws_bodies`, API Gateway's `{"message": ...}`. The first `refused_tokens` tokens the endpoint
    issues are not accepted (revoked, or from a pool the API does not trust)."""

    def __init__(self, expires_in: int = 3600, refused_tokens: int = 0, aws_bodies: bool = False):
        super().__init__(("127.0.0.1", 0), TokenApiRequest)
        self.url = f"http://127.0.0.1:{self.server_port}"
        self.token_url = f"{self.url}/oauth2/token"
        self.expires_in, self.refused_tokens, self.aws_bodies = expires_in, refused_tokens, aws_bodies
        self.accepted: set[str] = set()
        self.forbidden = False
        self.token_requests: list[tuple[str, dict]] = []  # (Authorization header, form)
        self.api_authorizations: list[str | None] = []


class TokenApiRequest(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TokenApi

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/oauth2/token":
            self.issue_token(body)
        else:
            self.moderate(body)

    def issue_token(self, body: bytes) -> None:
        server, form = self.server, parse_qs(body.decode())
        server.token_requests.append((self.headers["Authorization"], form))
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if self.headers["Authorization"] != expected or form.get("grant_type") != ["client_credentials"]:
            return self.answer(400, {"error": "invalid_client"})
        token = f"token-{len(server.token_requests)}"
        if len(server.token_requests) > server.refused_tokens:
            server.accepted.add(token)
        self.answer(200, {"access_token": token, "expires_in": server.expires_in, "token_type": "Bearer"})

    def moderate(self, body: bytes) -> None:
        server, authorization = self.server, self.headers["Authorization"]
        server.api_authorizations.append(authorization)
        token = (authorization or "").removeprefix("Bearer ")
        if token not in server.accepted:
            return self.refuse(401, "unauthorized", "Unauthorized")
        if server.forbidden:
            return self.refuse(403, "insufficient_scope", "Forbidden")
        result = {"scores": dict.fromkeys(LABELS, 0.1), "labels": [], "flagged": False}
        results = [result] * len(json.loads(body)["texts"])
        self.answer(200, {"model_version": "test", "thresholds": dict.fromkeys(LABELS, 0.5), "results": results})

    def refuse(self, status: int, code: str, aws_message: str) -> None:
        if self.server.aws_bodies:
            return self.answer(status, {"message": aws_message})
        self.answer(status, {"error": {"code": code, "message": f"refused: {code}"}})

    def answer(self, status: int, payload: dict) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def token_api(in_background):
    """Starts TokenApi servers; all are stopped after the test."""
    return lambda **options: in_background(TokenApi(**options))


def client_credentials(server: TokenApi, **options) -> ClientCredentials:
    return ClientCredentials(server.token_url, CLIENT_ID, CLIENT_SECRET, **options)


def test_a_fixed_token_is_sent_as_a_bearer_token(token_api):
    api = token_api()
    api.accepted.add("fixed-token")
    credentials = credentials_from_env({"TOXIGUARD_API_TOKEN": " fixed-token "})
    assert isinstance(credentials, StaticToken)
    assert len(ApiScorer(api.url, credentials=credentials).moderate(["hello"])["results"]) == 1
    assert api.api_authorizations == ["Bearer fixed-token"]


def test_client_credentials_fetch_one_token_cognito_style_and_reuse_it(token_api):
    api = token_api()
    credentials = credentials_from_env({"TOXIGUARD_CLIENT_ID": CLIENT_ID, "TOXIGUARD_CLIENT_SECRET": CLIENT_SECRET,
                                        "TOXIGUARD_TOKEN_URL": api.token_url})  # fmt: skip
    scorer = ApiScorer(api.url, credentials=credentials)
    for _ in range(3):
        scorer.moderate(["hello"])
    ((authorization, form),) = api.token_requests
    assert authorization == "Basic " + base64.b64encode(b"backend-client:s3cret").decode()
    assert form == {"grant_type": ["client_credentials"], "scope": ["toxiguard/moderate"]}
    assert api.api_authorizations == ["Bearer token-1"] * 3


def test_a_token_is_renewed_a_minute_before_it_expires(token_api):
    api, now = token_api(expires_in=3600), [0.0]
    credentials = client_credentials(api, clock=lambda: now[0])
    seen = []
    for moment in (0, 3539, 3540, 3541):
        now[0] = moment
        seen.append(credentials.authorization())
    assert seen == ["Bearer token-1", "Bearer token-1", "Bearer token-2", "Bearer token-2"]


def test_a_refused_token_is_renewed_once_and_the_request_sent_again(token_api):
    api = token_api(refused_tokens=1)
    scorer = ApiScorer(api.url, credentials=client_credentials(api, scope="toxiguard/moderate toxiguard/review"))
    assert len(scorer.moderate(["hello", "there"])["results"]) == 2
    assert api.api_authorizations == ["Bearer token-1", "Bearer token-2"]
    assert [form["scope"] for _, form in api.token_requests] == [["toxiguard/moderate toxiguard/review"]] * 2


@pytest.mark.parametrize("aws_bodies", [False, True], ids=["local-gateway", "api-gateway"])
def test_a_refusal_that_persists_says_what_to_set(token_api, aws_bodies):
    api = token_api(refused_tokens=99, aws_bodies=aws_bodies)
    with pytest.raises(ApiError) as refused:
        ApiScorer(api.url, credentials=client_credentials(api)).moderate(["hello"])
    assert refused.value.status == 401 and refused.value.code == "unauthorized"
    assert "TOXIGUARD_TOKEN_URL" in refused.value.message and "TOXIGUARD_CLIENT_ID" in refused.value.message
    assert api.api_authorizations == ["Bearer token-1", "Bearer token-2"]  # renewed once, not in a loop

    fixed = ApiScorer(api.url, credentials=StaticToken("expired"))
    with pytest.raises(ApiError, match="refused TOXIGUARD_API_TOKEN"):
        fixed.moderate(["hello"])
    with pytest.raises(ApiError, match=r"needs an access token: set TOXIGUARD_API_TOKEN .* TOXIGUARD_TOKEN_URL"):
        ApiScorer(api.url).moderate(["hello"])


@pytest.mark.parametrize("aws_bodies", [False, True], ids=["local-gateway", "api-gateway"])
def test_a_token_without_the_scope_is_a_clear_403(token_api, aws_bodies):
    api = token_api(aws_bodies=aws_bodies)
    api.forbidden = True
    with pytest.raises(ApiError) as refused:
        ApiScorer(api.url, credentials=client_credentials(api)).moderate(["hello"])
    assert refused.value.status == 403 and refused.value.code == "insufficient_scope"
    assert "TOXIGUARD_TOKEN_SCOPE=toxiguard/moderate" in refused.value.message
    assert len(api.token_requests) == 1  # a 403 is about the scope: a new token would not help


def test_once_refused_the_next_requests_are_not_sent(token_api):
    api = token_api()
    results = ApiScorer(api.url, credentials=StaticToken("expired")).results(["hello"] * 65)  # two requests' worth
    assert len(results) == 65 and all(isinstance(result, ApiError) and result.status == 401 for result in results)
    assert len(api.api_authorizations) == 1


def test_a_token_endpoint_that_refuses_the_client_names_the_settings(token_api):
    api = token_api()
    credentials = ClientCredentials(api.token_url, CLIENT_ID, "wrong")
    with pytest.raises(ApiError) as refused:
        ApiScorer(api.url, credentials=credentials).moderate(["hello"])
    assert refused.value.status == 400 and refused.value.code == "token_refused"
    assert "400 invalid_client: check TOXIGUARD_CLIENT_ID, TOXIGUARD_CLIENT_SECRET" in refused.value.message
    assert api.api_authorizations == []


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"TOXIGUARD_API_TOKEN": "t", "TOXIGUARD_CLIENT_ID": "c"}, "not both"),
        ({"TOXIGUARD_CLIENT_ID": "c", "TOXIGUARD_CLIENT_SECRET": "s"}, "need TOXIGUARD_TOKEN_URL as well"),
        ({"TOXIGUARD_TOKEN_URL": "https://x.example/oauth2/token"}, "TOXIGUARD_CLIENT_ID and TOXIGUARD_CLIENT_SECRET"),
        ({"TOXIGUARD_CLIENT_ID": "c", "TOXIGUARD_CLIENT_SECRET": "s", "TOXIGUARD_TOKEN_URL": "x.example"}, "not an"),
    ],
)
def test_incomplete_or_contradicting_token_settings_are_named(environment, message):
    with pytest.raises(CredentialsError, match=message):
        credentials_from_env(environment)
    assert credentials_from_env({"TOXIGUARD_TOKEN_SCOPE": "toxiguard/review"}) is None


def test_predict_through_an_api_with_authentication(token_api, monkeypatch, capsys):
    api = token_api()
    api.accepted.add("fixed-token")
    for name in ("TOXIGUARD_API_TOKEN", "TOXIGUARD_CLIENT_ID", "TOXIGUARD_CLIENT_SECRET", "TOXIGUARD_TOKEN_URL"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["predict", "--api", api.url, "hello"]) == 2
    assert "the API needs an access token: set TOXIGUARD_API_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("TOXIGUARD_API_TOKEN", "fixed-token")
    assert cli.main(["predict", "--api", api.url, "hello"]) == 0
    assert "model test" in capsys.readouterr().out


def test_the_api_client_needs_no_jwt_library(python_without):
    """Tokens are opaque to the client: the base install (no PyJWT, cryptography, waitress or TensorFlow) sends them."""
    code = "from toxiguard import cli\nfrom toxiguard.serving import client\ncli.build_parser()\nprint('ok')"
    run = python_without(("jwt", "cryptography", "waitress", "tensorflow"), code, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
