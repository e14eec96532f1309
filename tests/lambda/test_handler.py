"""The Lambda handler, event in -> response out, with SageMaker stubbed at botocore's level (no network).

Every response also passes through `call`, which checks it against docs/openapi.yaml.
"""

import dataclasses
import io
import json
import math
import threading
import time
from datetime import datetime

import pytest
import urllib3.exceptions
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.response import StreamingBody

from .conftest import (
    ENDPOINT_NAME,
    HANDLER_ENVIRONMENT,
    MANIFEST,
    LambdaContext,
    LogLines,
    body_of,
    error_code,
    handler,
    http_api_event,
    load_handler,
    rest_api_event,
    streaming,
)

LABELS = tuple(MANIFEST["labels"])
THRESHOLDS = MANIFEST["thresholds"]
ORIGIN = "https://app.example.org"
RUDE = "You are a complete idiot and everyone here hates you."
FRIENDLY = "Thanks for fixing the citation, the article reads much better now."
# The shipped model's own answer for these two texts (manifest.json, serving.example_response).
EXAMPLE_ROWS = MANIFEST["serving"]["example_response"]["predictions"]
# Fixed scores for tests that reason about particular labels, whatever model is shipped.
CLEAN_ROW = [0.00005, 0.0, 0.00001, 0.0, 0.000001, 0.0]
ABUSIVE_ROW = [0.998, 0.0297, 0.99, 0.0004, 0.99, 0.0399]  # toxic, obscene and insult near certain


@pytest.fixture(params=[http_api_event, rest_api_event], ids=["http-api-2.0", "rest-api-1.0"])
def event(request):
    """Builds events of either API Gateway payload format."""
    return request.param


# --------------------------------------------------------------------------------------------------
# Moderation
# --------------------------------------------------------------------------------------------------


def test_scores_one_text_with_the_manifest_thresholds(call, sagemaker, event):
    sagemaker.answers([RUDE], [EXAMPLE_ROWS[1]])
    request = event(body={"text": RUDE})
    response = call(request)

    assert response["statusCode"] == 200 and response["isBase64Encoded"] is False
    body = body_of(response)
    assert body["request_id"] == request["requestContext"]["requestId"] == response["headers"]["X-Request-Id"]
    assert body["model_version"] == MANIFEST["version"]
    assert body["thresholds"] == THRESHOLDS
    (result,) = body["results"]
    assert result["scores"] == dict(zip(LABELS, EXAMPLE_ROWS[1], strict=True))
    assert result["labels"] == [label for label, score in result["scores"].items() if score >= THRESHOLDS[label]]
    assert "insult" in result["labels"]
    assert result["flagged"] is True


def test_sends_every_text_in_one_call_and_answers_in_input_order(call, sagemaker, event):
    texts = [FRIENDLY, RUDE, "third", "fourth"]
    rows = sagemaker.answers(texts)  # the stub allows exactly one InvokeEndpoint call, with all four texts
    body = body_of(call(event(body={"texts": texts})))

    assert [list(result["scores"].values()) for result in body["results"]] == rows
    assert [list(result["scores"]) for result in body["results"]] == [list(LABELS)] * 4


def test_a_named_stage_prefix_in_the_http_api_path_is_ignored(call, sagemaker):
    sagemaker.answers([FRIENDLY])
    assert call(http_api_event(body={"text": FRIENDLY}, stage="prod"))["statusCode"] == 200


def test_unicode_texts_reach_the_model_unchanged(call, sagemaker):
    texts = ["Ünïcødé ✓ 😀", "日本語のコメント", "tab\tand\nnewline"]
    sagemaker.answers(texts)
    assert call(http_api_event(body={"texts": texts}))["statusCode"] == 200


def test_base64_encoded_bodies_are_decoded(call, sagemaker, event):
    sagemaker.answers([RUDE])
    assert call(event(body={"text": RUDE}, base64_body=True))["statusCode"] == 200


def test_a_body_marked_base64_that_is_not_is_refused(call):
    request = http_api_event(body={"text": RUDE})
    request["isBase64Encoded"] = True
    response = call(request)
    assert (response["statusCode"], error_code(response)) == (400, "invalid_request")


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8", None]
)
def test_json_content_types_are_accepted_and_a_missing_one_means_json(call, sagemaker, content_type):
    request = http_api_event(body={"text": RUDE}, headers={"Content-Type": content_type})
    if content_type is None:
        del request["headers"]["content-type"]
    sagemaker.answers([RUDE])
    assert call(request)["statusCode"] == 200


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "application/json; charset = iso-8859-1",
    ],
)
def test_other_content_types_are_unsupported(call, content_type, event):
    response = call(event(body={"text": RUDE}, headers={"Content-Type": content_type}))
    assert (response["statusCode"], error_code(response)) == (415, "unsupported_media_type")


