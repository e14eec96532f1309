"""The HTTP side both of toxiguard's functions share: API Gateway events in, Lambda proxy results out.

The scoring function (`handler.py`) and the review function (`reviews.py`) are deployed from the same zip behind one
HTTP API. What a client sees must not depend on which of them answered, so everything about the conversation lives
here once: the route table of the whole API, events of both payload formats parsed into an `HttpRequest`, JSON
bodies, the error contract (`ApiError` codes and their status in ERROR_STATUS), CORS, and the request's log line,
which is also a CloudWatch Embedded Metric Format document (`serve`).

Standard library only, and nothing is read at import: each function reads its own environment.
"""

import base64
import binascii
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

# The whole API, path pattern -> method. API Gateway sends each route to its function; every function still answers
# CORS preflights for all of them, since `OPTIONS /{proxy+}` goes to the scoring function.
API_ROUTES = {
    "/v1/moderate": "POST",
    "/v1/health": "GET",
    "/v1/reviews": "GET",
    "/v1/reviews/{id}": "GET",
    "/v1/reviews/{id}/decision": "POST",
}
SERVED_ROUTES = ", ".join(f"{method} {pattern}" for pattern, method in API_ROUTES.items())  # for 404 messages
# Log field -> token claim naming the caller (see `caller`).
CALLER_CLAIMS = {"client_id": "client_id", "caller": "sub"}
CORS_PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "authorization, content-type",  # a signed-in page sends its token
    "Access-Control-Max-Age": "600",
}
# The one place error codes get their HTTP status; docs/openapi.yaml documents the same table (a test compares them).
ERROR_STATUS = {
    "invalid_json": 400, "invalid_request": 400, "missing_text": 400, "empty_text": 400, "origin_not_allowed": 403,
    "not_found": 404, "review_not_found": 404, "method_not_allowed": 405, "decision_conflict": 409,
    "payload_too_large": 413, "too_many_texts": 413, "text_too_long": 413, "unsupported_media_type": 415,
    "endpoint_throttled": 429, "internal_error": 500, "bad_model_response": 502, "endpoint_unavailable": 503,
    "review_store_unavailable": 503, "endpoint_timeout": 504,
    # The JWT authorizer's: on AWS API Gateway answers them before a function runs (with its own body,
    # `{"message": ...}`); the local gateway answers them in this contract. The functions themselves never do.
    "unauthorized": 401, "insufficient_scope": 403,
}  # fmt: skip
# A serialized origin (RFC 6454): what a browser sends; the wildcard echoes nothing else (no spaces, CR/LF, paths).
ORIGIN = re.compile(r"https?://([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:[0-9]{1,5})?", re.IGNORECASE)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_MAX_BODY_BYTES = 262_144
METRICS_NAMESPACE = "toxiguard"
SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")  # a Lambda function name fits
PATH_PARAMETER = re.compile(r"\{(\w+)\}")


# --- Configuration ----------------------------------------------------------------------------------------------------
class ConfigurationError(ValueError):
    """A function's environment is invalid; raised at import, so the cold start fails with this message."""


def setting(environ: Mapping[str, str], name: str, kind: type = str, default: Any = None) -> Any:
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


