"""toxiguard API: the Lambda function behind API Gateway (HTTP API payload 2.0 and REST API 1.0 events).

A moderation request goes parse -> invoke -> format (see `moderate`):
  parse   the event into an `HttpRequest`, route it, validate the JSON body (`parse_moderation`);
  invoke  the SageMaker endpoint once with all texts (`invoke_model`): TF Serving's JSON in, one score row per text out;
  format  per-label scores, the thresholds applied and the labels they flag (`format_results`).
Failures raise `ApiError(code, message)`; `ERROR_STATUS` gives each code its HTTP status and `handle` turns errors
into JSON responses in one place. Anything unexpected becomes a 500 `internal_error`, its stack trace only in the log.
`GET /v1/health` answers from a probe of the endpoint cached per warm instance (`HealthProbe`). Each request writes
one JSON log line that is also a CloudWatch Embedded Metric Format document (`add_metrics`): counts, flags per label,
latencies and errors by code become CloudWatch metrics without any call or dependency.

Standard library + boto3 only. Configuration is read from the environment once, at cold start; an invalid
environment fails the cold start with a message naming the variable.
"""

import base64
import binascii
import dataclasses
import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

DEFAULT_LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
ROUTES = {"/v1/moderate": "POST", "/v1/health": "GET"}
# Log field -> token claim naming the caller (see `caller`).
CALLER_CLAIMS = {"client_id": "client_id", "caller": "sub"}
REQUEST_FIELDS = ("text", "texts", "threshold")
HEALTH_CHECK_TEXT = "health check"
CORS_PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "authorization, content-type",  # a signed-in page sends its token
    "Access-Control-Max-Age": "600",
}
# The one place error codes get their HTTP status; docs/openapi.yaml documents the same table (a test compares them).
ERROR_STATUS = {
    "invalid_json": 400, "invalid_request": 400, "missing_text": 400, "empty_text": 400, "origin_not_allowed": 403,
    "not_found": 404, "method_not_allowed": 405, "payload_too_large": 413, "too_many_texts": 413,
    "text_too_long": 413, "unsupported_media_type": 415, "endpoint_throttled": 429, "internal_error": 500,
    "bad_model_response": 502, "endpoint_unavailable": 503, "endpoint_timeout": 504,
    # The JWT authorizer's: on AWS API Gateway answers them before this function runs (with its own body,
    # `{"message": ...}`); the local gateway answers them in this contract. The handler itself never does.
    "unauthorized": 401, "insufficient_scope": 403,
}  # fmt: skip
# Error codes botocore's standard retry mode treats as throttling: its retries are spent, so the caller should wait.
THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "RequestThrottled",
     "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded", "SlowDown"}
)  # fmt: skip
ENDPOINT_FAULT_CODES = frozenset({"ServiceUnavailable", "InternalFailure", "InternalDependencyException"})
# SageMaker's ValidationError for an endpoint that does not exist (yet): "Endpoint <name> of account <id> not found."
MISSING_ENDPOINT = re.compile(r"\bendpoint\b.*\bnot found\b", re.IGNORECASE | re.DOTALL)
ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")  # InvokeEndpoint's EndpointName pattern
# A serialized origin (RFC 6454): what a browser sends; the wildcard echoes nothing else (no spaces, CR/LF, paths).
ORIGIN = re.compile(r"https?://([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:[0-9]{1,5})?", re.IGNORECASE)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# The public limits (docs/api.md); toxiguard.serving.client keeps a copy so `toxiguard score` stays within them, and a
# test checks that the two agree (this file stays standalone).
DEFAULT_MAX_TEXTS = 64
DEFAULT_MAX_TEXT_CHARS = 5000
DEFAULT_MAX_BODY_BYTES = 262_144
DEFAULT_HEALTH_CACHE_SECONDS = 30.0
# A failed probe is reused for at most this long (HEALTH_CACHE_SECONDS if shorter): endpoint failures are often brief
# (a serverless endpoint scaling from zero, a throttled burst, a model loading, for which the API says Retry-After: 5),
# so recovery shows within seconds, while an outage still costs at most one endpoint call per 5 s per instance.
FAILED_PROBE_CACHE_SECONDS = 5.0
# Metrics (`add_metrics`): namespace, the Service dimension's default, and every metric with its CloudWatch unit, plus
# one Flags_<label> (Count) per label. terraform/modules/monitoring graphs and alarms on exactly these names; a test
# there reads them from this file, so the two cannot drift apart.
METRICS_NAMESPACE = "toxiguard"
DEFAULT_METRICS_SERVICE = "toxiguard-api"
METRIC_UNITS = {
    "Requests": "Count", "Latency": "Milliseconds", "ModelLatency": "Milliseconds", "TextsScored": "Count",
    "FlaggedTexts": "Count", "FlaggedShare": "None", "Errors": "Count", "HealthProbeCalls": "Count",
}  # fmt: skip
FLAG_METRIC_PREFIX = "Flags_"
SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")  # a Lambda function name fits

