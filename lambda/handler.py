"""toxiguard API, the scoring function: the Lambda function behind API Gateway's moderation and health routes.

A moderation request goes parse -> invoke -> format (see `moderate`):
  parse   the event into an `HttpRequest`, route it, validate the JSON body (`parse_moderation`);
  invoke  the SageMaker endpoint once with all texts (`invoke_model`): TF Serving's JSON in, one score row per text out;
  format  per-label scores, the thresholds applied, the labels they flag and the action the decision policy takes
          (`format_results`: allow, review, or block at the stricter block thresholds).
With storing on (`store`, default REVIEWS_STORE_DEFAULT), results a moderator should see become review items in the
review store (`review_store`: DynamoDB on AWS, where this function may only PutItem; SQLite locally); reviews are
served by the second function, `reviews.py`. A store failure never fails scoring (`store_review_items`).
`GET /v1/health` answers from a probe of the endpoint cached per warm instance (`HealthProbe`).
The conversation itself (events, errors and their HTTP status, CORS, the request's log line with its CloudWatch
metrics) is `http_api`'s, shared with the review function.

Standard library + boto3 only. Configuration is read from the environment once, at cold start; an invalid
environment fails the cold start with a message naming the variable.
"""

import dataclasses
import functools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

import review_store
from http_api import (
    ApiError,
    ConfigurationError,
    HttpRequest,
    HttpSettings,
    Response,
    boolean_setting,
    check_fields,
    configure_logging,
    dispatch,
    json_body,
    note_error,
    serve,
    setting,
    upstream_error,
    utc_timestamp,
)

DEFAULT_LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
REQUEST_FIELDS = ("text", "texts", "threshold", "ref", "refs", "store")
ACTIONS = ("allow", "review", "block")
HEALTH_CHECK_TEXT = "health check"
# Error codes botocore's standard retry mode treats as throttling: its retries are spent, so the caller should wait.
THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "RequestThrottled",
     "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded", "SlowDown"}
)  # fmt: skip
ENDPOINT_FAULT_CODES = frozenset({"ServiceUnavailable", "InternalFailure", "InternalDependencyException"})
# SageMaker's ValidationError for an endpoint that does not exist (yet): "Endpoint <name> of account <id> not found."
MISSING_ENDPOINT = re.compile(r"\bendpoint\b.*\bnot found\b", re.IGNORECASE | re.DOTALL)
ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")  # InvokeEndpoint's EndpointName pattern
# The platform's own id for a comment (`ref`): printable, at most this long.
MAX_REF_CHARS = 128
REF = re.compile(rf"[^\x00-\x1f\x7f]{{1,{MAX_REF_CHARS}}}")
# The public limits (docs/api.md); toxiguard.serving.client keeps a copy so `toxiguard score` stays within them, and a
# test checks that the two agree (this file stays standalone).
DEFAULT_MAX_TEXTS = 64
DEFAULT_MAX_TEXT_CHARS = 5000
DEFAULT_HEALTH_CACHE_SECONDS = 30.0
# A failed probe is reused for at most this long (HEALTH_CACHE_SECONDS if shorter): endpoint failures are often brief
# (a serverless endpoint scaling from zero, a throttled burst, a model loading, for which the API says Retry-After: 5),
# so recovery shows within seconds, while an outage still costs at most one endpoint call per 5 s per instance.
FAILED_PROBE_CACHE_SECONDS = 5.0
# Metrics (`http_api.add_metrics`): the Service dimension's default, and every metric with its CloudWatch unit, plus
# one Flags_<label> (Count) per label. terraform/modules/monitoring graphs and alarms on exactly these names; a test
# there reads them from this file, so the two cannot drift apart.
DEFAULT_METRICS_SERVICE = "toxiguard-api"
METRIC_UNITS = {
    "Requests": "Count", "Latency": "Milliseconds", "ModelLatency": "Milliseconds", "TextsScored": "Count",
    "FlaggedTexts": "Count", "FlaggedShare": "None", "Errors": "Count", "HealthProbeCalls": "Count",
    "ReviewItemsStored": "Count", "ReviewStoreFailures": "Count",
}  # fmt: skip
FLAG_METRIC_PREFIX = "Flags_"

logger = logging.getLogger("toxiguard.api")


