"""Publish a packaged model to S3 behind a quality gate, and hand Terraform the values it deploys.

    s3://<bucket>/models/<version>/model.tar.gz   uploaded first (SHA-256 checked by S3, multipart when large)
    s3://<bucket>/models/<version>/manifest.json  uploaded last, only if absent (`If-None-Match: *`): a version
                                                  with a manifest is complete, and two publishes cannot both win

A version is never overwritten; publishing the identical artifact again uploads nothing and succeeds (a deploy
re-run). The gate compares the new manifest's validation ROC-AUC with the current model's (the newest published
version, or `--baseline-version`): the mean may drop by at most `mean_tolerance`, each label by at most
`label_tolerance` (looser, since rare labels' AUCs rest on a few dozen positives), and the label order must not
change (the Lambda maps scores to labels by position). Two fairness rows follow: the final identity-bias metric on
the test file (`metrics.fairness.bias_metric`, toxiguard.training.fairness) may drop by at most `bias_tolerance`,
and the share of held-out neutral identity statements the model flags
(`metrics.functional.neutral_identity_flag_rate`, lower is better) may rise by at most `neutral_flag_tolerance`.
A current model published before these existed is not gated on them (a note says so); a new model without them,
when the current one has them, is refused. Needs boto3, not
TensorFlow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

from botocore.exceptions import ClientError

from toxiguard.artifact import (
    BIAS_METRIC,
    MANIFEST_FILE,
    NEUTRAL_FLAG_RATE,
    TARBALL_FILE,
    VERSION_PATTERN,
    ArtifactError,
    ArtifactFiles,
    is_number,
    manifest_block_thresholds,
    parse_manifest,
    read_artifact,
    without_decision_policy,
)
from toxiguard.cloud.aws import (
    DEFAULT_MULTIPART_THRESHOLD,
    CommandError,
    aws_errors,
    check_bucket,
    checksum_header,
    error_code,
    is_missing,
    object_exists,
    upload_file,
)
from toxiguard.config import (
    GATE_BIAS_TOLERANCE,
    GATE_LABEL_TOLERANCE,
    GATE_MEAN_TOLERANCE,
    GATE_NEUTRAL_FLAG_TOLERANCE,
)

log = logging.getLogger(__name__)

MODELS_PREFIX = "models/"

EXIT_MISSING = 1  # a missing file, an existing version, an AWS failure
EXIT_INVALID = 2  # an artifact whose manifest is malformed or disagrees with model.tar.gz
EXIT_GATE = 3  # the quality gate refused the model


def load_artifact(directory: Path) -> ArtifactFiles:
    """The artifact's files, checked against the contract before anything leaves the machine."""
    try:
        return read_artifact(directory)
    except FileNotFoundError as exc:
        raise CommandError(str(exc), EXIT_MISSING) from None
    except ArtifactError as exc:
        raise CommandError(str(exc), EXIT_INVALID) from None


# --------------------------------------------------------------------------------------------------
# The quality gate
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GateRow:
    metric: str
    baseline: float | None
    new: float | None
    limit: float | None  # the worst value that passes (None: not gated): a floor, or a ceiling if lower is better
    lower_is_better: bool = False

    @property
    def passed(self) -> bool:
        if self.limit is None:
            return True
        if self.new is None:
            return False
        return self.new <= self.limit if self.lower_is_better else self.new >= self.limit

    @property
    def failure(self) -> str:
        return self.metric if self.new is not None else f"{self.metric} (missing from the new manifest)"


def _gate_row(
    metric: str, baseline: float | None, new: float | None, tolerance: float, lower_is_better: bool = False
) -> GateRow:
    """A row whose limit lies `tolerance` on the worse side of the baseline; not gated without a baseline."""
    worse = 1 if lower_is_better else -1
    limit = None if baseline is None else baseline + worse * tolerance
    return GateRow(metric, baseline, new, limit, lower_is_better)