logger = logging.getLogger("toxiguard.api")


# --- Configuration ----------------------------------------------------------------------------------------------------
class ConfigurationError(ValueError):
    """The function's environment is invalid; raised at import, so the cold start fails with this message."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the handler reads from its environment; tests build their own."""

    endpoint_name: str
    model_version: str
    labels: tuple[str, ...]
    thresholds: tuple[float, ...]  # one per label, in label order
    allowed_origins: frozenset[str] = frozenset()  # lower-case origins, or "*"
    max_texts: int = DEFAULT_MAX_TEXTS
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    connect_timeout_seconds: float = 1.0
    read_timeout_seconds: float = 5.0
    max_attempts: int = 3
    log_level: str = "INFO"
    health_cache_seconds: float = DEFAULT_HEALTH_CACHE_SECONDS
    metrics_service: str = DEFAULT_METRICS_SERVICE

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        labels = tuple(name.strip() for name in environ.get("MODEL_LABELS", ",".join(DEFAULT_LABELS)).split(","))
        if not all(labels) or len(set(labels)) != len(labels):
            raise ConfigurationError("MODEL_LABELS must be distinct, non-empty label names separated by commas")
        endpoint_name = _setting(environ, "SAGEMAKER_ENDPOINT_NAME")
        if not ENDPOINT_NAME.fullmatch(endpoint_name):
            raise ConfigurationError(f"SAGEMAKER_ENDPOINT_NAME={endpoint_name!r} is not a SageMaker endpoint name")
        log_level = environ.get("LOG_LEVEL", "INFO").strip().upper()
        if log_level not in LOG_LEVELS:
            raise ConfigurationError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        return cls(
            endpoint_name=endpoint_name,
            model_version=_setting(environ, "MODEL_VERSION"),
            labels=labels,
            thresholds=_thresholds(environ.get("MODEL_THRESHOLDS", ""), labels),
            allowed_origins=_origins(environ.get("ALLOWED_ORIGINS", "")),
            max_texts=_setting(environ, "MAX_TEXTS", int, DEFAULT_MAX_TEXTS),
            max_text_chars=_setting(environ, "MAX_TEXT_CHARS", int, DEFAULT_MAX_TEXT_CHARS),
            max_body_bytes=_setting(environ, "MAX_BODY_BYTES", int, DEFAULT_MAX_BODY_BYTES),
            connect_timeout_seconds=_setting(environ, "SAGEMAKER_CONNECT_TIMEOUT_SECONDS", float, 1.0),
            read_timeout_seconds=_setting(environ, "SAGEMAKER_READ_TIMEOUT_SECONDS", float, 5.0),
            max_attempts=_setting(environ, "SAGEMAKER_MAX_ATTEMPTS", int, 3),
            log_level=log_level,
            health_cache_seconds=_setting(environ, "HEALTH_CACHE_SECONDS", float, DEFAULT_HEALTH_CACHE_SECONDS),
            metrics_service=_metrics_service(environ),
        )


