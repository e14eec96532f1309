"""The `toxiguard` command line: exit codes and messages a user can act on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from toxiguard.artifact import moderation_action
from toxiguard.cli import main
from toxiguard.config import LABELS


def test_invalid_training_file_exits_2_naming_file_row_and_column(tmp_path, capsys):
    bad = tmp_path / "train.csv"
    bad.write_text("id,comment_text," + ",".join(LABELS) + "\na1,hi,0,0,0,0,0,maybe\n")
    assert main(["train", "--data", str(bad), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}, row 2 (line 2), column 'identity_hate': label must be 0 or 1, got 'maybe'" in err
    assert not (tmp_path / "run").exists()


def test_missing_run_exits_1_with_a_hint(tmp_path, capsys):
    assert main(["package", "--run", str(tmp_path / "nothing"), "--out", str(tmp_path)]) == 1
    assert "run `toxiguard evaluate" in capsys.readouterr().err


def test_evaluating_a_test_file_needs_its_labels(fixtures, capsys):
    assert main(["evaluate", "--data", str(fixtures / "test.csv")]) == 2
    assert "--labels is required" in capsys.readouterr().err


def test_bad_option_values_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--validation-fraction", "1.5"])
    assert exc.value.code == 2
    assert "must be between 0 and 1" in capsys.readouterr().err


@pytest.mark.slow
def test_predict_prints_scores_for_each_comment(tiny_artifact, capsys):
    assert main(["predict", "--artifact", str(tiny_artifact), "--json", "you idiot", "thank you"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model_version"] == tiny_artifact.name
    assert len(out["results"]) == 2 and set(out["thresholds"]) == set(out["block_thresholds"]) == set(LABELS)
    for result in out["results"]:  # the API's response shape
        assert set(result["scores"]) == set(LABELS)
        assert result["labels"] == [label for label in LABELS if result["scores"][label] >= out["thresholds"][label]]
        assert result["flagged"] == bool(result["labels"])
        assert result["action"] == moderation_action(
            [result["scores"][label] for label in LABELS],
            [out["thresholds"][label] for label in LABELS],
            [out["block_thresholds"][label] for label in LABELS],
        )

    assert main(["predict", "--artifact", str(tiny_artifact), "a calm remark"]) == 0
    table = capsys.readouterr().out
    assert "'a calm remark'" in table and "identity_hate" in table and "threshold" in table and "(action: " in table


@pytest.mark.slow
def test_console_script_is_installed_and_evaluates_kaggle_files(tiny_artifact, fixtures, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "toxiguard.cli", "evaluate", "--artifact", str(tiny_artifact),
         "--data", str(fixtures / "test.csv"), "--labels", str(fixtures / "test_labels.csv"),
         "--no-baseline", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["kind"] == "evaluation files"
    assert "dropped 1 unscored (-1) rows" in result.stderr
