"""Package a trained, evaluated run as a versioned SageMaker TensorFlow Serving artifact (`toxiguard.artifact`
defines its files, names and manifest checks; `toxiguard.serving.model` loads it back)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import shutil
import tarfile
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from toxiguard.artifact import (
    MAX_TARBALL_BYTES,
    SAVED_MODEL_ENTRY,
    SERVING_VERSION,
    SIGNATURE,
    SIGNATURE_INPUT,
    SIGNATURE_OUTPUT,
    TARBALL_FILE,
    version_name,
    write_manifest,
)
from toxiguard.config import EXAMPLE_TEXTS, LABELS, HParams, git_state
from toxiguard.serving.model import call_signature
from toxiguard.training.augment import AUGMENTATION_KINDS
from toxiguard.training.decision_policy import with_policy
from toxiguard.training.evaluate import BASELINE_NAME, MODEL_NAME, NGRAM_NAME, REPORT_JSON, SHIPPED_NAME, THRESHOLD_RULE
from toxiguard.training.model import VECTORIZER, folded_serving_model
from toxiguard.training.ngram import NgramLinear
from toxiguard.training.normalize import normalize_text
from toxiguard.training.train import load_run

log = logging.getLogger(__name__)

ROUND_TRIP_TOLERANCE = 1e-5


# --------------------------------------------------------------------------------------------------
# SavedModel
# --------------------------------------------------------------------------------------------------


def _tensor_spec(spec: tf.TensorSpec) -> dict:
    return {"dtype": spec.dtype.name, "shape": [-1 if d is None else d for d in spec.shape.as_list()]}


def signature_spec(serving_fn) -> dict:
    """Input and output names, dtypes and shapes of a serving signature, as TF Serving exposes them."""
    _, inputs = serving_fn.structured_input_signature
    outputs = serving_fn.structured_outputs
    return {
        "name": SIGNATURE,
        "inputs": {name: _tensor_spec(spec) for name, spec in inputs.items()},
        "outputs": {name: _tensor_spec(spec) for name, spec in outputs.items()},
    }


def _tarball(saved_model_dir: Path, target: Path) -> None:
    """Deterministic gzip tar: sorted entries, fixed mtimes and owners, no gzip timestamp."""

    def reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        return info

    with (
        gzip.GzipFile(target, mode="wb", mtime=0, compresslevel=9) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for path in sorted(saved_model_dir.rglob("*")):
            arcname = f"{SERVING_VERSION}/{path.relative_to(saved_model_dir).as_posix()}"
            tar.add(path, arcname=arcname, recursive=False, filter=reset)


def export_saved_model(model: keras.Model, target: Path) -> None:
    """SavedModel with one signature, `serving_default`: `text` (batch,) string -> `scores` (batch, 6) float32.

    Not `model.export()`: it tracks the Keras variable wrappers *and* the tf.Variables the endpoint
    captures, so every weight is written twice (keras-team/keras#23553, open in Keras 3.15). The archive
    tracks the captured variables itself; only the vocabulary's lookup table needs tracking by hand.
    """
    archive = keras.export.ExportArchive()
    archive.track(model.get_layer(VECTORIZER))
    archive.track(
        model.get_layer(NGRAM_NAME).table
    )  # a lookup table is no variable: tracked by hand, like the vocabulary
    archive.add_endpoint(
        SIGNATURE,
        lambda text: {SIGNATURE_OUTPUT: model(text, training=False)},
        input_signature=[tf.TensorSpec([None], tf.string, name=SIGNATURE_INPUT)],
    )
    archive.write_out(str(target), verbose=False)


def check_round_trip(expected: np.ndarray, serving_fn, texts: list[str]) -> float:
    """Largest absolute difference between the trained models' scores and the exported signature's."""
    return float(np.max(np.abs(expected - call_signature(serving_fn, texts))))


# --------------------------------------------------------------------------------------------------
# Package
# --------------------------------------------------------------------------------------------------


def package(run_dir: Path, out_root: Path, created: dt.datetime | None = None) -> Path:
    """Export the run's model, verify the round trip and write `<out_root>/<version>/`."""
    report_path = run_dir / "report" / REPORT_JSON
    if not report_path.exists():
        raise FileNotFoundError(f"{report_path} not found: run `toxiguard evaluate --run {run_dir}` first")
    report = json.loads(report_path.read_text())
    if "block" not in report:
        raise ValueError(f"{report_path} has no decision policy: run `toxiguard evaluate --run {run_dir}` again")
    network, ngram_model, record = load_run(run_dir)
    hp = HParams.from_dict(record["hyperparameters"])
    # The exported graph folds subword embeddings into the vocabulary and averages the Bi-LSTM with the n-gram
    # model; the round trip below proves it equal to the unfolded models' average.
    model = folded_serving_model(network, hp, NgramLinear(ngram_model, name=NGRAM_NAME))
    created = created or dt.datetime.now(dt.UTC).replace(microsecond=0)
    sha, dirty = git_state()
    version = version_name(created, sha)
    target = out_root / version
    if target.exists():
        raise FileExistsError(f"{target} already exists")

    with tempfile.TemporaryDirectory() as tmp:
        saved_model = Path(tmp) / SERVING_VERSION
        export_saved_model(model, saved_model)
        serving_fn = tf.saved_model.load(str(saved_model)).signatures[SIGNATURE]
        texts = tf.constant(EXAMPLE_TEXTS)
        expected = (network(texts) + model.get_layer(NGRAM_NAME)(normalize_text(texts))).numpy() / 2
        difference = check_round_trip(expected, serving_fn, EXAMPLE_TEXTS)
        if difference > ROUND_TRIP_TOLERANCE:
            raise RuntimeError(f"exported model differs from the trained one by {difference:.2e}")
        example_scores = call_signature(serving_fn, EXAMPLE_TEXTS[:2])
        target.mkdir(parents=True)
        _tarball(saved_model, target / TARBALL_FILE)
        spec = signature_spec(serving_fn)

    size = (target / TARBALL_FILE).stat().st_size
    if size > MAX_TARBALL_BYTES:
        log.warning(
            "model.tar.gz is %.1f MB, above the %d MB the repository ships", size / 2**20, MAX_TARBALL_BYTES // 2**20
        )
    shutil.copytree(run_dir / "report", target / "report")
    main = report["models"][SHIPPED_NAME]
    manifest = {
        "name": "toxiguard",
        "version": version,
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "git_sha": sha,
        "git_dirty": dirty,
        "framework": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "data": {
            "file": Path(record["data"]["source"]).name,
            "sha256": record["data"]["sha256"],
            "rows": record["data"]["rows"],
            "train_rows": record["split"]["train_rows"],
            "validation_rows": record["split"]["validation_rows"],
            "split_seed": record["split"]["seed"],
            "validation_fraction": record["split"]["validation_fraction"],
            "positives": record["data"]["positives"],
            # Training-format files merged into the training split (`train --extra`), without the machine's paths.
            "extra": [{k: v for k, v in extra.items() if k != "path"} for extra in record.get("extra", [])],
            "augmentation": _augmentation_counts(record.get("augmentation")),
        },
        "composition": {
            "models": [MODEL_NAME, NGRAM_NAME],
            "combination": "mean of the two models' probabilities, in one graph",
            "ngram_features": record["training"].get("ngram_features"),
        },
        "hyperparameters": record["hyperparameters"],
        "labels": list(LABELS),
        "thresholds": report["thresholds"],
        "threshold_rule": THRESHOLD_RULE,
        "metrics": {
            "split": "validation",
            "mean_roc_auc": main["mean_roc_auc"],
            "mean_pr_auc": main["mean_pr_auc"],
            "per_label": main["labels"],
            "baseline_mean_roc_auc": report["models"].get(BASELINE_NAME, {}).get("mean_roc_auc"),
            "models": {name: m["mean_roc_auc"] for name, m in report["models"].items()},
            "comparison": report.get("comparison"),
            "test": _test_metrics(report.get("test")),
            "fairness": _fairness_metrics(report.get("fairness")),
            "functional": _functional_metrics(report.get("functional", {}).get(SHIPPED_NAME)),
        },
        "training": {
            **{
                k: record["training"][k]
                for k in ("best_epoch", "epochs_run", "seconds_per_epoch", "samples_per_second", "total_seconds")
            },
            "embeddings": record["training"].get("embeddings"),  # the pretrained vectors it started from, if any
        },
        "artifact": {"file": TARBALL_FILE, "bytes": size, "layout": SAVED_MODEL_ENTRY},
        "serving": {
            **spec,
            "example_request": {"instances": EXAMPLE_TEXTS[:2]},
            "example_response": {"predictions": np.round(example_scores, 6).tolist()},
        },
    }
    write_manifest(target, with_policy(manifest, report["block"]))
    log.info("packaged %s (%.1f MB, round-trip difference %.1e)", target, size / 2**20, difference)
    return target


def _augmentation_counts(augmentation: dict | None) -> dict | None:
    if augmentation is None:
        return None
    return {
        "rows_before": augmentation["rows_before"],
        "rows_after": augmentation["rows_after"],
        **{kind: augmentation[kind]["rows"] for kind in AUGMENTATION_KINDS},
    }


def _test_metrics(test: dict | None) -> dict | None:
    """The shipped model's numbers on the test file, with each compared model's mean."""
    if test is None:
        return None
    main = test["models"][SHIPPED_NAME]
    return {
        "file": Path(test["data"]["source"]).name,
        "sha256": test["data"]["sha256"],
        "rows": test["data"]["rows"],
        "mean_roc_auc": main["mean_roc_auc"],
        "mean_pr_auc": main["mean_pr_auc"],
        "per_label": main["labels"],
        "models": {name: m["mean_roc_auc"] for name, m in test["models"].items()},
        "comparison": test.get("comparison"),
    }


def _fairness_metrics(fairness: dict | None) -> dict | None:
    if fairness is None:
        return None
    main = fairness["results"][SHIPPED_NAME]
    return {
        "data": fairness["data"],
        "label": main["settings"]["label"],
        "bias_metric": main["final_bias_metric"],
        "overall_auc": main["overall_auc"],
        "power_means": main["power_means"],
        "subgroups_scored": len(main["subgroups"]),
        "subgroups_skipped": len(main["skipped"]),
        "models": {name: result["final_bias_metric"] for name, result in fairness["results"].items()},
    }


def _functional_metrics(result: dict | None) -> dict | None:
    """The held-out functional suite figures the publish gate and the README read."""
    if result is None:
        return None
    speech = result["negation_counter_speech"]
    return {
        "split": "heldout",
        "cases": result["cases"],
        "neutral_identity_flag_rate": result["identity_neutral_flag_rate"]["flag_rate"],
        "max_term_flag_rate": result["identity_neutral_flag_rate"]["max_term_flag_rate"],
        "group_hate_flag_rate": result["group_hate"]["flag_rate"],
        "group_hate_identity_hate_rate": result["group_hate"]["identity_hate_rate"],
        "negated_hate_not_flagged_rate": speech["negated_hate"]["not_flagged_rate"],
        "counter_speech_not_flagged_rate": speech["counter_speech"]["not_flagged_rate"],
        "obfuscation_retention": {kind: entry["retention"] for kind, entry in result["obfuscation"].items()},
        "targets_met": {name: target["met"] for name, target in result["targets"].items()},
    }
