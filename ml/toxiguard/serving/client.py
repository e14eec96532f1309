"""Client of the moderation API (`POST /v1/moderate`), local or deployed, and the in-process equivalent.

Both return the API's response shape, so the CLI prints and writes the same thing whichever one scored the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import requests

from toxiguard.config import LABELS

if TYPE_CHECKING:  # loading a model needs TensorFlow; the API client does not
    from toxiguard.serving.model import ServingModel

# The API's limits (docs/api.md); requests are split so none is refused for its size.
API_MAX_TEXTS = 64
API_MAX_TEXT_CHARS = 5000


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
        for start in range(0, len(texts), API_MAX_TEXTS):
            response = self._post({"texts": list(texts[start : start + API_MAX_TEXTS])})
            results.extend(response["results"])
        self.model_version = response.get("model_version", "")
        return {"model_version": self.model_version, "thresholds": response.get("thresholds", {}), "results": results}

    def _post(self, payload: dict) -> dict:
        try:
            reply = self.session.post(self.url, json=payload, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ApiError(0, "unreachable", f"cannot reach {self.url}: {exc.__class__.__name__}") from None
        try:
            body = reply.json()
        except ValueError:
            body = {}
        if reply.status_code != 200:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise ApiError(reply.status_code, error.get("code", "http_error"), error.get("message", reply.reason))
        return body


class LocalScorer:
    """Scores in this process with a packaged model and its thresholds, in the API's response shape."""

    def __init__(self, artifact: ServingModel):
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
