"""Train -> evaluate -> package on the fixture (seconds), then check the artifact round trip."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from toxiguard.artifact import SIGNATURE, latest_artifact, version_name
from toxiguard.config import LABELS, HParams
from toxiguard.serving.model import ServingModel, call_signature, checkpoint_parameters
from toxiguard.training.augment import AUGMENTATION_KINDS
from toxiguard.training.evaluate import (
    BASELINE_NAME,
    MODEL_NAME,
    NGRAM_NAME,
    SHIPPED_NAME,
    label_metrics,
    max_f1_threshold,
)
from toxiguard.training.model import score_texts
from toxiguard.training.ngram import NgramLinear
from toxiguard.training.normalize import normalize_text
from toxiguard.training.train import load_run

pytestmark = pytest.mark.slow


def test_training_run_records_history_and_data(tiny_run, tiny_hparams):
    record = json.loads((tiny_run / "train.json").read_text())
    assert record["hyperparameters"] == tiny_hparams.to_dict()
    assert record["split"]["train_rows"] + record["split"]["validation_rows"] == 40
    assert len(record["data"]["sha256"]) == 64
    history = record["training"]["history"]
    assert {"loss", "val_loss", "val_mean_roc_auc", "val_roc_auc_toxic", "epoch_seconds"} <= set(history)
    assert 1 <= record["training"]["best_epoch"] <= record["training"]["epochs_run"] <= 2


def test_training_adds_augmented_rows_and_fits_the_ngram_model(tiny_run):
    record = json.loads((tiny_run / "train.json").read_text())
    augmentation = record["augmentation"]
    added = sum(augmentation[kind]["rows"] for kind in AUGMENTATION_KINDS)
    assert augmentation["rows_before"] == record["split"]["train_rows"]
    assert augmentation["rows_after"] == augmentation["rows_before"] + added
    assert augmentation["group_statements"]["rows"] > 0 and augmentation["templates"]["rows"] == 0
    assert (tiny_run / "ngram.npz").exists() and record["training"]["ngram_features"] > 0


def test_report_compares_models_on_validation_test_fairness_and_functional_suite(tiny_run):
    report = json.loads((tiny_run / "report" / "report.json").read_text())
    models = {SHIPPED_NAME, MODEL_NAME, NGRAM_NAME, BASELINE_NAME}
    assert set(report["models"]) == models and report["thresholded_model"] == SHIPPED_NAME
    assert set(report["thresholds"]) == set(LABELS)
    assert report["comparison"]["model"] == SHIPPED_NAME
    assert set(report["test"]["models"]) == models and report["test"]["data"]["rows"] == 5
    assert set(report["fairness"]["results"]) == models
    assert set(report["functional"]) == models
    assert report["functional"][SHIPPED_NAME]["cases"] > 1500
    for plot in report["plots"]:
        assert (tiny_run / "report" / plot).read_bytes()[:4] == b"\x89PNG"
    assert {"functional_pass_rates.png", "identity_flag_rates.png", "identity_bias.png"} <= set(report["plots"])
    markdown = (tiny_run / "report" / "report.md").read_text()
    assert "| toxic |" in markdown and "![roc_curves.png](roc_curves.png)" in markdown
    for section in ("## Test file", "## Identity bias", "## Functional suite", "## Model card", "### Out of scope"):
        assert section in markdown


def test_artifact_layout_is_what_sagemaker_tf_serving_loads(tiny_artifact):
    with tarfile.open(tiny_artifact / "model.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"1/saved_model.pb", "1/variables/variables.index"} <= names
    assert all(name.startswith("1/") or name == "1" for name in names)


def test_manifest_documents_version_signature_and_metrics(tiny_artifact):
    manifest = json.loads((tiny_artifact / "manifest.json").read_text())
    assert tiny_artifact.name == manifest["version"]
    assert manifest["version"].endswith(manifest["git_sha"][:7])
    assert manifest["labels"] == list(LABELS)
    assert set(manifest["thresholds"]) == set(LABELS)
    assert manifest["data"]["rows"] == 40 and len(manifest["data"]["sha256"]) == 64
    assert manifest["framework"]["tensorflow"] == tf.__version__
    assert manifest["training"]["embeddings"] is None  # trained from a random start: no vectors file to record
    serving = manifest["serving"]
    (input_spec,) = serving["inputs"].values()
    (output_spec,) = serving["outputs"].values()
    assert input_spec == {"dtype": "string", "shape": [-1]}
    assert output_spec == {"dtype": "float32", "shape": [-1, 6]}
    request, response = serving["example_request"], serving["example_response"]
    assert isinstance(request["instances"], list) and all(isinstance(t, str) for t in request["instances"])
    assert np.array(response["predictions"]).shape == (len(request["instances"]), 6)
    assert manifest["metrics"]["mean_roc_auc"] > 0 and manifest["metrics"]["baseline_mean_roc_auc"] > 0
    assert manifest["metrics"]["test"]["rows"] == 5
    assert set(manifest["metrics"]["fairness"]) >= {"bias_metric", "models", "subgroups_scored"}
    functional = manifest["metrics"]["functional"]
    assert 0 <= functional["neutral_identity_flag_rate"] <= 1 and functional["split"] == "heldout"
    assert manifest["composition"]["models"] == [MODEL_NAME, NGRAM_NAME]
    assert (tiny_artifact / "report" / "report.md").exists()


def trained_scores(run_dir, texts: list[str]) -> np.ndarray:
    """The mean of the run's Bi-LSTM and n-gram model, computed apart: what the exported graph must equal."""
    model, ngram_model, _ = load_run(run_dir)
    ngram = NgramLinear(ngram_model)(normalize_text(tf.constant(texts))).numpy()
    return (score_texts(model, texts) + ngram) / 2


