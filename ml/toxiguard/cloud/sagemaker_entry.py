"""SageMaker training entry point: train, evaluate and package (`toxiguard.training.pipeline`) inside a training job.

`toxiguard train-cloud` uploads the source (pyproject.toml, ml/, requirements.txt) with this file at its root as
`sagemaker_entry.py`. SageMaker's TensorFlow training container installs requirements.txt and runs
`python sagemaker_entry.py --<hyperparameter> <value> ...`. The training file is in the `train` channel
(SM_CHANNEL_TRAIN), optional pretrained word vectors in the `embeddings` channel (SM_CHANNEL_EMBEDDINGS). The
packaged artifact goes to SM_MODEL_DIR/<version>/ (model.tar.gz, manifest.json, report/), which SageMaker
uploads as the job's output. The last line printed, `val_mean_roc_auc=<value>`, is the metric automatic model
tuning maximises (the evaluated model's mean validation ROC-AUC, as in the manifest).

Nothing beyond the standard library is imported until training starts, so the argument mapping is testable
without TensorFlow.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toxiguard.training.pipeline import PipelineRequest

OBJECTIVE_FORMAT = "val_mean_roc_auc={:.6f}"
OBJECTIVE_REGEX = r"val_mean_roc_auc=([0-9]*\.[0-9]+)"
DEFAULT_CHANNEL_DIR = "/opt/ml/input/data/train"
DEFAULT_EMBEDDINGS_DIR = "/opt/ml/input/data/embeddings"
DEFAULT_MODEL_DIR = "/opt/ml/model"
FIELD_TYPES = {"int": int, "float": float, "str": str}


def _use_uploaded_source() -> None:
    """In the job this file sits beside `ml/`; make `toxiguard` importable from there (not pip-installed)."""
    source = Path(__file__).resolve().parent / "ml"
    if (source / "toxiguard").is_dir() and str(source) not in sys.path:
        sys.path.insert(0, str(source))


def build_parser() -> argparse.ArgumentParser:
    from toxiguard.config import SEED, VALIDATION_FRACTION, HParams

    parser = argparse.ArgumentParser(prog="sagemaker_entry.py", description=__doc__.split("\n")[0])
    parser.add_argument("--data-file", help="training file in the train channel (default: the only file there)")
    parser.add_argument(
        "--embeddings-file", help="word vectors in the embeddings channel, if any (default: the only file there)"
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--validation-fraction", type=float, default=VALIDATION_FRACTION)
    group = parser.add_argument_group("hyperparameters (override ml/configs/hparams.json)")
    for field in dataclasses.fields(HParams):
        group.add_argument(f"--{field.name}", type=FIELD_TYPES[field.type])
    return parser


def channel_file(channel: Path, name: str | None, option: str) -> Path:
    """The file `name` in a channel directory, or its only file."""
    if name:
        path = channel / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found in the {channel.name} channel")
        return path
    files = sorted(p for p in channel.rglob("*") if p.is_file())
    if len(files) != 1:
        raise FileNotFoundError(f"expected one file in {channel}, found {len(files)}: pass {option}")
    return files[0]


def plan(
    args: argparse.Namespace, channel: Path, work: Path, embeddings_channel: Path | None = None
) -> PipelineRequest:
    """What the pipeline runs: the channel's files and the hyperparameters (the repository's file, overridden by the
    job's). `embeddings_channel` is the vectors channel's directory when the job has one."""
    from toxiguard.config import DEFAULT_HPARAMS, HParams
    from toxiguard.training.pipeline import PipelineRequest

    base = HParams.load(DEFAULT_HPARAMS).to_dict()
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(HParams)}
    overrides = {name: value for name, value in given.items() if value is not None}
    embeddings = None
    if embeddings_channel is not None:
        embeddings = channel_file(embeddings_channel, args.embeddings_file, "--embeddings-file")
    return PipelineRequest(
        data=channel_file(channel, args.data_file, "--data-file"),
        work=work,
        hparams=HParams.from_dict({**base, **overrides}),
        seed=args.seed,
        validation_fraction=args.validation_fraction,
        embeddings=embeddings,
    )


def main(argv: list[str] | None = None) -> int:
    _use_uploaded_source()
    from toxiguard.artifact import read_manifest
    from toxiguard.training.pipeline import run_pipeline

    args, ignored = build_parser().parse_known_args(argv)
    if ignored:  # e.g. `_tuning_objective_metric`, which automatic model tuning adds
        print(f"ignoring arguments: {' '.join(ignored)}", flush=True)
    channel = Path(os.environ.get("SM_CHANNEL_TRAIN", DEFAULT_CHANNEL_DIR))
    model_dir = Path(os.environ.get("SM_MODEL_DIR", DEFAULT_MODEL_DIR))
    embeddings = Path(os.environ.get("SM_CHANNEL_EMBEDDINGS", DEFAULT_EMBEDDINGS_DIR))
    with tempfile.TemporaryDirectory(prefix="toxiguard-job-") as tmp:
        request = plan(args, channel, Path(tmp), embeddings if embeddings.is_dir() else None)
        print(f"hyperparameters: {json.dumps(request.hparams.to_dict())}", flush=True)
        artifact = run_pipeline(request)
        shutil.copytree(artifact, model_dir / artifact.name)
    manifest = read_manifest(model_dir / artifact.name)
    print(f"artifact {manifest['version']} written to {model_dir / artifact.name}", flush=True)
    print(OBJECTIVE_FORMAT.format(manifest["metrics"]["mean_roc_auc"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
