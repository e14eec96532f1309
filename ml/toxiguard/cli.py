"""`toxiguard` command line: one subcommand per pipeline stage.

    toxiguard train     train the Bi-LSTM on a Kaggle-format train file
    toxiguard tune      search hyperparameters with keras-tuner, write the best to ml/configs/hparams.json
    toxiguard evaluate  validation report with the NB-SVM baseline, or a report on test.csv + test_labels.csv
    toxiguard package   export the evaluated run as artifacts/<version>/ (model.tar.gz + manifest.json)
    toxiguard predict   score comments with a packaged model and print a table

Exit codes: 0 success, 1 a missing/conflicting file, an unusable run or a failed export check,
2 invalid input data or usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import zipfile
from pathlib import Path

from toxiguard.config import (
    DEFAULT_ARTIFACTS,
    DEFAULT_DATA,
    DEFAULT_HPARAMS,
    DEFAULT_RUN_DIR,
    LABELS,
    PROJECT_ROOT,
    SEED,
    VALIDATION_FRACTION,
    HParams,
    configure_threads,
)
from toxiguard.data import DataError

log = logging.getLogger("toxiguard")


def _fraction(value: str) -> float:
    number = float(value)
    if not 0.0 < number < 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return number


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return number


# --------------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from toxiguard.train import train

    hp = HParams.load(args.hparams)
    if args.epochs:
        hp = HParams.from_dict({**hp.to_dict(), "epochs": args.epochs})
    log.info("hyperparameters from %s: %s", args.hparams, hp.to_dict())
    train(args.data, args.run_dir, hp, seed=args.seed, validation_fraction=args.validation_fraction)
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from toxiguard.tune import tune

    tune(args.data, args.out, args.work_dir, args.max_trials, args.epochs, args.seed, args.validation_fraction)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from toxiguard import evaluate

    if args.data is None:
        report = evaluate.evaluate_run(args.run, with_baseline=not args.no_baseline)
    elif args.labels is None and not zipfile.is_zipfile(args.data):
        print(
            f"toxiguard evaluate: --labels is required with {args.data} (only the competition .zip holds both files)",
            file=sys.stderr,
        )
        return 2
    else:
        from toxiguard.export import Artifact, latest_artifact

        artifact = Artifact(args.artifact or latest_artifact(DEFAULT_ARTIFACTS))
        baseline_train = None
        if not args.no_baseline:
            baseline_train = _baseline_training_split(args.baseline_data, artifact.manifest)
        out_dir = args.out or (PROJECT_ROOT / "reports" / f"evaluation-{artifact.version}")
        report = evaluate.evaluate_files(
            artifact.score, artifact.thresholds, args.data, args.labels, out_dir, baseline_train
        )
    summary = {name: round(m["mean_roc_auc"], 4) for name, m in report["models"].items()}
    print(json.dumps({"kind": report["kind"], "mean_roc_auc": summary, "comparison": report.get("comparison")}))
    return 0


def _baseline_training_split(path: Path, manifest: dict):
    """The artifact's own training split, so the baseline learns from exactly what the model learned from."""
    from toxiguard.data import load_split

    data = manifest["data"]
    _, train, _ = load_split(path, data["validation_fraction"], data["split_seed"], data["sha256"])
    return train


def cmd_package(args: argparse.Namespace) -> int:
    from toxiguard.export import package

    target = package(args.run, args.out)
    print(target)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from toxiguard.export import Artifact, latest_artifact

    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        print("toxiguard predict: no text given (pass comments as arguments or one per line on stdin)", file=sys.stderr)
        return 2
    artifact = Artifact(args.artifact or latest_artifact(DEFAULT_ARTIFACTS))
    scores = artifact.score(texts)
    thresholds = artifact.thresholds
    results = []
    for text, row in zip(texts, scores, strict=True):
        labels = [name for name, s in zip(LABELS, row, strict=True) if s >= thresholds[name]]
        results.append({"text": text, "scores": dict(zip(LABELS, map(float, row), strict=True)), "labels": labels})
    if args.json:
        print(json.dumps({"model_version": artifact.version, "results": results}, indent=2))
        return 0
    print(f"model {artifact.version}")
    for result in results:
        verdict = "FLAGGED: " + ", ".join(result["labels"]) if result["labels"] else "not flagged"
        shown = result["text"] if len(result["text"]) <= 70 else result["text"][:67] + "..."
        print(f"\n{shown!r}  ->  {verdict}")
        for name in LABELS:
            score = result["scores"][name]
            bar = "#" * round(score * 20)
            mark = " <" if name in result["labels"] else ""
            print(f"  {name:<14} {score:6.3f} |{bar:<20}| threshold {thresholds[name]:.2f}{mark}")
    return 0


# --------------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toxiguard", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                       help="train.csv, a .csv.gz or the competition .zip (default: %(default)s)")  # fmt: skip
        p.add_argument("--seed", type=int, default=SEED, help="split, shuffle and initialisation seed")
        p.add_argument("--validation-fraction", type=_fraction, default=VALIDATION_FRACTION,
                       help="share of rows held out for validation (default: %(default)s)")  # fmt: skip

    p = sub.add_parser("train", help="train the Bi-LSTM")
    data_options(p)
    p.add_argument("--hparams", type=Path, default=DEFAULT_HPARAMS, help="hyperparameters JSON (written by tune)")
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="where the model and train.json go")
    p.add_argument("--epochs", type=_positive, help="maximum epochs (overrides the hyperparameters file)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("tune", help="search hyperparameters with keras-tuner")
    data_options(p)
    p.add_argument("--max-trials", type=_positive, default=8, help="number of random-search trials")
    p.add_argument("--epochs", type=_positive, default=3, help="maximum epochs per trial")
    p.add_argument("--out", type=Path, default=DEFAULT_HPARAMS, help="where the best hyperparameters go")
    p.add_argument("--work-dir", type=Path, default=PROJECT_ROOT / "runs" / "tuning", help="keras-tuner state")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("evaluate", help="validation report, or a report on Kaggle's test files")
    p.add_argument("--run", type=Path, default=DEFAULT_RUN_DIR, help="training run to evaluate on its validation split")
    p.add_argument("--data", type=Path, help="test.csv (or the competition .zip): evaluate a packaged model on it")
    p.add_argument("--labels", type=Path, help="test_labels.csv (taken from --data when that is the .zip)")
    p.add_argument("--artifact", type=Path, help="packaged model directory (default: the newest under artifacts/)")
    p.add_argument("--out", type=Path, help="report directory for --data (default: reports/evaluation-<version>)")
    p.add_argument("--baseline-data", type=Path, default=DEFAULT_DATA,
                   help="training file for the baseline when evaluating --data (default: %(default)s)")  # fmt: skip
    p.add_argument("--no-baseline", action="store_true", help="skip the NB-SVM baseline")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("package", help="export a run as artifacts/<version>/")
    p.add_argument("--run", type=Path, default=DEFAULT_RUN_DIR, help="evaluated training run")
    p.add_argument("--out", type=Path, default=DEFAULT_ARTIFACTS, help="artifacts root")
    p.set_defaults(func=cmd_package)

    p = sub.add_parser("predict", help="score comments with a packaged model")
    p.add_argument("text", nargs="*", help="comments to score (default: one per line from standard input)")
    p.add_argument("--artifact", type=Path, help="packaged model directory (default: the newest under artifacts/)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the output
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    configure_threads()
    try:
        return args.func(args)
    except DataError as exc:
        print(f"toxiguard {args.command}: invalid input:\n{exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as exc:
        print(f"toxiguard {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