def test_every_weight_is_stored_once(tiny_run, tiny_artifact):
    model, ngram_model, _ = load_run(tiny_run)
    expected = model.count_params() + ngram_model.weights.size + ngram_model.idf.size + ngram_model.bias.size
    assert checkpoint_parameters(_extract(tiny_artifact)) == expected
    assert ServingModel(tiny_artifact).parameter_count == expected


def test_exported_signature_matches_the_trained_models(tiny_run, tiny_artifact):
    texts = ["You are an idiot", "thanks for the help", "", "?!", "word " * 100, "y0u 1d10t"]
    loaded = tf.saved_model.load(str(_extract(tiny_artifact)))
    exported = call_signature(loaded.signatures[SIGNATURE], texts)
    np.testing.assert_allclose(exported, trained_scores(tiny_run, texts), atol=1e-5)
    # The example response in the manifest is what the exported model really answers.
    manifest = json.loads((tiny_artifact / "manifest.json").read_text())
    example = call_signature(loaded.signatures[SIGNATURE], manifest["serving"]["example_request"]["instances"])
    np.testing.assert_allclose(example, manifest["serving"]["example_response"]["predictions"], atol=1e-5)


def test_artifact_scores_in_input_order_whatever_the_batching(tiny_run, tiny_artifact):
    texts = [f"comment {'idiot ' * (i % 7)} number {i}" for i in range(23)]
    artifact = ServingModel(tiny_artifact)
    np.testing.assert_allclose(artifact.score(texts, batch_size=5), trained_scores(tiny_run, texts), atol=1e-5)
    assert latest_artifact(tiny_artifact.parent) == tiny_artifact


def test_package_refuses_to_overwrite_a_version(tiny_run, tiny_artifact):
    import datetime as dt

    from toxiguard.training.export import package

    created = dt.datetime.strptime(tiny_artifact.name.split("-")[0], "%Y%m%dT%H%M%SZ")
    with pytest.raises(FileExistsError):
        package(tiny_run, tiny_artifact.parent, created=created)


def test_version_names_sort_by_time():
    import datetime as dt

    early = version_name(dt.datetime(2026, 1, 2, 3, 4, 5), "ffffffffff")
    late = version_name(dt.datetime(2026, 1, 2, 3, 4, 6), "0000000000")
    assert early == "20260102T030405Z-fffffff" and early < late


def test_max_f1_threshold_and_metrics_on_a_known_case():
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.6, 0.7, 0.9])
    assert max_f1_threshold(y, s) == pytest.approx(0.7)
    labels = np.tile(y[:, None], (1, 6))
    metrics = label_metrics(labels, np.tile(s[:, None], (1, 6)))["labels"]["toxic"]
    assert metrics["roc_auc"] == 1.0 and metrics["precision"] == 1.0 and metrics["recall"] == 1.0


def test_evaluation_files_use_the_shipped_thresholds(tiny_artifact, fixtures, tmp_path):
    from toxiguard.training.evaluate import evaluate_files

    artifact = ServingModel(tiny_artifact)
    report = evaluate_files(
        artifact.score, artifact.thresholds, fixtures / "test.csv", fixtures / "test_labels.csv", tmp_path
    )
    assert report["data"]["rows"] == 5 and report["data"]["dropped"]["unscored"] == 1
    assert report["thresholds"] == artifact.thresholds
    assert (tmp_path / "report.md").exists() and (tmp_path / "roc_curves.png").exists()


def test_hparams_file_round_trip(tmp_path):
    path = tmp_path / "hparams.json"
    path.write_text(json.dumps({"hyperparameters": {"lstm_units": 32}, "tuning": {}}))
    assert HParams.load(path).lstm_units == 32
    assert HParams.load(tmp_path / "absent.json") == HParams()
    path.write_text(json.dumps({"lstm_unit": 32}))
    with pytest.raises(ValueError, match="unknown hyperparameters: lstm_unit"):
        HParams.load(path)


def _extract(artifact_dir):
    target = artifact_dir / "extracted"
    if not target.exists():
        with tarfile.open(artifact_dir / "model.tar.gz") as tar:
            tar.extractall(target, filter="data")
    return target / "1"
