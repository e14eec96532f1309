"""The artifact contract (`toxiguard.artifact`) and the package's public API (`toxiguard.load`)."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

import toxiguard
from toxiguard.artifact import (
    MANIFEST_FILE,
    TARBALL_FILE,
    ArtifactError,
    check_manifest,
    flagged_labels,
    latest_artifact,
    manifest_block_thresholds,
    moderation_action,
    moderation_result,
    read_artifact,
    read_manifest,
    version_name,
)
from toxiguard.config import LABELS, PROJECT_ROOT

SHIPPED = latest_artifact(PROJECT_ROOT / "artifacts")
BEFORE_BLOCK_THRESHOLDS = PROJECT_ROOT / "artifacts" / "20261124T103915Z-2b97625"


def test_versions_sort_by_time_and_name_the_commit():
    assert version_name(dt.datetime(2026, 12, 7, 9, 5, 3), "cf30c1c0ffee") == "20261207T090503Z-cf30c1c"


def test_the_newest_artifact_is_found_without_tensorflow(tmp_path):
    for version in ("20261124T103915Z-2b97625", "20261207T153321Z-cf30c1c"):
        (tmp_path / version).mkdir()
        (tmp_path / version / MANIFEST_FILE).write_text("{}")
    (tmp_path / "20991231T000000Z-notamodel").mkdir()  # no manifest: not a packaged model
    assert latest_artifact(tmp_path).name == "20261207T153321Z-cf30c1c"
    with pytest.raises(FileNotFoundError, match="no packaged model"):
        latest_artifact(tmp_path / "missing")


def test_the_flag_rule_is_at_or_above_the_threshold_in_label_order():
    assert flagged_labels(["a", "b", "c"], [0.5, 0.49, 0.9], [0.5, 0.5, 0.1]) == ["a", "c"]


@pytest.mark.parametrize(
    ("scores", "action"),
    [
        ([0.2, 0.3, 0.1], "allow"),
        ([0.5, 0.3, 0.1], "review"),  # at the review threshold
        ([0.89, 0.3, 0.1], "review"),  # just below the block threshold
        ([0.9, 0.3, 0.1], "block"),  # at the block threshold
        ([0.2, 0.99, 0.1], "review"),  # the second label has no block threshold: it never blocks by itself
        ([0.2, 0.99, 0.95], "block"),  # ... but another label's block threshold still blocks
        ([0.0, 0.0, 0.0], "allow"),
        ([1.0, 1.0, 1.0], "block"),
    ],
)
def test_the_action_rule_blocks_at_a_block_threshold_else_reviews_what_is_flagged(scores, action):
    assert moderation_action(scores, [0.5, 0.5, 0.5], [0.9, None, 0.95]) == action


def test_a_block_threshold_blocks_even_when_a_request_raises_the_review_thresholds():
    # A request's `threshold` replaces the review thresholds only: a score above its block threshold still blocks.
    assert moderation_action([0.92], [0.99], [0.9]) == "block"
    assert moderation_action([0.92], [0.99], [None]) == "allow"


def test_a_result_carries_the_action_in_the_api_shape():
    result = moderation_result(["a", "b"], [0.6, 0.95], [0.5, 0.5], [None, 0.9])
    assert result == {"scores": {"a": 0.6, "b": 0.95}, "labels": ["a", "b"], "flagged": True, "action": "block"}
    assert moderation_result(["a", "b"], [0.6, 0.1], [0.5, 0.5], [None, None])["action"] == "review"


def test_a_manifest_without_block_thresholds_still_loads_and_blocks_nothing():
    manifest = read_manifest(BEFORE_BLOCK_THRESHOLDS)
    assert "block_thresholds" not in manifest
    assert manifest_block_thresholds(manifest) == dict.fromkeys(LABELS)


def test_the_shipped_manifest_has_a_block_threshold_or_null_per_label_above_its_review_threshold():
    manifest = read_manifest(SHIPPED)
    block = manifest_block_thresholds(manifest)
    assert list(block) == list(LABELS) and "0.95" in manifest["block_rule"]
    assert all(value is None or manifest["thresholds"][label] <= value <= 1 for label, value in block.items())


def test_the_shipped_artifact_keeps_the_contract():
    files = read_artifact(SHIPPED)
    assert files.version == SHIPPED.name and files.manifest["labels"] == list(LABELS)
    assert files.size == (SHIPPED / TARBALL_FILE).stat().st_size


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"version": "v1"}, "is not <UTC time>-<git sha>"),
        ({"labels": ["toxic", "toxic"]}, "repeat"),
        ({"thresholds": {"toxic": 0.5}}, "exactly the labels"),
        ({"metrics": {"mean_roc_auc": float("nan")}}, "mean_roc_auc"),
        ({"block_thresholds": {"toxic": 0.9}}, "block_thresholds must have exactly the labels"),
        ({"block_thresholds": {**dict.fromkeys(LABELS), "toxic": 0.1}}, "review threshold to 1: toxic"),
        ({"block_thresholds": {**dict.fromkeys(LABELS), "threat": 1.5}}, "review threshold to 1: threat"),
        ({"block_thresholds": {**dict.fromkeys(LABELS), "insult": "0.9"}}, "review threshold to 1: insult"),
    ],
)
def test_a_broken_manifest_is_named_with_its_problem(change, problem):
    manifest = {**json.loads((SHIPPED / MANIFEST_FILE).read_text()), **change}
    with pytest.raises(ArtifactError, match=problem) as raised:
        check_manifest(manifest, "somewhere/manifest.json")
    assert str(raised.value).startswith("somewhere/manifest.json: ")


def test_a_tarball_that_disagrees_with_its_manifest_is_refused(tmp_path):
    copy = tmp_path / SHIPPED.name
    shutil.copytree(SHIPPED, copy, ignore=shutil.ignore_patterns("report"))
    with open(copy / TARBALL_FILE, "ab") as tarball:
        tarball.write(b"tampered")
    with pytest.raises(ArtifactError, match="bytes, but the manifest records"):
        read_artifact(copy)


@pytest.mark.slow
def test_serving_and_cloud_code_run_without_the_training_stack(python_without):
    code = (
        "import sys, toxiguard, toxiguard.serving.local.model_server, toxiguard.serving.local.gateway, "
        "toxiguard.cloud.publish, toxiguard.cloud.jobs\n"
        "result = toxiguard.load().predict('Thanks for the help!')\n"
        "assert not [m for m in sys.modules if m.startswith('toxiguard.training')]\n"
        "print(result['flagged'])"
    )
    run = python_without(("sklearn", "matplotlib", "keras_tuner"), code)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "False"


@pytest.mark.slow
def test_load_predicts_exactly_as_the_api_answers(shipped_artifact):
    model = toxiguard.load()
    assert model.version == shipped_artifact.version
    one = model.predict("I am a proud gay man and I love my husband")
    assert set(one) == {"scores", "labels", "flagged", "action"} and list(one["scores"]) == list(LABELS)
    assert one["action"] == "allow"
    texts = ["You are a complete idiot and everyone here hates you.", "Thanks for the help!"]
    many = model.predict(texts)
    scores = shipped_artifact.score(texts)
    for result, row in zip(many, scores, strict=True):
        assert result["scores"] == {label: float(s) for label, s in zip(LABELS, row, strict=True)}
        assert result["labels"] == flagged_labels(LABELS, row, [model.thresholds[label] for label in LABELS])
        blocks = [model.block_thresholds[label] for label in LABELS]
        assert result["action"] == moderation_action(row, [model.thresholds[label] for label in LABELS], blocks)
    assert many[0]["flagged"] and not many[1]["flagged"]
