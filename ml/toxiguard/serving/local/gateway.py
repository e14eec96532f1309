"""Local stand-in for API Gateway: serves `frontend/` and hands `/v1/*` to the unchanged Lambda functions.

Each API request becomes an API Gateway HTTP API event (payload format 2.0; a REST API's 1.0 with
API_PAYLOAD_FORMAT=1.0) and the handler's response is written back as API Gateway would: status, headers, body
(base64-decoded when the handler says so). Requests go where API Gateway's routes send them: the review routes to
the review function (`lambda/reviews.py`, REVIEW_ROUTE_KEYS), everything else to the scoring function
(`lambda/handler.py`). Both are loaded under private names, with the environment this gateway was given, so the code
that runs here is byte for byte the code deployed to Lambda.

Only the gateway's own concerns live here: static files, the generated `config.js`, API Gateway's 10 MB payload
limit, the JWT authorizer with AUTH=jwt (`toxiguard.serving.local.auth`: refused requests never reach the handler,
as on AWS), and an access log line per request (method, path, status, latency; never the body or a token).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import mimetypes
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qsl, unquote, urlsplit

from toxiguard.config import PROJECT_ROOT
from toxiguard.lambda_functions import HANDLER_FILE, load_handler
from toxiguard.serving.local.auth import AuthError, Authorizer, AuthSettings, route_key
from toxiguard.serving.local.http import HttpError, HttpServer, Request, Response, method_not_allowed

log = logging.getLogger("toxiguard.serving.local.gateway")

# The API Gateway routes integrated with the review function (terraform/modules/api; a structure test compares them).
REVIEW_ROUTE_KEYS = frozenset({"GET /v1/reviews", "GET /v1/reviews/{id}", "POST /v1/reviews/{id}/decision"})
FRONTEND_DIR = PROJECT_ROOT / "frontend"
API_PREFIX = "/v1/"
# API Gateway HTTP APIs refuse larger payloads before the function runs.
MAX_PAYLOAD_BYTES = 10 * 2**20
# Content types API Gateway passes to Lambda as text; everything else arrives base64-encoded.
TEXT_CONTENT_TYPES = ("text/", "application/json", "application/javascript", "application/xml")
LAMBDA_TIMEOUT_SECONDS = 10
STATIC_METHODS = ("GET", "HEAD")
# Handler calls at once: the size of botocore's connection pool (max_pool_connections), which the handler's one client
# shares; with more, each call past it opens a connection to the model server and discards it afterwards. Requests
# beyond it wait their turn in the server's queue, as Lambda would throttle them.
HTTP_THREADS = 10
REST_API_STAGE = "local"


class LambdaContext:
    """The attributes of the Lambda context object that handlers use."""

    function_name = "toxiguard-api-local"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:toxiguard-api-local"

    def __init__(self, timeout_seconds: float = LAMBDA_TIMEOUT_SECONDS):
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _event_body(body: bytes, content_type: str) -> tuple[str, bool]:
    """The event's `body` and `isBase64Encoded`: text for text content types, base64 for anything else."""
    try:
        text = body.decode("utf-8")
        as_text = not body or content_type.lower().startswith(TEXT_CONTENT_TYPES)
    except UnicodeDecodeError:
        as_text = False
    return (text if as_text else base64.b64encode(body).decode("ascii")), not as_text


def _query_parameters(query: str) -> dict[str, list[str]]:
    parameters: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        parameters.setdefault(name, []).append(value)
    return parameters


def http_api_event(method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes, source_ip: str) -> dict:
    """The API Gateway HTTP API (payload format 2.0) event for one request on the `$default` stage."""
    url = urlsplit(target)
    lowered: dict[str, str] = {}
    for name, value in headers:  # repeated headers arrive comma-joined, as API Gateway sends them
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    text, encoded = _event_body(body, lowered.get("content-type", ""))
    now = datetime.now(UTC)
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "http": {
                "method": method,
                "path": url.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": text,
        "isBase64Encoded": encoded,
    }
    if url.query:  # repeated parameters arrive comma-joined
        event["queryStringParameters"] = {k: ",".join(v) for k, v in _query_parameters(url.query).items()}
    return event