def _setting(environ: Mapping[str, str], name: str, kind: type = str, default: Any = None) -> Any:
    """A required string (no default) or a positive number (with its default)."""
    raw = environ.get(name, "").strip()
    if not raw and default is None:
        raise ConfigurationError(f"{name} is required")
    try:
        value = kind(raw) if raw else default
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if kind is not str and not 0 < value < float("inf"):
        raise ConfigurationError(f"{name}={raw!r} must be a positive {kind.__name__}")
    return value


def _metrics_service(environ: Mapping[str, str]) -> str:
    """The metrics' Service dimension: METRICS_SERVICE, else the Lambda function's name, else toxiguard-api."""
    service = environ.get("METRICS_SERVICE", "").strip() or environ.get("AWS_LAMBDA_FUNCTION_NAME", "").strip()
    service = service or DEFAULT_METRICS_SERVICE
    if not SERVICE_NAME.fullmatch(service):
        raise ConfigurationError(f"METRICS_SERVICE={service!r} must be 1-255 letters, digits, '.', '_' or '-'")
    return service


def _thresholds(raw: str, labels: tuple[str, ...]) -> tuple[float, ...]:
    """MODEL_THRESHOLDS: a JSON object with a threshold in [0, 1] for every label (the manifest's `thresholds`)."""
    try:
        thresholds = json.loads(raw)
    except ValueError:
        raise ConfigurationError("MODEL_THRESHOLDS is required: a JSON object label -> threshold") from None
    if not isinstance(thresholds, dict) or set(thresholds) != set(labels):
        raise ConfigurationError(f"MODEL_THRESHOLDS must have exactly the labels {', '.join(labels)}")
    if not all(_is_probability(thresholds[label]) for label in labels):
        raise ConfigurationError("MODEL_THRESHOLDS values must be numbers from 0 to 1")
    return tuple(float(thresholds[label]) for label in labels)


def _origins(raw: str) -> frozenset[str]:
    """ALLOWED_ORIGINS: comma-separated `scheme://host[:port]` origins or `*`; empty disables CORS."""
    origins = frozenset(origin.strip().lower() for origin in raw.split(",") if origin.strip())
    for origin in origins - {"*"}:
        url = urlsplit(origin)
        if url.scheme not in ("http", "https") or not url.netloc or url.path or url.query or url.fragment:
            raise ConfigurationError(f"ALLOWED_ORIGINS entry {origin!r} is not an origin like https://example.org")
    return origins


def _is_probability(value: Any) -> bool:
    # NaN fails every comparison; booleans are not numbers here.
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


def make_client(settings: Settings):
    """The SageMaker Runtime client; boto3 honours AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME (the local model server)."""
    # total_max_attempts counts the first try too (retries' `max_attempts` would count only the retries).
    retries = {"mode": "standard", "total_max_attempts": settings.max_attempts}
    config = Config(
        connect_timeout=settings.connect_timeout_seconds, read_timeout=settings.read_timeout_seconds, retries=retries
    )
    # A session of its own: region, credentials and endpoint come from this import's environment, not a shared cache.
    return boto3.session.Session().client("sagemaker-runtime", config=config)


# --- Errors and messages ----------------------------------------------------------------------------------------------
class ApiError(Exception):
    """An error the client sees: a stable code (its HTTP status from ERROR_STATUS) and a message for humans."""

    def __init__(self, code: str, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.code, self.message, self.status = code, message, ERROR_STATUS[code]
        self.headers = dict(headers or {})

    def body(self) -> dict:
        return {"code": self.code, "message": self.message}


class EndpointError(ApiError):
    """The model endpoint failed (429 or 5xx); health reports these as `unavailable`."""


@dataclasses.dataclass(frozen=True)
class HttpRequest:
    """The parts of an API Gateway event the API uses, the same for both payload formats."""

    method: str
    path: str
    headers: Mapping[str, str]  # names lower-cased
    body: str
    is_base64: bool


@dataclasses.dataclass
class Response:
    status: int
    body: dict | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


# --- Parse ------------------------------------------------------------------------------------------------------------
def parse_event(event: Mapping[str, Any]) -> HttpRequest:
    """HTTP API 2.0 events carry `rawPath` (with a named stage's prefix); REST API 1.0 events carry `path`."""
    request_context = event.get("requestContext") or {}
    if event.get("version") == "2.0":
        method, path = request_context["http"]["method"], event["rawPath"]
    else:
        method, path = event["httpMethod"], event["path"]
    stage = request_context.get("stage") or "$default"
    if stage != "$default" and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1 :]
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    return HttpRequest(method.upper(), path, headers, event.get("body") or "", bool(event.get("isBase64Encoded")))