@dataclasses.dataclass(frozen=True)
class GateResult:
    baseline_version: str | None
    rows: tuple[GateRow, ...]
    notes: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    def report(self) -> str:
        if self.baseline_version is None:
            return "\n".join(self.notes)

        def fmt(value: float | None) -> str:
            return "-" if value is None else f"{value:.4f}"

        def fmt_limit(row: GateRow) -> str:  # "<=" marks a ceiling: lower is better
            return "-" if row.limit is None else f"{'<=' if row.lower_is_better else '>='}{row.limit:.4f}"

        width = max([16, *(len(row.metric) for row in self.rows)])
        lines = [f"quality gate against {self.baseline_version}:",
                 f"  {'metric':<{width}} {'current':>8} {'new':>8} {'delta':>8} {'limit':>9}  result"]  # fmt: skip
        for row in self.rows:
            delta = "-" if row.new is None or row.baseline is None else f"{row.new - row.baseline:+.4f}"
            verdict = "ok" if row.passed else "WORSE" if row.new is not None else "MISSING"
            lines.append(
                f"  {row.metric:<{width}} {fmt(row.baseline):>8} {fmt(row.new):>8} {delta:>8} {fmt_limit(row):>9}"
                f"  {verdict}"
            )
        return "\n".join([*lines, *self.notes])


def _metric(manifest: dict, *path: str) -> float | None:
    """The number at manifest["metrics"][path[0]][path[1]]...; None where any step is missing."""
    value = manifest["metrics"]
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if is_number(value) else None


def quality_gate(
    new: dict,
    baseline: dict | None,
    mean_tolerance: float,
    label_tolerance: float,
    bias_tolerance: float = GATE_BIAS_TOLERANCE,
    neutral_flag_tolerance: float = GATE_NEUTRAL_FLAG_TOLERANCE,
) -> GateResult:
    """Compare validation ROC-AUCs and the fairness numbers; raises if the labels or their order differ."""
    if baseline is None:
        return GateResult(None, (), ("quality gate: no model published yet, so nothing to compare with (passes)",))
    if new["labels"] != baseline["labels"]:
        raise CommandError(
            f"labels differ from {baseline['version']}'s: {new['labels']} vs {baseline['labels']}; the API maps "
            "scores to labels by position, so a change of labels or their order needs a deliberate redeploy of "
            "both (publish refuses it)",
            EXIT_GATE,
        )
    rows = [_gate_row("mean_roc_auc", _metric(baseline, "mean_roc_auc"), _metric(new, "mean_roc_auc"), mean_tolerance)]
    notes = [
        f"tolerances: mean {mean_tolerance:.4f}, per label {label_tolerance:.4f}, bias metric {bias_tolerance:.4f}, "
        f"neutral identity flag rate {neutral_flag_tolerance:.4f} (lower is better)"
    ]
    for label in new["labels"]:
        old = _metric(baseline, "per_label", label, "roc_auc")
        rows.append(_gate_row(label, old, _metric(new, "per_label", label, "roc_auc"), label_tolerance))
        if old is None:
            notes.append(f"{label}: the current model has no ROC-AUC for it, not gated")
    for path, tolerance, lower_is_better in (
        (BIAS_METRIC, bias_tolerance, False),
        (NEUTRAL_FLAG_RATE, neutral_flag_tolerance, True),
    ):
        old, current = _metric(baseline, *path), _metric(new, *path)
        rows.append(_gate_row(path[-1], old, current, tolerance, lower_is_better))
        if old is None:
            notes.append(f"{path[-1]}: the current model was published without it, not gated")
        elif current is None:
            notes.append(
                f"{path[-1]}: the new model lacks it; a model must not drop the current one's fairness evidence"
            )
    if new.get("data", {}).get("sha256") != baseline.get("data", {}).get("sha256"):
        notes.append("note: the two models were validated on different data, so the comparison is indicative")
    return GateResult(baseline["version"], tuple(rows), tuple(notes))


# --------------------------------------------------------------------------------------------------
# S3
# --------------------------------------------------------------------------------------------------


def version_key(version: str, name: str) -> str:
    return f"{MODELS_PREFIX}{version}/{name}"


def published_versions(s3, bucket: str) -> list[str]:
    """Versions with a manifest (complete publishes), oldest first (version names sort by time)."""
    versions = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=MODELS_PREFIX):
        for item in page.get("Contents", []):
            version, _, name = item["Key"][len(MODELS_PREFIX) :].partition("/")
            if name == MANIFEST_FILE and VERSION_PATTERN.match(version):
                versions.append(version)
    return sorted(versions)


