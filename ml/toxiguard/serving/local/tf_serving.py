"""TensorFlow Serving's REST predict API for the one string input: request parsing, response bytes, error messages.

What TF Serving does (tensorflow/serving, json_tensor.cc and http_rest_api_handler.cc) for the exported
`serving_default` signature: the row (`instances`) and columnar (`inputs`) formats, `{"b64": ...}` values, and the
messages it refuses a request with, which clients see verbatim (SageMaker's ModelError quotes them).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
from collections.abc import Sequence

import numpy as np

SIGNATURE, INPUT = "serving_default", "text"  # the exported signature (toxiguard.training.export), one string input

Scores = np.ndarray  # float32 [texts, labels]
Text = bytes  # UTF-8 text, or the raw bytes of TF Serving's {"b64": ...} values


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


def predict_error_body(message: str) -> bytes:
    """TF Serving's error object, `{ "error": "..." }`.

    TF Serving escapes the message with absl::CEscape, which writes `'` as `\\'` and non-ASCII bytes as octal escapes
    (invalid JSON; the container's front end repairs only the first `\\'instances\\'`). We write valid JSON with the
    same decoded message, so clients must not depend on those escapes.
    """
    return ('{ "error": ' + json.dumps(message) + " }").encode()
