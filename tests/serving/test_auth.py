"""The local JWT authorizer: API Gateway's checks through the local gateway, keys from a URL, the AUTH settings, and
the stack's refusal to serve the API without tokens beyond this machine."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from toxiguard.cloud import smoke
from toxiguard.config import LABELS
from toxiguard.serving.client import StaticToken
from toxiguard.serving.local.auth import (
    MODERATE_SCOPE,
    REVIEW_SCOPE,
    SCOPES,
    AuthError,
    Authorizer,
    AuthSettings,
    AuthSettingsError,
)
from toxiguard.serving.local.gateway import Gateway
from toxiguard.serving.local.issuer import LOCAL_CLIENT_ID, LOCAL_ISSUER, LocalIssuer
from toxiguard.serving.local.stack import StackError, StackSettings, auth_banner, check_exposure

ORIGIN = "https://moderation.example.org"
TEXT = {"text": "you are an idiot"}


class ScoringEndpoint:
    """Stands in for the SageMaker Runtime client: the same valid scores for every text."""

    def invoke_endpoint(self, **params) -> dict:
        count = len(json.loads(params["Body"])["instances"])
        return {"Body": io.BytesIO(json.dumps({"predictions": [[0.1] * len(LABELS)] * count}).encode())}


@dataclasses.dataclass
class AuthGateway:
    url: str
    events: list[dict]  # every event the handler received
    payload_format: str


@pytest.fixture(scope="module")
def issuer(tmp_path_factory) -> LocalIssuer:
    return LocalIssuer(tmp_path_factory.mktemp("data")).ensure_keys()


@pytest.fixture(scope="module", params=["2.0", "1.0"], ids=["http-api-2.0", "rest-api-1.0"])
def api(issuer, request, handler_environment):
    """The gateway with AUTH=jwt and the local issuer, before the real handler (its model endpoint a double), in
    either event format: the authorizer's behaviour must not depend on it."""
    auth = AuthSettings(mode="jwt", data_dir=issuer.directory.parent)
    environment = {**handler_environment, "ALLOWED_ORIGINS": ORIGIN}
    gateway = Gateway(environment, port=0, auth=auth, payload_format=request.param)
    handler, events = gateway.handler, []

    def lambda_handler(event, context):
        events.append(event)
        return handler.handle(event, context, handler.SETTINGS, ScoringEndpoint())

    handler.lambda_handler = lambda_handler
    gateway.start()
    yield AuthGateway(gateway.url, events, request.param)
    gateway.close()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict, claims: dict, signature) -> str:
    """A JWS in compact form whose signature `signature(signing input)` makes: for tokens PyJWT will not write."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(signature(signing_input.encode()))}"


@pytest.fixture(scope="module")
def sign(issuer):
    """`sign(claims=..., drop=..., key=..., kid=...)`: a token like the local issuer's with claims changed."""
    private_key = serialization.load_pem_private_key(issuer.key_file.read_bytes(), password=None)
    issuer_kid = json.loads(issuer.jwks_file.read_text())["keys"][0]["kid"]

    def make(claims: dict | None = None, drop: tuple[str, ...] = (), key=private_key, kid: str = issuer_kid) -> str:
        return jwt.encode(token_claims(claims, drop), key, algorithm="RS256", headers={"kid": kid})

    make.kid = issuer_kid
    return make


def token_claims(changes: dict | None = None, drop: tuple[str, ...] = ()) -> dict:
    now = int(time.time())
    claims = {"iss": LOCAL_ISSUER, "sub": "3f6c2e52", "client_id": LOCAL_CLIENT_ID, "token_use": "access",
              "scope": MODERATE_SCOPE, "iat": now, "exp": now + 600, "jti": "b1e6"}  # fmt: skip
    claims.update(changes or {})
    return {name: value for name, value in claims.items() if name not in drop}


def moderate(api: AuthGateway, authorization: str | None = None, **headers) -> requests.Response:
    if authorization is not None:
        headers["Authorization"] = authorization
    return requests.post(f"{api.url}/v1/moderate", json=TEXT, headers={"Origin": ORIGIN, **headers}, timeout=10)


def assert_refused(reply: requests.Response, status: int, code: str) -> dict:
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == code
    assert reply.headers["X-Request-Id"] and reply.headers["Access-Control-Allow-Origin"] == ORIGIN
    return reply.json()["error"]


