"""Fixtures for the Lambda handler: the module itself, API Gateway events, a stubbed SageMaker, logs and the spec.

The handler reads its environment at import (a cold start), so it is imported here under a fixed test environment:
the shipped model's version and thresholds, dummy credentials, and a runtime endpoint on a closed loopback port so
that an unstubbed call can never leave the machine. Every response a test gets through `call` is also checked
against docs/openapi.yaml.
"""

import base64
import importlib
import importlib.util
import io
import json
import logging
import os
import sys
import tempfile
import uuid
from pathlib import Path
from types import ModuleType
from unittest import mock
from urllib.parse import urlencode

import pytest
import yaml
from botocore.response import StreamingBody
from botocore.stub import Stubber
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from toxiguard import lambda_functions
from toxiguard.serving.local.auth import route_key
from toxiguard.serving.local.gateway import REVIEW_ROUTE_KEYS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LAMBDA_DIR = PROJECT_ROOT / "lambda"
OPENAPI_FILE = PROJECT_ROOT / "docs" / "openapi.yaml"
MANIFEST = json.loads(max((PROJECT_ROOT / "artifacts").glob("*/manifest.json")).read_text())
ENDPOINT_NAME = "toxiguard-test"
SPEC_URI = "urn:toxiguard:openapi"
# Undocumented paths and methods get these shared responses (see the spec's description).
FALLBACK_RESPONSES = {
    "path": ("#/components/responses/NotFound", 404),
    "method": ("#/components/responses/MethodNotAllowed", 405),
}
HANDLER_ENVIRONMENT = {
    "SAGEMAKER_ENDPOINT_NAME": ENDPOINT_NAME,
    "MODEL_VERSION": MANIFEST["version"],
    "MODEL_LABELS": ",".join(MANIFEST["labels"]),
    "MODEL_THRESHOLDS": json.dumps(MANIFEST["thresholds"]),
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": "http://127.0.0.1:9",  # discard port: refused at once, nothing leaves
}

# The review function opens its store at import; the tests pass each call a store of their own.
REVIEWS_ENVIRONMENT = {"REVIEWS_DB": str(Path(tempfile.mkdtemp(prefix="toxiguard-reviews-")) / "import.sqlite3")}

sys.path.insert(0, str(LAMBDA_DIR))
with mock.patch.dict(os.environ, HANDLER_ENVIRONMENT):
    handler = importlib.import_module("handler")
with mock.patch.dict(os.environ, REVIEWS_ENVIRONMENT):
    reviews = importlib.import_module("reviews")
http_api = importlib.import_module("http_api")  # the modules the functions share, as they imported them
review_store = importlib.import_module("review_store")


def load_handler(environment: dict[str, str]) -> ModuleType:
    """A fresh copy of the handler module imported under `environment` (on top of the test one): a cold start."""
    return lambda_functions.load_handler({**HANDLER_ENVIRONMENT, **environment}, LAMBDA_DIR / "handler.py")


# --------------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------------


def http_api_event(
    method="POST", path="/v1/moderate", body=None, headers=None, stage="$default", base64_body=False, query=None,
    claims=None,
):  # fmt: skip
    """API Gateway HTTP API payload 2.0; `body` may be a dict (sent as JSON), str or bytes; `claims` are a token's,
    as the JWT authorizer passes them."""
    text, is_base64 = _body(body, base64_body)
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": urlencode(query or {}),
        "headers": {name.lower(): value for name, value in _headers(headers, body).items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1"},
            "requestId": f"req-{uuid.uuid4()}",
            "routeKey": "$default",
            "stage": stage,
        },
        "body": text,
        "isBase64Encoded": is_base64,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if claims:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    return event


def rest_api_event(
    method="POST", path="/v1/moderate", body=None, headers=None, stage="prod", base64_body=False, query=None,
    claims=None,
):  # fmt: skip
    """API Gateway REST API proxy integration (payload 1.0): `path` is the resource path, headers keep their case;
    `claims` are a token's, as a Cognito user pool authorizer passes them."""
    text, is_base64 = _body(body, base64_body)
    headers = _headers(headers, body)
    event = {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {name: [value] for name, value in headers.items()} or None,
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {name: [value] for name, value in query.items()} if query else None,
        "requestContext": {"requestId": f"rest-{uuid.uuid4()}", "stage": stage, "path": f"/{stage}{path}"},
        "body": text,
        "isBase64Encoded": is_base64,
    }
    if claims:
        event["requestContext"]["authorizer"] = {"claims": claims}
    return event