def read_published_manifest(s3, bucket: str, version: str) -> dict:
    key = version_key(version, MANIFEST_FILE)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if is_missing(exc):
            raise CommandError(f"s3://{bucket}/{key} not found: {version} was never published") from None
        raise
    try:
        return parse_manifest(body, f"s3://{bucket}/{key}")
    except ArtifactError as exc:
        raise CommandError(str(exc), EXIT_INVALID) from None


def already_published(s3, bucket: str, artifact: ArtifactFiles) -> str | None:
    """How this model is published already (a re-run deploys it again), or None: "identical", or the same model whose
    decision policy was chosen again, whose manifest is then replaced (`update_decision_policy`). Any other content
    is refused."""
    version = artifact.version
    manifest_key, tarball_key = version_key(version, MANIFEST_FILE), version_key(version, TARBALL_FILE)
    if not object_exists(s3, bucket, manifest_key):
        if object_exists(s3, bucket, tarball_key):
            raise CommandError(
                f"s3://{bucket}/{tarball_key} exists without a manifest: an earlier publish of {version} stopped "
                f"half-way; check and delete it (aws s3 rm s3://{bucket}/{tarball_key}), then publish again"
            )
        return None
    published = s3.get_object(Bucket=bucket, Key=manifest_key)
    published_manifest = published["Body"].read()
    try:
        published_sha256 = s3.head_object(Bucket=bucket, Key=tarball_key).get("Metadata", {}).get("sha256")
    except ClientError as exc:
        if not is_missing(exc):
            raise
        published_sha256 = None
    if published_sha256 == artifact.sha256:
        if published_manifest == artifact.manifest_bytes:
            return "identical"
        if same_model(published_manifest, artifact):
            update_decision_policy(s3, bucket, artifact, published["ETag"])
            return "same model, decision policy updated"
    raise CommandError(
        f"s3://{bucket}/{manifest_key} exists with different contents: {version} is already published and is "
        "never overwritten (package a new version; only its decision policy may change)"
    )


def same_model(published_manifest: bytes, artifact: ArtifactFiles) -> bool:
    """Whether a published manifest describes the artifact's model, whatever the decision policy of either."""
    try:
        published = json.loads(published_manifest)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(published, dict) and without_decision_policy(published) == without_decision_policy(
        artifact.manifest
    )


def update_decision_policy(s3, bucket: str, artifact: ArtifactFiles, published_etag: str) -> None:
    """Replace a published manifest whose model is this one but whose decision policy differs. Conditional on the
    manifest read (If-Match), so a concurrent change is never overwritten unseen."""
    conflict = "changed while publishing: another publish of {version} replaced it first; publish again to compare"
    write_manifest_if(s3, bucket, artifact, {"IfMatch": published_etag}, conflict)
    log.info("%s: the model is published already; its decision policy (block thresholds) is updated", artifact.version)


def put_manifest(s3, bucket: str, artifact: ArtifactFiles) -> None:
    """The manifest last and only if absent: it marks the version complete, and exactly one publish wins."""
    conflict = (
        "appeared while publishing: another publish of {version} finished first (its manifest stands; check that its "
        "model.tar.gz is the one you meant)"
    )
    write_manifest_if(s3, bucket, artifact, {"IfNoneMatch": "*"}, conflict)


def write_manifest_if(s3, bucket: str, artifact: ArtifactFiles, condition: dict[str, str], conflict: str) -> None:
    """PUT the artifact's manifest with an S3 precondition (`IfNoneMatch` or `IfMatch`); when it fails, a
    CommandError saying `s3://<key> <conflict>`."""
    key = version_key(artifact.version, MANIFEST_FILE)
    try:
        s3.put_object(
            Bucket=bucket, Key=key, Body=artifact.manifest_bytes, ContentType="application/json",
            ChecksumAlgorithm="SHA256", **condition,
            ChecksumSHA256=checksum_header(hashlib.sha256(artifact.manifest_bytes).hexdigest()),
        )  # fmt: skip
    except ClientError as exc:
        if error_code(exc) in {"PreconditionFailed", "ConditionalRequestConflict"}:
            raise CommandError(f"s3://{bucket}/{key} {conflict.format(version=artifact.version)}") from None
        raise