# --- The authorizer's checks, through the gateway ---------------------------------------------------------------------
def test_a_request_without_a_token_gets_401_and_a_bare_challenge(api):
    seen = len(api.events)
    reply = moderate(api)
    error = assert_refused(reply, 401, "unauthorized")
    assert reply.headers["WWW-Authenticate"] == "Bearer" and "Authorization: Bearer" in error["message"]
    assert len(api.events) == seen  # refused before the handler, as API Gateway refuses before the function


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer two tokens", "Bearer not-a-jwt"])
def test_a_malformed_authorization_header_is_refused(api, authorization):
    reply = moderate(api, authorization)
    assert_refused(reply, 401, "unauthorized")
    assert reply.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token", error_description="the ')


def forged_tokens(sign, issuer) -> dict[str, str]:
    """Tokens that must fail, each with (part of) the reason the authorizer gives."""
    now = int(time.time())
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_key = RSAAlgorithm.from_jwk(json.loads(issuer.jwks_file.read_text())["keys"][0])
    public_pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "signature does not match": sign(key=other_key),  # the issuer's key id, another key's signature
        "signing key is not one of the issuer's": sign(key=other_key, kid="another-key"),
        "not signed with RS256 (alg none)": compact({"alg": "none", "kid": sign.kid}, token_claims(), lambda _: b""),
        # The classic confusion: HMAC keyed with the RSA public key, which anyone can read in jwks.json.
        "not signed with RS256 (HS256)": compact(
            {"alg": "HS256", "kid": sign.kid},
            token_claims(),
            lambda signing_input: hmac.new(public_pem, signing_input, hashlib.sha256).digest(),
        ),
        "has expired (by a second: no leeway)": sign({"exp": now - 1}),
        "has expired (an hour ago)": sign({"iat": now - 7200, "exp": now - 3600}),
        "not valid yet (nbf)": sign({"nbf": now + 300}),
        "not valid yet (iat)": sign({"iat": now + 300}),
        "does not have a valid issuer": sign({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"}),
        "has no `exp` claim": sign(drop=("exp",)),
        "does not have a valid audience (client_id)": sign({"client_id": "another-app"}),
        # API Gateway reads `client_id` only when there is no `aud`: a wrong `aud` is not rescued by it.
        "does not have a valid audience (aud first)": sign({"aud": "another-app"}),
        "does not have a valid audience (neither)": sign(drop=("client_id",)),
    }


def test_tokens_that_fail_a_check_are_refused_with_the_reason(api, sign, issuer):
    seen = len(api.events)
    for reason, token in forged_tokens(sign, issuer).items():
        reply = moderate(api, f"Bearer {token}")
        error = assert_refused(reply, 401, "unauthorized")
        expected = reason.split(" (")[0]
        assert expected in error["message"], reason
        assert reply.headers["WWW-Authenticate"] == (
            f'Bearer error="invalid_token", error_description="{error["message"]}"'
        )
    assert len(api.events) == seen


def test_a_valid_token_without_the_routes_scope_gets_403(api, sign):
    reply = moderate(api, f"Bearer {sign({'scope': REVIEW_SCOPE})}")
    error = assert_refused(reply, 403, "insufficient_scope")
    assert "toxiguard/moderate" in error["message"]
    challenge = reply.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="insufficient_scope"')
    assert challenge.endswith('scope="toxiguard/moderate"')


def test_a_valid_token_passes_its_claims_to_the_handler_where_api_gateway_puts_them(api, sign):
    claims = {"scope": f"{REVIEW_SCOPE} {MODERATE_SCOPE}", "username": "ann", "cognito:groups": ["moderators", "x"]}
    reply = moderate(api, f"Bearer {sign(claims)}")
    assert reply.status_code == 200 and len(reply.json()["results"]) == 1
    authorizer = api.events[-1]["requestContext"]["authorizer"]
    if api.payload_format == "2.0":  # HTTP API JWT authorizer
        assert authorizer["jwt"]["scopes"] == [REVIEW_SCOPE, MODERATE_SCOPE]
        passed = authorizer["jwt"]["claims"]
    else:  # REST API Cognito user pool authorizer: the claims alone, the scopes in `scope`
        passed = authorizer["claims"]
        assert passed["scope"] == f"{REVIEW_SCOPE} {MODERATE_SCOPE}"
    assert passed["username"] == "ann" and passed["client_id"] == LOCAL_CLIENT_ID
    # Every claim a string, as API Gateway passes them: numbers in decimal, arrays as "[a b]".
    assert passed["cognito:groups"] == "[moderators x]" and passed["exp"].isdigit()
    assert all(isinstance(value, str) for value in passed.values())


@pytest.mark.parametrize(
    ("changes", "drop"),
    [
        (lambda now: {"aud": LOCAL_CLIENT_ID}, ("client_id",)),  # an audience in `aud` instead of `client_id`
        (lambda now: {"scp": [MODERATE_SCOPE]}, ("scope",)),  # scopes in `scp`
        (lambda now: {"nbf": now + 10, "iat": now + 10}, ()),  # the issuer's clock a little ahead: within the leeway
    ],
    ids=["aud", "scp", "clock-skew"],
)
def test_tokens_the_authorizer_accepts(api, sign, changes, drop):
    assert moderate(api, f"Bearer {sign(changes(int(time.time())), drop)}").status_code == 200


def test_a_bare_token_is_accepted_as_api_gateway_accepts_it(api, sign):
    assert moderate(api, sign()).status_code == 200


def test_health_and_preflights_need_no_token(api):
    health = requests.get(f"{api.url}/v1/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert "authorizer" not in api.events[-1]["requestContext"]
    preflight = requests.options(f"{api.url}/v1/moderate", headers={"Origin": ORIGIN}, timeout=10)
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    # On every path: an unknown one gets the handler's 404, not the authorizer's 401.
    preflight = requests.options(f"{api.url}/v1/nothing", headers={"Origin": ORIGIN}, timeout=10)
    assert preflight.status_code == 404 and preflight.json()["error"]["code"] == "not_found"


def test_unknown_paths_and_methods_need_a_token_of_this_api_as_the_default_route_does(api, sign):
    assert requests.get(f"{api.url}/v1/nothing", timeout=10).status_code == 401
    assert requests.put(f"{api.url}/v1/moderate", timeout=10).status_code == 401
    for scope in SCOPES:
        headers = {"Authorization": f"Bearer {sign({'scope': scope})}"}
        assert requests.get(f"{api.url}/v1/nothing", headers=headers, timeout=10).status_code == 404
        assert requests.put(f"{api.url}/v1/moderate", headers=headers, timeout=10).status_code == 405


def test_every_spelling_of_a_method_is_checked(issuer):
    """The handler upper-cases methods to route them, so `post` must not pass without a token (waitress refuses
    lower-case methods today; the authorizer does not count on it)."""
    authorizer = Authorizer(AuthSettings(mode="jwt", data_dir=issuer.directory.parent))
    with pytest.raises(AuthError, match="needs an access token"):
        authorizer.authorize("post", "/v1/moderate", {})


def test_refusals_carry_the_headers_of_the_handlers_own_errors(api, sign):
    token = {"Authorization": f"Bearer {sign()}"}
    for origin in (ORIGIN, "https://elsewhere.example"):
        refused = requests.post(f"{api.url}/v1/moderate", json=TEXT, headers={"Origin": origin}, timeout=10)
        handlers = requests.post(f"{api.url}/v1/nothing", json=TEXT, headers={"Origin": origin, **token}, timeout=10)
        assert (refused.status_code, handlers.status_code) == (401, 404)
        ignored = {"x-request-id", "content-length", "date", "server", "www-authenticate"}
        assert {k: v for k, v in refused.headers.lower_items() if k not in ignored} == {
            k: v for k, v in handlers.headers.lower_items() if k not in ignored
        }, origin


def test_tokens_never_reach_the_logs(api, sign, caplog):
    token = sign()
    with caplog.at_level(logging.DEBUG):
        moderate(api, f"Bearer {token}")
        moderate(api, f"Bearer {token[:-4]}AAAA")
    assert caplog.records and not any(token[:40] in record.getMessage() for record in caplog.records)


def test_config_js_tells_the_page_to_take_a_handed_over_token(api):
    config = requests.get(f"{api.url}/config.js", timeout=10).text
    assert config == 'window.TOXIGUARD_CONFIG = {"apiUrl": "", "auth": {"mode": "local"}};\n'


# --- Keys from a URL (a real user pool) -------------------------------------------------------------------------------
POOL_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"


class JwksServer(ThreadingHTTPServer):
    """Serves one JWKS document at /.well-known/jwks.json on 127.0.0.1 and counts the fetches."""

    def __init__(self, document: dict):
        super().__init__(("127.0.0.1", 0), JwksRequest)
        self.document, self.fetches = document, 0
        self.url = f"http://127.0.0.1:{self.server_port}/.well-known/jwks.json"


class JwksRequest(BaseHTTPRequestHandler):
    server: JwksServer

    def do_GET(self) -> None:
        self.server.fetches += 1
        body = json.dumps(self.server.document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def pool_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_server(pool_key):
    public = RSAAlgorithm.to_jwk(pool_key.public_key(), as_dict=True)
    server = JwksServer({"keys": [{"kty": "RSA", "kid": "pool-key-1", "alg": "RS256", "use": "sig",
                                   "n": public["n"], "e": public["e"]}]})  # fmt: skip
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def pool_settings(jwks_url: str) -> AuthSettings:
    return AuthSettings.from_env({"AUTH": "jwt", "AUTH_JWKS_URL": jwks_url, "AUTH_ISSUER": POOL_ISSUER,
                                  "AUTH_AUDIENCE": "backend-client, web-client"})  # fmt: skip


def test_keys_from_auth_jwks_url_verify_a_pools_tokens_and_are_fetched_once(jwks_server, pool_key):
    authorizer = Authorizer(pool_settings(jwks_server.url))
    # A Cognito access token from client credentials: `client_id`, no `aud`.
    claims = token_claims({"iss": POOL_ISSUER, "client_id": "web-client", "cognito:groups": ["moderators"]})
    token = jwt.encode(claims, pool_key, algorithm="RS256", headers={"kid": "pool-key-1"})
    for _ in range(3):
        context = authorizer.authorize("POST", "/v1/moderate", {"authorization": f"Bearer {token}"})
        assert context["claims"]["cognito:groups"] == "[moderators]" and context["scopes"] == [MODERATE_SCOPE]
    assert jwks_server.fetches == 1
    claims["iss"] = LOCAL_ISSUER
    local_token = jwt.encode(claims, pool_key, algorithm="RS256", headers={"kid": "pool-key-1"})
    with pytest.raises(AuthError, match="valid issuer"):
        authorizer.authorize("POST", "/v1/moderate", {"authorization": f"Bearer {local_token}"})


def test_keys_that_cannot_be_fetched_are_an_internal_error_logged_with_the_setting(pool_key, caplog):
    authorizer = Authorizer(pool_settings("http://127.0.0.1:9/.well-known/jwks.json"))
    token = jwt.encode(token_claims({"iss": POOL_ISSUER}), pool_key, algorithm="RS256", headers={"kid": "k"})
    with pytest.raises(AuthError) as refused:
        authorizer.authorize("POST", "/v1/moderate", {"authorization": f"Bearer {token}"})
    assert refused.value.code == "internal_error" and "WWW-Authenticate" not in refused.value.headers
    assert "AUTH_JWKS_URL (http://127.0.0.1:9/.well-known/jwks.json)" in caplog.text


# --- Settings ---------------------------------------------------------------------------------------------------------
def test_settings_default_to_no_auth_and_the_local_issuer_in_jwt_mode(tmp_path):
    assert AuthSettings.from_env({}) == AuthSettings()
    local = AuthSettings.from_env({"AUTH": " JWT ", "TOXIGUARD_DATA_DIR": str(tmp_path)})
    assert local.local_issuer and local.data_dir == tmp_path and local.audience == (LOCAL_CLIENT_ID,)
    pool = pool_settings("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example/.well-known/jwks.json")
    assert not pool.local_issuer and pool.issuer == POOL_ISSUER and pool.audience == ("backend-client", "web-client")


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"AUTH": "cognito"}, "AUTH='cognito' is not a mode"),
        ({"AUTH": "jwt", "AUTH_JWKS_URL": "file:///etc/jwks.json"}, "AUTH_JWKS_URL='file:///etc/jwks.json' is not"),
        ({"AUTH": "jwt", "AUTH_JWKS_URL": "https://pool.example/jwks.json"}, "needs AUTH_ISSUER and AUTH_AUDIENCE"),
        ({"AUTH": "jwt", "AUTH_AUDIENCE": "web-client"}, "need its AUTH_JWKS_URL"),
        ({"AUTH": "jwt", "AUTH_JWKS_URL": "https://pool.example/jwks.json", "AUTH_ISSUER": "https://pool.example",
          "AUTH_AUDIENCE": "web", "AUTH_COGNITO_DOMAIN": "https://x.auth.example"}, "AUTH_COGNITO_DOMAIN and AUTH_"),
    ],
)  # fmt: skip
def test_invalid_settings_name_the_variable(environment, message):
    with pytest.raises(AuthSettingsError, match=message):
        AuthSettings.from_env(environment)


