"""The handler's metrics: each request's log line is a CloudWatch Embedded Metric Format (EMF) document.

`emf_problems` checks a line against the EMF specification
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html);
it is itself tested on broken documents first, then applied to the lines real handler calls write: a scored request
with flags, client errors, endpoint failures, health checks, arbitrary requests, and the lines the local gateway prints.
"""

import copy
import json
import math
import time

import pytest
import requests
from hypothesis import given

from .conftest import (
    HANDLER_ENVIRONMENT,
    MANIFEST,
    LambdaContext,
    LogLines,
    handler,
    http_api_event,
    load_handler,
)
from .test_properties import EXAMPLES, TfServingDouble, bodies, methods, paths

LABELS = tuple(MANIFEST["labels"])
FRIENDLY = "Thanks for fixing the citation, the article reads much better now."
RUDE = "You are a complete idiot and everyone here hates you."
CLEAN_ROW = [0.00005, 0.0, 0.00001, 0.0, 0.000001, 0.0]
ABUSIVE_ROW = [0.998, 0.0297, 0.99, 0.0004, 0.99, 0.0399]  # toxic, obscene and insult over their thresholds

# --------------------------------------------------------------------------------------------------
# An EMF validator, from the specification
# --------------------------------------------------------------------------------------------------

# CloudWatch's StandardUnit values, the units a MetricDefinition may name.
UNITS = frozenset(
    {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
     "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
     "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second",
     "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"}
)  # fmt: skip
MAX_DIMENSIONS_PER_SET = 30
MAX_METRICS_PER_DIRECTIVE = 100
MAX_VALUES_PER_METRIC = 100
MAX_EVENT_BYTES = 256 * 1024  # a CloudWatch Logs event (the documented limit is 1 MB now; 256 KB is the older one)


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_name(value) -> bool:
    """A namespace, metric or dimension name: 1-255 ASCII characters."""
    return isinstance(value, str) and 0 < len(value) <= 255 and value.isascii() and bool(value.strip())


