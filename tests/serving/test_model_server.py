"""The local model server's contract: SageMaker container (/ping, /invocations with TF Serving's REST formats and
errors) and SageMaker Runtime's InvokeEndpoint as boto3 calls it (SigV4, AWS error shapes), plus micro-batching."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import boto3
import numpy as np
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from toxiguard.serving.local import model_server as ms
from toxiguard.serving.local.model_server import DEFAULT_ENDPOINT as MODEL_ENDPOINT
from toxiguard.serving.local.model_server import ModelServer, ModelServerError
from toxiguard.serving.local.scoring import MicroBatcher
from toxiguard.serving.local.tf_serving import predict_response

slow = pytest.mark.slow  # loads the shipped model (once per session)

JSON = {"Content-Type": "application/json"}
TEXTS = [
    "Thanks for fixing the references, the article reads much better now.",
    "You are a pathetic idiot and nobody wants you here.",
    "I will find where you live and hurt you.",
    "Could someone add a source for the population figure in the second paragraph?",
    "shut up you stupid moron",
    "This edit war is getting out of hand; please discuss on the talk page first.",
    "What a disgusting, worthless piece of garbage you are.",
    "ok",
    "I disagree with the merge proposal because the two topics are distinct enough to stand alone, "
    "and the sources treat them separately; see the discussion archived last spring for details.",
    "go to hell",
    "Nice photo!",
    "Stop vandalising pages or you will be blocked.",
    "you people are all the same, dirty and stupid",
    "The infobox date format does not match the rest of the article.",
    "idiot idiot idiot idiot idiot",
    "Welcome to the project, feel free to ask me anything.",
]


def post(url: str, body: bytes | str, headers: dict | None = None) -> requests.Response:
    return requests.post(f"{url}/invocations", data=body, headers=JSON if headers is None else headers, timeout=30)


@pytest.fixture(scope="module")
def reference(shipped_artifact) -> dict[str, np.ndarray]:
    """Artifact.score's rows for TEXTS: what every route must return for the same texts."""
    return dict(zip(TEXTS, shipped_artifact.score(TEXTS), strict=True))


# --- container contract: /ping and /invocations ---------------------------------------------------


@slow
def test_ping_answers_200_once_started_on_the_port_it_reports(model_server):
    assert urlsplit(model_server).port != 0
    reply = requests.get(f"{model_server}/ping", timeout=10)
    assert reply.status_code == 200 and reply.content == b""


@slow
def test_row_format_returns_the_artifacts_scores_in_tf_servings_layout(model_server, reference):
    reply = post(model_server, json.dumps({"instances": TEXTS[:3]}))
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/json"
    assert reply.text.startswith('{\n    "predictions": [[') and reply.text.endswith("]\n    ]\n}")
    np.testing.assert_allclose(reply.json()["predictions"], [reference[t] for t in TEXTS[:3]], atol=1e-5)


@slow
def test_row_format_accepts_named_text_objects_and_base64(model_server, reference):
    objects = post(model_server, json.dumps({"instances": [{"text": TEXTS[1]}, {"text": TEXTS[2]}]}))
    np.testing.assert_allclose(objects.json()["predictions"], [reference[TEXTS[1]], reference[TEXTS[2]]], atol=1e-5)
    encoded = {"b64": base64.b64encode(TEXTS[4].encode()).decode()}
    binary = post(model_server, json.dumps({"signature_name": "serving_default", "instances": [encoded]}))
    np.testing.assert_allclose(binary.json()["predictions"], [reference[TEXTS[4]]], atol=1e-5)


@slow
@pytest.mark.parametrize("inputs", [TEXTS[:4], {"text": TEXTS[:4]}], ids=["list", "named"])
def test_columnar_format_returns_outputs(model_server, reference, inputs):
    reply = post(model_server, json.dumps({"inputs": inputs}))
    assert reply.status_code == 200 and reply.text.startswith('{\n    "outputs": [\n        [\n            ')
    np.testing.assert_allclose(reply.json()["outputs"], [reference[t] for t in TEXTS[:4]], atol=1e-5)


