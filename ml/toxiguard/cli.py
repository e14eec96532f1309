"""`toxiguard` command line: one subcommand per pipeline stage.

    toxiguard train     train the Bi-LSTM on a Kaggle-format train file
    toxiguard tune      search hyperparameters with keras-tuner, write the best to ml/configs/hparams.json
    toxiguard evaluate  validation report with the NB-SVM baseline, or a report on test.csv + test_labels.csv
    toxiguard package   export the evaluated run as artifacts/<version>/ (model.tar.gz + manifest.json)
    toxiguard decision-policy  choose a packaged model's block thresholds and write them into its manifest
    toxiguard predict   score comments (in-process, or through a running API with --api) and print a table
    toxiguard score     score a CSV file in batches, streaming, into a CSV with scores and verdicts; with --cloud,
                        the CSVs under an s3:// prefix on a SageMaker Batch Transform job
    toxiguard score-join  join a Batch Transform job's output into scored CSVs (after `score --cloud` without --wait)
    toxiguard serve     run the local stack: SageMaker-compatible model server + API gateway + web page
    toxiguard token     print an access token from the local development issuer (for AUTH=jwt)
    toxiguard publish   upload an artifact to S3 behind a quality gate; print the values Terraform deploys
    toxiguard train-cloud  train (or tune) on SageMaker; with --wait, unpack the artifact into artifacts/
    toxiguard export-decisions  write moderators' decisions from the review queue as training rows (train --extra)

Exit codes: 0 success, 1 a missing/conflicting file, an unusable run, a failed export check, an API that failed or
could not be reached (after retries), or a failed AWS call (no credentials, no such bucket, access denied, another
artifact under a published version), 2 invalid input data or usage, or an API that refused the request (4xx),
3 the quality gate refused to publish the model. `score` keeps every row in its output: rows it could not score have
a `score_error`, and the exit code is 1 or 2 as the API's failure says, else 2 when some input rows were unusable
(`score --cloud` and `score-join` too; a failed or stopped transform job is 1).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from dotenv import find_dotenv, load_dotenv

from toxiguard.artifact import latest_artifact
from toxiguard.cloud import BUCKET_NAME, IAM_ROLE_ARN
from toxiguard.config import (
    DEFAULT_ARTIFACTS,
    DEFAULT_DATA,
    DEFAULT_HPARAMS,
    DEFAULT_RUN_DIR,
    GATE_BIAS_TOLERANCE,
    GATE_LABEL_TOLERANCE,
    GATE_MEAN_TOLERANCE,
    GATE_NEUTRAL_FLAG_TOLERANCE,
    LABELS,
    PROJECT_ROOT,
    SEED,
    TEXT_COLUMN,
    VALIDATION_FRACTION,
    HParams,
    configure_threads,
    reviews_db_path,
)
from toxiguard.errors import DataError

if TYPE_CHECKING:  # the API client loads requests, which most commands do not need
    from toxiguard.serving.client import ApiError

log = logging.getLogger("toxiguard")


def _port(value: str) -> int:
    # The local servers' parser; imported only when a port is given, so the base install's commands need no waitress.
    from toxiguard.serving.local.http import parse_port

    return parse_port(value)


def _ttl(value: str) -> int:
    # The issuer needs PyJWT (the serving extra); imported only when a lifetime is given, as for ports.
    from toxiguard.serving.local.issuer import parse_ttl

    try:
        return parse_ttl(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _scope(value: str) -> str:
    from toxiguard.serving.local.auth import scope_name

    try:
        return scope_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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


def _tolerance(value: str) -> float:
    number = float(value)
    if not 0.0 <= number < 1.0:
        raise argparse.ArgumentTypeError("must be at least 0 and below 1")
    return number


def _existing_file(value: str) -> Path:
    if not Path(value).is_file():
        raise argparse.ArgumentTypeError(f"{value}: file not found")
    return Path(value)


def _bucket(value: str) -> str:
    if not re.fullmatch(BUCKET_NAME, value):
        raise argparse.ArgumentTypeError("not an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)")
    return value


def _role_arn(value: str) -> str:
    if not IAM_ROLE_ARN.fullmatch(value):
        raise argparse.ArgumentTypeError("not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    return value


# --------------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from toxiguard.training.train import train

    hp = HParams.load(args.hparams)
    if args.epochs:
        hp = HParams.from_dict({**hp.to_dict(), "epochs": args.epochs})
    log.info("hyperparameters from %s: %s", args.hparams, hp.to_dict())
    train(
        args.data, args.run_dir, hp, seed=args.seed, validation_fraction=args.validation_fraction,
        embeddings=args.embeddings, augment=not args.no_augment, suite_templates=args.suite_templates,
        extra=args.extra,
    )  # fmt: skip
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from toxiguard.training.tune import tune

    tune(args.data, args.out, args.work_dir, args.max_trials, args.epochs, args.seed, args.validation_fraction)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from toxiguard.training import evaluate

    if args.data is None:
        previous = None if args.previous == "none" else Path(args.previous) if args.previous else _newest(args.run)
        report = evaluate.evaluate_run(
            args.run, with_baseline=not args.no_baseline, test_path=args.test, test_labels=args.test_labels,
            previous=previous,
        )  # fmt: skip
    elif args.labels is None and not zipfile.is_zipfile(args.data):
        print(
            f"toxiguard evaluate: --labels is required with {args.data} (only the competition .zip holds both files)",
            file=sys.stderr,
        )
        return 2
    else:
        from toxiguard.serving.model import ServingModel

        artifact = ServingModel(args.artifact or latest_artifact(DEFAULT_ARTIFACTS))
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


def _newest(run_dir: Path) -> Path | None:
    """The newest packaged model, to compare a run with; None when there is none yet."""
    try:
        return latest_artifact(DEFAULT_ARTIFACTS)
    except FileNotFoundError:
        log.info("no packaged model to compare %s with", run_dir)
        return None


def _baseline_training_split(path: Path, manifest: dict):
    """The artifact's own training split, so the baseline learns from exactly what the model learned from."""
    from toxiguard.training.data import load_split

    data = manifest["data"]
    _, train, _ = load_split(path, data["validation_fraction"], data["split_seed"], data["sha256"])
    return train