def _body(body, as_base64: bool) -> tuple[str | None, bool]:
    """As API Gateway passes it: text, or base64 when asked to or when the bytes are not UTF-8."""
    if body is None:
        return None, False
    raw = json.dumps(body).encode() if isinstance(body, dict | list) else body
    raw = raw.encode("utf-8") if isinstance(raw, str) else raw
    if not as_base64:
        try:
            return raw.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(raw).decode("ascii"), True


def _headers(headers, body) -> dict[str, str]:
    """A JSON Content-Type whenever there is a body, unless `headers` says otherwise."""
    defaults = {"Content-Type": "application/json"} if body is not None else {}
    return {**defaults, **(headers or {})}


# --------------------------------------------------------------------------------------------------
# The model endpoint
# --------------------------------------------------------------------------------------------------


def score_rows(count: int) -> list[list[float]]:
    """Distinct, valid score rows (six numbers in [0, 1]) for `count` texts."""
    return [[round((index * 7 + label) % 11 / 10, 2) for label in range(6)] for index in range(count)]


def streaming(payload) -> StreamingBody:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


class JsonBody:
    """Matches a request Body by its JSON value (Stubber compares expected params with `!=`)."""

    def __init__(self, value):
        self.value = value

    def __eq__(self, other) -> bool:
        return json.loads(other) == self.value

    def __repr__(self) -> str:
        return f"JsonBody({self.value!r})"


class SageMakerStub:
    """Stubber on the handler's module-level client, with helpers that speak TF Serving's JSON."""

    def __init__(self, stubber: Stubber):
        self.stubber = stubber

    def answers(self, texts: list[str], rows=None, raw: bytes | None = None) -> list[list[float]]:
        """Expect one InvokeEndpoint call with exactly `texts`; answer `rows` (default: valid scores) or `raw`."""
        rows = score_rows(len(texts)) if rows is None else rows
        params = {
            "EndpointName": ENDPOINT_NAME,
            "ContentType": "application/json",
            "Accept": "application/json",
            "Body": JsonBody({"instances": texts}),
        }
        body = streaming(raw if raw is not None else {"predictions": rows})
        self.stubber.add_response("invoke_endpoint", {"Body": body, "ContentType": "application/json"}, params)
        return rows

    def fails(self, code: str, message: str, http_status: int, **modeled_fields) -> None:
        self.stubber.add_client_error(
            "invoke_endpoint", code, message, http_status, modeled_fields=modeled_fields or None
        )


@pytest.fixture(autouse=True)
def cold_health_probe(monkeypatch):
    """Every test starts without a cached health probe, as a cold instance does."""
    monkeypatch.setattr(handler, "HEALTH_PROBE", handler.HealthProbe())


@pytest.fixture
def sagemaker():
    with Stubber(handler.SAGEMAKER) as stubber:
        yield SageMakerStub(stubber)
        stubber.assert_no_pending_responses()


# --------------------------------------------------------------------------------------------------
# Calling the handler
# --------------------------------------------------------------------------------------------------


class LambdaContext:
    function_name = "toxiguard-api-test"
    memory_limit_in_mb = 256

    def __init__(self):
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@pytest.fixture(scope="session")
def settings():
    """The deployed configuration: the shipped model's version, labels and thresholds; CORS for one origin."""
    return handler.Settings.from_environment({**HANDLER_ENVIRONMENT, "ALLOWED_ORIGINS": "https://app.example.org"})


