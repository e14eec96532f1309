"""The artifact: the one contract between training (which writes it), serving and cloud operations (which read it).

`artifacts/<version>/` holds
- `model.tar.gz`: `1/saved_model.pb`, `1/variables/`, `1/assets/`, the layout SageMaker's TensorFlow Serving
  container loads, with one signature (`serving_default`) from raw strings (`text`) to one score per label
  (`scores`);
- `manifest.json`: version, labels in score order, a review threshold and a block threshold per label, metrics,
  the data hash (what deploy, the quality gate and serving read);
- `report/`: the evaluation report.

Versions are `<UTC time>-<git sha>`, so they sort by time and name the commit. A label is flagged when its score
is at or above its (review) threshold (`flagged_labels`); a text's action is `block` when a score reaches its
label's block threshold, else `review` when a label is flagged, else `allow` (`moderation_action`).
`lambda/handler.py` deploys alone and keeps its own copy of both rules, which tests hold equal to these. Standard
library only, so serving and cloud operations read artifacts without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
import tarfile
from collections.abc import Sequence
from pathlib import Path

from toxiguard.config import DEFAULT_ARTIFACTS, file_sha256

MANIFEST_FILE = "manifest.json"
TARBALL_FILE = "model.tar.gz"
REPORT_DIR = "report"
SERVING_VERSION = "1"  # TF Serving loads the highest numbered directory
SAVED_MODEL_ENTRY = f"{SERVING_VERSION}/saved_model.pb"
SIGNATURE, SIGNATURE_INPUT, SIGNATURE_OUTPUT = "serving_default", "text", "scores"
MAX_TARBALL_BYTES = 25 * 1024 * 1024
VERSION_PATTERN = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{7,40}$")
# Where the gated fairness numbers sit under a manifest's "metrics"; both are shares in [0, 1].
BIAS_METRIC = ("fairness", "bias_metric")
NEUTRAL_FLAG_RATE = ("functional", "neutral_identity_flag_rate")


class ArtifactError(ValueError):
    """An artifact that breaks the contract: the message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str):
        super().__init__(f"{path}: {problem}")


def version_name(created: dt.datetime, sha: str) -> str:
    return f"{created:%Y%m%dT%H%M%SZ}-{sha[:7]}"


def latest_artifact(root: Path = DEFAULT_ARTIFACTS) -> Path:
    """The newest packaged model under `root` (version names sort by time)."""
    versions = sorted(p.parent for p in Path(root).glob(f"*/{MANIFEST_FILE}"))
    if not versions:
        raise FileNotFoundError(f"no packaged model under {root}: run `make model`, or pass the model's directory")
    return versions[-1]


def is_flagged(score, threshold):
    """The flag rule: a score at or above its label's threshold. Works elementwise on NumPy arrays too."""
    return score >= threshold


def flagged_labels(labels: Sequence[str], scores: Sequence[float], thresholds: Sequence[float]) -> list[str]:
    """The labels whose score is flagged, in label order."""
    return [label for label, score, limit in zip(labels, scores, thresholds, strict=True) if is_flagged(score, limit)]


def moderation_action(
    scores: Sequence[float], thresholds: Sequence[float], block_thresholds: Sequence[float | None]
) -> str:
    """The decision rule: `block` when any score is at or above its label's block threshold (None: that label never
    blocks by itself), else `review` when any label is flagged, else `allow`. All three in label order."""
    if any(
        limit is not None and is_flagged(score, limit) for score, limit in zip(scores, block_thresholds, strict=True)
    ):
        return "block"
    if any(is_flagged(score, limit) for score, limit in zip(scores, thresholds, strict=True)):
        return "review"
    return "allow"


def moderation_result(
    labels: Sequence[str],
    scores: Sequence[float],
    thresholds: Sequence[float],
    block_thresholds: Sequence[float | None],
) -> dict:
    """One text's result in the API's shape: every label's score, the flagged labels, whether any is, and the action."""
    flagged = flagged_labels(labels, scores, thresholds)
    return {
        "scores": dict(zip(labels, map(float, scores), strict=True)),
        "labels": flagged,
        "flagged": bool(flagged),
        "action": moderation_action(scores, thresholds, block_thresholds),
    }


def manifest_block_thresholds(manifest: dict) -> dict[str, float | None]:
    """The manifest's block thresholds; a manifest from before they existed has none (no label blocks by itself)."""
    return manifest.get("block_thresholds") or dict.fromkeys(manifest["labels"])


# The decision policy's part of a manifest. It is chosen after training (`toxiguard decision-policy`) and may be chosen
# again without retraining, so a published version's policy may change while its model never does (`publish`).
DECISION_POLICY_KEYS = ("block_thresholds", "block_rule")
DECISION_POLICY_METRICS = "block"


def without_decision_policy(manifest: dict) -> dict:
    """The manifest without its decision policy: what must stay equal for two manifests to describe one model."""
    trimmed = {key: value for key, value in manifest.items() if key not in DECISION_POLICY_KEYS}
    if isinstance(manifest.get("metrics"), dict):
        trimmed["metrics"] = {
            key: value for key, value in manifest["metrics"].items() if key != DECISION_POLICY_METRICS
        }
    return trimmed


