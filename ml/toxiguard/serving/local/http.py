"""The HTTP layer both local servers share: waitress underneath, one JSON error contract, start/stop, port checks.

waitress (pure-Python WSGI server) does the HTTP/1.1 work `http.server` left to each handler: chunked bodies,
keep-alive, pipelining, and refusing malformed framing. This module adds what the servers need on top of it:

* every error is JSON, `{"error": {"code": ..., "message": ...}}` (the Lambda handler's shape), including the ones
  waitress itself answers for requests it cannot parse, which it would send as text/plain;
* limits: request line + headers (bytes and lines), body size, and time: a request must arrive whole within
  REQUEST_READ_SECONDS (else 408, or a silent close when nothing was sent), an idle keep-alive connection is closed
  after IDLE_CONNECTION_SECONDS. Reading is asynchronous, so a stalled client holds a socket, never a thread;
* response headers are checked (no CR/LF or control characters), so nothing a client sent can split a response;
* `HttpServer` serves a `Request -> Response` function on one address in a background thread.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from urllib.parse import urlsplit

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher
from waitress.utilities import Error as WaitressError
from waitress.utilities import RequestHeaderFieldsTooLarge

log = logging.getLogger("toxiguard.serving.local.http")
# waitress warns whenever requests wait for a free thread; under load that is the expected queueing, not a fault.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)

MAX_REQUEST_HEAD_BYTES = 16 * 1024  # request line + headers; a longer URL or header block is answered 431
MAX_HEADER_LINES = 100  # as http.server allowed; more is answered 431
REQUEST_READ_SECONDS = 5  # from a request's first byte (or the connection's opening) to its last
IDLE_CONNECTION_SECONDS = 120  # keep-alive between requests: boto3 and browsers reuse connections
MAX_CONNECTIONS = 1000  # open sockets; waitress stops accepting beyond this until some close
LOOP_SECONDS = 1  # the event loop wakes at least this often to enforce the time limits

# The one table of the error codes the local servers answer on their own; the codes shared with the Lambda handler's
# ERROR_STATUS have the same status there (tests/serving/test_gateway.py compares them).
ERROR_CODES = {
    HTTPStatus.BAD_REQUEST: "invalid_request",
    HTTPStatus.NOT_FOUND: "not_found",
    HTTPStatus.METHOD_NOT_ALLOWED: "method_not_allowed",
    HTTPStatus.REQUEST_TIMEOUT: "request_timeout",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "payload_too_large",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "headers_too_large",
    HTTPStatus.INTERNAL_SERVER_ERROR: "internal_error",
    HTTPStatus.NOT_IMPLEMENTED: "not_implemented",
}
# RFC 9110 field values: visible ASCII, obs-text, space and tab; names are tokens.
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Set by waitress from the body it sends, or not for an application to send (PEP 3333).
_SERVER_HEADERS = frozenset({"content-length", "connection", "keep-alive", "transfer-encoding", "te", "trailers",
                             "upgrade", "proxy-authenticate", "proxy-authorization"})  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    target: str  # the request target as sent: path and query, still percent-encoded
    headers: Mapping[str, str]  # names lower-cased; repeated headers comma-joined
    body: bytes
    client_address: str

    @property
    def path(self) -> str:
        """The target's path, still percent-encoded."""
        return urlsplit(self.target).path


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


class HttpError(Exception):
    """A request refused with a status from ERROR_CODES; `response()` is its JSON answer."""

    def __init__(self, status: HTTPStatus, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, dict(headers or {})

    def response(self) -> Response:
        return Response(self.status, error_body(self.status, self.message), headers=self.headers)


def error_body(status: HTTPStatus, message: str) -> bytes:
    return json.dumps({"error": {"code": ERROR_CODES[status], "message": message}}).encode()


def method_not_allowed(path: str, allowed: tuple[str, ...]) -> HttpError:
    methods = ", ".join(allowed)
    return HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} accepts {methods}", {"Allow": methods})


def parse_port(text: str) -> int:
    """A TCP port from text: 0 (any free port) to 65535; argparse reports the error as is."""
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535; 0 picks a free one)")
    return int(text)