def rest_api_event(method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes, source_ip: str) -> dict:
    """The API Gateway REST API (Lambda proxy integration, payload format 1.0) event for one request, on a
    `{proxy+}` resource of the stage `local`; for teams that front the handler with a REST API instead."""
    url = urlsplit(target)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    single = {name: values[-1] for name, values in multi_headers.items()}  # REST APIs keep the last of repeats
    content_type = next((v for k, v in single.items() if k.lower() == "content-type"), "")
    text, encoded = _event_body(body, content_type)
    query = _query_parameters(url.query)
    now = datetime.now(UTC)
    return {
        "resource": "/{proxy+}",
        "path": url.path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {"proxy": url.path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/{REST_API_STAGE}{url.path}",
            "stage": REST_API_STAGE,
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": single.get("User-Agent") or single.get("user-agent")},
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


# Payload format → the event builder, and where its authorizer puts a token's claims (HTTP API JWT authorizer:
# `authorizer.jwt` with claims and scopes; REST API Cognito user pool authorizer: `authorizer.claims`).
EVENT_FORMATS = {
    "2.0": (http_api_event, lambda context: {"jwt": context}),
    "1.0": (rest_api_event, lambda context: {"claims": context["claims"]}),
}


def config_script(api_url: str, auth: Mapping) -> bytes:
    """`config.js` as deployment writes it: an empty API URL means the page calls its own origin; `auth` says how the
    page gets a token (`AuthSettings.page_config`)."""
    config = {"apiUrl": api_url, "auth": dict(auth)}
    return f"window.TOXIGUARD_CONFIG = {json.dumps(config)};\n".encode()


def authorizer_answer(function: ModuleType, event: Mapping, error: AuthError) -> dict:
    """The Lambda proxy result for a request the authorizer refused, shaped by the functions' own error contract.

    On AWS, API Gateway answers these before a function runs. Here they take the functions' shape, so that a client
    or a page reads them like any other error: `http_api`'s ApiError gives the status (from its ERROR_STATUS) and
    the body, and its `proxy_result` the headers every answer carries, CORS for an origin `function` allows included.
    """
    http_api = importlib.import_module("http_api")  # the module the functions imported (load_handler's path)
    api_error = http_api.ApiError(error.code, error.message, error.headers)
    response = http_api.Response(api_error.status, {"error": api_error.body()}, api_error.headers)
    origin = http_api.parse_event(event).headers.get("origin")
    request_id = event["requestContext"]["requestId"]
    return http_api.proxy_result(response, request_id, origin, function.SETTINGS.allowed_origins)


class Gateway:
    """The local API: `gateway.url` serves the page and `/v1/*`; the constructor raises BindError for a taken port."""

    def __init__(
        self,
        handler_environment: Mapping[str, str],
        host: str = "127.0.0.1",
        port: int = 8000,
        frontend_dir: Path = FRONTEND_DIR,
        api_url: str = "",
        handler_file: Path = HANDLER_FILE,
        reviews_file: Path | None = None,
        port_setting: str = "GATEWAY_PORT=<port>",
        auth: AuthSettings | None = None,
        payload_format: str = "2.0",
    ):
        auth = auth or AuthSettings()
        if payload_format not in EVENT_FORMATS:
            raise ValueError(f"payload format {payload_format!r}: use one of {', '.join(EVENT_FORMATS)}")
        self.build_event, self.authorizer_context = EVENT_FORMATS[payload_format]
        self.handler = load_handler(handler_environment, handler_file)
        # Without a review function (no review store, or a test's echo handler) every route goes to the one handler.
        self.reviews = load_handler(handler_environment, reviews_file) if reviews_file else self.handler
        self.frontend_root = frontend_dir.resolve()
        self.authorizer = Authorizer(auth) if auth.enabled else None
        self._http = HttpServer(self.handle, host, port, name="toxiguard-gateway", threads=HTTP_THREADS,
                                max_body_bytes=MAX_PAYLOAD_BYTES, port_setting=port_setting)  # fmt: skip
        self.config_js = config_script(api_url, auth.page_config(f"{self.url}/"))

    @property
    def url(self) -> str:
        return self._http.url

    def start(self) -> Gateway:
        """Serve in a background thread."""
        self._http.start()
        return self

    def close(self) -> None:
        self._http.close()

    def handle(self, request: Request) -> Response:
        """One request: `/v1/*` to a Lambda function, other GET/HEAD requests to the page; one access-log line."""
        started = time.perf_counter()
        path = request.path
        try:
            response = self._invoke_lambda(request) if path.startswith(API_PREFIX) else self._serve_static(request)
        except HttpError as error:
            response = error.response()
        log.info(
            json.dumps(
                {
                    "message": "request",
                    "method": request.method,
                    "path": path,
                    "status": response.status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                }
            )
        )
        return response

    def _invoke_lambda(self, request: Request) -> Response:
        event = self.build_event(request.method, request.target, request.headers.items(), request.body,
                                 request.client_address)  # fmt: skip
        function = self.reviews if route_key(request.method, request.path) in REVIEW_ROUTE_KEYS else self.handler
        result = self._refusal(request, event, function) or function.lambda_handler(event, LambdaContext())
        payload = result.get("body") or ""
        content = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode("utf-8")
        headers = dict(result.get("headers") or {})
        content_type = next((headers.pop(name) for name in list(headers) if name.lower() == "content-type"), None)
        return Response(result["statusCode"], content, content_type, headers)

    def _refusal(self, request: Request, event: dict, function: ModuleType) -> dict | None:
        """The authorizer's answer when it refuses the request; None when the request may reach the handler, its
        token's claims added to `event` as API Gateway adds them."""
        if self.authorizer is None:
            return None
        try:
            jwt_context = self.authorizer.authorize(request.method, request.path, request.headers)
        except AuthError as error:
            return authorizer_answer(function, event, error)
        if jwt_context is not None:
            event["requestContext"]["authorizer"] = self.authorizer_context(jwt_context)
        return None

    def _serve_static(self, request: Request) -> Response:
        if request.method not in STATIC_METHODS:
            raise method_not_allowed(request.path, STATIC_METHODS)
        if request.path == "/config.js":
            return Response(200, self.config_js, "text/javascript; charset=utf-8")
        file = self._static_file(unquote(request.path))
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type == "application/javascript":
            content_type += "; charset=utf-8"
        return Response(200, file.read_bytes(), content_type, {"Cache-Control": "no-cache"})

    def _static_file(self, path: str) -> Path:
        """The file under the page's directory that `path` names, or HttpError 404 (also for NUL and `..` escapes)."""
        relative = path.lstrip("/") or "index.html"
        not_found = HttpError(HTTPStatus.NOT_FOUND, f"no file {path!r}")
        if "\x00" in relative:  # the file system cannot name it (and Path.resolve raises)
            raise not_found
        try:
            file = (self.frontend_root / relative).resolve()
            if file.is_relative_to(self.frontend_root) and file.is_file():
                return file
        except OSError:  # a name the file system refuses (too long)
            pass
        raise not_found