@slow
def test_an_empty_columnar_batch_has_no_outputs(model_server):
    assert post(model_server, '{"inputs": []}').content == b'{\n    "outputs": []\n}'


@slow
def test_accepting_json_removes_newlines_and_echoes_the_type(model_server):
    reply = post(model_server, json.dumps({"instances": ["hello"]}), {**JSON, "Accept": "application/jsonlines"})
    assert reply.headers["Content-Type"] == "application/jsonlines"
    assert b"\n" not in reply.content and len(reply.json()["predictions"][0]) == 6


@slow
def test_non_tf_serving_bodies_are_wrapped_as_the_container_does(model_server, reference):
    bare = post(model_server, json.dumps(TEXTS[1]))  # {"instances": [<body>]}
    np.testing.assert_allclose(bare.json()["predictions"], [reference[TEXTS[1]]], atol=1e-5)
    lines = "\n".join(json.dumps({"text": t}) for t in TEXTS[:2])  # JSON lines become {"instances": [line, ...]}
    reply = post(model_server, lines, {"Content-Type": "application/jsonlines"})
    np.testing.assert_allclose(reply.json()["predictions"], [reference[t] for t in TEXTS[:2]], atol=1e-5)
    csv = post(model_server, f"{TEXTS[7]}\n{TEXTS[10]}\n", {"Content-Type": "text/csv"})  # one instance per line
    np.testing.assert_allclose(csv.json()["predictions"], [reference[TEXTS[7]], reference[TEXTS[10]]], atol=1e-5)


ERRORS = [
    ('{"instances": []}', "JSON Value: {\n    \"instances\": []\n} No values in 'instances' array"),
    ('{"instances": "a"}', 'JSON Value: {\n    "instances": "a"\n} Excepting \'instances\' to be an list/array'),
    (
        '{"instances": ["a"], "inputs": ["b"]}',
        'JSON Value: {\n    "instances": [\n        "a"\n    ],\n    "inputs": [\n        "b"\n    ]\n} '
        "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist ",
    ),
    ('{"examples": [{"text": "a"}]}', "Missing 'inputs' or 'instances' key"),
    ('{"instances": ["a" "b"]}', "JSON Parse error: Missing a comma or ']' after an array element. at offset: 19"),
    ('{"instances": ["a"],}', "JSON Parse error: Missing a name for object member. at offset: 20"),
    ('{"instances": ["a"] "x": 1}', "JSON Parse error: Missing a comma or '}' after an object member. at offset: 20"),
    (
        '{"instances": [1]}',
        "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: "
        "JSON Value: 1 Type: Number is not of expected type: string",
    ),
    (
        '{"instances": [{"text": null}]}',
        "Failed to process element: 0 key: text of 'instances' list. Error: INVALID_ARGUMENT: "
        "JSON Value: null Type: Null is not of expected type: string",
    ),
    (
        '{"instances": [{"text": "a", "lang": "en"}]}',
        "Failed to process element: 0 key: lang of 'instances' list. Error: INVALID_ARGUMENT: "
        "JSON object: does not have named input: lang",
    ),
    (
        '{"instances": [{}]}',
        "Failed to process element: 0 of 'instances' list. JSON object: {} must only have keys: text",
    ),
    ('{"instances": [{"text": "a"}, "b"]}', "Expecting object but got list at item 1 of input list"),
    ('{"instances": ["a", {"text": "b"}]}', "Expecting value/list but got object at item 1 of input list"),
    (
        '{"instances": ["a", ["b"]]}',
        "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: Expecting shape [] but got: [1]",
    ),
    (
        '{"instances": [{"b64": "!!"}]}',
        "Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: Unable to base64 decode",
    ),
    ('{"inputs": {"texts": ["a"]}}', "Missing named input: text in 'inputs' object."),
    ('{"inputs": ["a", 2]}', "JSON Value: 2 Type: Number is not of expected type: string"),
    ('{"inputs": ["a", ["b"]]}', "Encountered list at unexpected level: 1 expected < 1"),
    (
        '{"signature_name": "predict", "instances": ["a"]}',
        'Serving signature name: "predict" not found in signature def',
    ),
    (
        '{"signature_name": 1, "instances": ["a"]}',
        'JSON Value: {\n    "signature_name": 1,\n    "instances": [\n        "a"\n    ]\n} '
        "not formatted correctly. 'signature_name' key must be a string value.",
    ),
    (
        '{"instances": [["a", "b"]]}',
        "input 'text' of signature 'serving_default' must have shape [-1] (a list of strings), got shape [1,2]",
    ),
]


