"""Shared constants, paths and the hyperparameter record every stage agrees on."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

LABELS: tuple[str, ...] = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
ID_COLUMN = "id"
TEXT_COLUMN = "comment_text"

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "data" / "jigsaw" / "train_assembled.csv.gz"
DEFAULT_HPARAMS = PROJECT_ROOT / "ml" / "configs" / "hparams.json"
DEFAULT_RUN_DIR = PROJECT_ROOT / "runs" / "latest"
DEFAULT_ARTIFACTS = PROJECT_ROOT / "artifacts"
# What the local stack keeps between runs (the development issuer's key pair, the review queue); git-ignored.
# TOXIGUARD_DATA_DIR moves it.
DEFAULT_DATA_DIR = PROJECT_ROOT / ".toxiguard"
REVIEWS_DB_NAME = "reviews.sqlite3"

# The manifest's example request (the first two) and the export round-trip check; also the deploy smoke test's texts.
EXAMPLE_TEXTS = [
    "Thanks for fixing the citation, the article reads much better now.",
    "You are a complete idiot and everyone here hates you.",
    "!!!",
    "I will find you and hurt you.",
]

SEED = 42
# The publish quality gate: how far the validation ROC-AUC may fall below the current model's. Per label it is looser:
# rare labels' AUCs rest on a few dozen positives (threat: about 50 in validation) and move by 0.01 between seeds.
GATE_MEAN_TOLERANCE = 0.005
GATE_LABEL_TOLERANCE = 0.02
# The gate's fairness rows. The final bias metric (toxiguard.training.fairness, on the test file) is on the ROC-AUC
# scale and is scored on the same comments for both models, so it gets the mean's tolerance: since it weighs the worst
# identity subgroups most, a larger fall means some group's comments are ranked clearly worse. The share of held-out
# neutral identity statements flagged (lower is better) may rise by one point: one more wrongly flagged statement in a
# hundred.
GATE_BIAS_TOLERANCE = 0.005
GATE_NEUTRAL_FLAG_TOLERANCE = 0.01
VALIDATION_FRACTION = 0.15
# Padding id 0 and the OOV id 1 are reserved by TextVectorization.
PAD_ID = 0
OOV_ID = 1


POOLINGS = ("max", "avg", "max_avg")
# The hyperparameter search space, shared by keras-tuner (`make tune`) and SageMaker automatic model tuning
# (`toxiguard train-cloud --tune`): a list is a choice, (low, high, step) a stepped float, (low, high) a continuous
# float sampled on the scale named in SEARCH_SCALES (linear where not named).
SEARCH_SPACE = {
    "vocab_size": [20_000, 30_000, 50_000],
    "max_length": [150, 200, 300],
    "embedding_dim": [64, 96, 128],
    "lstm_units": [48, 64, 96],
    "subword_buckets": [25_000, 50_000, 100_000],
    "spatial_dropout": (0.0, 0.4, 0.1),
    "dropout": (0.0, 0.4, 0.1),
    "learning_rate": (5e-4, 5e-3),
    "pooling": list(POOLINGS),
}
SEARCH_SCALES = {"learning_rate": "log"}


@dataclasses.dataclass(frozen=True)
class HParams:
    """Model and optimisation hyperparameters; `make tune` writes them, `make train` reads them."""

    vocab_size: int = 30_000
    max_length: int = 200
    embedding_dim: int = 64
    subword_buckets: int = 50_000
    subword_max_ngrams: int = 12
    lstm_units: int = 64
    spatial_dropout: float = 0.3
    dropout: float = 0.2
    dense_units: int = 64
    pooling: str = "max_avg"
    learning_rate: float = 2e-3
    lr_decay: float = 0.5  # learning rate multiplied by this after every epoch
    positive_weight_cap: float = 10.0  # rare labels' positives weigh sqrt(negatives/positives), at most this
    batch_size: int = 64
    epochs: int = 4
    patience: int = 1

    @classmethod
    def from_dict(cls, values: dict) -> HParams:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown hyperparameters: {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def load(cls, path: Path) -> HParams:
        """Read hyperparameters from JSON; a missing file means the defaults."""
        if not path.exists():
            return cls()
        payload = json.loads(path.read_text())
        return cls.from_dict(payload.get("hyperparameters", payload))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def configure_threads() -> None:
    """Pin TensorFlow's thread pools before it initialises.

    Two inter-op threads let both LSTM directions run at once; one intra-op thread avoids
    oversubscribing a 2-core machine with tiny matmuls. Override with TOXIGUARD_INTRA_OP/INTER_OP.
    """
    import tensorflow as tf

    intra = int(os.environ.get("TOXIGUARD_INTRA_OP", "1"))
    inter = int(os.environ.get("TOXIGUARD_INTER_OP", "2"))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:
        pass  # TensorFlow already initialised (e.g. inside a test session); keep its pools.


def reviews_db_path(environ: Mapping[str, str]) -> Path:
    """The local review queue's SQLite file: REVIEWS_DB, else reviews.sqlite3 in the data directory
    (TOXIGUARD_DATA_DIR, else .toxiguard/)."""
    if environ.get("REVIEWS_DB", "").strip():
        return Path(environ["REVIEWS_DB"].strip())
    return Path(environ.get("TOXIGUARD_DATA_DIR", "").strip() or DEFAULT_DATA_DIR) / REVIEWS_DB_NAME


def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 of a file read in chunks (model tarballs and vector files can be gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def git_state(root: Path = PROJECT_ROOT) -> tuple[str, bool]:
    """(commit sha, whether the work tree has uncommitted changes); ('unknown', True) outside git.

    Builds without a checkout (a SageMaker training job runs an uploaded source tarball) get both from
    `TOXIGUARD_GIT_SHA` and `TOXIGUARD_GIT_DIRTY`, which `toxiguard train-cloud` sets from the submitting checkout.
    """
    if os.environ.get("TOXIGUARD_GIT_SHA"):
        return os.environ["TOXIGUARD_GIT_SHA"], os.environ.get("TOXIGUARD_GIT_DIRTY", "true") == "true"
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown", True
    return sha.stdout.strip(), bool(status.stdout.strip())
