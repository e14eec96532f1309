"""Local stand-in for a SageMaker endpoint running the TensorFlow Serving container, for the packaged model.

Two faces, as on AWS:

* the container contract SageMaker itself calls: `GET /ping` and `POST /invocations`, with the SageMaker TensorFlow
  Serving container's front end (aws/deep-learning-containers, tensorflow/inference/docker/build_artifacts/sagemaker/
  tensorflowServing.js) in front of TensorFlow Serving's REST predict API (tensorflow/serving, json_tensor.cc and
  http_rest_api_handler.cc): the same request formats, response bytes and error messages;
* the SageMaker Runtime API that boto3's `invoke_endpoint` calls: `POST /endpoints/{EndpointName}/invocations`, SigV4
  signed, which answers with the container's body and AWS's headers, or with AWS's error shapes (botocore's
  sagemaker-runtime service model) - unknown endpoint, ModelError wrapping the container's status and message.

The model is the artifact's exported `serving_default` signature, wrapped in one `tf.function` traced at start for
input shape [None]. Concurrent requests are micro-batched: a request thread that finds a batch worker free scores every
request queued at that moment in one go (no waiting when idle, so a lone request pays nothing) and hands each its rows.
Texts are scored in length-sorted chunks, so short comments are not padded to the longest one in the batch.
Measurements behind the defaults: docs/model-server.md.

    python -m toxiguard.serving.local.model_server --artifact artifacts/<version> [--host 127.0.0.1] [--port 8080]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import dataclasses
import errno
import json
import logging
import math
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np

log = logging.getLogger("toxiguard.serving.local.model_server")

SIGNATURE, INPUT = "serving_default", "text"  # the exported signature (toxiguard.training.export), one string input
MAX_TEXTS_PER_CALL = 256  # a micro-batch takes queued requests up to this many texts
CHUNK_TEXTS = 12  # at most this many texts per signature call, in length order
PARALLEL_CHUNKS = 2  # signature calls at once within a batch
BATCH_WORKERS = 2  # micro-batches scored at once: one per core of the 2-core target machine
MAX_BODY_BYTES = 6 * 2**20  # InvokeEndpoint's payload limit (BodyBlob max in the service model)
DEFAULT_ENDPOINT, DEFAULT_VARIANT = "toxiguard", "AllTraffic"
LOCAL_ACCOUNT_ID = "000000000000"
IDLE_CONNECTION_SECONDS = 120
WARM_UP_TEXTS = ["warm-up", "an unseen word: qzxvwy", "word " * 300]

Scores = np.ndarray  # float32 [texts, labels]
Text = bytes  # UTF-8 text, or the raw bytes of TF Serving's {"b64": ...} values


# --------------------------------------------------------------------------------------------------
# TensorFlow Serving REST predict API: request parsing and response writing
# --------------------------------------------------------------------------------------------------


class PredictError(Exception):
    """A request TF Serving refuses; `str()` is its message, which it returns as {"error": message}."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class PredictRequest:
    texts: list[Text]
    columnar: bool  # {"inputs": ...} -> {"outputs": ...}; else {"instances": ...} -> {"predictions": ...}


# rapidjson's wording (GetParseError_En) for the errors Python's json module reports in its own words.
_PARSE_ERRORS = {
    "Expecting value": "Invalid value.",
    "Extra data": "The document root must not be followed by other values.",
    "Expecting property name enclosed in double quotes": "Missing a name for object member.",
    "Expecting ':' delimiter": "Missing a colon after a name of object member.",
    "Unterminated string starting at": "Missing a closing quotation mark in string.",
    "Invalid control character at": "Invalid encoding in string.",
    "Invalid \\escape": "Invalid escape character in string.",
    "Invalid \\uXXXX escape": "Incorrect hex digit after \\u escape in string.",
}


def _json_text(value) -> str:
    """A JSON value as TF Serving quotes it in messages (rapidjson's PrettyWriter: 4-space indent)."""
    return json.dumps(value, indent=4, ensure_ascii=False)


def _json_type(value) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")


def _innermost_container(text: str, end: int) -> str:
    """'[' or '{': the container still open at `end`, to name the missing delimiter as rapidjson does."""
    open_containers: list[str] = []
    in_string = escaped = False
    for char in text[:end]:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            open_containers.append(char)
        elif char in "]}" and open_containers:
            open_containers.pop()
    return open_containers[-1] if open_containers else "{"