def boolean_setting(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false"):
        raise ConfigurationError(f"{name}={raw!r} must be true or false")
    return raw == "true"


def log_level_setting(environ: Mapping[str, str]) -> str:
    log_level = environ.get("LOG_LEVEL", "INFO").strip().upper()
    if log_level not in LOG_LEVELS:
        raise ConfigurationError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    return log_level


def metrics_service_setting(environ: Mapping[str, str], default: str) -> str:
    """The metrics' Service dimension: METRICS_SERVICE, else the Lambda function's name, else `default`."""
    service = environ.get("METRICS_SERVICE", "").strip() or environ.get("AWS_LAMBDA_FUNCTION_NAME", "").strip()
    service = service or default
    if not SERVICE_NAME.fullmatch(service):
        raise ConfigurationError(f"METRICS_SERVICE={service!r} must be 1-255 letters, digits, '.', '_' or '-'")
    return service


def origins_setting(environ: Mapping[str, str]) -> frozenset[str]:
    """ALLOWED_ORIGINS: comma-separated `scheme://host[:port]` origins or `*`; empty disables CORS."""
    raw = environ.get("ALLOWED_ORIGINS", "")
    origins = frozenset(origin.strip().lower() for origin in raw.split(",") if origin.strip())
    for origin in origins - {"*"}:
        url = urlsplit(origin)
        if url.scheme not in ("http", "https") or not url.netloc or url.path or url.query or url.fragment:
            raise ConfigurationError(f"ALLOWED_ORIGINS entry {origin!r} is not an origin like https://example.org")
    return origins


@dataclass(frozen=True)
class HttpSettings:
    """What the conversation itself needs from a function's environment."""

    allowed_origins: frozenset[str] = frozenset()  # lower-case origins, or "*"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    log_level: str = "INFO"
    metrics_service: str = "toxiguard-api"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str], default_service: str) -> "HttpSettings":
        return cls(
            allowed_origins=origins_setting(environ),
            max_body_bytes=setting(environ, "MAX_BODY_BYTES", int, DEFAULT_MAX_BODY_BYTES),
            log_level=log_level_setting(environ),
            metrics_service=metrics_service_setting(environ, default_service),
        )


# --- Requests, responses, errors --------------------------------------------------------------------------------------
class ApiError(Exception):
    """An error the client sees: a stable code (its HTTP status from ERROR_STATUS) and a message for humans, plus any
    members the body adds next to `error` (a 409 carries the item's current state)."""

    def __init__(self, code: str, message: str, headers: Mapping[str, str] | None = None, extra: dict | None = None):
        super().__init__(message)
        self.code, self.message, self.status = code, message, ERROR_STATUS[code]
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class HttpRequest:
    """The parts of an API Gateway event the API uses, the same for both payload formats."""

    method: str
    path: str
    headers: Mapping[str, str]  # names lower-cased
    body: str
    is_base64: bool
    query: Mapping[str, str] = field(default_factory=dict)  # repeated parameters comma-joined, as payload 2.0 does


@dataclass
class Response:
    status: int
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)


def parse_event(event: Mapping[str, Any]) -> HttpRequest:
    """HTTP API 2.0 events carry `rawPath` (with a named stage's prefix); REST API 1.0 events carry `path`."""
    request_context = event.get("requestContext") or {}
    if event.get("version") == "2.0":
        method, path = request_context["http"]["method"], event["rawPath"]
        query = dict(event.get("queryStringParameters") or {})
    else:
        method, path = event["httpMethod"], event["path"]
        multi = event.get("multiValueQueryStringParameters") or {}
        query = {name: ",".join(values) for name, values in multi.items()} or dict(
            event.get("queryStringParameters") or {}
        )
    stage = request_context.get("stage") or "$default"
    if stage != "$default" and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1 :]
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    body = event.get("body") or ""
    return HttpRequest(method.upper(), path, headers, body, bool(event.get("isBase64Encoded")), query)


def match_route(path: str, routes: Mapping[str, str] = API_ROUTES) -> tuple[str, dict[str, str]] | None:
    """The route pattern `path` matches and its path parameters (one non-empty segment each), or None."""
    segments = path.split("/")
    for pattern in routes:
        parts = pattern.split("/")
        if len(parts) != len(segments):
            continue
        parameters = {}
        for part, segment in zip(parts, segments, strict=True):
            name = PATH_PARAMETER.fullmatch(part)
            if name and segment:
                parameters[name.group(1)] = segment
            elif part != segment:
                break
        else:
            return pattern, parameters
    return None


def caller(event: Mapping[str, Any]) -> dict[str, str]:
    """Who called, as the API's authorizer vouched, for the log: the app client and the token's subject (an opaque
    id, never a name or address). HTTP API JWT authorizers put claims at `authorizer.jwt.claims` (payload 2.0),
    REST API Cognito user pool authorizers at `authorizer.claims` (1.0); an open API has none."""
    claims = token_claims(event)
    return {field: str(claims[claim]) for field, claim in CALLER_CLAIMS.items() if claims.get(claim)}