def caller(event: Mapping[str, Any]) -> dict[str, str]:
    """Who called, as the API's authorizer vouched, for the log: the app client and the token's subject (an opaque
    id, never a name or address). HTTP API JWT authorizers put claims at `authorizer.jwt.claims` (payload 2.0),
    REST API Cognito user pool authorizers at `authorizer.claims` (1.0); an open API has none."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or authorizer.get("claims") or {}
    return {field: str(claims[claim]) for field, claim in CALLER_CLAIMS.items() if claims.get(claim)}


def parse_moderation(request: HttpRequest, settings: Settings) -> tuple[list[str], tuple[float, ...]]:
    """The texts to score and the thresholds to apply, or the first problem with the request as an ApiError."""
    check_content_type(request.headers.get("content-type"))
    body = body_bytes(request)
    if len(body) > settings.max_body_bytes:
        raise ApiError("payload_too_large", f"the body has {len(body)} bytes; the limit is {settings.max_body_bytes}")
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise ApiError("invalid_request", "the body must be a JSON object with `text` or `texts`")
    unknown = ", ".join(map(json.dumps, sorted(set(payload) - set(REQUEST_FIELDS))))
    if unknown:
        raise ApiError("invalid_request", f"unknown field(s) {unknown}; allowed: {', '.join(REQUEST_FIELDS)}")
    if "text" in payload and "texts" in payload:
        raise ApiError("invalid_request", "send either `text` or `texts`, not both")
    if "text" in payload:
        texts, names = [payload["text"]], ["text"]
    else:
        texts = payload.get("texts", [])
        if not isinstance(texts, list):
            raise ApiError("invalid_request", "`texts` must be an array of strings")
        if not texts:
            raise ApiError("missing_text", "the request needs `text` (a string) or `texts` (an array of strings)")
        if len(texts) > settings.max_texts:
            raise ApiError("too_many_texts", f"{len(texts)} texts; the limit is {settings.max_texts}")
        names = [f"texts[{index}]" for index in range(len(texts))]
    for name, text in zip(names, texts, strict=True):
        check_text(name, text, settings)
    if "threshold" not in payload:
        return texts, settings.thresholds
    if not _is_probability(payload["threshold"]):
        raise ApiError("invalid_request", "`threshold` must be a number from 0 to 1")
    return texts, (float(payload["threshold"]),) * len(settings.labels)


def check_content_type(content_type: str | None) -> None:
    """JSON in UTF-8 only; a missing Content-Type is read as JSON."""
    if not content_type:
        return
    media_type, *parameters = (part.strip().lower() for part in content_type.split(";"))
    pairs = (parameter.partition("=") for parameter in parameters)
    charsets = {value.strip(' "') for key, _, value in pairs if key.strip() == "charset"}
    if media_type != "application/json" or not charsets <= {"utf-8", "utf8"}:
        raise ApiError("unsupported_media_type", "send the body as application/json (UTF-8)")


def body_bytes(request: HttpRequest) -> bytes:
    if not request.is_base64:
        return request.body.encode("utf-8", "surrogatepass")  # lone surrogates then fail as invalid JSON
    try:
        return base64.b64decode(request.body, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("invalid_request", "the body is marked base64-encoded but is not valid base64") from None


def parse_json(body: bytes) -> Any:
    def reject_constant(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    def reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
        # json.loads would keep the last copy, so a proxy or filter reading the first would see another request.
        keys: set[str] = set()
        for key, _ in pairs:
            if key in keys:
                raise ApiError("invalid_json", f"the body has the key {json.dumps(key)} twice in one object")
            keys.add(key)
        return dict(pairs)

    try:
        return json.loads(body.decode("utf-8"), parse_constant=reject_constant, object_pairs_hook=reject_duplicate_keys)
    except json.JSONDecodeError as error:
        raise ApiError("invalid_json", f"the body is not JSON: {error.msg} at character {error.pos}") from None
    except (ValueError, RecursionError):  # not UTF-8, NaN/Infinity, nesting or digits beyond Python's limits
        raise ApiError("invalid_json", "the body is not valid JSON in UTF-8") from None


def check_text(name: str, text: Any, settings: Settings) -> None:
    if not isinstance(text, str):
        raise ApiError("invalid_request", f"`{name}` must be a string")
    if not text.strip():
        raise ApiError("empty_text", f"`{name}` is empty")
    if len(text) > settings.max_text_chars:
        raise ApiError("text_too_long", f"`{name}` has {len(text)} characters; the limit is {settings.max_text_chars}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError("invalid_request", f"`{name}` contains an unpaired surrogate escape") from None
    # No real comment holds NUL, and stores downstream (C strings, PostgreSQL text) refuse it; `toxiguard score` agrees.
    if "\x00" in text:
        raise ApiError("invalid_request", f"`{name}` contains a NUL character (U+0000)")


# --- Invoke -----------------------------------------------------------------------------------------------------------
def invoke_model(client, settings: Settings, texts: list[str]) -> tuple[list[list[float]], float]:
    """One InvokeEndpoint call for all texts; returns one score row per text and the call's latency in ms."""
    body = json.dumps({"instances": texts}, ensure_ascii=False).encode("utf-8")
    started = time.perf_counter()
    try:
        response = client.invoke_endpoint(
            EndpointName=settings.endpoint_name, ContentType="application/json", Accept="application/json", Body=body
        )
        raw = response["Body"].read()
    except ClientError as error:
        mapped = endpoint_error(error)
        if mapped is None:
            raise  # e.g. AccessDenied: a deployment bug, so a 500 with the stack trace in the log
        raise mapped from error
    except ReadTimeoutError as error:
        raise EndpointError("endpoint_timeout", "the model endpoint did not answer in time") from error
    except (BotocoreConnectionError, HTTPClientError) as error:
        raise EndpointError("endpoint_unavailable", "the model endpoint cannot be reached") from error
    latency_ms = (time.perf_counter() - started) * 1000
    return parse_predictions(raw, len(texts), len(settings.labels)), latency_ms