def parse_json_document(body: bytes):
    """The request document, or TF Serving's "JSON Parse error" (rapidjson's message, byte offset)."""
    if not body:
        raise PredictError("JSON Parse error: The document is empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:  # stricter than rapidjson, which passes invalid UTF-8 through unchecked
        raise PredictError(f"JSON Parse error: Invalid encoding in string. at offset: {exc.start}") from None
    if not text.strip():
        raise PredictError(f"JSON Parse error: The document is empty. at offset: {len(body)}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Expecting ',' delimiter":
            reason = _PARSE_ERRORS.get(exc.msg, f"{exc.msg}.")
        elif _innermost_container(text, exc.pos) == "{":
            reason = "Missing a comma or '}' after an object member."
        else:
            reason = "Missing a comma or ']' after an array element."
        offset = len(text[: exc.pos].encode("utf-8"))
        raise PredictError(f"JSON Parse error: {reason} at offset: {offset}") from None
    except RecursionError:
        raise PredictError("JSON Parse error: the document is nested too deeply") from None


def _format_error(document, reason: str) -> PredictError:
    return PredictError(f"JSON Value: {_json_text(document)} {reason}")


def _shape_text(shape: Sequence[int]) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


def _dense_shape(value) -> list[int]:
    """A JSON value's tensor shape, read along first elements (GetDenseTensorShape)."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _is_base64_object(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _decode_base64(value) -> bytes:
    if not _is_base64_object(value):
        raise PredictError(f"JSON Value: {_json_text(value)} not formatted correctly for base64 data")
    encoded = value["b64"]
    try:  # absl::Base64Unescape accepts missing padding
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise PredictError("Unable to base64 decode") from None


def _fill_strings(value, level: int, shape: list[int], out: list[Text]) -> None:
    """Append a JSON value's strings to `out`, checking it is a dense string tensor of `shape` (FillTensorProto)."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise PredictError(
                f"JSON Value: {_json_text(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {rank}"
            )
        if isinstance(value, dict):
            out.append(_decode_base64(value))
        elif isinstance(value, str):
            try:  # encoded here, so a lone surrogate escape fails this request rather than a shared batch
                out.append(value.encode("utf-8"))
            except UnicodeEncodeError:
                raise PredictError("JSON Parse error: The surrogate pair in string is invalid.") from None
        else:
            raise PredictError(
                f"JSON Value: {_json_text(value)} Type: {_json_type(value)} is not of expected type: string"
            )
        return
    if level >= rank:
        raise PredictError(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise PredictError(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: {shape[level]}"
        )
    for item in value:
        _fill_strings(item, level + 1, shape, out)


def _string_tensor(value) -> tuple[list[Text], list[int]]:
    shape = _dense_shape(value)
    strings: list[Text] = []
    _fill_strings(value, 0, shape, strings)
    return strings, shape


def _check_batch_shape(shape: list[int]) -> None:
    # TF Serving leaves this check to the session, whose wording depends on the graph; this message is our own.
    if len(shape) != 1:
        raise PredictError(
            f"input '{INPUT}' of signature '{SIGNATURE}' must have shape [-1] (a list of strings), "
            f"got shape {_shape_text(shape)}"
        )


def _is_element_object(value) -> bool:
    return isinstance(value, dict) and not _is_base64_object(value)


def _instances_texts(instances: list) -> list[Text]:
    """Row format: plain values or {"text": value} objects, one per instance (FillTensorMapFromInstancesList)."""
    objects = _is_element_object(instances[0])
    texts: list[Text] = []
    item_shape: list[int] | None = None

    def add(value, index: int, key: str | None) -> None:
        nonlocal item_shape
        where = f"{index} key: {key}" if key is not None else f"{index}"
        try:
            if key is not None and key != INPUT:
                raise PredictError(f"JSON object: does not have named input: {key}")
            strings, shape = _string_tensor(value)
            if item_shape is not None and len(strings) != math.prod(item_shape):
                raise PredictError(f"Expecting tensor size: {math.prod(item_shape)} but got: {len(strings)}")
            if item_shape is not None and shape != item_shape:
                raise PredictError(f"Expecting shape {_shape_text(item_shape)} but got: {_shape_text(shape)}")
        except PredictError as exc:
            raise PredictError(
                f"Failed to process element: {where} of 'instances' list. Error: INVALID_ARGUMENT: {exc}"
            ) from None
        item_shape = shape
        texts.extend(strings)

    for index, element in enumerate(instances):
        if objects:
            if not _is_element_object(element):
                raise PredictError(f"Expecting object but got list at item {index} of input list")
            for key, value in element.items():
                add(value, index, key)
            if set(element) != {INPUT}:
                raise PredictError(
                    f"Failed to process element: {index} of 'instances' list. JSON object: {_json_text(element)} "
                    f"must only have keys: {INPUT}"
                )
        else:
            if _is_element_object(element):
                raise PredictError(f"Expecting value/list but got object at item {index} of input list")
            add(element, index, None)
    _check_batch_shape([len(instances), *item_shape])
    return texts


def _inputs_texts(inputs) -> list[Text]:
    """Columnar format: a list of strings, or {"text": [...]} (FillTensorMapFromInputsMap)."""
    if _is_element_object(inputs):
        if INPUT not in inputs:
            raise PredictError(f"Missing named input: {INPUT} in 'inputs' object.")
        inputs = inputs[INPUT]
    texts, shape = _string_tensor(inputs)
    _check_batch_shape(shape)
    return texts


def _predict_request(document) -> PredictRequest:
    if not isinstance(document, dict):
        raise _format_error(document, "Is not object")
    signature = document.get("signature_name", "")
    if not isinstance(signature, str):
        raise _format_error(document, "not formatted correctly. 'signature_name' key must be a string value.")
    if signature not in ("", SIGNATURE):
        raise PredictError(f'Serving signature name: "{signature}" not found in signature def')
    if "instances" in document:
        if "inputs" in document:
            raise _format_error(
                document, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist "
            )
        instances = document["instances"]
        if not isinstance(instances, list):
            raise _format_error(document, "Excepting 'instances' to be an list/array")
        if not instances:
            raise _format_error(document, "No values in 'instances' array")
        return PredictRequest(_instances_texts(instances), columnar=False)
    if "inputs" in document:
        return PredictRequest(_inputs_texts(document["inputs"]), columnar=True)
    raise PredictError("Missing 'inputs' or 'instances' key")


def parse_predict_request(body: bytes) -> PredictRequest:
    """The texts of a TF Serving predict request, or the error TF Serving answers (FillPredictRequestFromJson)."""
    document = parse_json_document(body)
    try:
        return _predict_request(document)
    except RecursionError:  # a document nested about as deep as Python's json module parses
        raise PredictError("the request is nested too deeply") from None


def _float_text(value: float) -> str:
    """A float32 as TF Serving writes it (WriteDecimal): 6 significant digits if they round-trip, else 9."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("-Infinity" if value < 0 else "Infinity")
    text = f"{value:g}"
    if np.float32(text) != np.float32(value):
        text = f"{value:.9g}"
    return text if "." in text or "e" in text else text + ".0"


def predict_response(scores: Scores, columnar: bool) -> bytes:
    """TF Serving's response bytes: rapidjson's PrettyWriter, rows on one line in the row format."""
    rows = [[_float_text(v) for v in row] for row in scores.tolist()]
    if not columnar:
        predictions = ", ".join("[" + ", ".join(row) + "]" for row in rows)
        return ('{\n    "predictions": [' + predictions + "\n    ]\n}").encode()
    if not rows:
        return b'{\n    "outputs": []\n}'
    outputs = ",\n".join("        [\n" + ",\n".join("            " + v for v in row) + "\n        ]" for row in rows)
    return ('{\n    "outputs": [\n' + outputs + "\n    ]\n}").encode()


def error_body(message: str) -> bytes:
    """TF Serving's error object, `{ "error": "..." }`.

    TF Serving escapes the message with absl::CEscape, which writes `'` as `\\'` and non-ASCII bytes as octal escapes
    (invalid JSON; the container's front end repairs only the first `\\'instances\\'`). We write valid JSON with the
    same decoded message, so clients must not depend on those escapes.
    """
    return ('{ "error": ' + json.dumps(message) + " }").encode()


# --------------------------------------------------------------------------------------------------
# The SageMaker TensorFlow Serving container's front end (tensorflowServing.js), in front of TF Serving
# --------------------------------------------------------------------------------------------------

JSON_CONTENT_TYPES = ("application/json", "application/jsonlines", "application/jsons")
CSV_CONTENT_TYPE = "text/csv"
_TFS_JSON = re.compile(rb'"(instances|inputs|examples)"\s*:')
_JSON_LINES = re.compile(rb"[}\]]\s*[\[{]")
_NUMERIC_CSV = re.compile(rb'\s*("|[\d.Ee+\-]+.*)')
_LINE_BREAK = re.compile(rb"\r?\n")


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    texts: int = 0  # how many texts were scored (for the access log)


def _json_lines_request(data: bytes) -> bytes:
    lines = _LINE_BREAK.split(data.strip())
    parts = [b'{"instances":', b"[" if len(lines) != 1 else b""]
    parts += [(b"," if i else b"") + line.strip() for i, line in enumerate(lines) if line.strip()]
    parts.append(b"}" if len(lines) == 1 else b"]}")
    return b"".join(parts)


def _generic_json_request(data: bytes) -> bytes:
    if not re.match(rb"\s*\[\s*\[", data):
        data = b"[" + data + b"]"
    return b'{"instances":' + data + b"}"


def _csv_request(data: bytes) -> bytes:
    """One instance per line; like the container, quotes and splits only the first `"` and `,` of a line."""
    needs_quotes = _NUMERIC_CSV.match(data) is None
    lines = _LINE_BREAK.split(data.strip())
    parts = [b'{"instances":[']
    for i, line in enumerate(lines):
        line = line.strip()
        if not line:
            continue
        several_columns = b"," in line
        if needs_quotes:
            line = b'"' + line.replace(b'"', b'\\"', 1).replace(b",", b'","', 1) + b'"'
        parts.append(b"[" + line + b"]" if several_columns else line)
        if i != len(lines) - 1:
            parts.append(b",")
    parts.append(b"]}")
    return b"".join(parts)


def tfs_request_body(content_type: str | None, data: bytes) -> bytes:
    """The TF Serving predict request the container makes of an /invocations body; PredictError 415 if unsupported."""
    # The container compares the header exactly: "application/json; charset=utf-8" is refused too.
    if content_type in JSON_CONTENT_TYPES:
        if _TFS_JSON.search(data):
            return data
        return _json_lines_request(data) if _JSON_LINES.search(data) else _generic_json_request(data)
    if content_type == CSV_CONTENT_TYPE:
        return _csv_request(data)
    raise PredictError(f"Unsupported Media Type: {content_type or 'Unknown'}", HTTPStatus.UNSUPPORTED_MEDIA_TYPE)


def _apply_accept(reply: Reply, accept: str | None) -> Reply:
    """The container drops newlines and echoes the first Accept type when JSON (lines) is accepted."""
    if accept is None:
        return reply
    accepted = accept.strip().replace(" ", "", 1).split(",")
    if "application/json" in accepted or "application/jsonlines" in accepted:
        return dataclasses.replace(reply, body=reply.body.replace(b"\n", b""), content_type=accepted[0])
    return reply


# --------------------------------------------------------------------------------------------------
# Scoring: the compiled signature and micro-batching
# --------------------------------------------------------------------------------------------------


class SignatureScorer:
    """The exported `serving_default` signature inside one tf.function, traced and run once at construction.

    `score` sorts texts by length and splits them into equal chunks of at most `chunk_texts`, so short texts are not
    padded to the longest, and runs up to `parallel_chunks` chunks at once (TensorFlow releases the GIL; one call
    leaves part of a core idle while its LSTM steps run).
    """

    def __init__(self, serving_fn, chunk_texts: int = CHUNK_TEXTS, parallel_chunks: int = PARALLEL_CHUNKS):
        import tensorflow as tf

        ((output, spec),) = serving_fn.structured_outputs.items()
        compiled = tf.function(
            lambda text: serving_fn(**{INPUT: text})[output],
            input_signature=[tf.TensorSpec([None], tf.string, name=INPUT)],
        )
        self._call = compiled.get_concrete_function()  # the one trace, for shape [None]
        self._constant = tf.constant
        self._width = spec.shape[-1]
        self._chunk_texts = chunk_texts
        self._pool = ThreadPoolExecutor(parallel_chunks, thread_name_prefix="score")
        # The first runs build kernels; texts with an out-of-vocabulary word and one past the model's maximum length
        # take the code paths real comments take (without them the first real request took ~50 ms longer).
        self._call(tf.constant(WARM_UP_TEXTS))

    def _score_chunk(self, texts: list[Text]) -> Scores:
        return self._call(self._constant(texts)).numpy()

    def score(self, texts: list[Text]) -> Scores:
        """Scores in input order."""
        if len(texts) <= self._chunk_texts:
            return self._score_chunk(texts) if texts else np.zeros((0, self._width), np.float32)
        order = np.argsort([len(text) for text in texts], kind="stable")
        chunks = np.array_split(order, math.ceil(len(texts) / self._chunk_texts))
        scores = np.empty((len(texts), self._width), np.float32)
        results = self._pool.map(lambda rows: self._score_chunk([texts[i] for i in rows]), chunks)
        for rows, chunk_scores in zip(chunks, results, strict=True):
            scores[rows] = chunk_scores
        return scores

    def close(self) -> None:
        self._pool.shutdown()


@dataclasses.dataclass(eq=False)
class _Job:
    texts: list[Text]
    scores: Scores | None = None
    error: Exception | None = None
    done: bool = False
    wake: threading.Event = dataclasses.field(default_factory=threading.Event)


class MicroBatcher:
    """Scores concurrent requests together, without a timer.

    A request thread that finds fewer than `workers` batches running leads: it scores every request queued at that
    moment (up to `max_texts` texts, its own first) in one call, hands each request its rows, then passes the lead to
    the oldest waiting request, whose thread scores the next batch. A lone request scores itself at once; requests
    that arrive while the workers are busy form the next batch.
    """

    def __init__(
        self, score: Callable[[list[Text]], Scores], max_texts: int = MAX_TEXTS_PER_CALL, workers: int = BATCH_WORKERS
    ):
        self._score = score
        self._max_texts = max_texts
        self._workers = workers
        self._lock = threading.Lock()
        self._queue: collections.deque[_Job] = collections.deque()
        self._running = 0  # batches being scored

    def score(self, texts: list[Text]) -> Scores:
        job = _Job(texts)
        with self._lock:
            leading = self._running < self._workers
            if leading:
                self._running += 1
            else:
                self._queue.append(job)
        if not leading:
            job.wake.wait()  # either our rows are ready or we were handed the lead
        if not job.done:
            self._lead(job)
        if job.error is not None:
            raise job.error
        return job.scores

    def _lead(self, own: _Job) -> None:
        with self._lock:
            batch, count = [own], len(own.texts)  # its own job first, even if it alone exceeds the cap
            while self._queue and count + len(self._queue[0].texts) <= self._max_texts:
                batch.append(self._queue.popleft())
                count += len(batch[-1].texts)
        try:
            scores = self._score([text for job in batch for text in job.texts])
            start = 0
            for job in batch:
                job.scores = scores[start : start + len(job.texts)]
                start += len(job.texts)
        except Exception as exc:  # every request in the batch gets the error; the server answers 500
            for job in batch:
                job.error = exc
        finally:
            with self._lock:  # the oldest waiting request takes over the lead; out of the queue, no batch takes it
                successor = self._queue.popleft() if self._queue else None
                self._running -= successor is None
            for job in batch:
                job.done = True
                job.wake.set()
            if successor is not None:
                successor.wake.set()


# --------------------------------------------------------------------------------------------------
# SageMaker Runtime: SigV4 presence and AWS error shapes
# --------------------------------------------------------------------------------------------------

_RUNTIME_PATH = re.compile(r"/endpoints/([^/]+)/invocations")
_CORAL = "http://internal.amazon.com/coral/com.amazon.coral.service/"
_SAGEMAKER_RUNTIME = "http://internal.amazon.com/coral/com.amazon.sageruntime/"
_SIGV4_PARAMETERS = ("Credential", "Signature", "SignedHeaders")
_MAX_ERROR_MESSAGE = 2048  # the Message shape's max length in the sagemaker-runtime model


class AwsError(Exception):
    """An AWS error response: status, x-amzn-ErrorType code (with its namespace) and JSON body."""

    def __init__(self, status: int, code: str, body: dict, namespace: str = _SAGEMAKER_RUNTIME):
        super().__init__(code)
        self.status, self.code, self.body, self.namespace = status, code, body, namespace


def signing_region(headers: Mapping[str, str]) -> str:
    """The region of a request's SigV4 Authorization header, or the error AWS answers an unsigned/malformed request.

    Only the header's presence and form are checked: the local server knows no secret keys.
    """
    authorization = headers.get("Authorization")
    if not authorization:
        raise AwsError(403, "MissingAuthenticationTokenException", {"message": "Missing Authentication Token"}, _CORAL)
    scheme, _, rest = authorization.partition(" ")
    parameters = {}
    if scheme == "AWS4-HMAC-SHA256":
        for part in rest.split(","):
            name, _, value = part.strip().partition("=")
            if value:
                parameters[name] = value
    problems = [
        f"Authorization header requires '{name}' parameter." for name in _SIGV4_PARAMETERS if name not in parameters
    ]
    if not (headers.get("X-Amz-Date") or headers.get("Date")):
        problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if problems:
        message = " ".join([*problems, f"Authorization={authorization}"])
        raise AwsError(400, "IncompleteSignatureException", {"message": message}, _CORAL)
    scope = parameters["Credential"].split("/")
    if len(scope) != 5:
        message = (
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{parameters['Credential']}'"
        )
        raise AwsError(400, "IncompleteSignatureException", {"message": message}, _CORAL)
    if scope[3] != "sagemaker":
        message = "Credential should be scoped to correct service: 'sagemaker'. "
        raise AwsError(403, "InvalidSignatureException", {"message": message}, _CORAL)
    return scope[2]


def model_error(status: int, container_message: str, region: str, endpoint: str, variant: str) -> AwsError:
    """ModelError (424): the container answered `status`; AWS quotes its body in Message and OriginalMessage."""
    kind = "client" if status < 500 else "server"
    logs = (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logEventViewer:group=/aws/sagemaker/Endpoints/{endpoint}"
    )
    message = (
        f'Received {kind} error ({status}) from primary with message "{container_message}". '
        f"See {logs} in account {LOCAL_ACCOUNT_ID} for more information."
    )
    body = {
        "Message": message[:_MAX_ERROR_MESSAGE],
        "OriginalStatusCode": status,
        "OriginalMessage": container_message[:_MAX_ERROR_MESSAGE],
        "LogStreamArn": (
            f"arn:aws:logs:{region}:{LOCAL_ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/{endpoint}"
            f":log-stream:{variant}/local"
        ),
    }
    return AwsError(HTTPStatus.FAILED_DEPENDENCY, "ModelError", body)


def aws_error_reply(error: AwsError) -> Reply:
    headers = {"x-amzn-ErrorType": f"{error.code}:{error.namespace}"}
    return Reply(error.status, json.dumps(error.body).encode(), headers=headers)


# --------------------------------------------------------------------------------------------------
# HTTP server
# --------------------------------------------------------------------------------------------------


class ModelServerError(RuntimeError):
    """The server cannot start (port taken, no model); the message says what to do."""


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: boto3 reuses connections
    disable_nagle_algorithm = True
    wbufsize = -1  # buffered: headers and a small body leave in one segment
    timeout = IDLE_CONNECTION_SECONDS
    server: _HTTPServer

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _dispatch(self) -> None:
        started = time.perf_counter()
        body = self._read_body()
        if body is None:
            return
        path = urlsplit(self.path).path
        try:
            reply = self.server.app.handle(self.command, path, self.headers, body)
        except Exception:  # a bug: logged with its traceback, answered without one
            log.exception("request failed: %s %s", self.command, path)
            reply = Reply(HTTPStatus.INTERNAL_SERVER_ERROR, error_body("internal error in the local model server"))
        log.debug(  # before writing, so the line is there when the client has its answer
            "%s %s %d texts=%d %.2fms",
            self.command,
            path,
            reply.status,
            reply.texts,
            (time.perf_counter() - started) * 1e3,
        )
        self._write(reply)

    def _read_body(self) -> bytes | None:
        """The request body; None when an error was answered and the connection must close (body left unread)."""
        if "Transfer-Encoding" in self.headers:
            self._refuse(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length header")
            return None
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit():
            self._refuse(HTTPStatus.BAD_REQUEST, f"invalid Content-Length: {length!r}")
            return None
        if int(length) > MAX_BODY_BYTES:
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body exceeds {MAX_BODY_BYTES} bytes")
            return None
        return self.rfile.read(int(length))

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        self.close_connection = True
        self._write(Reply(status, error_body(message), headers={"Connection": "close"}))
        log.debug("%s %s %d texts=0", self.command, self.path, status)

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(reply.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors (bad request line, oversized headers) as JSON too, not the default HTML page."""
        self.close_connection = True
        self._write(Reply(code, error_body(message or HTTPStatus(code).phrase), headers={"Connection": "close"}))

    def version_string(self) -> str:
        return "toxiguard-model-server"

    def log_message(self, format: str, *args) -> None:
        """Silenced: `_dispatch` logs one line per request at debug level instead."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # listen backlog: the default 5 resets connections when many clients connect at once

    def __init__(self, address: tuple[str, int], app: ModelServer):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        super().__init__(address, _RequestHandler)


class ModelServer:
    """The local SageMaker endpoint for one packaged model; a context manager.

    `start()` binds the port (failing fast with ModelServerError when it is taken), loads and warms up the model,
    then serves in a background thread; `url` reports the bound port, so port 0 picks a free one.
    """

    def __init__(
        self,
        artifact_dir: Path,
        host: str = "127.0.0.1",
        port: int = 8080,
        endpoint_name: str = DEFAULT_ENDPOINT,
        batching: bool = True,
        variant_name: str = DEFAULT_VARIANT,
        chunk_texts: int = CHUNK_TEXTS,
        parallel_chunks: int = PARALLEL_CHUNKS,
        max_texts_per_call: int = MAX_TEXTS_PER_CALL,
        batch_workers: int = BATCH_WORKERS,
    ):
        self.artifact_dir = Path(artifact_dir)
        self.host, self.port = host, port
        self.endpoint_name, self.variant_name = endpoint_name, variant_name
        self.batching = batching
        self.chunk_texts, self.parallel_chunks = chunk_texts, parallel_chunks
        self.max_texts_per_call, self.batch_workers = max_texts_per_call, batch_workers
        self.model_version = ""
        self._artifact = None
        self._scorer: SignatureScorer | None = None
        self._score: Callable[[list[Text]], Scores] | None = None
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the model server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> ModelServer:
        """Bind, load the model, trace and warm it up, serve; returns once `/ping` answers 200."""
        if self._thread is not None:
            return self
        self._httpd = self._bind()
        try:
            self._load_model()
        except BaseException:
            self.close()
            raise
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="model-server", daemon=True)
        self._thread.start()
        return self

    def _bind(self) -> _HTTPServer:
        try:
            return _HTTPServer((self.host, self.port), self)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ModelServerError(
                    f"port {self.port} on {self.host} is already in use: stop what is using it or choose another "
                    "port with --port <port> (0 picks a free one)"
                ) from None
            raise ModelServerError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None

    def _load_model(self) -> None:
        if not (self.artifact_dir / "manifest.json").is_file():
            raise ModelServerError(f"no packaged model in {self.artifact_dir}: manifest.json is missing")
        from toxiguard.config import configure_threads

        configure_threads()  # before TensorFlow initialises (a no-op when it already has)
        from toxiguard.serving.model import ServingModel

        try:
            self._artifact = ServingModel(self.artifact_dir)
            self._scorer = SignatureScorer(self._artifact.serving_fn, self.chunk_texts, self.parallel_chunks)
        except Exception as exc:
            raise ModelServerError(f"cannot load the model in {self.artifact_dir}: {exc}") from exc
        self.model_version = self._artifact.version
        score = self._scorer.score
        self._score = MicroBatcher(score, self.max_texts_per_call, self.batch_workers).score if self.batching else score

    def serve_forever(self) -> None:
        """Start if needed, then block until `close()` (or Ctrl-C in the caller)."""
        self.start()
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)  # wakes regularly so signals reach the main thread

    def close(self) -> None:
        if self._httpd is not None:
            if self._thread is not None:
                self._httpd.shutdown()
                self._thread.join()
            self._httpd.server_close()
        if self._scorer is not None:
            self._scorer.close()
        self._httpd = self._thread = self._scorer = self._artifact = None  # the artifact's extracted copy goes too

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ---- routes ----

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Route one request (called by the HTTP handler's threads)."""
        if path == "/ping":
            return Reply(HTTPStatus.OK, b"")
        if path == "/invocations":
            return self.invocations(headers.get("Content-Type"), headers.get("Accept"), body)
        runtime = _RUNTIME_PATH.fullmatch(path)
        if runtime and method == "POST":
            return self.invoke_endpoint(unquote(runtime.group(1)), headers, body)
        return Reply(HTTPStatus.NOT_FOUND, b'{"error": "Not Found"}')

    def invocations(self, content_type: str | None, accept: str | None, body: bytes) -> Reply:
        """The container's `/invocations`: TF Serving's predict API behind the container's front end."""
        try:
            request = parse_predict_request(tfs_request_body(content_type, body))
        except PredictError as exc:
            if exc.status == HTTPStatus.UNSUPPORTED_MEDIA_TYPE:  # answered by the front end, before TF Serving
                return Reply(exc.status, json.dumps({"error": str(exc)}).encode())
            return _apply_accept(Reply(exc.status, error_body(str(exc))), accept)
        scores = self._score(request.texts)
        reply = Reply(HTTPStatus.OK, predict_response(scores, request.columnar), texts=len(request.texts))
        return _apply_accept(reply, accept)

    def invoke_endpoint(self, endpoint_name: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """SageMaker Runtime's InvokeEndpoint: the container's answer with AWS's headers, or AWS's error."""
        request_id = {"x-amzn-RequestId": str(uuid.uuid4())}
        try:
            region = signing_region(headers)
            if endpoint_name != self.endpoint_name:
                message = f"Endpoint {endpoint_name} of account {LOCAL_ACCOUNT_ID} not found."
                raise AwsError(HTTPStatus.BAD_REQUEST, "ValidationError", {"Message": message})
            reply = self.invocations(headers.get("Content-Type"), headers.get("Accept"), body)
            if reply.status != HTTPStatus.OK:
                message = reply.body.decode("utf-8", errors="replace")
                raise model_error(reply.status, message, region, self.endpoint_name, self.variant_name)
        except AwsError as error:
            failed = aws_error_reply(error)
            return dataclasses.replace(failed, headers={**failed.headers, **request_id})
        variant = {"x-Amzn-Invoked-Production-Variant": self.variant_name}
        return dataclasses.replace(reply, headers={**reply.headers, **request_id, **variant})


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def _port(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (0-65535; 0 picks a free one)")
    return int(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m toxiguard.serving.local.model_server", description=__doc__.split("\n", 1)[0]
    )
    parser.add_argument("--artifact", type=Path, required=True, help="packaged model directory (artifacts/<version>)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0 picks a free one)")
    parser.add_argument("--endpoint-name", default=DEFAULT_ENDPOINT, help="the SageMaker endpoint name it answers to")
    parser.add_argument("--no-batching", dest="batching", action="store_false", help="score each request alone")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="DEBUG logs one line per request (never the text)")  # fmt: skip
    args = parser.parse_args(argv)
    level = logging.getLevelName(args.log_level)
    # DEBUG applies to this server's own lines only, not to the libraries' debug chatter.
    logging.basicConfig(level=max(level, logging.INFO), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(level)

    def stop(signum, frame):
        raise KeyboardInterrupt  # SIGTERM (the local stack stopping us) cleans up like Ctrl-C

    previous_handler = signal.signal(signal.SIGTERM, stop)
    server = ModelServer(args.artifact, args.host, args.port, args.endpoint_name, args.batching)
    try:
        server.start()
        print(f"model server ready at {server.url} (model {server.model_version})", flush=True)
        server.serve_forever()
    except ModelServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        signal.signal(signal.SIGTERM, previous_handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