class ApiSpec:
    """docs/openapi.yaml: what it documents for a method, path and status, and a check of real responses."""

    def __init__(self, path: Path = OPENAPI_FILE):
        self.document = yaml.safe_load(path.read_text())
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(SPEC_URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}

    def pointer(self, ref: str):
        node = self.document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def deref(self, ref: str) -> str:
        """Follow `$ref`s from the node at `ref` to the node that holds the content."""
        while "$ref" in self.pointer(ref):
            ref = self.pointer(ref)["$ref"]
        return ref

    def response_ref(self, method: str, path: str, status: int) -> str:
        matched = http_api.match_route(path, self.document["paths"])
        path = matched[0] if matched else path
        operations = self.document["paths"].get(path)
        fallback = "path" if operations is None else "method" if method.lower() not in operations else None
        if fallback:
            ref, expected_status = FALLBACK_RESPONSES[fallback]
            assert status == expected_status, f"{method} {path} answered {status}, not {expected_status}"
            return ref
        assert str(status) in operations[method.lower()]["responses"], (
            f"{method} {path} answered {status}, which docs/openapi.yaml does not document"
        )
        return self.deref(f"#/paths/{path.replace('/', '~1')}/{method.lower()}/responses/{status}")

    def validator(self, schema_ref: str) -> Draft202012Validator:
        if schema_ref not in self._validators:
            schema = {"$ref": f"{SPEC_URI}{schema_ref}"}
            self._validators[schema_ref] = Draft202012Validator(schema, registry=self.registry)
        return self._validators[schema_ref]

    def check(self, method: str, path: str, response: dict) -> None:
        """Fail unless the status, required headers and body are what the spec documents for this call."""
        ref = self.response_ref(method, path, response["statusCode"])
        documented = self.pointer(ref)
        where = f"{method} {path} {response['statusCode']}"
        headers = {name.lower() for name in response["headers"]}
        assert response["headers"].get("Content-Type") == "application/json", where
        for name, header in documented.get("headers", {}).items():
            if "$ref" in header:
                header = self.pointer(self.deref(header["$ref"]))
            assert not header.get("required") or name.lower() in headers, f"{where}: no {name} header"
        if "content" not in documented:
            assert response["body"] == "", f"{where}: the spec documents no body"
            return
        errors = list(
            self.validator(f"{ref}/content/application~1json/schema").iter_errors(json.loads(response["body"]))
        )
        assert not errors, f"{where} does not match docs/openapi.yaml: {errors[0].message} at {errors[0].json_path}"


@pytest.fixture(scope="session")
def api_spec() -> ApiSpec:
    return ApiSpec()


@pytest.fixture(scope="session")
def review_settings():
    """The review function's deployed configuration: CORS for the same origin."""
    return http_api.HttpSettings.from_environment({"ALLOWED_ORIGINS": "https://app.example.org"}, "toxiguard-reviews")


@pytest.fixture
def store(tmp_path):
    """An empty review store of the test's own (SQLite; tests/lambda/test_review_store.py holds DynamoDB's equal)."""
    return review_store.SqliteReviewStore(tmp_path / "reviews.sqlite3")


@pytest.fixture
def call(api_spec, settings, review_settings):
    """Run an event through the function API Gateway routes it to (the review function for the review routes, the
    scoring function with the stubbed module client for the rest); check the answer against the spec."""

    def run(event: dict, settings=settings, client=None, store=None) -> dict:
        request = http_api.parse_event(event)
        if route_key(request.method, request.path) in REVIEW_ROUTE_KEYS:
            response = reviews.handle(event, LambdaContext(), review_settings, store)
        else:
            response = handler.handle(event, LambdaContext(), settings, client or handler.SAGEMAKER, store)
        api_spec.check(request.method, request.path, response)
        return response

    return run


def body_of(response: dict) -> dict:
    return json.loads(response["body"])


def error_code(response: dict) -> str:
    return body_of(response)["error"]["code"]


# --------------------------------------------------------------------------------------------------
# Logs
# --------------------------------------------------------------------------------------------------


class LogLines(logging.Handler):
    """Collects the handler's log lines as the JSON objects its formatter writes."""

    def __init__(self):
        super().__init__()
        self.setFormatter(http_api.JsonFormatter())
        self.lines: list[dict] = []
        self.raw: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        self.raw.append(line)
        self.lines.append(json.loads(line))


@pytest.fixture
def logs():
    capture = LogLines()
    handler.logger.addHandler(capture)
    yield capture
    handler.logger.removeHandler(capture)


@pytest.fixture(autouse=True)
def restore_logger():
    """Cold starts (`load_handler`) reconfigure the shared `toxiguard.api` logger; put it back after every test."""
    logger = logging.getLogger("toxiguard.api")
    saved = logger.handlers[:], logger.level
    yield
    logger.handlers[:], logger.level = saved[0], saved[1]