@slow
@pytest.mark.parametrize(("body", "message"), ERRORS)
def test_tf_serving_errors_are_400_with_its_message(model_server, body, message):
    reply = post(model_server, body)
    assert reply.status_code == 400 and reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {"error": message}


@slow
@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("text/plain", "text/plain"),
        (None, "Unknown"),
        ("application/json; charset=utf-8", "application/json; charset=utf-8"),
    ],
)
def test_unsupported_content_types_are_415_as_the_container_answers(model_server, content_type, shown):
    reply = post(model_server, '{"instances": ["a"]}', {"Content-Type": content_type} if content_type else {})
    assert reply.status_code == 415 and reply.json() == {"error": f"Unsupported Media Type: {shown}"}


@slow
def test_unknown_paths_are_404_and_other_methods_405(model_server):
    reply = requests.get(f"{model_server}/v1/models/toxiguard", timeout=10)
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "not_found"
    reply = requests.get(f"{model_server}/invocations", timeout=10)
    assert reply.status_code == 405 and reply.headers["Allow"] == "POST"
    assert reply.json()["error"]["code"] == "method_not_allowed"


# --- SageMaker Runtime: InvokeEndpoint through boto3 ----------------------------------------------


@slow
def test_invoke_endpoint_returns_the_container_body_and_aws_headers(sagemaker_runtime, reference):
    reply = sagemaker_runtime.invoke_endpoint(
        EndpointName=MODEL_ENDPOINT, ContentType="application/json", Accept="application/json",
        Body=json.dumps({"instances": TEXTS[:2]}),
    )  # fmt: skip
    assert reply["ContentType"] == "application/json" and reply["InvokedProductionVariant"] == ms.DEFAULT_VARIANT
    assert reply["ResponseMetadata"]["RequestId"]
    np.testing.assert_allclose(json.loads(reply["Body"].read())["predictions"], [reference[t] for t in TEXTS[:2]],
                               atol=1e-5)  # fmt: skip


@slow
def test_an_unknown_endpoint_is_a_validation_error(sagemaker_runtime):
    with pytest.raises(ClientError) as caught:
        sagemaker_runtime.invoke_endpoint(EndpointName="nope", ContentType="application/json", Body=b"{}")
    error = caught.value.response
    assert error["Error"] == {"Code": "ValidationError", "Message": "Endpoint nope of account 000000000000 not found."}
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


@slow
def test_a_body_the_model_rejects_is_a_model_error_wrapping_the_containers_answer(sagemaker_runtime):
    with pytest.raises(sagemaker_runtime.exceptions.ModelError) as caught:
        sagemaker_runtime.invoke_endpoint(EndpointName=MODEL_ENDPOINT, ContentType="application/json",
                                          Body=b'{"instances": [42]}')  # fmt: skip
    error = caught.value.response
    original = '{ "error": "Failed to process element: 0 of \'instances\' list. Error: INVALID_ARGUMENT: JSON Value: 42 Type: Number is not of expected type: string" }'  # noqa: E501
    assert error["Error"]["Code"] == "ModelError" and error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400 and error["OriginalMessage"] == original
    assert error["Message"].startswith(f'Received client error (400) from primary with message "{original}". See ')
    assert error["LogStreamArn"].startswith("arn:aws:logs:us-east-1:000000000000:log-group:/aws/sagemaker/Endpoints/")


@slow
def test_an_unsupported_content_type_reaches_the_caller_as_a_model_error(sagemaker_runtime):
    with pytest.raises(ClientError) as caught:
        sagemaker_runtime.invoke_endpoint(EndpointName=MODEL_ENDPOINT, ContentType="text/plain", Body=b"hi")
    assert caught.value.response["Error"]["Code"] == "ModelError"
    assert caught.value.response["OriginalStatusCode"] == 415