def endpoint_error(error: ClientError) -> EndpointError | None:
    """The API's error for an InvokeEndpoint error (shapes in botocore's sagemaker-runtime model); None if a bug."""
    code, message = error.response.get("Error", {}).get("Code", ""), error.response.get("Error", {}).get("Message", "")
    http_status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code == "ModelNotReadyException":
        return EndpointError("endpoint_throttled", "the model is still loading; retry shortly", {"Retry-After": "5"})
    if code in THROTTLING_CODES or http_status == 429:
        return EndpointError("endpoint_throttled", "the model endpoint is busy; retry shortly", {"Retry-After": "1"})
    if code == "ModelError":
        return EndpointError("bad_model_response", "the model failed to score the texts")
    if code in ENDPOINT_FAULT_CODES or http_status >= 500:
        return EndpointError("endpoint_unavailable", "the model endpoint is unavailable")
    if code == "ValidationError" and MISSING_ENDPOINT.search(message):
        return EndpointError("endpoint_unavailable", "the model endpoint does not exist (yet)")
    return None


def parse_predictions(raw: bytes, rows: int, width: int) -> list[list[float]]:
    """TF Serving's row format, `{"predictions": [[score, ...], ...]}`, checked row by row."""
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise EndpointError("bad_model_response", "the model's response is not JSON") from None
    if not isinstance(payload, dict) or set(payload) != {"predictions"}:
        raise EndpointError("bad_model_response", "the model's response is not an object with only `predictions`")
    predictions = payload["predictions"]
    if not isinstance(predictions, list) or len(predictions) != rows:
        raise EndpointError("bad_model_response", f"the model did not return {rows} rows of predictions")
    for row in predictions:
        if not isinstance(row, list) or len(row) != width or not all(map(_is_probability, row)):
            raise EndpointError("bad_model_response", f"a prediction row is not {width} scores from 0 to 1")
    return [[float(score) for score in row] for row in predictions]