class BindError(RuntimeError):
    """A server cannot listen on its address; the message says why and how to choose another port."""


def bind_error(host: str, port: int, error: OSError, port_setting: str) -> BindError:
    if error.errno == errno.EADDRINUSE:
        return BindError(
            f"port {port} on {host} is already in use: stop what is using it or choose another port with "
            f"{port_setting} (0 picks a free one)"
        )
    return BindError(f"cannot listen on {host}:{port}: {error.strerror or error}")


def check_port_free(host: str, port: int, port_setting: str) -> None:
    """Fail fast with BindError, before anything slow starts, when a fixed port is already taken."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise bind_error(host, port, exc, port_setting) from None


# --------------------------------------------------------------------------------------------------
# waitress, with JSON errors and time limits
# --------------------------------------------------------------------------------------------------


class _RequestTimeout(WaitressError):
    code = HTTPStatus.REQUEST_TIMEOUT.value
    reason = HTTPStatus.REQUEST_TIMEOUT.phrase


class _JsonErrorTask(ErrorTask):
    """waitress's answer to a request it could not parse or take, in the JSON error contract."""

    def execute(self) -> None:
        error = self.request.error
        body = error_body(HTTPStatus(error.code), f"{error.reason}: {error.body}")
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)
        log.debug("refused a request: %d %s", error.code, error.body)


class _RequestParser(HTTPRequestParser):
    """waitress's parser, also capping the number of header lines (waitress caps only their total size)."""

    header_lines = 0

    def parse_header(self, header_plus: bytes) -> None:
        self.header_lines = header_plus.count(b"\n")  # one per header line: the request line is followed by one
        super().parse_header(header_plus)

    def received(self, data: bytes) -> int:
        consumed = super().received(data)
        if self.header_lines > MAX_HEADER_LINES and self.error is None:
            self.error = RequestHeaderFieldsTooLarge(f"more than {MAX_HEADER_LINES} header lines")
            self.completed = True
        return consumed


class _Channel(HTTPChannel):
    """One connection: JSON errors, the header line cap, and the clock for REQUEST_READ_SECONDS."""

    error_task_class = _JsonErrorTask
    parser_class = _RequestParser

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reading_since: float | None = self.creation_time  # None between requests (keep-alive idle)

    def writable(self) -> bool:
        # While a worker answers, it sends what it writes itself (write_soon flushes at once, and wakes the loop if it
        # could not). Polling for writability meanwhile made the event loop spin on an always-writable socket, taking
        # the GIL from the workers: about 190 loop turns per request at the gateway under concurrency 8.
        if self.requests and self.total_outbufs_len < self.adj.outbuf_high_watermark:
            return bool(self.will_close or self.close_when_flushed)
        return super().writable()

    def received(self, data: bytes) -> bool:
        pending = self.request
        accepted = super().received(data)
        if self.request is None:
            self.reading_since = None
        elif self.request is not pending:
            self.reading_since = time.time()
        return accepted

    def enforce_time_limits(self, now: float) -> None:
        """Called by the event loop's maintenance: close idle or silent connections, answer late requests 408."""
        if self.requests or self.will_close or self.close_when_flushed:
            return  # a response is under way
        if self.reading_since is None:
            if now - self.last_activity > IDLE_CONNECTION_SECONDS:
                self.will_close = True
        elif now - self.reading_since > REQUEST_READ_SECONDS:
            if self.request is None:
                self.will_close = True  # connected but sent nothing: there is no request to answer
                return
            with self.requests_lock:  # hand the partial request to a worker as an error, as `received` does
                request, self.request = self.request, None
                request.error = _RequestTimeout(f"the request did not arrive in full within {REQUEST_READ_SECONDS} s")
                request.completed = True
                self.requests.append(request)
            self.server.add_task(self)


class _Server(TcpWSGIServer):
    channel_class = _Channel

    def maintenance(self, now: float) -> None:
        for channel in list(self.active_channels.values()):
            channel.enforce_time_limits(now)