@slow
def test_unsigned_requests_are_refused_as_aws_refuses_them(model_server):
    url = f"{model_server}/endpoints/{MODEL_ENDPOINT}/invocations"
    reply = requests.post(url, data=b'{"instances": ["a"]}', headers=JSON, timeout=10)
    assert reply.status_code == 403 and reply.json() == {"message": "Missing Authentication Token"}
    assert reply.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException:")

    unsigned = boto3.client("sagemaker-runtime", endpoint_url=model_server, region_name="us-east-1",
                            config=Config(signature_version=UNSIGNED))  # fmt: skip
    with pytest.raises(ClientError) as caught:
        unsigned.invoke_endpoint(EndpointName=MODEL_ENDPOINT, ContentType="application/json", Body=b"{}")
    assert caught.value.response["Error"]["Code"] == "MissingAuthenticationTokenException"


@slow
@pytest.mark.parametrize(
    ("authorization", "status", "code", "message"),
    [
        ("Bearer abc", 400, "IncompleteSignatureException", "Authorization header requires 'Credential' parameter."),
        (
            "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=ab",
            403,
            "InvalidSignatureException",
            "Credential should be scoped to correct service: 'sagemaker'. ",
        ),
    ],
)
def test_malformed_signatures_are_refused(model_server, authorization, status, code, message):
    headers = {**JSON, "Authorization": authorization, "X-Amz-Date": "20260101T000000Z"}
    url = f"{model_server}/endpoints/{MODEL_ENDPOINT}/invocations"
    reply = requests.post(url, data=b"{}", headers=headers, timeout=10)
    assert reply.status_code == status and reply.headers["x-amzn-ErrorType"].split(":")[0] == code
    assert reply.json()["message"].startswith(message)


# --- concurrency, connections, limits, logs -------------------------------------------------------


@slow
def test_concurrent_requests_each_get_their_own_rows(model_server, reference):
    rows = np.array(list(reference.values()))
    relative = [
        np.abs(rows[i] - rows[j]).max(axis=-1) / np.abs(rows[[i, j]]).max() for i in range(16) for j in range(i)
    ]
    assert min(relative) > 1e-2  # every text's row differs from every other's far beyond the tolerance: mix-ups show

    def client(worker: int) -> list[str]:
        problems = []
        with requests.Session() as session:  # keep-alive, as boto3
            for round_ in range(12):
                texts = [TEXTS[(worker + k) % 16] for k in range(1 + (worker + round_) % 3)]
                reply = session.post(f"{model_server}/invocations", json={"instances": texts}, headers=JSON, timeout=30)
                got = np.array(reply.json()["predictions"])
                if not np.allclose(got, [reference[t] for t in texts], rtol=1e-4, atol=1e-7):
                    problems.append(f"worker {worker} round {round_}")
        return problems

    with ThreadPoolExecutor(16) as pool:
        assert [p for problems in pool.map(client, range(16)) for p in problems] == []


@slow
def test_connections_are_kept_alive(model_server):
    connection = http.client.HTTPConnection(urlsplit(model_server).hostname, urlsplit(model_server).port, timeout=10)
    for _ in range(3):
        connection.request("POST", "/invocations", body=b'{"instances": ["hi"]}', headers=JSON)
        reply = connection.getresponse()
        assert reply.status == 200 and reply.getheader("Connection") is None
        reply.read()
    connection.close()


@slow
def test_oversized_bodies_are_refused_without_reading_them(model_server):
    connection = http.client.HTTPConnection(urlsplit(model_server).hostname, urlsplit(model_server).port, timeout=10)
    connection.putrequest("POST", "/invocations")
    for name, value in {**JSON, "Content-Length": str(ms.MAX_BODY_BYTES + 1)}.items():
        connection.putheader(name, value)
    connection.endheaders()
    reply = connection.getresponse()
    assert reply.status == 413 and reply.getheader("Connection") == "close"
    assert json.loads(reply.read())["error"]["code"] == "payload_too_large"
    connection.close()