# --------------------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------------------


def test_a_score_equal_to_its_threshold_flags_and_one_just_below_does_not(call, sagemaker):
    at = [THRESHOLDS[label] for label in LABELS]
    below = [math.nextafter(value, 0) for value in at]
    sagemaker.answers(["at", "below"], [at, below])
    first, second = body_of(call(http_api_event(body={"texts": ["at", "below"]})))["results"]
    assert first["labels"] == list(LABELS) and first["flagged"] is True
    assert second["labels"] == [] and second["flagged"] is False


def test_a_request_threshold_replaces_every_labels_threshold(call, sagemaker, event):
    sagemaker.answers([FRIENDLY, RUDE], [CLEAN_ROW, ABUSIVE_ROW])
    body = body_of(call(event(body={"texts": [FRIENDLY, RUDE], "threshold": 0.03})))
    assert body["thresholds"] == dict.fromkeys(LABELS, 0.03)
    assert body["results"][0]["labels"] == []
    # identity_hate (0.0399) now clears the bar; severe_toxic (0.0297) and threat (0.0004) still do not.
    assert body["results"][1]["labels"] == ["toxic", "obscene", "insult", "identity_hate"]


@pytest.mark.parametrize(("threshold", "flagged_labels"), [(0, list(LABELS)), (1, ["toxic"]), (0.5, ["toxic"])])
def test_threshold_bounds_are_inclusive(call, sagemaker, threshold, flagged_labels):
    sagemaker.answers(["x"], [[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    body = body_of(call(http_api_event(body={"text": "x", "threshold": threshold})))
    assert body["results"][0]["labels"] == flagged_labels


# --------------------------------------------------------------------------------------------------
# Bad requests
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b'{"text": NaN}', 400, "invalid_json"),
        (b'{"text": "a", "threshold": Infinity}', 400, "invalid_json"),
        (b"\xff\xfe{}", 400, "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json"),
        (b'{"text": "a", "threshold": 1' + b"0" * 5000 + b"}", 400, "invalid_json"),
        # Duplicate keys at any depth: the last copy would win, unlike in parsers that keep the first.
        (b'{"text": "have a nice day", "text": "you idiot"}', 400, "invalid_json"),
        (b'{"texts": ["a"], "threshold": 0.9, "threshold": 0.1}', 400, "invalid_json"),
        (b'{"texts": [{"text": "a", "text": "b"}]}', 400, "invalid_json"),
        (b'{"text": "a", "meta": {"tags": [{"k": 1, "k": 1}]}}', 400, "invalid_json"),
        (["a list"], 400, "invalid_request"),
        ({"text": "hi", "comment": "x"}, 400, "invalid_request"),
        ({"text": "a", "texts": ["b"]}, 400, "invalid_request"),
        ({"text": 42}, 400, "invalid_request"),
        ({"text": None}, 400, "invalid_request"),
        ({"texts": "not a list"}, 400, "invalid_request"),
        ({"texts": ["fine", 7]}, 400, "invalid_request"),
        ({"text": "a", "threshold": 1.5}, 400, "invalid_request"),
        ({"text": "a", "threshold": -0.1}, 400, "invalid_request"),
        ({"text": "a", "threshold": "0.5"}, 400, "invalid_request"),
        ({"text": "a", "threshold": True}, 400, "invalid_request"),
        ({"text": "a", "threshold": None}, 400, "invalid_request"),
        (b'{"text": "\\ud800"}', 400, "invalid_request"),
        ({"text": "a\x00b"}, 400, "invalid_request"),
        ({"texts": ["ok", "\x00"]}, 400, "invalid_request"),
        ({}, 400, "missing_text"),
        ({"texts": []}, 400, "missing_text"),
        ({"threshold": 0.5}, 400, "missing_text"),
        ({"text": ""}, 400, "empty_text"),
        ({"texts": ["ok", " \n\t "]}, 400, "empty_text"),
        ({"texts": ["x"] * 65}, 413, "too_many_texts"),
        ({"text": "x" * 5001}, 413, "text_too_long"),
        ({"texts": ["ok", "é" * 5001]}, 413, "text_too_long"),
    ],
    ids=lambda value: str(value)[:40] if not isinstance(value, int) else None,
)
def test_bad_requests_get_a_clear_error_and_never_reach_the_model(call, sagemaker, event, body, status, code):
    response = call(event(body=body))  # the stub has no response queued: any model call would fail the test
    assert (response["statusCode"], error_code(response)) == (status, code)
    assert body_of(response)["error"]["message"]