def block_thresholds_problem(block_thresholds, thresholds: dict[str, float]) -> str | None:
    """What makes `block_thresholds` unusable with these review thresholds, or None: it must name exactly their labels,
    each with null or a number from the label's review threshold to 1 (blocking below it would skip review)."""
    if not isinstance(block_thresholds, dict) or set(block_thresholds) != set(thresholds):
        return f"must have exactly the labels {list(thresholds)}"
    bad = [
        name
        for name, value in block_thresholds.items()
        if value is not None and not (is_number(value) and thresholds[name] <= value <= 1.0)
    ]
    if bad:
        return f"must be null or numbers from the label's review threshold to 1: {', '.join(bad)}"
    return None


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_manifest(manifest: dict, path: Path | str) -> None:
    """The keys deploy, the gate and serving read: version, labels, thresholds (0..1, one per label), block thresholds
    when present (absent in models packaged before them: none blocks), validation ROC-AUCs, and the fairness numbers
    when present (absent or null in models published before they were measured)."""
    if not isinstance(manifest, dict):
        raise ArtifactError(path, "not a JSON object")
    version = manifest.get("version")
    if not isinstance(version, str) or not VERSION_PATTERN.match(version):
        raise ArtifactError(path, f"version {version!r} is not <UTC time>-<git sha> (e.g. 20261124T103915Z-2b97625)")
    labels = manifest.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ArtifactError(path, "labels must be a non-empty list of names")
    if len(set(labels)) != len(labels):
        raise ArtifactError(path, f"labels repeat a name: {labels}")
    thresholds = manifest.get("thresholds")
    if not isinstance(thresholds, dict) or set(thresholds) != set(labels):
        raise ArtifactError(path, f"thresholds must have exactly the labels {labels}")
    bad = [name for name, value in thresholds.items() if not (is_number(value) and 0.0 <= value <= 1.0)]
    if bad:
        raise ArtifactError(path, f"thresholds must be numbers between 0 and 1: {', '.join(bad)}")
    if manifest.get("block_thresholds") is not None:
        problem = block_thresholds_problem(manifest["block_thresholds"], thresholds)
        if problem:
            raise ArtifactError(path, f"block_thresholds {problem}")
    metrics = manifest.get("metrics")
    if not isinstance(metrics, dict) or not is_number(metrics.get("mean_roc_auc")):
        raise ArtifactError(path, "metrics.mean_roc_auc is missing")
    if not isinstance(metrics.get("per_label", {}), dict):
        raise ArtifactError(path, "metrics.per_label must be an object")
    for section, name in (BIAS_METRIC, NEUTRAL_FLAG_RATE):
        values = metrics.get(section, {})
        if not isinstance(values, dict):
            raise ArtifactError(path, f"metrics.{section} must be an object")
        value = values.get(name)
        if value is not None and not (is_number(value) and 0.0 <= value <= 1.0):
            raise ArtifactError(path, f"metrics.{section}.{name} must be a number between 0 and 1, not {value!r}")


def parse_manifest(raw: bytes, location: Path | str) -> dict:
    """A manifest's bytes (from a file or S3), decoded and checked against the contract."""
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(location, f"not valid JSON ({exc})") from None
    check_manifest(manifest, location)
    return manifest


def write_manifest(directory: Path, manifest: dict) -> Path:
    """Check `manifest` against the contract and write it as `<directory>/manifest.json`."""
    path = Path(directory) / MANIFEST_FILE
    check_manifest(manifest, path)
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def _manifest_bytes(directory: Path) -> tuple[Path, bytes]:
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pass a directory made by `toxiguard package`")
    return path, path.read_bytes()


def read_manifest(directory: Path) -> dict:
    """`<directory>/manifest.json`, checked against the contract."""
    path, raw = _manifest_bytes(directory)
    return parse_manifest(raw, path)


@dataclasses.dataclass(frozen=True)
class ArtifactFiles:
    """A packaged model's files, checked: what publishing uploads."""

    directory: Path
    manifest: dict
    manifest_bytes: bytes
    tarball: Path
    size: int
    sha256: str

    @property
    def version(self) -> str:
        return self.manifest["version"]


def read_artifact(directory: Path) -> ArtifactFiles:
    """Read and check an artifact directory: its manifest, and a tarball that agrees with it (size, SHA-256, and
    the SavedModel entry TF Serving loads). Raises FileNotFoundError or ArtifactError."""
    directory = Path(directory)
    tarball = directory / TARBALL_FILE
    manifest_path, manifest_bytes = _manifest_bytes(directory)  # read once: the bytes checked are the bytes uploaded
    manifest = parse_manifest(manifest_bytes, manifest_path)
    if not tarball.is_file():
        raise FileNotFoundError(f"{tarball} not found: pass a directory made by `toxiguard package`")
    if manifest["version"] != directory.name:
        problem = f"version {manifest['version']} does not match the directory {directory.name}"
        raise ArtifactError(manifest_path, problem)

    size, sha256 = tarball.stat().st_size, file_sha256(tarball)
    recorded = manifest.get("artifact", {})
    if "bytes" in recorded and recorded["bytes"] != size:
        raise ArtifactError(tarball, f"{size} bytes, but the manifest records {recorded['bytes']}")
    if "sha256" in recorded and recorded["sha256"] != sha256:
        raise ArtifactError(tarball, f"SHA-256 {sha256} differs from the manifest's {recorded['sha256']}")
    entry = recorded.get("layout", SAVED_MODEL_ENTRY)
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            if not any(member.name == entry for member in tar):
                raise ArtifactError(tarball, f"has no {entry}: not a TF Serving model archive")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArtifactError(tarball, f"not a readable .tar.gz ({exc})") from None
    return ArtifactFiles(directory, manifest, manifest_bytes, tarball, size, sha256)
