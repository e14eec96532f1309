"""Local stand-in for API Gateway: serves `frontend/` and hands `/v1/*` to the unchanged Lambda handler.

Each API request becomes an API Gateway HTTP API event (payload format 2.0) and the handler's response is written
back as API Gateway would: status, headers, body (base64-decoded when the handler says so). The handler module is
loaded from `lambda/handler.py` under a private name, with the environment this gateway was given, so the code that
runs here is byte for byte the code deployed to Lambda.

Only the gateway's own concerns live here: static files, the generated `config.js`, API Gateway's 10 MB payload
limit, and an access log line per request (method, path, status, latency; never the body).
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import logging
import mimetypes
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qsl, unquote, urlsplit

from toxiguard.config import PROJECT_ROOT

log = logging.getLogger("toxiguard.serving.local.gateway")

HANDLER_FILE = PROJECT_ROOT / "lambda" / "handler.py"
FRONTEND_DIR = PROJECT_ROOT / "frontend"
API_PREFIX = "/v1/"
# API Gateway HTTP APIs refuse larger payloads before the function runs.
MAX_PAYLOAD_BYTES = 10 * 2**20
# Content types API Gateway passes to Lambda as text; everything else arrives base64-encoded.
TEXT_CONTENT_TYPES = ("text/", "application/json", "application/javascript", "application/xml")
LAMBDA_TIMEOUT_SECONDS = 10


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore the previous ones."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_handler(environment: Mapping[str, str], handler_file: Path = HANDLER_FILE) -> ModuleType:
    """Import the Lambda handler as a fresh module that reads `environment` at import, as a cold start does."""
    name = f"toxiguard_lambda_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, handler_file)
    module = importlib.util.module_from_spec(spec)
    with patched_environ(environment):
        spec.loader.exec_module(module)
    return module


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


def http_api_event(method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes, source_ip: str) -> dict:
    """The API Gateway HTTP API (payload format 2.0) event for one request on the `$default` stage."""
    url = urlsplit(target)
    lowered: dict[str, str] = {}
    for name, value in headers:  # repeated headers arrive comma-joined, as API Gateway sends them
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    content_type = lowered.get("content-type", "").lower()
    try:
        text = body.decode("utf-8")
        as_text = not body or content_type.startswith(TEXT_CONTENT_TYPES)
    except UnicodeDecodeError:
        as_text = False
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
        "body": text if as_text else base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": not as_text,
    }
    if url.query:
        parameters: dict[str, str] = {}
        for name, value in parse_qsl(url.query, keep_blank_values=True):
            parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
        event["queryStringParameters"] = parameters
    return event


def config_script(api_url: str = "") -> bytes:
    """`config.js` as deployment writes it; an empty API URL means the page calls its own origin."""
    return f"window.TOXIGUARD_CONFIG = {json.dumps({'apiUrl': api_url})};\n".encode()


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the page and load tests reuse connections
    # Headers and body go out as separate writes; with Nagle's algorithm the second waits for a delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server: Gateway

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _dispatch(self) -> None:
        started = time.perf_counter()
        path = urlsplit(self.path).path
        if path.startswith(API_PREFIX) or self.command not in ("GET", "HEAD"):
            status = self._invoke_lambda()
        else:
            status = self._serve_static(path)
        log.info(
            json.dumps(
                {
                    "message": "request",
                    "method": self.command,
                    "path": path,
                    "status": status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                }
            )
        )

    def _invoke_lambda(self) -> int:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            self.close_connection = True  # the unread body would otherwise be parsed as the next request
            return self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"message": "Request Entity Too Large"})
        body = self.rfile.read(length)
        event = http_api_event(self.command, self.path, self.headers.items(), body, self.client_address[0])
        response = self.server.handler.lambda_handler(event, LambdaContext())
        payload = response.get("body") or ""
        content = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode("utf-8")
        return self._write(response["statusCode"], response.get("headers") or {}, content)

    def _serve_static(self, path: str) -> int:
        if path == "/config.js":
            return self._write(200, {"Content-Type": "text/javascript; charset=utf-8"}, self.server.config_js)
        relative = unquote(path).lstrip("/") or "index.html"
        root = self.server.frontend_dir.resolve()
        file = (root / relative).resolve()
        if not file.is_relative_to(root) or not file.is_file():
            return self._send(HTTPStatus.NOT_FOUND, {"error": {"code": "not_found", "message": f"no file {path}"}})
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type == "application/javascript":
            content_type += "; charset=utf-8"
        return self._write(200, {"Content-Type": content_type, "Cache-Control": "no-cache"}, file.read_bytes())

    def _send(self, status: HTTPStatus, payload: dict) -> int:
        return self._write(status.value, {"Content-Type": "application/json"}, json.dumps(payload).encode())

    def _write(self, status: int, headers: Mapping[str, str], content: bytes) -> int:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)
        return status

    def log_message(self, format: str, *args) -> None:
        """Silenced: `_dispatch` writes one structured access-log line per request instead."""


class Gateway(ThreadingHTTPServer):
    """The local API: `gateway.url` serves the page and `/v1/*`. Bind errors surface from the constructor."""

    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 resets connections under 32 concurrent clients

    def __init__(
        self,
        handler_environment: Mapping[str, str],
        host: str = "127.0.0.1",
        port: int = 8000,
        frontend_dir: Path = FRONTEND_DIR,
        api_url: str = "",
        handler_file: Path = HANDLER_FILE,
    ):
        self.handler = load_handler(handler_environment, handler_file)
        self.frontend_dir = frontend_dir
        self.config_js = config_script(api_url)
        super().__init__((host, port), _RequestHandler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Gateway:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="gateway", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
        self.server_close()