def token_claims(event: Mapping[str, Any]) -> Mapping[str, Any]:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    return (authorizer.get("jwt") or {}).get("claims") or authorizer.get("claims") or {}


def json_body(request: HttpRequest, max_body_bytes: int) -> Any:
    """The request's JSON body, or the first problem with it as an ApiError."""
    check_content_type(request.headers.get("content-type"))
    body = body_bytes(request)
    if len(body) > max_body_bytes:
        raise ApiError("payload_too_large", f"the body has {len(body)} bytes; the limit is {max_body_bytes}")
    return parse_json(body)


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


def check_fields(payload: Any, allowed: tuple[str, ...], what: str) -> None:
    """A JSON object with no fields but `allowed`."""
    if not isinstance(payload, dict):
        raise ApiError("invalid_request", f"the body must be a JSON object with {what}")
    unknown = ", ".join(map(json.dumps, sorted(set(payload) - set(allowed))))
    if unknown:
        raise ApiError("invalid_request", f"unknown field(s) {unknown}; allowed: {', '.join(allowed)}")


# --- Routing and CORS -------------------------------------------------------------------------------------------------
Handler = Callable[[HttpRequest, dict[str, str], str, dict], Response]


def dispatch(request: HttpRequest, request_id: str, log: dict, handlers: Mapping[str, Handler], settings) -> Response:
    """Find the request's route among the whole API's and call its handler with the path parameters.

    `handlers` maps the function's own route patterns to handlers. Preflights and wrong methods are answered for any
    route of the API; a route of the other function reaches this one only if API Gateway is misconfigured: 404.
    """
    matched = match_route(request.path)
    if matched is None:
        raise ApiError("not_found", f"no such resource; the API serves {SERVED_ROUTES}")
    pattern, parameters = matched
    if request.method == "OPTIONS":
        return preflight(request, pattern, settings)
    method = API_ROUTES[pattern]
    if request.method != method:
        raise ApiError("method_not_allowed", f"{pattern} accepts {method}", {"Allow": f"{method}, OPTIONS"})
    if pattern not in handlers:
        raise ApiError("not_found", f"{method} {pattern} is not served by this function")
    return handlers[pattern](request, parameters, request_id, log)


def preflight(request: HttpRequest, pattern: str, settings: HttpSettings) -> Response:
    origin = request.headers.get("origin")
    if origin is None:  # a plain OPTIONS request, not a CORS preflight
        return Response(204, headers={"Allow": f"{API_ROUTES[pattern]}, OPTIONS"})
    if not origin_allowed(origin, settings.allowed_origins):
        raise ApiError("origin_not_allowed", "this origin may not call the API")
    return Response(204, headers=dict(CORS_PREFLIGHT_HEADERS))


def origin_allowed(origin: str, allowed_origins: frozenset[str]) -> bool:
    """Listed origins match exactly (the list is checked at cold start); the wildcard takes well-formed origins only,
    since the allowed origin is echoed in Access-Control-Allow-Origin."""
    if "*" in allowed_origins:
        return ORIGIN.fullmatch(origin) is not None
    return origin.lower() in allowed_origins


def proxy_result(response: Response, request_id: str, origin: str | None, allowed_origins: frozenset[str]) -> dict:
    """The Lambda proxy result API Gateway turns into the HTTP answer: the response with the headers every answer
    carries (content type, request id, no caching) and, for an allowed origin, the CORS ones."""
    headers = {"Content-Type": "application/json", "X-Request-Id": request_id, "Cache-Control": "no-store"}
    if allowed_origins:
        headers["Vary"] = "Origin"  # the answer differs by Origin, so caches must key on it
        if origin is not None and origin_allowed(origin, allowed_origins):
            headers["Access-Control-Allow-Origin"] = origin
            # Without this a cross-origin page cannot read the request id or how long to wait after a 429.
            headers["Access-Control-Expose-Headers"] = "X-Request-Id, Retry-After"
    body = "" if response.body is None else json.dumps(response.body)
    return {"statusCode": response.status, "headers": {**headers, **response.headers}, "body": body,
            "isBase64Encoded": False}  # fmt: skip