def _check_field(name: str, value: str) -> None:
    if not _FIELD_NAME.fullmatch(name) or not _FIELD_VALUE.fullmatch(value):
        raise ValueError(f"refusing to send the response header {name!r}: invalid characters")


class _WsgiApp:
    """WSGI around a `Request -> Response` function: HttpError answers, anything else is a logged 500."""

    def __init__(self, handle: Callable[[Request], Response]):
        self._handle = handle

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        try:
            response = self._handle(_request(environ))
            headers = _response_headers(response)
        except HttpError as error:
            response = error.response()
            headers = _response_headers(response)
        except Exception:  # a bug: logged with its traceback, answered without one
            log.exception("request failed: %s %s", environ["REQUEST_METHOD"], urlsplit(environ["REQUEST_URI"]).path)
            response = HttpError(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error in the local server").response()
            headers = _response_headers(response)
        start_response(_status_line(response.status), headers)
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [response.body]


def _request(environ: dict) -> Request:
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if key in environ:
            headers[key.replace("_", "-").lower()] = environ[key]
    length = int(environ.get("CONTENT_LENGTH") or 0)  # waitress has checked it, and set it for chunked bodies
    body = environ["wsgi.input"].read(length) if length else b""
    return Request(environ["REQUEST_METHOD"], environ["REQUEST_URI"], headers, body, environ["REMOTE_ADDR"])


def _response_headers(response: Response) -> list[tuple[str, str]]:
    headers = [("Content-Length", str(len(response.body)))]
    if response.content_type is not None:
        headers.append(("Content-Type", response.content_type))
    for name, value in response.headers.items():
        if name.lower() not in _SERVER_HEADERS and name.lower() != "content-type":
            headers.append((name, value))
    for name, value in headers:
        _check_field(name, value)
    return headers


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


class HttpServer:
    """One `Request -> Response` function served by waitress on one address; binds in the constructor.

    `start()` runs the event loop in a background thread; `close()` stops it, finishing requests under way.
    """

    def __init__(
        self,
        handle: Callable[[Request], Response],
        host: str,
        port: int,
        *,
        name: str,
        threads: int,
        max_body_bytes: int,
        port_setting: str = "another port number",
    ):
        adjustments = Adjustments(
            host=host,
            port=port,
            ident=name,
            threads=threads,
            max_request_header_size=MAX_REQUEST_HEAD_BYTES,
            max_request_body_size=max_body_bytes + 1,  # waitress refuses bodies of this size and above
            connection_limit=MAX_CONNECTIONS,
            cleanup_interval=LOOP_SECONDS,
            channel_timeout=IDLE_CONNECTION_SECONDS,
            asyncore_loop_timeout=LOOP_SECONDS,
        )
        self.name = name
        self._map: dict = {}
        self._dispatcher = ThreadedTaskDispatcher()
        try:
            self._server = _Server(_WsgiApp(handle), map=self._map, dispatcher=self._dispatcher, adj=adjustments,
                                   sockinfo=adjustments.listen[0])  # fmt: skip
        except OSError as exc:
            wasyncore.close_all(self._map)
            raise bind_error(host, port, exc, port_setting) from None
        self._threads = threads
        self._stopping = False
        self._loop: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.effective_host, self._server.effective_port
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> HttpServer:
        if self._loop is None:
            self._dispatcher.set_thread_count(self._threads)
            self._loop = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._loop.start()
        return self

    def _run(self) -> None:
        while not self._stopping:
            # poll(), not select(): select() fails past 1,024 open descriptors.
            wasyncore.loop(timeout=LOOP_SECONDS, map=self._map, use_poll=True, count=1)
        self._shut_down()

    def _shut_down(self) -> None:
        self._dispatcher.shutdown()  # lets the requests under way finish (up to 5 s), cancels queued ones
        wasyncore.close_all(self._map)

    def close(self) -> None:
        """Stop listening and close every connection; idempotent."""
        if self._loop is None:
            if self._map:
                self._shut_down()
            return
        self._stopping = True
        self._server.pull_trigger()  # wakes the loop, which shuts down in its own thread
        self._loop.join()
        self._loop = None