@slow
def test_each_request_is_logged_at_debug_level_without_its_text(model_server, caplog):
    caplog.set_level(logging.DEBUG, logger="toxiguard.serving.local.model_server")
    secret = "my very private comment"
    post(model_server, json.dumps({"instances": [secret, "another"]}))
    lines = [r.getMessage() for r in caplog.records if r.name == "toxiguard.serving.local.model_server"]
    assert any(line.startswith("POST /invocations 200 texts=2 ") and line.endswith("ms") for line in lines)
    assert not any(secret in line for line in caplog.text.splitlines())


def test_a_port_in_use_is_a_clear_error_before_the_model_loads(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ModelServerError, match=f"port {port} on 127.0.0.1 is already in use.*--port"):
            ModelServer(tmp_path, port=port).start()  # tmp_path holds no model: the port is checked first
        assert ms.main(["--artifact", str(tmp_path), "--port", str(port)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"port {port} on 127.0.0.1 is already in use" in error


def test_a_directory_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelServerError, match=r"no packaged model in .*manifest\.json is missing"):
        ModelServer(tmp_path, port=0).start()


# --- units: response bytes and micro-batching ------------------------------------------------------


def test_responses_are_written_as_tf_serving_writes_them():
    scores = np.array([[0.5, 1e-05, 1.0], [0.1234567, 3.0, 2.5e-07]], dtype=np.float32)
    assert predict_response(scores, columnar=False) == (
        b'{\n    "predictions": [[0.5, 1e-05, 1.0], [0.123456702, 3.0, 2.5e-07]\n    ]\n}'
    )
    assert predict_response(scores[:1], columnar=True) == (
        b'{\n    "outputs": [\n        [\n            0.5,\n            1e-05,\n            1.0\n        ]\n    ]\n}'
    )


def _length_scorer(calls: list[int], delay: float = 0.0):
    def score(texts):
        calls.append(len(texts))
        time.sleep(delay)
        return np.array([[len(t), i] for i, t in enumerate(texts)], dtype=np.float32)

    return score


def test_micro_batching_scores_waiting_requests_together_and_returns_each_its_rows():
    calls: list[int] = []
    batcher = MicroBatcher(_length_scorer(calls, delay=0.05), max_texts=256)
    jobs = [[b"x" * (i + 1)] * (1 + i % 3) for i in range(24)]
    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(batcher.score, jobs))
    for texts, rows in zip(jobs, results, strict=True):
        assert rows[:, 0].tolist() == [len(t) for t in texts]
    assert sum(calls) == sum(map(len, jobs)) and len(calls) < len(jobs)  # some requests shared a call


@pytest.mark.parametrize("workers", [1, 2])
def test_no_more_batches_run_at_once_than_there_are_workers(workers):
    lock, running, most = threading.Lock(), [0], [0]

    def score(texts):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return np.zeros((len(texts), 6), np.float32)

    batcher = MicroBatcher(score, workers=workers)
    with ThreadPoolExecutor(16) as pool:
        assert all(rows.shape == (1, 6) for rows in pool.map(batcher.score, [[b"a"]] * 64))
    assert most[0] == workers


def test_micro_batching_respects_the_cap_and_scores_an_oversized_request_alone():
    calls: list[int] = []
    batcher = MicroBatcher(_length_scorer(calls), max_texts=4)
    assert batcher.score([b"a"] * 10).shape == (10, 2) and calls == [10]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(batcher.score, [[b"a", b"b", b"c"]] * 8))
    assert max(calls[1:]) <= 4


def test_a_scoring_error_reaches_every_request_in_the_batch_and_the_next_batch_still_runs():
    failing = threading.Event()

    def score(texts):
        if failing.is_set():
            raise RuntimeError("model failed")
        return np.zeros((len(texts), 6), np.float32)

    batcher = MicroBatcher(score)
    failing.set()
    with pytest.raises(RuntimeError, match="model failed"):
        batcher.score([b"a"])
    failing.clear()
    assert batcher.score([b"a", b"b"]).shape == (2, 6)
