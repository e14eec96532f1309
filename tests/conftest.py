"""Fixtures shared by every kind of test: paths, a tiny trained run, and the shipped artifact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FIXTURES = Path(__file__).parent / "fixtures"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def python_without():
    """Run Python code in a fresh interpreter where `packages` cannot be imported, as in an install without them."""

    def run(packages: tuple[str, ...], code: str, timeout: float = 300) -> subprocess.CompletedProcess:
        guard = f"""
import importlib.abc, sys
class Uninstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {packages!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Uninstalled())
"""
        return subprocess.run([sys.executable, "-c", guard + code], capture_output=True, text=True, timeout=timeout)

    return run


@pytest.fixture(scope="session")
def tiny_hparams():
    from toxiguard.config import HParams

    return HParams(
        vocab_size=300, max_length=24, embedding_dim=8, lstm_units=4, dense_units=8, subword_buckets=500,
        spatial_dropout=0.1, dropout=0.1, learning_rate=1e-2, batch_size=8, epochs=2, patience=1,
    )  # fmt: skip


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory, tiny_hparams):
    """The whole pipeline (train, evaluate with a test file, package) on the hand-written fixture, in seconds."""
    from toxiguard.training.pipeline import PipelineRequest, run_pipeline

    request = PipelineRequest(
        data=FIXTURES / "train_small.csv", work=tmp_path_factory.mktemp("work"), hparams=tiny_hparams, seed=7,
        validation_fraction=0.3, test=FIXTURES / "test.csv", test_labels=FIXTURES / "test_labels.csv",
    )  # fmt: skip
    return request, run_pipeline(request)


@pytest.fixture(scope="session")
def tiny_run(tiny_pipeline) -> Path:
    """The tiny pipeline's trained and evaluated run (report + thresholds)."""
    request, _ = tiny_pipeline
    return request.run_dir


@pytest.fixture(scope="session")
def tiny_artifact(tiny_pipeline) -> Path:
    """The tiny pipeline's packaged artifact."""
    _, artifact = tiny_pipeline
    return artifact


@pytest.fixture(scope="session")
def shipped_artifact():
    """The model the repository ships (the newest version under artifacts/)."""
    from toxiguard.artifact import latest_artifact
    from toxiguard.serving.model import ServingModel

    return ServingModel(latest_artifact(PROJECT_ROOT / "artifacts"))


@pytest.fixture(scope="session")
def local_stack_factory(shipped_artifact, tmp_path_factory):
    """`local_stack_factory(environment)`: the whole local system as `toxiguard serve` starts it with `environment`
    (e.g. AUTH=jwt), serving the shipped model on free ports: a LocalStack to use with `with`. Its data (the review
    queue, the development issuer's keys) goes to a temporary TOXIGUARD_DATA_DIR unless `environment` names one, never
    to the project's .toxiguard/."""
    from toxiguard.serving.local.stack import LocalStack, StackSettings

    def make(environment: dict[str, str] | None = None):
        data_dir = str(tmp_path_factory.mktemp("toxiguard-data"))
        settings = StackSettings.from_env({"TOXIGUARD_DATA_DIR": data_dir, **(environment or {})})
        return LocalStack(shipped_artifact.directory, gateway_port=0, model_port=0, settings=settings)

    return make


@pytest.fixture(scope="session")
def local_stack(local_stack_factory):
    """The whole local system on free ports: model server process + gateway with the real handler and page."""
    with local_stack_factory() as stack:
        yield stack