def test_error_messages_name_the_offending_field(call):
    unknown = body_of(call(http_api_event(body={"text": "hi", "comment": "x"})))["error"]["message"]
    assert '"comment"' in unknown
    empty = body_of(call(http_api_event(body={"texts": ["ok", "fine", " "]})))["error"]["message"]
    assert "texts[2]" in empty
    duplicate = body_of(call(http_api_event(body=b'{"text": "a", "threshold": 1, "threshold": 0}')))["error"]
    assert duplicate["message"] == 'the body has the key "threshold" twice in one object'


def test_a_body_over_256_kb_is_refused(call, event):
    response = call(event(body=body_of_exactly(262_145, ["x"])))
    assert (response["statusCode"], error_code(response)) == (413, "payload_too_large")


def body_of_exactly(size: int, texts: list[str]) -> bytes:
    """`{"texts": texts}` padded with trailing whitespace (valid JSON) to exactly `size` bytes."""
    compact = json.dumps({"texts": texts}, ensure_ascii=False).encode()
    assert len(compact) <= size
    return compact + b" " * (size - len(compact))


@pytest.mark.parametrize(
    "texts",
    [
        [f"text {index}" for index in range(64)],  # 64 texts
        ["é" * 5000, "x" * 5000],  # 5,000 characters (10,000 bytes for the first)
        [f"{index:02d}" + "x" * 4998 for index in range(52)],  # 52 texts of 5,000 characters in 262,144 bytes
    ],
    ids=["64-texts", "5000-characters", "262144-bytes"],
)
def test_requests_exactly_at_the_limits_are_accepted(call, sagemaker, event, texts):
    sagemaker.answers(texts)
    response = call(event(body=body_of_exactly(262_144, texts)))
    assert response["statusCode"] == 200 and len(body_of(response)["results"]) == len(texts)


def test_limits_come_from_the_settings(call, sagemaker, settings):
    strict = dataclasses.replace(settings, max_texts=2, max_text_chars=10, max_body_bytes=100)
    assert error_code(call(http_api_event(body={"texts": ["a", "b", "c"]}), settings=strict)) == "too_many_texts"
    assert error_code(call(http_api_event(body={"text": "x" * 11}), settings=strict)) == "text_too_long"
    assert error_code(call(http_api_event(body={"text": "x" * 101}), settings=strict)) == "payload_too_large"
    sagemaker.answers(["a", "b"])
    assert call(http_api_event(body={"texts": ["a", "b"]}), settings=strict)["statusCode"] == 200


# --------------------------------------------------------------------------------------------------
# Routing and CORS
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/v1", "/v1/moderate/", "/v2/moderate", "/v1/scores"])
def test_unknown_paths_are_not_found(call, event, path):
    response = call(event(method="GET", path=path))
    assert (response["statusCode"], error_code(response)) == (404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("GET", "/v1/moderate", "POST, OPTIONS"), ("PUT", "/v1/moderate", "POST, OPTIONS"),
     ("POST", "/v1/health", "GET, OPTIONS"), ("DELETE", "/v1/health", "GET, OPTIONS")],
)  # fmt: skip
def test_wrong_methods_get_405_with_an_allow_header(call, event, method, path, allow):
    response = call(event(method=method, path=path))
    assert (response["statusCode"], error_code(response)) == (405, "method_not_allowed")
    assert response["headers"]["Allow"] == allow