# --- Configuration ----------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings(HttpSettings):
    """Everything the scoring function reads from its environment; tests build their own."""

    endpoint_name: str
    model_version: str
    labels: tuple[str, ...]
    thresholds: tuple[float, ...]  # the review threshold of each label, in label order
    block_thresholds: tuple[float | None, ...] = ()  # each label's block threshold; None: the label never blocks
    max_texts: int = DEFAULT_MAX_TEXTS
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    connect_timeout_seconds: float = 1.0
    read_timeout_seconds: float = 5.0
    max_attempts: int = 3
    health_cache_seconds: float = DEFAULT_HEALTH_CACHE_SECONDS
    store_by_default: bool = False  # REVIEWS_STORE_DEFAULT: a request without `store` stores its review items
    review_ttl_days: int = review_store.DEFAULT_TTL_DAYS

    def __post_init__(self):
        if not self.block_thresholds:  # an older manifest has none: nothing blocks automatically
            object.__setattr__(self, "block_thresholds", (None,) * len(self.labels))

    @functools.cached_property
    def block_threshold_map(self) -> dict[str, float | None]:
        """label -> block threshold, as answers show them: fixed from cold start, so built once."""
        return dict(zip(self.labels, self.block_thresholds, strict=True))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        labels = tuple(name.strip() for name in environ.get("MODEL_LABELS", ",".join(DEFAULT_LABELS)).split(","))
        if not all(labels) or len(set(labels)) != len(labels):
            raise ConfigurationError("MODEL_LABELS must be distinct, non-empty label names separated by commas")
        endpoint_name = setting(environ, "SAGEMAKER_ENDPOINT_NAME")
        if not ENDPOINT_NAME.fullmatch(endpoint_name):
            raise ConfigurationError(f"SAGEMAKER_ENDPOINT_NAME={endpoint_name!r} is not a SageMaker endpoint name")
        thresholds = _thresholds(environ.get("MODEL_THRESHOLDS", ""), labels)
        return cls(
            **vars(HttpSettings.from_environment(environ, DEFAULT_METRICS_SERVICE)),
            endpoint_name=endpoint_name,
            model_version=setting(environ, "MODEL_VERSION"),
            labels=labels,
            thresholds=thresholds,
            block_thresholds=_block_thresholds(environ.get("MODEL_BLOCK_THRESHOLDS", ""), labels, thresholds),
            max_texts=setting(environ, "MAX_TEXTS", int, DEFAULT_MAX_TEXTS),
            max_text_chars=setting(environ, "MAX_TEXT_CHARS", int, DEFAULT_MAX_TEXT_CHARS),
            connect_timeout_seconds=setting(environ, "SAGEMAKER_CONNECT_TIMEOUT_SECONDS", float, 1.0),
            read_timeout_seconds=setting(environ, "SAGEMAKER_READ_TIMEOUT_SECONDS", float, 5.0),
            max_attempts=setting(environ, "SAGEMAKER_MAX_ATTEMPTS", int, 3),
            health_cache_seconds=setting(environ, "HEALTH_CACHE_SECONDS", float, DEFAULT_HEALTH_CACHE_SECONDS),
            store_by_default=boolean_setting(environ, "REVIEWS_STORE_DEFAULT", False),
            review_ttl_days=_review_ttl_days(environ),
        )


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


def _block_thresholds(raw: str, labels: tuple[str, ...], review: tuple[float, ...]) -> tuple[float | None, ...]:
    """MODEL_BLOCK_THRESHOLDS: the manifest's `block_thresholds`, a JSON object label -> threshold in [0, 1] at or
    above the label's review threshold, or null (the label never blocks by itself). Empty: nothing blocks."""
    if not raw.strip():
        return (None,) * len(labels)
    try:
        block = json.loads(raw)
    except ValueError:
        raise ConfigurationError("MODEL_BLOCK_THRESHOLDS must be a JSON object label -> threshold or null") from None
    if not isinstance(block, dict) or set(block) != set(labels):
        raise ConfigurationError(f"MODEL_BLOCK_THRESHOLDS must have exactly the labels {', '.join(labels)}")
    for label, review_threshold in zip(labels, review, strict=True):
        value = block[label]
        if value is not None and not (_is_probability(value) and value >= review_threshold):
            raise ConfigurationError(
                f"MODEL_BLOCK_THRESHOLDS[{label!r}] must be null or a number from the review threshold "
                f"({review_threshold}) to 1"
            )
    return tuple(None if block[label] is None else float(block[label]) for label in labels)


def _review_ttl_days(environ: Mapping[str, str]) -> int:
    try:
        return review_store.ttl_days_from(environ)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None


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


# --- Errors -----------------------------------------------------------------------------------------------------------
class EndpointError(ApiError):
    """The model endpoint failed (429 or 5xx); health reports these as `unavailable`."""