def emf_problems(line: str) -> list[str]:
    """What makes one log line an invalid EMF document (empty: it is valid)."""
    if "\n" in line or len(line.encode()) > MAX_EVENT_BYTES:
        return ["not a single log event of at most 256 KB"]
    try:
        root = json.loads(line)  # the whole line: nothing may come before or after the object
    except ValueError as error:
        return [f"not JSON: {error}"]
    metadata = root.get("_aws") if isinstance(root, dict) else None
    if not isinstance(metadata, dict):
        return ["the root is not an object with an `_aws` object"]
    problems = []
    if set(metadata) != {"Timestamp", "CloudWatchMetrics"}:
        problems.append(f"_aws has {sorted(metadata)}, not exactly Timestamp and CloudWatchMetrics")
    timestamp = metadata.get("Timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp <= 0:
        problems.append(f"_aws.Timestamp {timestamp!r} is not milliseconds since the epoch")
    directives = metadata.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return [*problems, "_aws.CloudWatchMetrics is not a non-empty array"]
    for index, directive in enumerate(directives):
        problems += [f"directive {index}: {problem}" for problem in directive_problems(root, directive)]
    return problems


def directive_problems(root: dict, directive) -> list[str]:
    if not isinstance(directive, dict) or set(directive) != {"Namespace", "Dimensions", "Metrics"}:
        return ["not an object with exactly Namespace, Dimensions and Metrics"]
    problems = []
    if not is_name(directive["Namespace"]) or directive["Namespace"].startswith("AWS/"):
        problems.append(f"namespace {directive['Namespace']!r} is not a custom namespace name")
    dimension_sets = directive["Dimensions"]
    if not isinstance(dimension_sets, list) or not dimension_sets:
        problems.append("Dimensions is not a non-empty array of dimension sets")
        dimension_sets = []
    for dimension_set in dimension_sets:
        if not isinstance(dimension_set, list) or len(dimension_set) > MAX_DIMENSIONS_PER_SET:
            problems.append(f"dimension set {dimension_set!r} is not an array of at most 30 names")
            continue
        for name in dimension_set:
            value = root.get(name) if is_name(name) else None
            if not isinstance(value, str) or not value.strip() or len(value) > 1024:
                problems.append(f"dimension {name!r} is not a root member with a string value")
    metrics = directive["Metrics"]
    if not isinstance(metrics, list) or len(metrics) > MAX_METRICS_PER_DIRECTIVE:
        return [*problems, "Metrics is not an array of at most 100 metric definitions"]
    names = [definition.get("Name") if isinstance(definition, dict) else None for definition in metrics]
    if len(set(map(str, names))) != len(names):
        problems.append(f"a metric is defined twice: {names}")
    for definition in metrics:
        if not isinstance(definition, dict) or not {"Name"} <= set(definition) <= {"Name", "Unit", "StorageResolution"}:
            problems.append(f"metric definition {definition!r} is not Name with optional Unit and StorageResolution")
            continue
        name, value = definition["Name"], root.get(definition["Name"]) if is_name(definition["Name"]) else None
        values = value if isinstance(value, list) else [value]
        if not values or len(values) > MAX_VALUES_PER_METRIC or not all(map(is_number, values)):
            problems.append(f"metric {name!r} is not a root member holding a number or up to 100 numbers")
        if definition.get("Unit", "None") not in UNITS:
            problems.append(f"metric {name!r} has the unknown unit {definition['Unit']!r}")
        if definition.get("StorageResolution", 60) not in (1, 60):
            problems.append(f"metric {name!r} has storage resolution {definition['StorageResolution']!r}")
    return problems


VALID = {
    "_aws": {
        "Timestamp": 1574109732004,
        "CloudWatchMetrics": [
            {
                "Namespace": "toxiguard",
                "Dimensions": [["Service"]],
                "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}],
            }
        ],
    },
    "Service": "toxiguard-api",
    "Latency": 12.5,
    "request_id": "989ffbf8",
}


def directive(document: dict) -> dict:
    return document["_aws"]["CloudWatchMetrics"][0]


def with_dimensions(document: dict, count: int) -> None:
    """One dimension set of `count` names, each a string member."""
    names = [f"D{index}" for index in range(count)]
    document.update(dict.fromkeys(names, "x"))
    directive(document)["Dimensions"] = [names]


def with_metrics(document: dict, count: int) -> None:
    """`count` metrics in the directive, each a number member."""
    names = [f"M{index}" for index in range(count)]
    document.update(dict.fromkeys(names, 1))
    directive(document)["Metrics"] = [{"Name": name, "Unit": "Count"} for name in names]


BROKEN = {
    "no _aws": lambda d: d.pop("_aws"),
    "no Timestamp": lambda d: d["_aws"].pop("Timestamp"),
    "a Timestamp in seconds as text": lambda d: d["_aws"].update(Timestamp="1574109732"),
    "no directives": lambda d: d["_aws"].update(CloudWatchMetrics=[]),
    "a member the directive does not define": lambda d: directive(d).update(Unit="Count"),
    "an AWS namespace": lambda d: directive(d).update(Namespace="AWS/Lambda"),
    "a dimension without its member": lambda d: d.pop("Service"),
    "a dimension with a number": lambda d: d.update(Service=7),
    "a dimension set of 31 names": lambda d: with_dimensions(d, 31),
    "a metric without its member": lambda d: d.pop("Latency"),
    "a metric with a string": lambda d: d.update(Latency="12.5"),
    "a metric with a boolean": lambda d: d.update(Latency=True),
    "a metric with 101 values": lambda d: d.update(Latency=[1.0] * 101),
    "a nested metric member": lambda d: d.update(Latency={"value": 1}),
    "an unknown unit": lambda d: directive(d)["Metrics"][0].update(Unit="Millis"),
    "101 metrics": lambda d: with_metrics(d, 101),
    "a metric defined twice": lambda d: directive(d)["Metrics"].append({"Name": "Latency"}),
}


def test_the_validator_accepts_the_specifications_kind_of_document():
    assert emf_problems(json.dumps(VALID)) == []
    assert emf_problems(json.dumps({**VALID, "Latency": [1, 2.5, 3]})) == []
    at_the_limits = copy.deepcopy(VALID)
    with_dimensions(at_the_limits, 30)
    with_metrics(at_the_limits, 100)
    assert emf_problems(json.dumps(at_the_limits)) == []


@pytest.mark.parametrize("breakage", list(BROKEN))
def test_the_validator_rejects_a_broken_document(breakage):
    document = copy.deepcopy(VALID)
    BROKEN[breakage](document)
    assert emf_problems(json.dumps(document)), f"{breakage} passed"


def test_the_validator_rejects_text_around_the_json():
    assert emf_problems("START " + json.dumps(VALID)) and emf_problems(json.dumps(VALID) + "\n{}")


# --------------------------------------------------------------------------------------------------
# The lines real handler calls write
# --------------------------------------------------------------------------------------------------


def request_line(logs: LogLines) -> dict:
    """The one line the last request wrote, checked as EMF; its metrics as {name: (value, unit, dimension sets)}."""
    (raw,) = logs.raw
    assert emf_problems(raw) == []
    logs.raw.clear()
    return json.loads(raw)


def metrics_of(line: dict) -> dict[str, tuple]:
    return {
        definition["Name"]: (line[definition["Name"]], definition["Unit"], tuple(map(tuple, directive["Dimensions"])))
        for directive in line["_aws"]["CloudWatchMetrics"]
        for definition in directive["Metrics"]
    }


def test_a_scored_request_counts_texts_flags_and_latencies(call, sagemaker, logs):
    sagemaker.answers([FRIENDLY, RUDE], [CLEAN_ROW, ABUSIVE_ROW])
    before = int(time.time() * 1000)
    call(http_api_event(body={"texts": [FRIENDLY, RUDE]}))

    line = request_line(logs)
    service = (("Service",),)
    flags = {f"Flags_{label}": (int(label in ("toxic", "obscene", "insult")), "Count", service) for label in LABELS}
    assert metrics_of(line) == {
        "Requests": (1, "Count", service),
        "Latency": (line["Latency"], "Milliseconds", service),
        "ModelLatency": (line["ModelLatency"], "Milliseconds", service),
        "TextsScored": (2, "Count", service),
        "FlaggedTexts": (1, "Count", service),
        "FlaggedShare": (0.5, "None", service),
        **flags,
    }
    assert line["Latency"] >= line["ModelLatency"] >= 0
    assert line["Service"] == "toxiguard-api" and line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "toxiguard"
    assert before <= line["_aws"]["Timestamp"] <= time.time() * 1000
    # Still the access log: searchable properties next to the metrics, and no comment text.
    assert (line["message"], line["path"], line["status"], line["texts"]) == ("request", "/v1/moderate", 200, 2)
    assert not any(word in json.dumps(line) for word in ("idiot", "citation"))


@pytest.mark.parametrize(
    ("event", "status", "code"),
    [
        (http_api_event(body=b"{not json"), 400, "invalid_json"),
        (http_api_event(body={"texts": ["x"] * 65}), 413, "too_many_texts"),
        (http_api_event(method="GET", path="/v1/nowhere"), 404, "not_found"),
    ],
    ids=["400", "413", "404"],
)
def test_a_client_error_counts_the_request_and_the_error_by_code(call, logs, event, status, code):
    assert call(event)["statusCode"] == status
    line = request_line(logs)
    assert line["ErrorCode"] == code
    assert metrics_of(line) == {
        "Requests": (1, "Count", (("Service",),)),
        "Latency": (line["Latency"], "Milliseconds", (("Service",),)),
        "Errors": (1, "Count", (("Service",), ("Service", "ErrorCode"))),
    }


def test_an_endpoint_failure_counts_an_error_and_no_scored_texts(call, sagemaker, logs):
    sagemaker.fails("ServiceUnavailable", "Service unavailable", 503)
    assert call(http_api_event(body={"texts": [FRIENDLY, RUDE]}))["statusCode"] == 503
    line = request_line(logs)
    assert (line["ErrorCode"], line["upstream_error"], line["texts"]) == (
        "endpoint_unavailable",
        "ServiceUnavailable",
        2,
    )
    assert set(metrics_of(line)) == {"Requests", "Latency", "Errors"}


def test_an_unexpected_exception_counts_as_an_internal_error(call, sagemaker, logs):
    sagemaker.fails("AccessDeniedException", "not allowed to call InvokeEndpoint", 400)
    call(http_api_event(body={"text": RUDE}))
    line = request_line(logs)
    assert line["ErrorCode"] == "internal_error" and metrics_of(line)["Errors"][0] == 1
    assert "Traceback" in line["exception"]


def test_health_checks_count_the_probes_they_make(call, sagemaker, logs, monkeypatch):
    sagemaker.answers(["health check"])
    call(http_api_event(method="GET", path="/v1/health"))
    probed = request_line(logs)
    assert metrics_of(probed)["HealthProbeCalls"][0] == 1 and "ModelLatency" in probed

    call(http_api_event(method="GET", path="/v1/health"))  # answered from the cached probe
    cached = request_line(logs)
    assert metrics_of(cached)["HealthProbeCalls"][0] == 0 and "ModelLatency" not in cached

    monkeypatch.setattr(handler, "HEALTH_PROBE", handler.HealthProbe())
    sagemaker.fails("ModelNotReadyException", "Model is still loading", 429)
    call(http_api_event(method="GET", path="/v1/health"))
    failed = request_line(logs)
    assert metrics_of(failed)["HealthProbeCalls"][0] == 1 and failed["ErrorCode"] == "endpoint_throttled"
    assert "ModelLatency" not in failed


def test_a_preflight_is_a_request_too(call, logs):
    call(http_api_event(method="OPTIONS", headers={"Origin": "https://app.example.org"}))
    assert set(metrics_of(request_line(logs))) == {"Requests", "Latency"}


@EXAMPLES
@given(method=methods, path=paths, body=bodies)
def test_every_request_writes_exactly_one_valid_emf_line(settings, method, path, body):
    capture = LogLines()
    handler.logger.addHandler(capture)
    try:
        handler.handle(
            http_api_event(method=method, path=path, body=body), LambdaContext(), settings, TfServingDouble()
        )
    finally:
        handler.logger.removeHandler(capture)
    (raw,) = capture.raw
    assert emf_problems(raw) == []


# --------------------------------------------------------------------------------------------------
# Where the lines go: stdout, whatever LOG_LEVEL says, with the Service the deployment names
# --------------------------------------------------------------------------------------------------


def test_the_lines_go_to_stdout_even_when_log_level_is_error(capsys, sagemaker):
    quiet = load_handler({"LOG_LEVEL": "ERROR"})  # its logger now writes to the captured stdout
    sagemaker.answers([RUDE])
    quiet.handle(http_api_event(body={"text": RUDE}), LambdaContext(), quiet.SETTINGS, handler.SAGEMAKER)
    (line,) = capsys.readouterr().out.splitlines()
    assert emf_problems(line) == [] and json.loads(line)["TextsScored"] == 1


@pytest.mark.parametrize(
    ("environment", "service"),
    [
        ({}, "toxiguard-api"),
        ({"AWS_LAMBDA_FUNCTION_NAME": "toxiguard-prod"}, "toxiguard-prod"),
        ({"AWS_LAMBDA_FUNCTION_NAME": "toxiguard-prod", "METRICS_SERVICE": "moderation.eu"}, "moderation.eu"),
    ],
)
def test_the_service_dimension_is_the_function_unless_configured(environment, service):
    assert load_handler(environment).SETTINGS.metrics_service == service


def test_the_local_gateway_prints_the_same_lines(capsys, tmp_path):
    """`make serve` runs the handler in the gateway: its lines appear on the gateway's stdout, one per API request."""
    from toxiguard.serving.local.gateway import Gateway

    environment = {**HANDLER_ENVIRONMENT, "SAGEMAKER_MAX_ATTEMPTS": "1"}  # the endpoint's port is closed: 503 at once
    gateway = Gateway(environment, port=0, frontend_dir=tmp_path).start()
    try:
        health = requests.get(f"{gateway.url}/v1/health", timeout=30)
        refused = requests.post(f"{gateway.url}/v1/moderate", data=b"{", timeout=30)
    finally:
        gateway.close()
    lines = capsys.readouterr().out.splitlines()
    assert [emf_problems(line) for line in lines] == [[], []]
    first, second = map(json.loads, lines)
    assert (health.status_code, first["ErrorCode"], first["request_id"]) == (
        503, "endpoint_unavailable", health.headers["X-Request-Id"])  # fmt: skip
    assert (refused.status_code, second["ErrorCode"], second["request_id"]) == (
        400, "invalid_json", refused.headers["X-Request-Id"])  # fmt: skip
