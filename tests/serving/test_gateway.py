"""The local gateway: API Gateway HTTP API events for the handler, static files and config.js for the page."""

from __future__ import annotations

import base64
import importlib
import json
from pathlib import Path

import pytest
import requests

from toxiguard.serving.local.gateway import MAX_PAYLOAD_BYTES, Gateway
from toxiguard.serving.local.http import ERROR_CODES
from toxiguard.serving.local.stack import handler_environment

ECHO_HANDLER = Path(__file__).parents[1] / "fixtures" / "echo_handler.py"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    (site / "index.html").write_text("<!doctype html><title>toxiguard</title>")
    (site / "app.js").write_text("console.log('hi');")
    (tmp_path_factory.getbasetemp() / "secret.txt").write_text("not for the web")
    server = Gateway({"ECHO_SETTING": "from-config"}, port=0, frontend_dir=site, api_url="https://api.example",
                     handler_file=ECHO_HANDLER).start()  # fmt: skip
    yield server
    server.close()


def test_api_requests_become_http_api_v2_events(gateway):
    reply = requests.post(f"{gateway.url}/v1/moderate?x=1&x=2", json={"text": "hi"}, headers={"X-Trace": "t"})
    assert reply.status_code == 200
    seen = reply.json()
    event = seen["event"]
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/v1/moderate" and event["rawQueryString"] == "x=1&x=2"
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["requestContext"]["http"]["method"] == "POST" and event["requestContext"]["stage"] == "$default"
    assert event["headers"]["content-type"] == "application/json" and event["headers"]["x-trace"] == "t"
    assert json.loads(event["body"]) == {"text": "hi"} and event["isBase64Encoded"] is False
    assert seen["request_id"] and seen["env"] == "from-config"  # the handler module saw the configured environment


def test_binary_bodies_are_base64_both_ways(gateway):
    reply = requests.post(f"{gateway.url}/v1/moderate", data=b"\xff\xfe raw", headers={"Content-Type": "image/png"})
    event = reply.json()["event"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\xff\xfe raw"
    binary = requests.get(f"{gateway.url}/v1/binary")
    assert binary.status_code == 201 and binary.content == b"\x00\x01binary"


def test_serves_the_page_config_and_nothing_outside_it(gateway):
    page = requests.get(f"{gateway.url}/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html") and "toxiguard" in page.text
    assert requests.get(f"{gateway.url}/app.js").headers["Content-Type"].startswith("text/javascript")
    config = requests.get(f"{gateway.url}/config.js")
    assert config.text == 'window.TOXIGUARD_CONFIG = {"apiUrl": "https://api.example", "auth": {"mode": "none"}};\n'
    for path in ("/missing.css", "/../secret.txt", "/%2e%2e/secret.txt", "/" + "a" * 5000):
        reply = requests.get(f"{gateway.url}{path}")
        assert reply.status_code == 404 and reply.json()["error"]["code"] == "not_found"


def test_refuses_payloads_api_gateway_would_refuse(gateway):
    too_big = b"x" * (MAX_PAYLOAD_BYTES + 1)
    reply = requests.post(f"{gateway.url}/v1/moderate", data=too_big, headers={"Content-Type": "application/json"})
    assert reply.status_code == 413


@pytest.fixture(scope="module")
def open_cors_gateway(shipped_artifact):
    """The real handler with ALLOWED_ORIGINS='*' (its model endpoint unreachable: preflights never call it)."""
    environment = {**handler_environment(shipped_artifact.manifest, "http://127.0.0.1:9", "toxiguard"),
                   "ALLOWED_ORIGINS": "*"}  # fmt: skip
    server = Gateway(environment, port=0).start()
    yield server
    server.close()


@pytest.mark.parametrize("origin", ["https://a.example\r\n Set-Cookie: stolen=1", "https://a.example\r\n\tX-Evil: 1"])
def test_a_folded_origin_is_never_echoed(open_cors_gateway, raw_exchange, origin):
    preflight = f"OPTIONS /v1/moderate HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {origin}\r\n\r\n".encode()
    (response,) = raw_exchange(open_cors_gateway.url, preflight)
    assert response.status == 403 and response.json()["error"]["code"] == "origin_not_allowed"
    assert not {"access-control-allow-origin", "set-cookie", "x-evil"} & set(response.headers)


def test_a_well_formed_origin_is_echoed_with_the_wildcard(open_cors_gateway):
    reply = requests.options(f"{open_cors_gateway.url}/v1/moderate", headers={"Origin": "http://localhost:5173"})
    assert reply.status_code == 204 and reply.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"


def test_static_paths_take_get_and_head_only(gateway):
    reply = requests.post(f"{gateway.url}/index.html", data=b"x", timeout=10)
    assert reply.status_code == 405 and reply.headers["Allow"] == "GET, HEAD"
    assert reply.json()["error"]["code"] == "method_not_allowed"
    head = requests.head(f"{gateway.url}/", timeout=10)
    assert head.status_code == 200 and head.content == b"" and int(head.headers["Content-Length"]) > 0


def test_the_local_servers_error_codes_have_the_handlers_statuses(open_cors_gateway):
    handler_status = importlib.import_module("http_api").ERROR_STATUS  # the functions' shared module, as they loaded it
    shared = {code: status for status, code in ERROR_CODES.items() if code in handler_status}
    assert len(shared) >= 5 and all(handler_status[code] == status for code, status in shared.items())