@pytest.mark.parametrize("path", ["/v1/moderate", "/v1/health"])
def test_preflight_from_an_allowed_origin(call, event, path):
    headers = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    response = call(event(method="OPTIONS", path=path, headers=headers))
    assert response["statusCode"] == 204 and response["body"] == ""
    assert response["headers"]["Access-Control-Allow-Origin"] == ORIGIN
    assert response["headers"]["Vary"] == "Origin"
    assert response["headers"]["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    assert response["headers"]["Access-Control-Allow-Headers"] == "authorization, content-type"
    assert response["headers"]["Access-Control-Max-Age"] == "600"


def test_preflight_from_another_origin_is_refused(call, event):
    response = call(event(method="OPTIONS", path="/v1/moderate", headers={"Origin": "https://evil.example"}))
    assert (response["statusCode"], error_code(response)) == (403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in response["headers"]


def test_an_options_request_without_origin_lists_the_methods(call):
    response = call(http_api_event(method="OPTIONS", path="/v1/health"))
    assert response["statusCode"] == 204 and response["headers"]["Allow"] == "GET, OPTIONS"
    assert "Access-Control-Allow-Methods" not in response["headers"]


def test_allowed_origins_see_the_answer_and_others_do_not(call, sagemaker):
    sagemaker.answers([RUDE])
    allowed = call(http_api_event(body={"text": RUDE}, headers={"Origin": ORIGIN}))
    assert allowed["headers"]["Access-Control-Allow-Origin"] == ORIGIN and allowed["headers"]["Vary"] == "Origin"
    assert allowed["headers"]["Access-Control-Expose-Headers"] == "X-Request-Id, Retry-After"

    sagemaker.answers([RUDE])
    other = call(http_api_event(body={"text": RUDE}, headers={"Origin": "https://evil.example"}))
    assert other["statusCode"] == 200  # the browser, not the API, withholds the answer
    assert "Access-Control-Allow-Origin" not in other["headers"] and other["headers"]["Vary"] == "Origin"


def test_errors_carry_cors_headers_so_the_page_can_read_them(call):
    response = call(http_api_event(body={"text": ""}, headers={"Origin": ORIGIN}))
    assert response["statusCode"] == 400 and response["headers"]["Access-Control-Allow-Origin"] == ORIGIN


def test_a_wildcard_allows_and_echoes_any_origin(call, settings):
    anyone = dataclasses.replace(settings, allowed_origins=frozenset({"*"}))
    response = call(http_api_event(method="OPTIONS", headers={"Origin": "https://else.example"}), settings=anyone)
    assert response["statusCode"] == 204
    assert response["headers"]["Access-Control-Allow-Origin"] == "https://else.example"


@pytest.mark.parametrize(
    "origin", ["https://a.example\r\nSet-Cookie: x=1", "https://a.example evil: 1", "null", "https://a.example/path"]
)
def test_a_wildcard_echoes_no_malformed_origin(call, settings, origin):
    anyone = dataclasses.replace(settings, allowed_origins=frozenset({"*"}))
    response = call(http_api_event(method="OPTIONS", headers={"Origin": origin}), settings=anyone)
    assert response["statusCode"] == 403 and "Access-Control-Allow-Origin" not in response["headers"]


def test_without_allowed_origins_there_is_no_cors(call, settings, sagemaker):
    closed = dataclasses.replace(settings, allowed_origins=frozenset())
    preflight = call(http_api_event(method="OPTIONS", headers={"Origin": ORIGIN}), settings=closed)
    assert preflight["statusCode"] == 403
    sagemaker.answers([RUDE])
    response = call(http_api_event(body={"text": RUDE}, headers={"Origin": ORIGIN}), settings=closed)
    assert not {"Access-Control-Allow-Origin", "Vary"} & set(response["headers"])


# --------------------------------------------------------------------------------------------------
# Health
# --------------------------------------------------------------------------------------------------


def health_check(call, **options) -> tuple[int, dict]:
    response = call(http_api_event(method="GET", path="/v1/health"), **options)
    return response["statusCode"], body_of(response)


class GatedEndpoint:
    """Stands in for the SageMaker Runtime client: counts calls, answers valid scores once `gate` is open."""

    def __init__(self):
        self.calls = 0
        self.entered = threading.Event()  # a call has started
        self.gate = threading.Event()
        self.gate.set()

    def invoke_endpoint(self, **params) -> dict:
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(timeout=10)
        return {"Body": streaming({"predictions": [[0.0] * 6 for _ in json.loads(params["Body"])["instances"]]})}


def test_health_probes_the_endpoint_once(call, sagemaker, event):
    sagemaker.answers(["health check"])
    before = time.time()
    response = call(event(method="GET", path="/v1/health"))
    body = body_of(response)
    assert response["statusCode"] == 200
    assert body["status"] == "ok" and body["model_version"] == MANIFEST["version"]
    assert body["endpoint"]["name"] == ENDPOINT_NAME and body["endpoint"]["reachable"] is True
    assert body["endpoint"]["latency_ms"] >= 0
    assert before - 0.001 <= datetime.fromisoformat(body["checked_at"]).timestamp() <= time.time()  # milliseconds
    assert 0 <= body["age_seconds"] < 1


def test_health_answers_from_its_probe_until_it_is_older_than_health_cache_seconds(call, sagemaker, settings):
    cached = dataclasses.replace(settings, health_cache_seconds=0.2)
    sagemaker.answers(["health check"])  # one call queued: a second one would fail the stub
    first = health_check(call, settings=cached)
    again = health_check(call, settings=cached)
    assert first[0] == again[0] == 200
    assert again[1]["checked_at"] == first[1]["checked_at"] and again[1]["age_seconds"] >= first[1]["age_seconds"]
    assert again[1]["endpoint"] == first[1]["endpoint"]

    time.sleep(0.25)
    sagemaker.answers(["health check"])
    status, fresh = health_check(call, settings=cached)
    assert status == 200 and fresh["checked_at"] > first[1]["checked_at"] and fresh["age_seconds"] < 0.2


def test_a_failed_probe_is_reused_for_a_shorter_time(call, sagemaker, settings, monkeypatch):
    monkeypatch.setattr(handler, "FAILED_PROBE_CACHE_SECONDS", 0.2)
    sagemaker.fails("ServiceUnavailable", "Service unavailable", 503)
    first = health_check(call)  # HEALTH_CACHE_SECONDS is 30: the failure is kept for 0.2 s only
    again = health_check(call)
    assert first[0] == again[0] == 503 and again[1]["checked_at"] == first[1]["checked_at"]
    assert again[1]["error"] == first[1]["error"] == {"code": "endpoint_unavailable",
                                                      "message": "the model endpoint is unavailable"}  # fmt: skip

    time.sleep(0.25)
    sagemaker.answers(["health check"])
    assert health_check(call)[0] == 200


def test_a_deployment_bug_in_the_probe_is_not_cached(call, sagemaker):
    """AccessDenied is not the endpoint's state: each health check is a 500 with its stack trace in the log."""
    for _ in range(2):
        sagemaker.fails("AccessDeniedException", "not allowed to call InvokeEndpoint", 400)
        status, body = health_check(call)
        assert (status, body["error"]["code"]) == (500, "internal_error")


def test_concurrent_health_checks_on_a_cold_instance_wait_for_one_probe(call):
    endpoint = GatedEndpoint()
    endpoint.gate.clear()
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(health_check(call, client=endpoint))) for _ in range(8)]
    for thread in threads:
        thread.start()
    assert endpoint.entered.wait(timeout=10)
    time.sleep(0.1)  # the other callers reach the probe's lock
    endpoint.gate.set()
    for thread in threads:
        thread.join(timeout=10)
    assert endpoint.calls == 1 and len(answers) == 8
    assert {status for status, _ in answers} == {200} and len({body["checked_at"] for _, body in answers}) == 1