# --------------------------------------------------------------------------------------------------
# Terraform
# --------------------------------------------------------------------------------------------------


def terraform_values(manifest: dict) -> dict:
    """The env roots' inputs, named as they are: `terraform plan -var-file=<this as .tfvars.json>`. Block thresholds
    are null for labels that never block by themselves (all of them for a manifest from before block thresholds)."""
    block_thresholds = manifest_block_thresholds(manifest)
    return {
        "model_version": manifest["version"],
        "model_thresholds": {label: manifest["thresholds"][label] for label in manifest["labels"]},
        "model_block_thresholds": {label: block_thresholds[label] for label in manifest["labels"]},
        "model_labels": list(manifest["labels"]),
    }


def format_terraform_values(values: dict) -> str:
    """`name = value` lines; JSON lists and objects are valid HCL, so they paste into a .tfvars file."""
    width = max(len(name) for name in values)
    return "\n".join(f"{name:<{width}} = {json.dumps(value)}" for name, value in values.items())


# --------------------------------------------------------------------------------------------------
# Publish
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PublishResult:
    version: str
    model_data_url: str
    gate: GateResult | None  # None: this model was already published (and gated then)
    terraform: dict
    uploaded: bool
    already_published: str | None = None  # how, when it was: see `already_published`


def publish(
    artifact_dir: Path,
    bucket: str,
    session,
    *,
    baseline_version: str | None = None,
    mean_tolerance: float = GATE_MEAN_TOLERANCE,
    label_tolerance: float = GATE_LABEL_TOLERANCE,
    bias_tolerance: float = GATE_BIAS_TOLERANCE,
    neutral_flag_tolerance: float = GATE_NEUTRAL_FLAG_TOLERANCE,
    allow_regression: bool = False,
    dry_run: bool = False,
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
) -> PublishResult:
    """Check the artifact, gate it against the current model, upload it (tarball, then manifest)."""
    artifact = load_artifact(artifact_dir)
    version = artifact.version
    log.info("artifact %s: model.tar.gz %.1f MB, sha256 %s", version, artifact.size / 2**20, artifact.sha256)
    with aws_errors(f"checking s3://{bucket}/{MODELS_PREFIX}"):
        s3 = session.client("s3")
        check_bucket(s3, bucket)
        model_data_url = f"s3://{bucket}/{version_key(version, TARBALL_FILE)}"
        published = already_published(s3, bucket, artifact)
        if published:
            # It passed the gate when it was first published; deploying it again (a re-run, the next stage
            # of a pipeline) must not fail on its own earlier success.
            log.info("%s is already published (%s): no model to upload", version, published)
            return PublishResult(version, model_data_url, None, terraform_values(artifact.manifest), False, published)
        if baseline_version is None:
            earlier = [v for v in published_versions(s3, bucket) if v != version]
            baseline_version = earlier[-1] if earlier else None
        baseline = read_published_manifest(s3, bucket, baseline_version) if baseline_version else None

    gate = quality_gate(
        artifact.manifest, baseline, mean_tolerance, label_tolerance, bias_tolerance, neutral_flag_tolerance
    )
    print(gate.report())
    if not gate.passed:
        failed = ", ".join(row.failure for row in gate.rows if not row.passed)
        if not allow_regression:
            raise CommandError(
                f"quality gate: {version} is worse than {gate.baseline_version} beyond the tolerance on {failed}; "
                "nothing was uploaded (--allow-regression publishes it anyway)",
                EXIT_GATE,
            )
        log.warning("quality gate failed on %s; publishing anyway (--allow-regression)", failed)

    if not dry_run:
        with aws_errors(f"uploading to s3://{bucket}/{MODELS_PREFIX}{version}/"):
            upload_file(
                s3, artifact.tarball, bucket, version_key(version, TARBALL_FILE), content_type="application/gzip",
                sha256=artifact.sha256, multipart_threshold=multipart_threshold,
            )  # fmt: skip
            put_manifest(s3, bucket, artifact)
        log.info("published %s", model_data_url)
    return PublishResult(version, model_data_url, gate, terraform_values(artifact.manifest), not dry_run)


def write_tfvars(values: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=2) + "\n")