# --- Format -----------------------------------------------------------------------------------------------------------
def format_results(rows: list[list[float]], thresholds: tuple[float, ...], labels: tuple[str, ...]) -> list[dict]:
    """Per text: every label's score, the labels at or above their threshold (in label order), flagged."""
    results = []
    for row in rows:
        flagged = [label for label, score, limit in zip(labels, row, thresholds, strict=True) if score >= limit]
        results.append({"scores": dict(zip(labels, row, strict=True)), "labels": flagged, "flagged": bool(flagged)})
    return results


def flag_metrics(results: list[dict], labels: tuple[str, ...]) -> dict[str, int | float]:
    """TextsScored, FlaggedTexts, FlaggedShare (of this request's texts) and Flags_<label>, from format_results."""
    flagged = sum(result["flagged"] for result in results)
    counts = {f"{FLAG_METRIC_PREFIX}{label}": sum(label in result["labels"] for result in results) for label in labels}
    return {"TextsScored": len(results), "FlaggedTexts": flagged, "FlaggedShare": flagged / len(results), **counts}


# --- Health probe -----------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Probe:
    """One InvokeEndpoint call with the health check text: its latency, or the endpoint error it met."""

    checked_at: float  # time.time() when the answer came back, for the response
    checked_monotonic: float  # time.monotonic() at the same moment, for the age
    latency_ms: float | None = None
    error: EndpointError | None = None

    def age_seconds(self) -> float:
        return time.monotonic() - self.checked_monotonic

    def expired(self, settings: Settings) -> bool:
        reuse_seconds = settings.health_cache_seconds
        if self.error is not None:
            reuse_seconds = min(reuse_seconds, FAILED_PROBE_CACHE_SECONDS)
        return self.age_seconds() >= reuse_seconds


def probe_endpoint(settings: Settings, client) -> Probe:
    """One real InvokeEndpoint call: the function's role may call nothing else. Errors other than the endpoint's
    (a deployment bug such as AccessDenied) propagate: they become a 500 with the stack trace, and are not cached."""
    try:
        _, latency_ms = invoke_model(client, settings, [HEALTH_CHECK_TEXT])
    except EndpointError as error:
        return Probe(time.time(), time.monotonic(), error=error)
    return Probe(time.time(), time.monotonic(), latency_ms=latency_ms)


class HealthProbe:
    """The warm instance's last probe, reused while fresh: anonymous health checks make at most one endpoint call per
    HEALTH_CACHE_SECONDS (a failure is reused for FAILED_PROBE_CACHE_SECONDS at most).

    Lambda runs one request at a time per instance; the local gateway runs several, so one probe runs at a time. While
    it runs, other callers answer with the previous probe (its age says how old); only the callers of a cold instance,
    which has no previous probe, wait for it.
    """

    def __init__(self):
        self._last: Probe | None = None
        self._probing = threading.Lock()

    def result(self, settings: Settings, client) -> tuple[Probe, bool]:
        """The probe to answer with, and whether this call made it."""
        last = self._last
        if last is not None and not last.expired(settings):
            return last, False
        if not self._probing.acquire(blocking=last is None):
            return last, False
        try:
            last = self._last  # another caller may have probed while this one waited
            if last is not None and not last.expired(settings):
                return last, False
            self._last = probe_endpoint(settings, client)
            return self._last, True
        finally:
            self._probing.release()