def cmd_decision_policy(args: argparse.Namespace) -> int:
    from toxiguard.training.evaluate import artifact_decision_policy

    artifact = args.artifact or latest_artifact(DEFAULT_ARTIFACTS)
    policy = artifact_decision_policy(artifact, args.data, args.test, args.test_labels)
    shown = ("precision", "recall", "flagged_share")
    at_threshold = {
        label: {key: {name: entry[key][name] for name in shown} for key in policy["data"]}
        for label, entry in policy["per_label"].items()
    }
    summary = {"artifact": str(artifact), "block_thresholds": policy["thresholds"], "at_block_threshold": at_threshold,
               "actions": policy["actions"]}  # fmt: skip
    print(json.dumps(summary, indent=2))
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    from toxiguard.training.export import package

    target = package(args.run, args.out)
    print(target)
    return 0


def _scorer(args: argparse.Namespace):
    """The API client with --api, otherwise the packaged model in this process."""
    from toxiguard.serving.client import ApiScorer, LocalScorer, credentials_from_env

    if args.api:
        return ApiScorer(args.api, credentials=credentials_from_env())
    configure_threads()
    from toxiguard.serving.model import ServingModel

    return LocalScorer(ServingModel(args.artifact or latest_artifact(DEFAULT_ARTIFACTS)))


def cmd_predict(args: argparse.Namespace) -> int:
    texts = args.text or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        print("toxiguard predict: no text given (pass comments as arguments or one per line on stdin)", file=sys.stderr)
        return 2
    response = _scorer(args).moderate(texts)
    if args.json:
        print(json.dumps(response, indent=2))
        return 0
    thresholds = response["thresholds"]
    # An API deployed before the decision policy answers without actions and block thresholds.
    blocks = response.get("block_thresholds") or {}
    print(f"model {response['model_version']}")
    for text, result in zip(texts, response["results"], strict=True):
        verdict = "FLAGGED: " + ", ".join(result["labels"]) if result["flagged"] else "not flagged"
        if "action" in result:
            verdict += f"  (action: {result['action']})"
        shown = text if len(text) <= 70 else text[:67] + "..."
        print(f"\n{shown!r}  ->  {verdict}")
        for name in LABELS:
            score = result["scores"][name]
            bar = "#" * round(score * 20)
            mark = " <" if name in result["labels"] else ""
            block = "" if blocks.get(name) is None else f", block {blocks[name]:.2f}"
            print(f"  {name:<14} {score:6.3f} |{bar:<20}| threshold {thresholds[name]:.2f}{block}{mark}")
    return 0


