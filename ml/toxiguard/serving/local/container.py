"""The SageMaker TensorFlow Serving container's front end (tensorflowServing.js), in front of TF Serving.

It turns an `/invocations` body into a TF Serving predict request by its Content-Type (JSON, JSON lines, CSV) and
adjusts the answer to the Accept header, as aws/deep-learning-containers' tensorflow/inference/docker/
build_artifacts/sagemaker/tensorflowServing.js does.
"""

from __future__ import annotations

import dataclasses
import re
from http import HTTPStatus

from toxiguard.serving.local.http import Response
from toxiguard.serving.local.tf_serving import PredictError

JSON_CONTENT_TYPES = ("application/json", "application/jsonlines", "application/jsons")
CSV_CONTENT_TYPE = "text/csv"
_TFS_JSON = re.compile(rb'"(instances|inputs|examples)"\s*:')
_JSON_LINES = re.compile(rb"[}\]]\s*[\[{]")
_NUMERIC_CSV = re.compile(rb'\s*("|[\d.Ee+\-]+.*)')
_LINE_BREAK = re.compile(rb"\r?\n")


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


def apply_accept(reply: Response, accept: str | None) -> Response:
    """The container drops newlines and echoes the first Accept type when JSON (lines) is accepted."""
    if accept is None:
        return reply
    accepted = accept.strip().replace(" ", "", 1).split(",")
    if "application/json" in accepted or "application/jsonlines" in accepted:
        return dataclasses.replace(reply, body=reply.body.replace(b"\n", b""), content_type=accepted[0])
    return reply
