"""A packaged model loaded for scoring in this process: the exported signature, length-ordered batches, results in
the API's shape. Needs TensorFlow, never the training stack (no scikit-learn, matplotlib or Keras model code)."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from toxiguard.artifact import (
    SERVING_VERSION,
    SIGNATURE,
    TARBALL_FILE,
    manifest_block_thresholds,
    moderation_result,
    read_manifest,
)
from toxiguard.serving.length_order import score_in_length_order


def call_signature(serving_fn, texts: list[str]) -> np.ndarray:
    """One call of an exported signature on a list of strings: (len(texts), labels) scores."""
    (input_name,) = serving_fn.structured_input_signature[1]
    (output,) = serving_fn(**{input_name: tf.constant(texts, dtype=tf.string)}).values()
    return output.numpy()


def checkpoint_parameters(saved_model_dir: Path) -> int:
    """Number of weight values a SavedModel stores (each stored copy counts; dropout seed states do not)."""
    return sum(
        int(np.prod(shape))
        for name, shape in tf.train.list_variables(str(saved_model_dir / "variables" / "variables"))
        if name.endswith("VARIABLE_VALUE") and "seed_generator" not in name
    )


class ServingModel:
    """A packaged model: its checked manifest and its exported signature, loaded from `model.tar.gz`.

    `predict` answers exactly as the API does (scores per label, the labels at or above their thresholds,
    flagged, the action); `score` gives the raw score matrix.
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        self._extracted = tempfile.TemporaryDirectory(prefix="toxiguard-model-")
        with tarfile.open(self.directory / TARBALL_FILE) as tar:
            tar.extractall(self._extracted.name, filter="data")
        self._loaded = tf.saved_model.load(str(self.saved_model_dir))
        self.serving_fn = self._loaded.signatures[SIGNATURE]

    @property
    def saved_model_dir(self) -> Path:
        return Path(self._extracted.name) / SERVING_VERSION

    @property
    def parameter_count(self) -> int:
        """Weights stored in the SavedModel's checkpoint (dropout seed states excluded)."""
        return checkpoint_parameters(self.saved_model_dir)

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def labels(self) -> list[str]:
        return self.manifest["labels"]

    @property
    def thresholds(self) -> dict[str, float]:
        return self.manifest["thresholds"]

    @property
    def block_thresholds(self) -> dict[str, float | None]:
        return manifest_block_thresholds(self.manifest)

    def score(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Scores in input order, (len(texts), labels); texts of similar length share a batch."""
        return score_in_length_order(lambda batch: call_signature(self.serving_fn, batch), texts, batch_size)

    def predict(self, texts: str | list[str]) -> dict | list[dict]:
        """Results in the API's shape: one dict for one string, a list for a list."""
        one = isinstance(texts, str)
        thresholds = [self.thresholds[label] for label in self.labels]
        blocks = [self.block_thresholds[label] for label in self.labels]
        rows = self.score([texts] if one else texts)
        results = [moderation_result(self.labels, row, thresholds, blocks) for row in rows]
        return results[0] if one else results