# --- Parse ------------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Moderation:
    """A valid moderation request: the texts, the review thresholds to apply, the platform's ids, whether to store."""

    texts: list[str]
    thresholds: tuple[float, ...]
    refs: list[str | None]
    store: bool


def parse_moderation(request: HttpRequest, settings: Settings, store_configured: bool) -> Moderation:
    """The request, or its first problem as an ApiError."""
    payload = json_body(request, settings.max_body_bytes)
    check_fields(payload, REQUEST_FIELDS, "`text` or `texts`")
    if "text" in payload and "texts" in payload:
        raise ApiError("invalid_request", "send either `text` or `texts`, not both")
    if "text" in payload:
        if "refs" in payload:
            raise ApiError("invalid_request", "`refs` goes with `texts`; send `ref` with `text`")
        texts, names, refs = [payload["text"]], ["text"], [payload.get("ref")]
        check_ref("ref", refs[0])
    else:
        texts = payload.get("texts", [])
        if not isinstance(texts, list):
            raise ApiError("invalid_request", "`texts` must be an array of strings")
        if not texts:
            raise ApiError("missing_text", "the request needs `text` (a string) or `texts` (an array of strings)")
        if len(texts) > settings.max_texts:
            raise ApiError("too_many_texts", f"{len(texts)} texts; the limit is {settings.max_texts}")
        names = [f"texts[{index}]" for index in range(len(texts))]
        refs = parse_refs(payload, len(texts))
    for name, text in zip(names, texts, strict=True):
        check_text(name, text, settings)
    return Moderation(
        texts, request_thresholds(payload, settings), refs, wants_store(payload, settings, store_configured)
    )


def check_ref(name: str, ref: Any) -> None:
    if ref is not None and not (isinstance(ref, str) and REF.fullmatch(ref)):
        raise ApiError("invalid_request", f"`{name}` must be 1-{MAX_REF_CHARS} characters without control characters")


def parse_refs(payload: dict, count: int) -> list[str | None]:
    if "ref" in payload:
        raise ApiError("invalid_request", "`ref` goes with `text`; send `refs` (one per text) with `texts`")
    refs = payload.get("refs", [None] * count)
    if not isinstance(refs, list) or len(refs) != count:
        raise ApiError("invalid_request", f"`refs` must be an array with one id (or null) per text: {count}")
    for index, ref in enumerate(refs):
        check_ref(f"refs[{index}]", ref)
    return refs


def request_thresholds(payload: dict, settings: Settings) -> tuple[float, ...]:
    """The manifest's review thresholds, or the request's one `threshold` for every label (block thresholds stay)."""
    if "threshold" not in payload:
        return settings.thresholds
    if not _is_probability(payload["threshold"]):
        raise ApiError("invalid_request", "`threshold` must be a number from 0 to 1")
    return (float(payload["threshold"]),) * len(settings.labels)


def wants_store(payload: dict, settings: Settings, store_configured: bool) -> bool:
    store = payload.get("store", settings.store_by_default)
    if not isinstance(store, bool):
        raise ApiError("invalid_request", "`store` must be true or false")
    if store and not store_configured:
        raise ApiError("invalid_request", "this deployment has no review store; send `store: false` or omit it")
    return store


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
def format_results(
    rows: list[list[float]],
    thresholds: tuple[float, ...],
    block_thresholds: tuple[float | None, ...],
    labels: tuple[str, ...],
) -> list[dict]:
    """Per text: every label's score, the labels at or above their review threshold (in label order), flagged, and
    the action the policy takes."""
    results = []
    for row in rows:
        flagged = [label for label, score, limit in zip(labels, row, thresholds, strict=True) if score >= limit]
        results.append({
            "scores": dict(zip(labels, row, strict=True)),
            "labels": flagged,
            "flagged": bool(flagged),
            "action": moderation_action(row, thresholds, block_thresholds),
        })  # fmt: skip
    return results


def moderation_action(
    scores: list[float], thresholds: tuple[float, ...], block_thresholds: tuple[float | None, ...]
) -> str:
    """The decision rule: `block` when any score is at or above its label's block threshold (None: that label never
    blocks by itself), else `review` when any label is flagged, else `allow`. All three in label order."""
    if any(limit is not None and score >= limit for score, limit in zip(scores, block_thresholds, strict=True)):
        return "block"
    if any(score >= limit for score, limit in zip(scores, thresholds, strict=True)):
        return "review"
    return "allow"