def test_while_a_probe_runs_other_health_checks_answer_with_the_previous_one(call, settings):
    cached = dataclasses.replace(settings, health_cache_seconds=0.1)
    endpoint = GatedEndpoint()
    _, previous = health_check(call, settings=cached, client=endpoint)
    time.sleep(0.15)
    endpoint.gate.clear()
    endpoint.entered.clear()
    refreshed = []
    prober = threading.Thread(target=lambda: refreshed.append(health_check(call, settings=cached, client=endpoint)))
    prober.start()
    assert endpoint.entered.wait(timeout=10)

    status, meanwhile = health_check(call, settings=cached, client=endpoint)  # does not wait for the probe
    assert status == 200 and meanwhile["checked_at"] == previous["checked_at"] and meanwhile["age_seconds"] >= 0.15

    endpoint.gate.set()
    prober.join(timeout=10)
    assert endpoint.calls == 2 and refreshed[0][1]["checked_at"] > previous["checked_at"]


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (ReadTimeoutError(endpoint_url="http://sagemaker"), "endpoint_timeout"),
        (EndpointConnectionError(endpoint_url="http://sagemaker"), "endpoint_unavailable"),
    ],
)
def test_health_reports_an_unavailable_endpoint(call, monkeypatch, failure, code):
    monkeypatch.setattr(handler.SAGEMAKER, "invoke_endpoint", raiser(failure))
    response = call(http_api_event(method="GET", path="/v1/health"))
    body = body_of(response)
    assert response["statusCode"] == 503
    assert body["status"] == "unavailable" and body["endpoint"] == {"name": ENDPOINT_NAME, "reachable": False}
    assert body["error"]["code"] == code


def test_health_is_unavailable_when_the_model_answers_nonsense(call, sagemaker):
    sagemaker.answers(["health check"], raw=b'{"predictions": [[0.5, 0.5]]}')
    body = body_of(call(http_api_event(method="GET", path="/v1/health")))
    assert (body["status"], body["error"]["code"]) == ("unavailable", "bad_model_response")


# --------------------------------------------------------------------------------------------------
# The model endpoint's failures
# --------------------------------------------------------------------------------------------------


def raiser(exception: Exception):
    def invoke_endpoint(**_):
        raise exception

    return invoke_endpoint