def test_the_page_config_says_how_the_page_gets_a_token():
    page = "http://127.0.0.1:8000/"
    assert AuthSettings().page_config(page) == {"mode": "none"}
    assert AuthSettings(mode="jwt").page_config(page) == {"mode": "local"}
    cognito = AuthSettings.from_env({
        "AUTH": "jwt", "AUTH_JWKS_URL": "https://pool.example/jwks.json", "AUTH_ISSUER": "https://pool.example",
        "AUTH_AUDIENCE": "web", "AUTH_COGNITO_DOMAIN": "https://toxiguard-dev.auth.us-east-1.amazoncognito.com/",
        "AUTH_CLIENT_ID": "web",
    })  # fmt: skip
    assert cognito.page_config(page) == {
        "mode": "cognito", "domain": "https://toxiguard-dev.auth.us-east-1.amazoncognito.com", "clientId": "web",
        "redirectUri": page, "logoutUri": page, "scopes": ["openid", MODERATE_SCOPE, REVIEW_SCOPE],
    }  # fmt: skip


# --- Serving with and without tokens (the stack) ----------------------------------------------------------------------
@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_may_serve_without_tokens(host):
    check_exposure(StackSettings(gateway_host=host))


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "192.168.1.20", "toxiguard.internal"])
def test_other_addresses_serve_without_tokens_only_when_told_to(host):
    with pytest.raises(StackError, match=f"GATEWAY_HOST={host} with AUTH=none.*AUTH_ALLOW_OPEN=true.*--allow-open"):
        check_exposure(StackSettings(gateway_host=host))
    check_exposure(StackSettings(gateway_host=host, allow_open=True))
    check_exposure(StackSettings(gateway_host=host, auth=AuthSettings(mode="jwt")))