# --- Routes -----------------------------------------------------------------------------------------------------------
def moderate(request: HttpRequest, request_id: str, settings: Settings, client, log: dict) -> Response:
    texts, thresholds = parse_moderation(request, settings)
    log["texts"] = len(texts)
    logger.debug("texts", extra={"fields": {"request_id": request_id, "text_content": texts}})
    rows, model_latency_ms = invoke_model(client, settings, texts)
    log["ModelLatency"] = round(model_latency_ms, 3)
    results = format_results(rows, thresholds, settings.labels)
    log.update(flag_metrics(results, settings.labels))
    return Response(200, {
        "request_id": request_id,
        "model_version": settings.model_version,
        "thresholds": dict(zip(settings.labels, thresholds, strict=True)),
        "results": results,
    })  # fmt: skip


def health(settings: Settings, client, log: dict) -> Response:
    """The endpoint's state from the instance's cached probe, and how old that probe is."""
    probe, probed_now = HEALTH_PROBE.result(settings, client)
    log["HealthProbeCalls"] = int(probed_now)
    if probed_now and probe.error is None:
        log["ModelLatency"] = round(probe.latency_ms, 3)
    status = {
        "status": "ok",
        "model_version": settings.model_version,
        "checked_at": utc_timestamp(probe.checked_at),
        "age_seconds": round(probe.age_seconds(), 3),
    }
    if probe.error is not None:
        note_error(log, probe.error)
        endpoint = {"name": settings.endpoint_name, "reachable": False}
        return Response(503, {**status, "status": "unavailable", "endpoint": endpoint, "error": probe.error.body()})
    endpoint = {"name": settings.endpoint_name, "reachable": True, "latency_ms": round(probe.latency_ms, 3)}
    return Response(200, {**status, "endpoint": endpoint})


def preflight(request: HttpRequest, settings: Settings) -> Response:
    origin = request.headers.get("origin")
    if origin is None:  # a plain OPTIONS request, not a CORS preflight
        return Response(204, headers={"Allow": f"{ROUTES[request.path]}, OPTIONS"})
    if not origin_allowed(origin, settings):
        raise ApiError("origin_not_allowed", "this origin may not call the API")
    return Response(204, headers=dict(CORS_PREFLIGHT_HEADERS))


def route(request: HttpRequest, request_id: str, settings: Settings, client, log: dict) -> Response:
    if request.path not in ROUTES:
        raise ApiError("not_found", "no such resource; the API serves POST /v1/moderate and GET /v1/health")
    if request.method == "OPTIONS":
        return preflight(request, settings)
    method = ROUTES[request.path]
    if request.method != method:
        raise ApiError("method_not_allowed", f"{request.path} accepts {method}", {"Allow": f"{method}, OPTIONS"})
    if request.path == "/v1/health":
        return health(settings, client, log)
    return moderate(request, request_id, settings, client, log)


def origin_allowed(origin: str, settings: Settings) -> bool:
    """Listed origins match exactly (the list is checked at cold start); the wildcard takes well-formed origins only,
    since the allowed origin is echoed in Access-Control-Allow-Origin."""
    if "*" in settings.allowed_origins:
        return ORIGIN.fullmatch(origin) is not None
    return origin.lower() in settings.allowed_origins


def note_error(log: dict, error: ApiError) -> None:
    """The error code and, for endpoint failures, the AWS error code or botocore exception behind it."""
    log["ErrorCode"] = error.code
    if isinstance(error.__cause__, ClientError):
        log["upstream_error"] = error.__cause__.response.get("Error", {}).get("Code")
    elif error.__cause__ is not None:
        log["upstream_error"] = type(error.__cause__).__name__