@pytest.mark.parametrize(
    ("code", "message", "http_status", "status", "api_code", "retry_after"),
    [
        ("ModelNotReadyException", "Model is still loading", 429, 429, "endpoint_throttled", "5"),
        ("ThrottlingException", "Rate exceeded", 400, 429, "endpoint_throttled", "1"),
        ("TooManyRequestsException", "Too many requests", 429, 429, "endpoint_throttled", "1"),
        ("ModelError", "Received client error (400) from primary", 424, 502, "bad_model_response", None),
        ("ValidationError", f"Endpoint {ENDPOINT_NAME} of account 123456789012 not found.", 400, 503,
         "endpoint_unavailable", None),
        ("ServiceUnavailable", "Service unavailable", 503, 503, "endpoint_unavailable", None),
        ("InternalFailure", "Internal failure", 500, 503, "endpoint_unavailable", None),
        ("InternalDependencyException", "Dependency failed", 530, 503, "endpoint_unavailable", None),
    ],
)  # fmt: skip
def test_sagemaker_errors_map_to_documented_statuses(
    call, sagemaker, event, code, message, http_status, status, api_code, retry_after
):
    fields = {"OriginalStatusCode": 400, "OriginalMessage": "bad input"} if code == "ModelError" else {}
    sagemaker.fails(code, message, http_status, **fields)
    response = call(event(body={"text": RUDE}))
    assert (response["statusCode"], error_code(response)) == (status, api_code)
    assert response["headers"].get("Retry-After") == retry_after


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (ReadTimeoutError(endpoint_url="http://sagemaker"), 504, "endpoint_timeout"),
        (EndpointConnectionError(endpoint_url="http://sagemaker"), 503, "endpoint_unavailable"),
        (ConnectTimeoutError(endpoint_url="http://sagemaker"), 503, "endpoint_unavailable"),
        (ConnectionClosedError(endpoint_url="http://sagemaker"), 503, "endpoint_unavailable"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_connection_failures_map_to_503_and_timeouts_to_504(call, monkeypatch, failure, status, code):
    monkeypatch.setattr(handler.SAGEMAKER, "invoke_endpoint", raiser(failure))
    response = call(http_api_event(body={"text": RUDE}))
    assert (response["statusCode"], error_code(response)) == (status, code)


def test_a_read_timeout_while_streaming_the_answer_is_a_504(call, sagemaker):
    class StalledStream(io.RawIOBase):
        def read(self, size=-1):
            raise urllib3.exceptions.ReadTimeoutError(None, "/invocations", "read timed out")

    stalled = StreamingBody(StalledStream(), 100)
    sagemaker.stubber.add_response("invoke_endpoint", {"Body": stalled, "ContentType": "application/json"})
    response = call(http_api_event(body={"text": RUDE}))
    assert (response["statusCode"], error_code(response)) == (504, "endpoint_timeout")


def test_a_refused_connection_through_real_botocore_is_a_503(call, settings):
    """No stub: boto3 signs the request and connects to the closed loopback port the test environment points at."""
    client = load_handler({"SAGEMAKER_MAX_ATTEMPTS": "1"}).SAGEMAKER
    assert client.meta.endpoint_url == HANDLER_ENVIRONMENT["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"]
    response = call(http_api_event(body={"text": RUDE}), client=client)
    assert (response["statusCode"], error_code(response)) == (503, "endpoint_unavailable")


@pytest.mark.parametrize(
    "raw",
    [
        b"<html>502 Bad Gateway</html>",
        b'{"outputs": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]]}',
        b'{"predictions": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]], "extra": 1}',
        b'{"predictions": []}',
        b'{"predictions": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]]}',
        b'{"predictions": [[0.1, 0.2, 0.3, 0.4, 0.5]]}',
        b'{"predictions": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]]}',
        b'{"predictions": [[NaN, 0.2, 0.3, 0.4, 0.5, 0.6]]}',
        b'{"predictions": [[Infinity, 0.2, 0.3, 0.4, 0.5, 0.6]]}',
        b'{"predictions": [[1.5, 0.2, 0.3, 0.4, 0.5, 0.6]]}',
        b'{"predictions": [[-0.01, 0.2, 0.3, 0.4, 0.5, 0.6]]}',
        b'{"predictions": [["0.1", 0.2, 0.3, 0.4, 0.5, 0.6]]}',
        b'{"predictions": [[true, 0.2, 0.3, 0.4, 0.5, 0.6]]}',
        b'{"predictions": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}',
        b'{"predictions": {"scores": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]]}}',
        b"[[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]]",
        b"",
    ],
)
def test_malformed_model_output_is_a_502(call, sagemaker, raw):
    sagemaker.answers([RUDE], raw=raw)
    response = call(http_api_event(body={"text": RUDE}))
    assert (response["statusCode"], error_code(response)) == (502, "bad_model_response")


@pytest.mark.parametrize(
    ("code", "http_status"),
    [("AccessDeniedException", 400), ("ValidationError", 400), ("UnrecognizedClientException", 403)],
)
def test_deployment_bugs_are_a_500_with_the_trace_only_in_the_log(call, sagemaker, logs, code, http_status):
    sagemaker.fails(code, "not allowed to call InvokeEndpoint", http_status)
    response = call(http_api_event(body={"text": RUDE}))
    assert (response["statusCode"], error_code(response)) == (500, "internal_error")
    assert "Traceback" not in response["body"] and code not in response["body"]
    (line,) = logs.lines
    assert line["level"] == "ERROR" and line["ErrorCode"] == "internal_error"
    assert "Traceback" in line["exception"] and code in line["exception"]


def test_an_unexpected_exception_is_a_json_500(call, monkeypatch, logs):
    monkeypatch.setattr(handler.SAGEMAKER, "invoke_endpoint", raiser(RuntimeError("boom")))
    response = call(http_api_event(body={"text": RUDE}))
    assert (response["statusCode"], error_code(response)) == (500, "internal_error")
    assert "boom" not in response["body"]
    assert "RuntimeError: boom" in logs.lines[0]["exception"]
    assert logs.lines[0]["request_id"] == response["headers"]["X-Request-Id"]


# --------------------------------------------------------------------------------------------------
# Logs
# --------------------------------------------------------------------------------------------------


def test_one_json_log_line_per_request_with_counts_and_no_text(call, sagemaker, logs):
    sagemaker.answers([FRIENDLY, RUDE], [CLEAN_ROW, ABUSIVE_ROW])
    context = LambdaContext()
    request = http_api_event(body={"texts": [FRIENDLY, RUDE]})
    response = handler.handle(request, context, handler.SETTINGS, handler.SAGEMAKER)

    assert response["statusCode"] == 200
    (line,) = logs.lines
    assert line["level"] == "INFO" and line["message"] == "request"
    assert line["request_id"] == request["requestContext"]["requestId"]
    assert line["lambda_request_id"] == context.aws_request_id
    assert (line["method"], line["path"], line["status"], line["texts"]) == ("POST", "/v1/moderate", 200, 2)
    expected_flags = {label: int(score >= THRESHOLDS[label]) for label, score in zip(LABELS, ABUSIVE_ROW, strict=True)}
    assert {label: line[f"Flags_{label}"] for label in LABELS} == expected_flags and sum(expected_flags.values()) >= 3
    assert (line["TextsScored"], line["FlaggedTexts"], line["FlaggedShare"]) == (2, 1, 0.5)
    assert line["Latency"] >= line["ModelLatency"] >= 0
    assert "ErrorCode" not in line and "Errors" not in line
    assert not any(word in logs.raw[0] for word in ("idiot", "citation"))


def test_errors_are_logged_with_their_code_and_the_aws_error_behind_them(call, sagemaker, logs):
    sagemaker.fails("ThrottlingException", "Rate exceeded", 400)
    call(http_api_event(body={"text": RUDE}))
    (line,) = logs.lines
    assert line["level"] == "WARNING" and line["status"] == 429
    assert (line["ErrorCode"], line["upstream_error"]) == ("endpoint_throttled", "ThrottlingException")


def test_rejected_texts_are_not_logged_either(call, logs):
    call(http_api_event(body={"text": "secret-comment-" + "x" * 5000}))
    assert logs.lines[0]["ErrorCode"] == "text_too_long" and "secret-comment" not in logs.raw[0]


def test_debug_level_logs_the_text(sagemaker):
    debug = load_handler({"LOG_LEVEL": "DEBUG"})  # reconfigures the shared logger, as a cold start would
    capture = LogLines()
    debug.logger.addHandler(capture)
    sagemaker.answers([RUDE])
    debug.handle(http_api_event(body={"text": RUDE}), LambdaContext(), debug.SETTINGS, handler.SAGEMAKER)
    texts_line, request_line = capture.lines
    assert texts_line["level"] == "DEBUG" and texts_line["text_content"] == [RUDE]
    assert request_line["request_id"] == texts_line["request_id"] and RUDE not in capture.raw[1]


# --------------------------------------------------------------------------------------------------
# Configuration (read once, at cold start)
# --------------------------------------------------------------------------------------------------


def test_the_client_is_configured_from_the_environment():
    module = load_handler(
        {
            "SAGEMAKER_CONNECT_TIMEOUT_SECONDS": "0.5",
            "SAGEMAKER_READ_TIMEOUT_SECONDS": "7",
            "SAGEMAKER_MAX_ATTEMPTS": "4",
        }
    )
    config = module.SAGEMAKER.meta.config
    assert (config.connect_timeout, config.read_timeout) == (0.5, 7.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert module.SAGEMAKER.meta.service_model.service_name == "sagemaker-runtime"


def test_defaults():
    settings = load_handler({}).SETTINGS
    assert settings.labels == LABELS
    assert settings.thresholds == tuple(THRESHOLDS[label] for label in LABELS)
    assert (settings.max_texts, settings.max_text_chars, settings.max_body_bytes) == (64, 5000, 262_144)
    assert (settings.connect_timeout_seconds, settings.read_timeout_seconds, settings.max_attempts) == (1.0, 5.0, 3)
    assert (settings.allowed_origins, settings.log_level, settings.health_cache_seconds) == (frozenset(), "INFO", 30)


def test_allowed_origins_are_parsed():
    settings = load_handler({"ALLOWED_ORIGINS": " https://App.example.org, http://127.0.0.1:8000 ,"}).SETTINGS
    assert settings.allowed_origins == {"https://app.example.org", "http://127.0.0.1:8000"}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SAGEMAKER_ENDPOINT_NAME", ""),
        ("SAGEMAKER_ENDPOINT_NAME", "my_endpoint"),
        ("MODEL_VERSION", " "),
        ("MODEL_THRESHOLDS", ""),
        ("MODEL_THRESHOLDS", "not json"),
        ("MODEL_THRESHOLDS", json.dumps({label: 0.5 for label in LABELS[:5]})),
        ("MODEL_THRESHOLDS", json.dumps({**THRESHOLDS, "toxic": 1.5})),
        ("MODEL_LABELS", "toxic,toxic,obscene,threat,insult,identity_hate"),
        ("MODEL_LABELS", "toxic,,obscene"),
        ("ALLOWED_ORIGINS", "https://app.example.org/"),
        ("ALLOWED_ORIGINS", "app.example.org"),
        ("MAX_TEXTS", "many"),
        ("MAX_TEXT_CHARS", "0"),
        ("MAX_BODY_BYTES", "-1"),
        ("SAGEMAKER_READ_TIMEOUT_SECONDS", "nan"),
        ("SAGEMAKER_CONNECT_TIMEOUT_SECONDS", "inf"),
        ("SAGEMAKER_MAX_ATTEMPTS", "2.5"),
        ("LOG_LEVEL", "LOUD"),
        ("HEALTH_CACHE_SECONDS", "0"),
        ("HEALTH_CACHE_SECONDS", "soon"),
        ("METRICS_SERVICE", "toxiguard api"),
    ],
)
def test_an_invalid_environment_fails_the_cold_start_naming_the_variable(variable, value):
    with pytest.raises(ValueError, match=variable) as raised:
        load_handler({variable: value})
    assert type(raised.value).__name__ == "ConfigurationError"


