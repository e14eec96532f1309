"""The decision policy (`toxiguard.training.decision_policy`): how block thresholds are chosen and shipped."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from toxiguard.artifact import check_manifest, latest_artifact, manifest_block_thresholds, read_manifest
from toxiguard.cli import main
from toxiguard.config import LABELS, PROJECT_ROOT
from toxiguard.training.decision_policy import (
    BLOCK_PRECISION,
    Scored,
    block_policy,
    lowest_block_threshold,
    render_markdown,
    with_policy,
)

# Ten comments by score, positives at 0.7, 0.9 and 0.95: precision 3/5 from 0.6, 3/4 from 0.7, 2/3 from 0.8, 1 from 0.9.
SCORES = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
POSITIVES = np.array([0, 0, 0, 0, 0, 0, 1, 0, 1, 1])


def test_the_block_threshold_is_the_lowest_where_precision_holds_from_there_up():
    assert lowest_block_threshold(POSITIVES, SCORES, review_threshold=0.5) == 0.9
    assert lowest_block_threshold(POSITIVES, SCORES, review_threshold=0.5, precision=0.6) == 0.6
    # Never below the review threshold: where precision already holds there, the review threshold itself.
    assert lowest_block_threshold(POSITIVES, SCORES, review_threshold=0.85) == 0.85


def test_precision_must_hold_at_every_higher_threshold_not_just_at_the_lowest():
    # 0.7 reaches 0.7 (3/4), but 0.8 falls to 2/3: the lowest threshold from which it holds all the way up is 0.9.
    assert lowest_block_threshold(POSITIVES, SCORES, review_threshold=0.5, precision=0.7) == 0.9
    # 0.6 and up: 4 positives of 5 (0.8); but the top comment alone is a false positive (precision 0 at 0.99).
    scores, positives = np.array([0.6, 0.7, 0.8, 0.9, 0.99]), np.array([1, 1, 1, 1, 0])
    assert lowest_block_threshold(positives, scores, review_threshold=0.5, precision=0.75) is None


def test_a_precision_exactly_at_the_target_qualifies():
    scores, positives = np.linspace(0.51, 0.99, 20), np.array([0] + [1] * 19)  # 19 of 20 at 0.51
    assert lowest_block_threshold(positives, scores, review_threshold=0.5, precision=0.95) == 0.5


def test_no_block_threshold_when_nothing_reaches_the_review_threshold():
    assert lowest_block_threshold(POSITIVES, SCORES, review_threshold=0.99) is None


def _data(scores: np.ndarray, positives: np.ndarray) -> Scored:
    """The same scores and labels for every label."""
    labels, scores = (np.tile(column[:, None], (1, len(LABELS))) for column in (positives, scores))
    return Scored(f"{len(scores)} comments", labels, scores)


def test_the_policy_takes_the_larger_threshold_of_validation_and_test_and_null_when_either_has_none():
    review = dict.fromkeys(LABELS, 0.5)
    stricter = _data(np.array([0.6, 0.7, 0.8, 0.9, 0.95]), np.array([0, 0, 1, 1, 1]))  # holds from 0.8
    policy = block_policy(review, {"validation": _data(SCORES, POSITIVES), "test": stricter})
    assert policy["thresholds"] == dict.fromkeys(LABELS, 0.9)
    toxic = policy["per_label"]["toxic"]
    assert toxic["validation"]["lowest_threshold"] == 0.9 and toxic["test"]["lowest_threshold"] == 0.8
    assert toxic["test"] == {"lowest_threshold": 0.8, "flagged": 2, "flagged_share": 0.4, "precision": 1.0,
                             "recall": 2 / 3, "positives": 3}  # fmt: skip
    assert policy["actions"]["test"] == {"allow": 0, "review": 3, "block": 2, "block_precision": 1.0}
    assert "0.95" in policy["rule"] and "10 comments and on 5 comments" in policy["rule"]

    hopeless = _data(np.array([0.6, 0.99]), np.array([1, 0]))
    policy = block_policy(review, {"validation": _data(SCORES, POSITIVES), "test": hopeless})
    assert policy["thresholds"] == dict.fromkeys(LABELS)
    assert policy["per_label"]["toxic"]["validation"]["flagged"] == 0  # a null threshold blocks nothing
    assert policy["actions"]["validation"]["block"] == 0
    assert "| toxic | 0.5000 | n/a | 0.9000 |" in render_markdown(policy)


def test_the_manifest_gets_the_policy_next_to_the_review_thresholds_and_stays_valid():
    shipped = json.loads((latest_artifact(PROJECT_ROOT / "artifacts") / "manifest.json").read_text())
    policy = block_policy(shipped["thresholds"], {"validation": _data(SCORES, POSITIVES)})
    manifest = with_policy(shipped, policy)
    keys = list(manifest)
    after_the_review_thresholds = keys[keys.index("threshold_rule") + 1 :][:2]
    assert after_the_review_thresholds == ["block_thresholds", "block_rule"]
    assert manifest["metrics"]["block"]["precision_target"] == BLOCK_PRECISION
    assert set(manifest["metrics"]["block"]["per_label"]) == set(LABELS)
    check_manifest(manifest, "manifest.json")
    assert manifest_block_thresholds(manifest) == policy["thresholds"]
    assert with_policy(manifest, policy) == manifest  # applying it again changes nothing


@pytest.mark.slow
def test_a_training_run_ships_its_block_thresholds(tiny_run, tiny_artifact):
    report = json.loads((tiny_run / "report" / "report.json").read_text())
    assert set(report["block"]["data"]) == {"validation", "test"}
    manifest = json.loads((tiny_artifact / "manifest.json").read_text())
    assert manifest["block_thresholds"] == report["block"]["thresholds"]
    assert manifest["block_rule"] == report["block"]["rule"]
    assert manifest["metrics"]["block"]["per_label"] == report["block"]["per_label"]
    assert "## Decision policy" in (tiny_run / "report" / "report.md").read_text()


@pytest.mark.slow
def test_the_cli_gives_a_packaged_model_its_block_thresholds(tiny_artifact, fixtures, tmp_path, capsys):
    artifact = tmp_path / tiny_artifact.name
    shutil.copytree(tiny_artifact, artifact)
    packaged = json.loads((artifact / "manifest.json").read_text())
    before = {k: v for k, v in packaged.items() if k not in ("block_thresholds", "block_rule")}
    before["metrics"] = {k: v for k, v in before["metrics"].items() if k != "block"}
    (artifact / "manifest.json").write_text(json.dumps(before, indent=2) + "\n")  # as packaged before the policy

    argv = ["decision-policy", "--artifact", str(artifact), "--data", str(fixtures / "train_small.csv"),
            "--test", str(fixtures / "test.csv"), "--test-labels", str(fixtures / "test_labels.csv")]  # fmt: skip
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    manifest = read_manifest(artifact)
    assert printed["block_thresholds"] == manifest["block_thresholds"]
    # The exported signature scores what the training run scored (to 1e-5), so it chooses the same thresholds.
    for label, threshold in packaged["block_thresholds"].items():
        expected = None if threshold is None else pytest.approx(threshold, abs=1e-5)
        assert manifest["block_thresholds"][label] == expected
    assert manifest["block_rule"] == packaged["block_rule"]
    assert "## Decision policy" in (artifact / "report" / "report.md").read_text()

    other = tmp_path / "other.csv"  # a valid training file, but not the model's: its validation split is another
    other.write_text("".join((fixtures / "train_small.csv").read_text().splitlines(keepends=True)[:-1]))
    assert main([*argv[:3], "--data", str(other)]) == 1
    assert "is not the data the model was trained on" in capsys.readouterr().err