def flag_metrics(results: list[dict], labels: tuple[str, ...]) -> dict[str, int | float]:
    """TextsScored, FlaggedTexts, FlaggedShare (of this request's texts) and Flags_<label>, from format_results."""
    flagged = sum(result["flagged"] for result in results)
    counts = {f"{FLAG_METRIC_PREFIX}{label}": sum(label in result["labels"] for result in results) for label in labels}
    return {"TextsScored": len(results), "FlaggedTexts": flagged, "FlaggedShare": flagged / len(results), **counts}


def store_review_items(
    moderation: Moderation, results: list[dict], thresholds: dict, settings: Settings, store, log: dict
) -> bool:
    """Queue the results a moderator should see (action review or block), with their texts and the `thresholds`
    applied ({"review": ..., "block": ...}); True if all were stored.

    Storing never fails the request: the scores go back either way, marked `stored: false`, with the store's error
    code in the log and ReviewStoreFailures counting the items lost to the queue.
    """
    now = time.time()
    queued = [
        (result, review_store.new_item(
            text, ref=ref, scores=result["scores"], thresholds=thresholds, labels=result["labels"],
            action=result["action"], model_version=settings.model_version, now=now, ttl_days=settings.review_ttl_days,
        ))
        for text, ref, result in zip(moderation.texts, moderation.refs, results, strict=True)
        if result["action"] != "allow"
    ]  # fmt: skip
    if not queued:
        return True
    try:
        store.put_items([item for _, item in queued])
        stored_ids = {item["id"] for _, item in queued}
    except review_store.StoreError as error:
        stored_ids = set(error.stored_ids)  # DynamoDB writes one item at a time: some may be in
        log.update(ReviewStoreFailures=len(queued) - len(stored_ids), store_error=error.code)
        if error.__cause__ is not None:
            log["store_upstream_error"] = upstream_error(error.__cause__)
    for result, item in queued:
        if item["id"] in stored_ids:
            result["review_id"] = item["id"]
    log["ReviewItemsStored"] = len(stored_ids)
    return len(stored_ids) == len(queued)


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
def moderate(request: HttpRequest, request_id: str, settings: Settings, client, store, log: dict) -> Response:
    moderation = parse_moderation(request, settings, store is not None)
    log["texts"] = len(moderation.texts)
    logger.debug("texts", extra={"fields": {"request_id": request_id, "text_content": moderation.texts}})
    rows, model_latency_ms = invoke_model(client, settings, moderation.texts)
    log["ModelLatency"] = round(model_latency_ms, 3)
    results = format_results(rows, moderation.thresholds, settings.block_thresholds, settings.labels)
    log.update(flag_metrics(results, settings.labels))
    for result, ref in zip(results, moderation.refs, strict=True):
        if ref is not None:
            result["ref"] = ref
    thresholds = {
        "review": dict(zip(settings.labels, moderation.thresholds, strict=True)),
        "block": settings.block_threshold_map,
    }
    body = {
        "request_id": request_id,
        "model_version": settings.model_version,
        "thresholds": thresholds["review"],
        "block_thresholds": thresholds["block"],
        "results": results,
    }
    if moderation.store:
        body["stored"] = store_review_items(moderation, results, thresholds, settings, store, log)
    return Response(200, body)


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


def handle(event: Mapping[str, Any], context: Any, settings: Settings, client, store=None) -> dict:
    """Answer one API Gateway event (http_api.serve): moderation, health and CORS preflights for the whole API."""

    def route(request: HttpRequest, request_id: str, log: dict) -> Response:
        handlers = {
            "/v1/moderate": lambda request, _, request_id, log: moderate(
                request, request_id, settings, client, store, log
            ),
            "/v1/health": lambda _request, _parameters, _request_id, log: health(settings, client, log),
        }
        return dispatch(request, request_id, log, handlers, settings)

    return serve(event, context, settings, route, logger, metric_unit)


def metric_unit(name: str) -> str | None:
    return "Count" if name.startswith(FLAG_METRIC_PREFIX) else METRIC_UNITS.get(name)


SETTINGS = Settings.from_environment()
configure_logging(logger, SETTINGS.log_level)
SAGEMAKER = make_client(SETTINGS)
REVIEW_STORE = review_store.open_store(os.environ)
if SETTINGS.store_by_default and REVIEW_STORE is None:
    raise ConfigurationError("REVIEWS_STORE_DEFAULT=true needs a review store: REVIEWS_TABLE or REVIEWS_DB")
HEALTH_PROBE = HealthProbe()


def lambda_handler(event: dict, context: Any) -> dict:
    """The Lambda entry point, `handler.lambda_handler`."""
    return handle(event, context, SETTINGS, SAGEMAKER, REVIEW_STORE)