def test_lambda_handler_is_the_entry_point(sagemaker):
    sagemaker.answers([RUDE])
    response = handler.lambda_handler(http_api_event(body={"text": RUDE}), LambdaContext())
    assert response["statusCode"] == 200
    assert body_of(response)["thresholds"] == THRESHOLDS  # the module's own SETTINGS, read from the environment
    missing = handler.lambda_handler(http_api_event(method="GET", path="/nowhere"), LambdaContext())
    assert missing["statusCode"] == 404


def test_the_request_id_falls_back_to_lambdas():
    request = http_api_event(method="GET", path="/nowhere")
    del request["requestContext"]["requestId"]
    context = LambdaContext()
    response = handler.handle(request, context, handler.SETTINGS, handler.SAGEMAKER)
    assert response["headers"]["X-Request-Id"] == context.aws_request_id


@pytest.mark.parametrize(
    ("make_event", "authorizer"),
    [
        (http_api_event, {"jwt": {"claims": {"client_id": "backend", "sub": "3f6c2e52", "username": "ann"},
                                  "scopes": ["toxiguard/moderate"]}}),
        (rest_api_event, {"claims": {"client_id": "backend", "sub": "3f6c2e52", "username": "ann"}}),
    ],
    ids=["http-api-jwt-authorizer", "rest-api-cognito-authorizer"],
)  # fmt: skip
def test_the_log_names_the_caller_the_authorizer_vouched_for_by_client_and_opaque_subject(
    call, sagemaker, logs, make_event, authorizer
):
    sagemaker.answers([FRIENDLY])
    event = make_event(body={"text": FRIENDLY})
    event["requestContext"]["authorizer"] = authorizer
    call(event)
    (line,) = logs.lines
    assert (line["client_id"], line["caller"]) == ("backend", "3f6c2e52")
    assert "ann" not in logs.raw[0]  # names stay out of the log


def test_an_open_api_logs_no_caller(call, sagemaker, logs):
    sagemaker.answers([FRIENDLY])
    call(http_api_event(body={"text": FRIENDLY}))
    (line,) = logs.lines
    assert "client_id" not in line and "caller" not in line