# --- One request, end to end ------------------------------------------------------------------------------------------
def serve(
    event: Mapping[str, Any],
    context: Any,
    settings: HttpSettings,
    route: Callable[[HttpRequest, str, dict], Response],
    logger: logging.Logger,
    metric_unit: Callable[[str], str | None],
) -> dict:
    """Answer one API Gateway event with `route`: every failure becomes a JSON response. Logs one JSON line (an EMF
    document: `add_metrics`) per request; anything unexpected becomes a 500 `internal_error`, its stack trace only in
    the log."""
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
        response = route(request, request_id, log)
    except ApiError as error:
        response = Response(error.status, {"error": error.body(), **error.extra}, error.headers)
        note_error(log, error)
    except Exception:
        error = ApiError("internal_error", "an unexpected error occurred; quote the request id when reporting it")
        response = Response(500, {"error": error.body()})
        note_error(log, error)
        exc_info = sys.exc_info()
    log.update(status=response.status, Latency=round((time.perf_counter() - started) * 1000, 3))
    add_metrics(log, settings.metrics_service, metric_unit)
    # Upstream trouble (429, 502-504) is worth a warning; client mistakes are routine.
    level = logging.ERROR if exc_info else logging.WARNING if response.status >= 429 else logging.INFO
    logger.log(level, "request", exc_info=exc_info, extra={"fields": log})
    return proxy_result(response, request_id, origin, settings.allowed_origins)


def note_error(log: dict, error: ApiError) -> None:
    """The error code and, for upstream failures, the AWS error code or exception behind it."""
    log["ErrorCode"] = error.code
    if error.__cause__ is not None:
        log["upstream_error"] = upstream_error(error.__cause__)


def upstream_error(cause: BaseException) -> str:
    """What failed below the API: an AWS error code (botocore's ClientError), else the exception's type."""
    response = getattr(cause, "response", None)
    if isinstance(response, dict) and response.get("Error", {}).get("Code"):
        return response["Error"]["Code"]
    return type(cause).__name__


def add_metrics(log: dict, service: str, metric_unit: Callable[[str], str | None]) -> None:
    """Make the request's log line a CloudWatch Embedded Metric Format document (standard library, stdout only).

    The routes put metric values in the line under their metric names (those `metric_unit` knows); these and Requests
    are published in namespace toxiguard per Service. An error answer adds Errors, per Service and per Service and
    ErrorCode. The other members (request id, path, status, ...) stay plain properties, searchable in Logs Insights;
    only counts, shares and latencies are metrics, never anything derived from comment text.
    """
    log.update(Service=service, Requests=1)
    directives = [metric_directive([["Service"]], [name for name in log if metric_unit(name)], metric_unit)]
    if "ErrorCode" in log:
        log["Errors"] = 1
        directives.append(metric_directive([["Service"], ["Service", "ErrorCode"]], ["Errors"], metric_unit))
    log["_aws"] = {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": directives}


def metric_directive(dimensions: list[list[str]], names: list[str], metric_unit: Callable[[str], str | None]) -> dict:
    metrics = [{"Name": name, "Unit": metric_unit(name)} for name in names]
    return {"Namespace": METRICS_NAMESPACE, "Dimensions": dimensions, "Metrics": metrics}


# --- Logs -------------------------------------------------------------------------------------------------------------
def utc_timestamp(seconds: float) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. 2026-11-24T10:57:57.624+00:00 (log lines, answers, review items)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message, the record's `fields`, and a stack trace if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": utc_timestamp(record.created), "level": record.levelname, "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(logger: logging.Logger, level: str) -> None:
    """DEBUG adds the texts line; any other LOG_LEVEL keeps every request line, since it carries the metrics."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]  # replaced, not added: a re-import must not duplicate lines
    logger.setLevel(min(logging.getLevelName(level), logging.INFO))
    logger.propagate = False  # the Lambda runtime's root handler would re-wrap each line in its text format