# `score`'s options that only mean something with --cloud (None when not given).
CLOUD_SCORE_OPTIONS = ("instances", "instance_type", "wait", "version", "stack_outputs", "region", "poll_seconds",
                       "max_wait_hours")  # fmt: skip
DEFAULT_POLL_SECONDS = 30.0
DEFAULT_MAX_WAIT_HOURS = 24.0  # the job keeps running after that; `score-join` joins it later


def cmd_score(args: argparse.Namespace) -> int:
    from toxiguard.serving import batch
    from toxiguard.serving.client import API_MAX_TEXT_CHARS

    if args.cloud:
        return _score_cloud(args)
    remote = [value for value in (args.input, args.out) if value and value.startswith("s3://")]
    cloud_only = [f"--{name.replace('_', '-')}" for name in CLOUD_SCORE_OPTIONS if getattr(args, name) is not None]
    if remote or cloud_only:
        print(f"toxiguard score: {', '.join(remote + cloud_only)} needs --cloud (a SageMaker Batch Transform job); "
              "without it, score scores a local file", file=sys.stderr)  # fmt: skip
        return 2
    source = Path(args.input)
    target = Path(args.out) if args.out else batch.default_output(source)
    scorer = _scorer(args)
    summary = batch.score_file(
        source, target, scorer, column=args.column, chunk_rows=args.chunk_rows,
        max_chars=API_MAX_TEXT_CHARS if args.api else None, show_progress=not args.quiet,
    )  # fmt: skip
    batch.report(source, target, summary, scorer.model_version)
    if summary.api_error is not None:
        return _api_exit_code(summary.api_error)
    return 2 if summary.unscored_rows else 0


def _api_exit_code(error: ApiError) -> int:
    """2 when the API refused the request (4xx: the input or the options), 1 when it failed or was not reached."""
    return 2 if 400 <= error.status < 500 else 1


def cmd_serve(args: argparse.Namespace) -> int:
    import dataclasses

    from toxiguard.serving.local.stack import StackSettings, serve

    settings = StackSettings.from_env()
    overrides = {"artifact_dir": args.artifact, "gateway_port": args.port, "model_port": args.model_port}
    settings = dataclasses.replace(settings, **{name: v for name, v in overrides.items() if v is not None})
    if args.no_batching:
        settings = dataclasses.replace(settings, batching=False)
    if args.allow_open:
        settings = dataclasses.replace(settings, allow_open=True)
    return serve(settings)


def cmd_token(args: argparse.Namespace) -> int:
    from toxiguard.serving.local.auth import AuthSettings
    from toxiguard.serving.local.issuer import LocalIssuer

    auth = AuthSettings.from_env()
    if auth.jwks_url:
        print("toxiguard token: AUTH_JWKS_URL is set, so the gateway trusts that user pool and not the local issuer: "
              "get tokens from the pool (client credentials at its /oauth2/token)", file=sys.stderr)  # fmt: skip
        return 2
    if not auth.enabled:
        print("toxiguard token: note: AUTH=none, so the local gateway does not ask for tokens", file=sys.stderr)
    print(LocalIssuer(auth.data_dir).mint_token(sorted(set(args.scope)), args.user, args.ttl))
    return 0


