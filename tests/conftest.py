"""Fixtures shared by every kind of test: paths, a tiny trained run, and the shipped artifact."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def tiny_hparams():
    from toxiguard.config import HParams

    return HParams(
        vocab_size=300, max_length=24, embedding_dim=8, lstm_units=4, dense_units=8, subword_buckets=500,
        spatial_dropout=0.1, dropout=0.1, learning_rate=1e-2, batch_size=8, epochs=2, patience=1,
    )  # fmt: skip


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_hparams) -> Path:
    """A run trained on the hand-written fixture in seconds, then evaluated (report + thresholds)."""
    from toxiguard.training.evaluate import evaluate_run
    from toxiguard.training.train import train

    run_dir = tmp_path_factory.mktemp("run")
    train(FIXTURES / "train_small.csv", run_dir, tiny_hparams, seed=7, validation_fraction=0.3)
    evaluate_run(run_dir, test_path=FIXTURES / "test.csv", test_labels=FIXTURES / "test_labels.csv")
    return run_dir


@pytest.fixture(scope="session")
def tiny_artifact(tiny_run, tmp_path_factory) -> Path:
    from toxiguard.training.export import package

    return package(tiny_run, tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="session")
def shipped_artifact():
    """The model the repository ships (the newest version under artifacts/)."""
    from toxiguard.config import latest_artifact
    from toxiguard.training.export import Artifact

    return Artifact(latest_artifact(PROJECT_ROOT / "artifacts"))


@pytest.fixture(scope="session")
def local_stack(shipped_artifact):
    """The whole local system on free ports: model server process + gateway with the real handler and page."""
    from toxiguard.serving.local.stack import LocalStack

    with LocalStack(shipped_artifact.directory, gateway_port=0, model_port=0) as stack:
        yield stack
