"""HTTP framing, limits and time-outs of both local servers (gateway and model server), with raw bytes on sockets.

Each case is one a client library would not send: chunked bodies with a request pipelined behind them, broken
Content-Length values, bodies shorter than announced, clients that stall, oversized request heads, unknown methods.
Every answer must be the JSON error contract, and no stalled client may hold a server thread or delay others.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from toxiguard.serving.local.gateway import Gateway
from toxiguard.serving.local.http import ERROR_CODES, REQUEST_READ_SECONDS, HttpServer, Response

ECHO_HANDLER = Path(__file__).parents[1] / "fixtures" / "echo_handler.py"
JSON_BODY = b'{"instances": ["thanks for the edit"]}'


@dataclasses.dataclass(frozen=True)
class Target:
    url: str
    post_path: str  # takes JSON_BODY
    get_path: str  # answers GET with 200
    posted: Callable[[bytes], object]  # what a 200 answer to JSON_BODY shows of the body it received


@pytest.fixture(scope="module")
def echo_gateway():
    with_echo = Gateway({}, port=0, handler_file=ECHO_HANDLER).start()
    yield with_echo
    with_echo.close()


@pytest.fixture(params=["gateway", pytest.param("model_server", marks=pytest.mark.slow)])
def target(request, echo_gateway) -> Target:
    if request.param == "gateway":
        return Target(
            echo_gateway.url, "/v1/echo", "/config.js", lambda body: json.loads(json.loads(body)["event"]["body"])
        )
    model_server = request.getfixturevalue("model_server")
    return Target(model_server, "/invocations", "/ping", lambda body: len(json.loads(body)["predictions"]))


def head(method: str, path: str, *headers: str) -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]).encode()


def assert_json_error(response, statuses: set[int]) -> None:
    assert response.status in statuses, response
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == ERROR_CODES[response.status] and error["message"]


def test_a_chunked_body_is_read_and_the_request_pipelined_after_it_answered(target, raw_exchange):
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (JSON_BODY[:10], JSON_BODY[10:])) + b"0\r\n\r\n"
    post = head("POST", target.post_path, "Content-Type: application/json", "Transfer-Encoding: chunked") + chunked
    answered, pipelined = raw_exchange(target.url, post + head("GET", target.get_path), responses=2)
    assert answered.status == 200 and target.posted(answered.body) in (json.loads(JSON_BODY), 1)
    assert pipelined.status == 200


@pytest.mark.parametrize("length", ["-1", "abc", "1, 2", "+5"])
def test_an_invalid_content_length_is_a_json_400(target, raw_exchange, length):
    (response,) = raw_exchange(target.url, head("POST", target.post_path, f"Content-Length: {length}") + JSON_BODY)
    assert_json_error(response, {400})


def test_a_body_shorter_than_announced_is_answered_408_in_time(target, raw_exchange):
    started = time.monotonic()
    short = head("POST", target.post_path, "Content-Type: application/json", "Content-Length: 100") + JSON_BODY
    (response,) = raw_exchange(target.url, short, timeout=REQUEST_READ_SECONDS + 5)
    assert_json_error(response, {408})
    assert time.monotonic() - started < REQUEST_READ_SECONDS + 3


STALLED_CLIENTS = 100


def test_stalled_clients_are_dropped_and_never_delay_others(target):
    address = urlsplit(target.url)
    stalled = [socket.create_connection((address.hostname, address.port), timeout=2) for _ in range(STALLED_CLIENTS)]
    try:
        for index, sock in enumerate(stalled):
            if index % 4:  # a quarter send nothing at all
                sock.sendall(b"POST " + target.post_path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        started = time.monotonic()
        assert requests.get(f"{target.url}{target.get_path}", timeout=5).status_code == 200
        assert time.monotonic() - started < 1.0

        deadline = started + REQUEST_READ_SECONDS + 5  # each must be closed by then: recv returns b"" (after a 408)
        for sock in stalled:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            received = b""
            while chunk := sock.recv(4096):
                received += chunk
            assert received == b"" or received.split(b" ", 2)[1] == b"408"  # the version is not parsed yet
        assert time.monotonic() < deadline
    finally:
        for sock in stalled:
            sock.close()


def test_protocol_errors_are_json(target, raw_exchange):
    cases = {
        "unknown method": (head("BREW", target.get_path), {405, 501}),
        "lower-case method": (head("get", target.get_path), {400}),
        "65 KB URL": (head("GET", "/" + "a" * 65_000), {414, 431}),
        "120 headers": (head("GET", target.get_path, *(f"X-Header-{i}: {i}" for i in range(120))), {431, 400}),
        "NUL in the path": (head("GET", "/%00"), {400, 404}),
        "header without a colon": (head("GET", target.get_path, "Broken"), {400}),
        "unknown transfer coding": (head("POST", target.post_path, "Transfer-Encoding: gzip"), {501}),
        "body over the limit": (head("POST", target.post_path, f"Content-Length: {11 * 2**20}"), {413}),
    }
    for name, (data, statuses) in cases.items():
        (response,) = raw_exchange(target.url, data)
        assert response.status in statuses, name
        assert_json_error(response, statuses)


def test_response_headers_with_line_breaks_are_never_sent(raw_exchange):
    def handle(request):
        return Response(200, b"{}", headers={"X-Echo": request.headers.get("x-value", "").replace("+", "\r\n")})

    server = HttpServer(handle, "127.0.0.1", 0, name="test", threads=1, max_body_bytes=10).start()
    try:
        (response,) = raw_exchange(server.url, head("GET", "/", "X-Value: a+Injected: yes"))
        assert_json_error(response, {500})
        assert "injected" not in response.headers
    finally:
        server.close()
