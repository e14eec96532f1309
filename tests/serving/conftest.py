"""Fixtures for serving tests: one local model server per test session, and a raw HTTP client for protocol tests."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from urllib.parse import urlsplit

import pytest

from toxiguard.config import LABELS


@pytest.fixture(scope="session")
def model_server(shipped_artifact) -> str:
    """URL of a model server for the shipped model on a free port: micro-batching, endpoint name `toxiguard`."""
    from toxiguard.serving.local.model_server import ModelServer

    with ModelServer(shipped_artifact.directory, port=0) as server:
        yield server.url


@pytest.fixture(scope="session")
def sagemaker_runtime(model_server):
    """A boto3 SageMaker Runtime client for `model_server`, signing (SigV4) with dummy credentials."""
    import boto3

    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=model_server,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


@dataclasses.dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self):
        return json.loads(self.body)


def read_response(stream) -> RawResponse:
    """One HTTP/1.1 response from a socket's file; Content-Length framed, as both local servers answer."""
    status_line = stream.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection without an answer")
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(status_line.split()[1]), headers, stream.read(int(headers.get("content-length", 0))))


def exchange(url: str, data: bytes, responses: int = 1, timeout: float = 10) -> list[RawResponse]:
    """Send raw bytes on one connection and read `responses` answers: what a client library would not send."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as sock:
        sock.sendall(data)
        stream = sock.makefile("rb")
        return [read_response(stream) for _ in range(responses)]


@pytest.fixture(scope="session")
def raw_exchange():
    """`exchange(url, data, responses=1, timeout=10) -> [RawResponse]`: raw bytes in, parsed answers out."""
    return exchange


@pytest.fixture
def in_background():
    """`in_background(server)`: serve an `http.server`-style server from a thread for the test; stopped after it."""
    servers = []

    def start(server):
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def handler_environment() -> dict[str, str]:
    """The Lambda handler's environment for tests that run it behind a gateway or client with a model double: its
    SageMaker Runtime endpoint is the discard port, so nothing leaves the machine."""
    return {
        "SAGEMAKER_ENDPOINT_NAME": "toxiguard-test",
        "MODEL_VERSION": "test-model",
        "MODEL_THRESHOLDS": json.dumps(dict.fromkeys(LABELS, 0.5)),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": "http://127.0.0.1:9",
    }