def serve_command(environment: dict[str, str]) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AUTH")} | environment
    command = [sys.executable, "-m", "toxiguard.cli", "serve", "--port", "0", "--model-port", "0"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_serve_refuses_an_open_api_beyond_this_machine_before_anything_starts():
    refused = serve_command({"GATEWAY_HOST": "0.0.0.0"})
    assert refused.returncode == 1 and "toxiguard serve: GATEWAY_HOST=0.0.0.0 with AUTH=none" in refused.stderr
    assert "model server" not in refused.stdout
    invalid = serve_command({"GATEWAY_HOST": "0.0.0.0", "AUTH_ALLOW_OPEN": "perhaps"})
    assert invalid.returncode == 1 and "AUTH_ALLOW_OPEN='perhaps' is not true or false" in invalid.stderr


def test_the_banner_says_whether_tokens_are_checked_and_hands_the_page_one(issuer):
    assert "auth      off (AUTH=none)" in auth_banner(AuthSettings(), "http://127.0.0.1:8000")
    settings = AuthSettings(mode="jwt", data_dir=issuer.directory.parent)
    banner = auth_banner(settings, "http://127.0.0.1:8000")
    token = banner.split("http://127.0.0.1:8000/#access_token=")[1].split()[0]
    claims = Authorizer(settings).verify(token)
    assert claims["scope"].split() == list(SCOPES) and claims["username"] == "developer"
    assert claims["exp"] - claims["iat"] == 8 * 3600


def test_the_deploy_smoke_test_scores_with_a_token_and_sees_requests_without_one_refused(api, sign):
    with_token = smoke.Smoke(api.url, None, None, wait_seconds=0, credentials=StaticToken(sign()))
    assert with_token.auth().startswith("a request without a token is refused with 401")
    assert with_token.json_errors() == "malformed JSON gives 400 invalid_json"
    with pytest.raises(smoke.SmokeFailure, match="status 401"):
        smoke.Smoke(api.url, None, None, wait_seconds=0).moderate()