def _aws_command(args: argparse.Namespace, action) -> int:
    """Run an AWS command; its expected failures are one line on stderr with their own exit code."""
    try:
        from toxiguard.cloud.aws import CommandError
    except ModuleNotFoundError as exc:
        if exc.name not in {"boto3", "botocore"}:
            raise
        print(f"toxiguard {args.command}: needs the AWS SDK, which the base install leaves out: "
              "pip install 'toxiguard[cloud]'", file=sys.stderr)  # fmt: skip
        return 1
    try:
        return action()
    except CommandError as exc:
        print(f"toxiguard {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code


def _aws_session(region: str | None):
    """A boto3 session with a region (SageMaker jobs need one)."""
    from toxiguard.cloud import aws

    session = aws.session(region)
    if not session.region_name:
        raise aws.CommandError("no AWS region: pass --region or set AWS_REGION")
    return session


def _score_cloud(args: argparse.Namespace) -> int:
    local = [value for value in (args.input, args.out) if not (value or "").startswith("s3://")]
    local_only = [f"--{name}" for name in ("api", "artifact") if getattr(args, name) is not None]
    if local or local_only:
        problems = [f"{value or 'no --out'} is not an s3:// URI" for value in local]
        problems += [f"{option} scores locally" for option in local_only]
        print(f"toxiguard score --cloud: {'; '.join(problems)} (--cloud scores the CSVs under s3://<bucket>/<in>/ "
              "into --out s3://<bucket>/<out>/)", file=sys.stderr)  # fmt: skip
        return 2

    def run() -> int:
        from toxiguard.cloud import transform

        settings = transform.load_settings(args.stack_outputs, os.environ)
        resources = transform.JobResources(args.instance_type or transform.DEFAULT_INSTANCE_TYPE, args.instances or 1)
        result = transform.score_cloud(
            _aws_session(args.region), settings, args.input, args.out, resources=resources, version=args.version,
            column=args.column, wait=bool(args.wait), **_wait_options(args),
        )  # fmt: skip
        return transform.print_result(result) if result else 0

    return _aws_command(args, run)


def _wait_options(args: argparse.Namespace) -> dict:
    """--poll-seconds and --max-wait-hours, or their defaults (None: not given, so `score` can tell)."""
    hours = DEFAULT_MAX_WAIT_HOURS if args.max_wait_hours is None else args.max_wait_hours
    poll_seconds = DEFAULT_POLL_SECONDS if args.poll_seconds is None else args.poll_seconds
    return {"poll_seconds": poll_seconds, "max_wait_seconds": hours * 3600}


def cmd_score_join(args: argparse.Namespace) -> int:
    def run() -> int:
        from toxiguard.cloud import transform

        result = transform.score_join(
            _aws_session(args.region), args.job, wait=bool(args.wait), **_wait_options(args)
        )  # fmt: skip
        return transform.print_result(result)

    return _aws_command(args, run)


def cmd_publish(args: argparse.Namespace) -> int:
    def run() -> int:
        from toxiguard.cloud import aws, publish

        result = publish.publish(
            args.artifact or latest_artifact(DEFAULT_ARTIFACTS), args.bucket, aws.session(args.region),
            baseline_version=args.baseline_version, mean_tolerance=args.tolerance,
            label_tolerance=args.label_tolerance, bias_tolerance=args.bias_tolerance,
            neutral_flag_tolerance=args.neutral_flag_tolerance, allow_regression=args.allow_regression,
            dry_run=args.dry_run,
            multipart_threshold=args.multipart_threshold_mb * aws.MIB,
        )  # fmt: skip
        if result.uploaded:
            print(f"published {result.model_data_url}")
        elif result.already_published:
            print(f"already published, {result.already_published}: {result.model_data_url}")
        else:
            print(f"dry run, nothing uploaded: {result.model_data_url}")
        print(publish.format_terraform_values(result.terraform))
        if args.tfvars_out:
            publish.write_tfvars(result.terraform, args.tfvars_out)
            print(f"Terraform variables written to {args.tfvars_out} (terraform plan -var-file={args.tfvars_out})")
        return 0

    return _aws_command(args, run)


def cmd_train_cloud(args: argparse.Namespace) -> int:
    def run() -> int:
        from toxiguard.cloud import jobs as cloud

        session = _aws_session(args.region)
        settings = cloud.JobSettings(
            bucket=args.bucket, role_arn=args.role_arn, region=session.region_name, instance_type=args.instance_type,
            max_runtime_seconds=round(args.max_runtime_hours * 3600), spot=args.spot, volume_gb=args.volume_gb,
            image_uri=args.image_uri,
        )  # fmt: skip
        tuning = cloud.TuningSettings(args.max_jobs, args.max_parallel_jobs, args.strategy) if args.tune else None
        hp = HParams.load(args.hparams)
        if args.epochs:
            hp = HParams.from_dict({**hp.to_dict(), "epochs": args.epochs})
        cloud.train_cloud(
            session, settings, args.data, hp.to_dict(), seed=args.seed, validation_fraction=args.validation_fraction,
            tuning=tuning, embeddings=args.embeddings, name=args.job_name, wait=args.wait,
            poll_seconds=args.poll_seconds, out_root=args.out,
        )  # fmt: skip
        return 0

    return _aws_command(args, run)


def cmd_export_decisions(args: argparse.Namespace) -> int:
    from toxiguard.training.decisions import export_decisions, open_review_store

    store_module, store = open_review_store(args.db or reviews_db_path(os.environ), args.table)
    print(json.dumps(export_decisions(store_module, store, args.out, overwrite=args.force)))
    return 0


# --------------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toxiguard", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    def split_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--seed", type=int, default=SEED, help="split, shuffle and initialisation seed")
        p.add_argument("--validation-fraction", type=_fraction, default=VALIDATION_FRACTION,
                       help="share of rows held out for validation (default: %(default)s)")  # fmt: skip

    def data_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                       help="train.csv, a .csv.gz or the competition .zip (default: %(default)s)")  # fmt: skip
        split_options(p)

    def aws_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--bucket", type=_bucket, required=True, help="the artifact bucket (Terraform's output "
                       "artifact_bucket_name)")  # fmt: skip
        p.add_argument("--region", help="AWS region (default: AWS_REGION / the profile's region)")

    def job_wait_options(p) -> None:
        p.add_argument("--wait", action="store_true", default=None,
                       help="follow the job until it ends, then join its output")  # fmt: skip
        p.add_argument("--poll-seconds", type=float, help=f"--wait: seconds between checks (default: "
                       f"{DEFAULT_POLL_SECONDS:g})")  # fmt: skip
        p.add_argument("--max-wait-hours", type=float, help=f"--wait: give up following after this (default: "
                       f"{DEFAULT_MAX_WAIT_HOURS:g}; the job keeps running)")  # fmt: skip

    def scorer_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--artifact", type=Path, help="packaged model directory (default: the newest under artifacts/)")
        p.add_argument("--api", metavar="URL", help="score through a running API instead (e.g. http://127.0.0.1:8000)")

    p = sub.add_parser("train", help="train the Bi-LSTM and the n-gram model")
    data_options(p)
    p.add_argument("--hparams", type=Path, default=DEFAULT_HPARAMS, help="hyperparameters JSON (written by tune)")
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="where the model and train.json go")
    p.add_argument("--epochs", type=_positive, help="maximum epochs (overrides the hyperparameters file)")
    p.add_argument("--embeddings", type=_existing_file, metavar="FILE",
                   help="pretrained word vectors to start the word embedding from: fastText .vec, word2vec text or "
                   "GloVe .txt, optionally .gz (wider vectors are PCA-reduced to embedding_dim)")  # fmt: skip
    p.add_argument("--no-augment", action="store_true",
                   help="train on the training split alone (no identity swaps, template sentences or obfuscated "
                   "copies)")  # fmt: skip
    p.add_argument("--extra", type=_existing_file, action="append", default=[], metavar="FILE",
                   help="more training rows in the training file's format, e.g. moderators' decisions from "
                   "`toxiguard export-decisions`: merged into the training split only (never validation); a row "
                   "whose id is already there replaces it, so the newer label wins; repeat for more files, later "
                   "ones win")  # fmt: skip
    p.add_argument("--suite-templates", action="store_true",
                   help="also train on the functional suite's train-part templates (off: they taught sentence "
                   "shapes, see docs/model-quality.md)")  # fmt: skip
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
    p.add_argument("--test", type=_existing_file,
                   help="with --run: labelled test comments in the training file's format (e.g. test_dev.csv.gz), "
                   "or Kaggle's test.csv with --test-labels")  # fmt: skip
    p.add_argument("--test-labels", type=_existing_file, help="with --test: Kaggle's test_labels.csv")
    p.add_argument("--previous",
                   help="with --run: a packaged model to score side by side ('none' for none; default: the newest "
                   "under artifacts/)")  # fmt: skip
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("package", help="export a run as artifacts/<version>/")
    p.add_argument("--run", type=Path, default=DEFAULT_RUN_DIR, help="evaluated training run")
    p.add_argument("--out", type=Path, default=DEFAULT_ARTIFACTS, help="artifacts root")
    p.set_defaults(func=cmd_package)

    p = sub.add_parser("decision-policy", help="choose a packaged model's block thresholds; rewrite its manifest",
                       description="Score a packaged model's validation split (cut from --data with the manifest's "
                       "seed and fraction) and a labelled test file with its exported signature, choose each label's "
                       "block threshold (the lowest at or above the review threshold where precision reaches "
                       "0.95 and stays there, on both) and write block_thresholds, block_rule and metrics.block into "
                       "its manifest.json and report.")  # fmt: skip
    p.add_argument("--artifact", type=Path, help="packaged model directory (default: the newest under artifacts/)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="the model's training file, to cut its validation split from "
                   "(default: %(default)s)")  # fmt: skip
    p.add_argument("--test", type=_existing_file,
                   help="labelled test comments in the training file's format (e.g. test_dev.csv.gz), or Kaggle's "
                   "test.csv with --test-labels; without it, validation alone")  # fmt: skip
    p.add_argument("--test-labels", type=_existing_file, help="with --test: Kaggle's test_labels.csv")
    p.set_defaults(func=cmd_decision_policy)

    p = sub.add_parser("predict", help="score comments with a packaged model")
    p.add_argument("text", nargs="*", help="comments to score (default: one per line from standard input)")
    scorer_options(p)
    p.add_argument("--json", action="store_true", help="print the API's JSON response instead of a table")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("score", help="score a CSV file of comments into a CSV with scores and verdicts",
                       description="Score a local CSV file in this process (or through --api), or with --cloud every "
                       "CSV directly under an s3:// prefix on a SageMaker Batch Transform job on a published model "
                       "(needs the cloud extra and the stack's batch transform outputs; see the README).")  # fmt: skip
    p.add_argument("input", help="CSV (or .csv.gz) with a header row and a comment column; with --cloud an s3:// "
                   "prefix under the stack's batch_input_uri holding such files")  # fmt: skip
    p.add_argument("--out", help="output CSV (default: <input>.scored.csv beside the input); with --cloud an s3:// "
                   "prefix under batch_output_uri for <name>.scored.csv[.gz]")  # fmt: skip
    p.add_argument("--column", default=TEXT_COLUMN, help="column holding the comment text (default: %(default)s)")
    scorer_options(p)
    p.add_argument("--chunk-rows", type=_positive, default=1024, help="rows read and scored at a time (local)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    cloud = p.add_argument_group("SageMaker Batch Transform (--cloud)")
    cloud.add_argument("--cloud", action="store_true", help="score the s3:// input on a Batch Transform job")
    cloud.add_argument("--instances", type=_positive,
                       help="instances (default: 1; each input file goes to one instance)")  # fmt: skip
    cloud.add_argument("--instance-type", help="instance type (default: ml.c5.xlarge)")
    cloud.add_argument("--version", help="published model version (default: the newest published)")
    cloud.add_argument("--stack-outputs", type=Path, metavar="FILE",
                       help="`terraform output -json` of the environment (default: TOXIGUARD_* variables)")  # fmt: skip
    cloud.add_argument("--region", help="AWS region (default: AWS_REGION / the profile's region)")
    job_wait_options(cloud)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("score-join", help="join a Batch Transform job's output into scored CSVs",
                       description="Join the output of a job that `toxiguard score --cloud` started without --wait: "
                       "the scored CSVs go to its --out prefix and the summary is printed as JSON.")  # fmt: skip
    p.add_argument("job", help="the transform job's name (printed by score --cloud)")
    p.add_argument("--region", help="AWS region (default: AWS_REGION / the profile's region)")
    job_wait_options(p)
    p.set_defaults(func=cmd_score_join)

    p = sub.add_parser("serve", help="run model server + gateway + web page locally (Ctrl-C stops both)")
    p.add_argument("--artifact", type=Path, help="packaged model directory (default: TOXIGUARD_ARTIFACT or newest)")
    p.add_argument("--port", type=_port, help="gateway port for the page and API (default: GATEWAY_PORT or 8000)")
    p.add_argument("--model-port", type=_port, help="model server port (default: MODEL_SERVER_PORT or 8080)")
    p.add_argument("--no-batching", action="store_true", help="score each request alone (no micro-batching)")
    p.add_argument("--allow-open", action="store_true",
                   help="with AUTH=none, serve on a GATEWAY_HOST other machines can reach anyway (as "
                   "AUTH_ALLOW_OPEN=true)")  # fmt: skip
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("token", help="print an access token from the local development issuer",
                       description="Mint an access token, shaped like a Cognito one, from the key pair under "
                       "TOXIGUARD_DATA_DIR/auth (made on first use) that the local gateway trusts with AUTH=jwt. "
                       "It prints the token alone: "
                       "export TOXIGUARD_API_TOKEN=$(toxiguard token --scope moderate)")  # fmt: skip
    p.add_argument("--scope", type=_scope, action="append", required=True,
                   help="a scope the token grants: moderate (score comments) or review; repeat for both")  # fmt: skip
    p.add_argument("--user", help="the signed-in user's name (default: none, a backend's token)")
    p.add_argument("--ttl", type=_ttl, default=3600, metavar="LIFETIME",
                   help="how long the token is valid: 90s, 15m, 1h (default) or 7d; at most 30d")  # fmt: skip
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("publish", help="upload an artifact to S3 behind a quality gate; print Terraform's values",
                       description="Check a packaged model, compare its validation ROC-AUC with the newest "
                       "published model's, upload model.tar.gz then manifest.json to s3://BUCKET/models/<version>/ "
                       "(never overwriting) and print model_version, model_labels, model_thresholds and "
                       "model_block_thresholds for Terraform. Exit codes: 1 missing file, existing version or AWS "
                       "error; 2 invalid artifact; 3 quality gate refused.")  # fmt: skip
    p.add_argument("--artifact", type=Path, help="packaged model directory (default: the newest under artifacts/)")
    aws_options(p)
    p.add_argument("--baseline-version", metavar="VERSION",
                   help="published version to compare with (default: the newest published)")  # fmt: skip
    p.add_argument("--tolerance", type=_tolerance, default=GATE_MEAN_TOLERANCE,
                   help="largest allowed drop of the mean validation ROC-AUC (default: %(default)s)")  # fmt: skip
    p.add_argument("--label-tolerance", type=_tolerance, default=GATE_LABEL_TOLERANCE,
                   help="largest allowed drop of any label's ROC-AUC, looser as rare labels are noisy "
                   "(default: %(default)s)")  # fmt: skip
    p.add_argument("--bias-tolerance", type=_tolerance, default=GATE_BIAS_TOLERANCE,
                   help="largest allowed drop of the identity-bias metric (default: %(default)s)")  # fmt: skip
    p.add_argument("--neutral-flag-tolerance", type=_tolerance, default=GATE_NEUTRAL_FLAG_TOLERANCE,
                   help="largest allowed rise of the share of neutral identity statements flagged "
                   "(default: %(default)s)")  # fmt: skip
    p.add_argument("--allow-regression", action="store_true",
                   help="publish even if the metrics gate fails (label changes are still refused)")  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="check and gate only; upload nothing")
    p.add_argument("--tfvars-out", type=Path, metavar="FILE",
                   help="also write the Terraform values to FILE (name it *.tfvars.json)")  # fmt: skip
    p.add_argument("--multipart-threshold-mb", type=_positive, default=16,
                   help="upload larger files in parts of this size (default: %(default)s)")  # fmt: skip
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("train-cloud", help="train, or tune, on SageMaker (train -> evaluate -> package)",
                       description="Run the `make model` pipeline as a SageMaker training job on AWS's TensorFlow "
                       "training image, or with --tune an automatic model tuning job over the search space of "
                       "`make tune`. Needs an execution role SageMaker can assume, with access to the "
                       "bucket.")  # fmt: skip
    aws_options(p)
    p.add_argument("--role-arn", type=_role_arn, required=True, help="SageMaker execution role")
    p.add_argument("--data", default=str(DEFAULT_DATA),
                   help="local training file (uploaded once to s3://BUCKET/data/<sha256>/) or an s3:// URI "
                   "(default: %(default)s)")  # fmt: skip
    p.add_argument("--embeddings", metavar="FILE_OR_S3_URI",
                   help="pretrained word vectors, as for train (a local file is uploaded once to "
                   "s3://BUCKET/embeddings/<sha256>/)")  # fmt: skip
    split_options(p)
    p.add_argument("--hparams", type=Path, default=DEFAULT_HPARAMS, help="hyperparameters JSON (as for train)")
    p.add_argument("--epochs", type=_positive, help="maximum epochs (overrides the hyperparameters file)")
    p.add_argument("--instance-type", default="ml.c5.xlarge", help="training instance (default: %(default)s)")
    p.add_argument("--max-runtime-hours", type=float, default=2.0, help="stop a job after this (default: %(default)s)")
    p.add_argument("--spot", action="store_true", help="managed spot capacity: cheaper, may wait or restart")
    p.add_argument("--volume-gb", type=_positive, default=30, help="instance storage (default: %(default)s)")
    p.add_argument("--image-uri", help="training image (default: AWS's tensorflow-training 2.19 CPU image)")
    p.add_argument("--tune", action="store_true", help="start an automatic model tuning job instead")
    p.add_argument("--max-jobs", type=_positive, default=8, help="tuning: training jobs in all (default: %(default)s)")
    p.add_argument("--max-parallel-jobs", type=_positive, default=2,
                   help="tuning: training jobs at once (default: %(default)s)")  # fmt: skip
    p.add_argument("--strategy", choices=("Bayesian", "Random"), default="Bayesian", help="tuning strategy")
    p.add_argument("--job-name", help="job name (default: toxiguard[-tune]-<UTC time>)")
    p.add_argument("--wait", action="store_true",
                   help="follow the job and unpack its artifact (tuning: the best job's) into --out")  # fmt: skip
    p.add_argument("--poll-seconds", type=float, default=30.0, help="--wait: seconds between status checks")
    p.add_argument("--out", type=Path, default=DEFAULT_ARTIFACTS, help="artifacts root for --wait")
    p.set_defaults(func=cmd_train_cloud)

    p = sub.add_parser("export-decisions", help="write moderators' decisions as training rows for train --extra",
                       description="Read the decided items of the review queue and write them in the training "
                       "file's format: a removed comment with 1 for the labels it was queued for, an approved one "
                       "with 0 for every label; pending items are skipped. Ids are review-<item id>. Prints the "
                       "counts as JSON.")  # fmt: skip
    p.add_argument("--out", type=Path, required=True, help="the CSV to write (kept if it exists, unless --force)")
    store = p.add_mutually_exclusive_group()
    store.add_argument("--db", type=Path,
                       help="the local review queue's SQLite file (default: REVIEWS_DB, else "
                       "TOXIGUARD_DATA_DIR/reviews.sqlite3)")  # fmt: skip
    store.add_argument("--table", metavar="NAME",
                       help="the DynamoDB review table on AWS instead (AWS credentials and region from the "
                       "environment)")  # fmt: skip
    p.add_argument("--force", action="store_true", help="overwrite --out")
    p.set_defaults(func=cmd_export_decisions)
    return parser


# Commands that load TensorFlow in this process (its thread pools must be set before it initialises).
TENSORFLOW_COMMANDS = ("train", "tune", "evaluate", "package", "decision-policy")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the output
    load_dotenv(find_dotenv(usecwd=True))  # a local `.env` (see .env.example); real environment variables win
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command in TENSORFLOW_COMMANDS:
        configure_threads()
    from toxiguard.serving.batch import ScoreFileError
    from toxiguard.serving.client import ApiError

    try:
        return args.func(args)
    except DataError as exc:
        print(f"toxiguard {args.command}: invalid input:\n{exc}", file=sys.stderr)
        return 2
    except ScoreFileError as exc:
        print(f"toxiguard {args.command}: {exc}", file=sys.stderr)
        return 2
    except ApiError as exc:
        print(f"toxiguard {args.command}: the API refused or failed: {exc}", file=sys.stderr)
        return _api_exit_code(exc)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as exc:
        print(f"toxiguard {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