# --- Entry point ------------------------------------------------------------------------------------------------------
def handle(event: Mapping[str, Any], context: Any, settings: Settings, client) -> dict:
    """Answer one API Gateway event: every failure becomes a JSON response. Logs one JSON line per request."""
    started = time.perf_counter()
    lambda_request_id = getattr(context, "aws_request_id", None)
    # API Gateway's id is the one clients and the access log see.
    request_id = str((event.get("requestContext") or {}).get("requestId") or lambda_request_id or uuid.uuid4())
    log: dict[str, Any] = {"request_id": request_id, "lambda_request_id": lambda_request_id}
    origin, exc_info = None, None
    try:
        request = parse_event(event)
        origin = request.headers.get("origin")
        log.update(method=request.method, path=request.path, **caller(event))
        response = route(request, request_id, settings, client, log)
    except ApiError as error:
        response = Response(error.status, {"error": error.body()}, error.headers)
        note_error(log, error)
    except Exception:
        error = ApiError("internal_error", "an unexpected error occurred; quote the request id when reporting it")
        response = Response(500, {"error": error.body()})
        note_error(log, error)
        exc_info = sys.exc_info()
    log.update(status=response.status, Latency=round((time.perf_counter() - started) * 1000, 3))
    add_metrics(log, settings)
    # Endpoint trouble (429, 502-504) is worth a warning; client mistakes are routine.
    level = logging.ERROR if exc_info else logging.WARNING if response.status >= 429 else logging.INFO
    logger.log(level, "request", exc_info=exc_info, extra={"fields": log})
    return proxy_result(response, request_id, origin, settings)


def proxy_result(response: Response, request_id: str, origin: str | None, settings: Settings) -> dict:
    """The Lambda proxy result API Gateway turns into the HTTP answer: the response with the headers every answer
    carries (content type, request id, no caching) and, for an allowed origin, the CORS ones."""
    headers = {"Content-Type": "application/json", "X-Request-Id": request_id, "Cache-Control": "no-store"}
    if settings.allowed_origins:
        headers["Vary"] = "Origin"  # the answer differs by Origin, so caches must key on it
        if origin is not None and origin_allowed(origin, settings):
            headers["Access-Control-Allow-Origin"] = origin
            # Without this a cross-origin page cannot read the request id or how long to wait after a 429.
            headers["Access-Control-Expose-Headers"] = "X-Request-Id, Retry-After"
    body = "" if response.body is None else json.dumps(response.body)
    return {"statusCode": response.status, "headers": {**headers, **response.headers}, "body": body,
            "isBase64Encoded": False}  # fmt: skip


def add_metrics(log: dict, settings: Settings) -> None:
    """Make the request's log line a CloudWatch Embedded Metric Format document (standard library, stdout only).

    The routes put metric values in the line under their metric names (METRIC_UNITS, Flags_<label>); these and
    Requests are published in namespace toxiguard per Service. An error answer adds Errors, per Service and per
    Service and ErrorCode. The other members (request id, path, status, ...) stay plain properties, searchable in
    Logs Insights; only counts, shares and latencies are metrics, never anything derived from comment text.
    """
    log.update(Service=settings.metrics_service, Requests=1)
    directives = [metric_directive([["Service"]], [name for name in log if metric_unit(name)])]
    if "ErrorCode" in log:
        log["Errors"] = 1
        directives.append(metric_directive([["Service"], ["Service", "ErrorCode"]], ["Errors"]))
    log["_aws"] = {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": directives}


def metric_unit(name: str) -> str | None:
    return "Count" if name.startswith(FLAG_METRIC_PREFIX) else METRIC_UNITS.get(name)


def metric_directive(dimensions: list[list[str]], names: list[str]) -> dict:
    metrics = [{"Name": name, "Unit": metric_unit(name)} for name in names]
    return {"Namespace": METRICS_NAMESPACE, "Dimensions": dimensions, "Metrics": metrics}


def utc_timestamp(seconds: float) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. 2026-11-24T10:57:57.624+00:00 (log lines and health answers)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message, the record's `fields`, and a stack trace if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": utc_timestamp(record.created), "level": record.levelname, "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """DEBUG adds the texts line; any other LOG_LEVEL keeps every request line, since it carries the metrics."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]  # replaced, not added: a re-import must not duplicate lines
    logger.setLevel(min(logging.getLevelName(level), logging.INFO))
    logger.propagate = False  # the Lambda runtime's root handler would re-wrap each line in its text format


SETTINGS = Settings.from_environment()
configure_logging(SETTINGS.log_level)
SAGEMAKER = make_client(SETTINGS)
HEALTH_PROBE = HealthProbe()


def lambda_handler(event: dict, context: Any) -> dict:
    """The Lambda entry point, `handler.lambda_handler`."""
    return handle(event, context, SETTINGS, SAGEMAKER)
