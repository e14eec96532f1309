"""Client of the moderation API (`POST /v1/moderate`), local or deployed, and the in-process equivalent.

Both return the API's response shape, so the CLI prints and writes the same thing whichever one scored the text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import requests

from toxiguard.config import LABELS

if TYPE_CHECKING:  # loading a model needs TensorFlow; the API client does not
    from toxiguard.training.export import Artifact

# The API's limits (docs/api.md): lambda/handler.py's DEFAULT_MAX_* copied, since the handler is deployed alone (a test
# checks that they agree). Requests are split by count and by encoded size so that none is refused for either.
API_MAX_TEXTS = 64
API_MAX_TEXT_CHARS = 5000
API_MAX_BODY_BYTES = 262_144
# A body is assembled from each text's JSON, so its exact size is known before it is built and sent.
BODY_START, BODY_END, TEXT_SEPARATOR = b'{"texts":[', b"]}", b","


class ApiError(RuntimeError):
    """The API answered with an error, or could not be reached (status 0)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{code} ({status}): {message}" if status else f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ApiScorer:
    """Scores through a running API with one keep-alive session; batches larger than the API allows are split."""

    def __init__(self, base_url: str, timeout: float = 30.0):
        self.url = base_url.rstrip("/") + "/v1/moderate"
        self.timeout = timeout
        self.session = requests.Session()
        self.model_version = ""

    def moderate(self, texts: Sequence[str]) -> dict:
        results: list[dict] = []
        response: dict = {}
        for count, body in request_bodies(texts):
            response = self._post(body)
            if len(response.get("results", [])) != count:  # a proxy's page, say: never attach scores to the wrong rows
                raise ApiError(200, "bad_response", f"the API did not return {count} results")
            results.extend(response["results"])
        self.model_version = response.get("model_version", "")
        return {"model_version": self.model_version, "thresholds": response.get("thresholds", {}), "results": results}

    def _post(self, body: bytes) -> dict:
        try:
            reply = self.session.post(
                self.url, data=body, headers={"Content-Type": "application/json"}, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise ApiError(0, "unreachable", f"cannot reach {self.url}: {exc.__class__.__name__}") from None
        try:
            answer = reply.json()
        except ValueError:
            answer = {}
        if reply.status_code != 200:
            error = answer.get("error", {}) if isinstance(answer, dict) else {}
            raise ApiError(reply.status_code, error.get("code", "http_error"), error.get("message", reply.reason))
        return answer


def request_bodies(texts: Sequence[str]) -> Iterator[tuple[int, bytes]]:
    """`{"texts": [...]}` bodies that carry `texts` in order within the API's limits, each with its count of texts."""
    # Counting a separator with every text, the start and end make up for the one fewer there really is.
    no_texts_size = len(BODY_START) + len(BODY_END) - len(TEXT_SEPARATOR)
    items: list[bytes] = []
    size = no_texts_size
    for text in texts:
        # UTF-8 rather than \u escapes: CJK text then takes 3 bytes a character instead of 6.
        item = json.dumps(text, ensure_ascii=False).encode("utf-8")
        if items and (len(items) == API_MAX_TEXTS or size + len(TEXT_SEPARATOR) + len(item) > API_MAX_BODY_BYTES):
            yield len(items), request_body(items)
            items, size = [], no_texts_size
        items.append(item)
        size += len(TEXT_SEPARATOR) + len(item)
    if items:
        yield len(items), request_body(items)


def request_body(items: list[bytes]) -> bytes:
    return BODY_START + TEXT_SEPARATOR.join(items) + BODY_END


class LocalScorer:
    """Scores in this process with a packaged model and its thresholds, in the API's response shape."""

    def __init__(self, artifact: Artifact):
        self.artifact = artifact
        self.model_version = artifact.version

    def moderate(self, texts: Sequence[str]) -> dict:
        thresholds = self.artifact.thresholds
        scores = self.artifact.score(list(texts))
        results = []
        for row in scores:
            named = {label: float(score) for label, score in zip(LABELS, row, strict=True)}
            labels = [label for label in LABELS if named[label] >= thresholds[label]]
            results.append({"scores": named, "labels": labels, "flagged": bool(labels)})
        return {"model_version": self.model_version, "thresholds": thresholds, "results": results}
