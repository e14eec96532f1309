"""train → evaluate → package in one call: what the SageMaker training job runs (`toxiguard.cloud.sagemaker_entry`).

`make model` runs the same three stages as separate commands, so each can be re-run alone. The request is plain
data, so the job's mapping of its arguments onto it is testable without TensorFlow.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from toxiguard.config import HParams


@dataclasses.dataclass(frozen=True)
class PipelineRequest:
    data: Path
    work: Path  # the run and the packaged artifact are written under it
    hparams: HParams
    seed: int
    validation_fraction: float
    embeddings: Path | None = None
    test: Path | None = None  # a labelled test file to report on besides the validation split
    test_labels: Path | None = None  # its labels, for Kaggle's test.csv + test_labels.csv pair

    @property
    def run_dir(self) -> Path:
        return self.work / "run"

    @property
    def artifacts_dir(self) -> Path:
        return self.work / "artifacts"


def run_pipeline(request: PipelineRequest) -> Path:
    """Train, evaluate (validation split and NB-SVM baseline) and package; returns the artifact directory."""
    from toxiguard.training.evaluate import evaluate_run
    from toxiguard.training.export import package
    from toxiguard.training.train import train

    train(
        request.data, request.run_dir, request.hparams, seed=request.seed,
        validation_fraction=request.validation_fraction, embeddings=request.embeddings,
    )  # fmt: skip
    # No `previous`: a job has no earlier artifact beside it to compare with.
    evaluate_run(request.run_dir, test_path=request.test, test_labels=request.test_labels)
    return package(request.run_dir, request.artifacts_dir)
