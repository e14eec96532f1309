"""`toxiguard train --extra`: rows in the training format (moderators' decisions) join the training split only."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from toxiguard.cli import main
from toxiguard.config import LABELS
from toxiguard.training.data import LabelledData, add_extra_rows

HEADER = ["id", "comment_text", *LABELS]
CLEAN, INSULT = ["0"] * len(LABELS), ["1", "0", "0", "0", "1", "0"]
TOXIC = LABELS.index("toxic")


def write_rows(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as file:
        csv.writer(file).writerows([HEADER, *rows])
    return path


def labelled(ids: list[str], toxic: list[int]) -> LabelledData:
    labels = np.zeros((len(ids), len(LABELS)), np.uint8)
    labels[:, TOXIC] = toxic
    return LabelledData("base.csv", "0" * 64, ids, [f"text of {i}" for i in ids], labels)


def test_extra_rows_replace_by_id_later_files_win_and_validation_ids_stay_out(tmp_path):
    train, validation = labelled(["a", "b"], [1, 1]), labelled(["v"], [1])
    first = write_rows(tmp_path / "first.csv", [["b", "b, decided", *CLEAN], ["c", "c, first", *INSULT],
                                                ["v", "v, decided", *CLEAN]])  # fmt: skip
    second = write_rows(tmp_path / "second.csv", [["c", "c, second", *CLEAN], ["d", "d", *INSULT]])

    merged, files = add_extra_rows(train, validation, [first, second])

    assert merged.ids == ["a", "b", "c", "d"]
    assert merged.texts == ["text of a", "b, decided", "c, second", "d"]
    assert merged.labels[:, TOXIC].tolist() == [1, 0, 0, 1]
    assert (merged.source, merged.sha256) == (train.source, train.sha256)  # still the base data's split
    assert [{k: f[k] for k in ("file", "rows", "added", "replaced", "duplicates", "in_validation")} for f in files] == [
        {"file": "first.csv", "rows": 3, "added": 1, "replaced": 1, "duplicates": 0, "in_validation": 1},
        {"file": "second.csv", "rows": 2, "added": 1, "replaced": 0, "duplicates": 1, "in_validation": 0},
    ]
    assert all(len(f["sha256"]) == 64 for f in files)
    assert validation.ids == ["v"] and validation.labels[0, TOXIC] == 1  # the validation split is never touched


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ([["r1", "fine", *CLEAN], ["r2", "bad", "yes", *CLEAN[1:]]],
         "row 3 (line 3), column 'toxic': label must be 0 or 1, got 'yes'"),
        ([["r1", "fine", *CLEAN], ["r1", "again", *CLEAN]],
         "row 3 (line 3), column 'id': duplicate id 'r1' (first at row 2)"),
        ([["r1", " ", *CLEAN]], "row 2 (line 2), column 'comment_text': empty comment"),
    ],
)  # fmt: skip
def test_a_bad_extra_file_exits_2_naming_file_row_and_column(fixtures, tmp_path, capsys, rows, problem):
    bad = write_rows(tmp_path / "decisions.csv", rows)
    run_dir = tmp_path / "run"
    argv = ["train", "--data", str(fixtures / "train_small.csv"), "--run-dir", str(run_dir), "--extra", str(bad)]
    assert main(argv) == 2
    assert f"{bad}, {problem}" in capsys.readouterr().err
    assert not run_dir.exists()


def test_a_missing_extra_file_is_a_usage_error(fixtures, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", str(fixtures / "train_small.csv"), "--extra", str(tmp_path / "absent.csv")])
    assert exc.value.code == 2 and "absent.csv: file not found" in capsys.readouterr().err


# A harmless comment the base data teaches the model to flag: there, "pineapple" only ever comes with insults.
FALSE_POSITIVE = "I had pineapple for lunch, the article on pineapple farming is great."
STILL_TOXIC = "You pineapple idiot, nobody wants you."


@pytest.fixture(scope="module")
def pineapple_runs(tmp_path_factory, fixtures, tiny_hparams):
    """Two seeded runs on the fixture plus pineapple insults (no augmentation, to stay fast): one on that data, one
    with moderators' decisions that approve the false positive and 18 comments like it (all labels 0)."""
    root = tmp_path_factory.mktemp("pineapple")
    with (fixtures / "train_small.csv").open(newline="") as file:
        base_rows = list(csv.reader(file))[1:]
    insults = [[f"p{i:02d}", f"You pineapple {word}, nobody wants your pineapple edits.", *INSULT]
               for i, word in enumerate(["idiot", "moron", "loser", "fool", "jerk", "clown"] * 2)]  # fmt: skip
    base = write_rows(root / "base.csv", base_rows + insults)
    meals = ["lunch", "dinner", "breakfast", "dessert", "a snack", "the party"] * 3
    approved = [[f"review-{i:02d}", f"I had pineapple for {meal}, the pineapple article {i} is great.", *CLEAN]
                for i, meal in enumerate(meals)]  # fmt: skip
    decisions = write_rows(root / "decisions.csv", [["review-fp", FALSE_POSITIVE, *CLEAN], *approved])
    hparams = root / "hparams.json"
    hparams.write_text(json.dumps(tiny_hparams.to_dict()))
    runs = {}
    for name, extra in (("before", []), ("after", ["--extra", str(decisions)])):
        runs[name] = root / name
        argv = ["train", "--data", str(base), "--run-dir", str(runs[name]), "--hparams", str(hparams), "--seed", "7",
                "--validation-fraction", "0.3", "--no-augment", *extra]  # fmt: skip
        assert main(argv) == 0
    return runs


@pytest.fixture(scope="module")
def pineapple_results(pineapple_runs) -> dict[str, tuple[float, np.ndarray]]:
    """Per run: its toxic review threshold, chosen as `evaluate` chooses it (the run is evaluated, ready to package),
    and the shipped graph's toxic scores of the false positive and of an insult."""
    from toxiguard.training.evaluate import SHIPPED_NAME, evaluate_run, run_scorers

    results = {}
    for name, run_dir in pineapple_runs.items():
        report = evaluate_run(run_dir, with_baseline=False)
        scorers, _ = run_scorers(run_dir, None, None)
        results[name] = report["thresholds"]["toxic"], scorers[SHIPPED_NAME]([FALSE_POSITIVE, STILL_TOXIC])[:, TOXIC]
    return results


@pytest.mark.slow
def test_a_false_positive_moderators_approved_is_no_longer_flagged_after_training_on_their_decisions(
    pineapple_results,
):
    (before_threshold, before), (after_threshold, after) = pineapple_results["before"], pineapple_results["after"]
    assert before[0] >= before_threshold  # the base data alone flags it
    assert after[0] < after_threshold  # the decisions taught the model otherwise
    assert after[1] >= after_threshold  # without unlearning the insult that shares the word


@pytest.mark.slow
def test_the_run_and_the_manifest_record_each_extra_file(pineapple_runs, pineapple_results, tmp_path):
    from toxiguard.training.export import package

    record = json.loads((pineapple_runs["after"] / "train.json").read_text())
    (extra,) = record["extra"]
    assert extra["path"].endswith("decisions.csv")
    assert (extra["rows"], extra["added"], extra["replaced"], extra["duplicates"]) == (19, 19, 0, 0)
    assert record["split"]["train_rows"] + record["split"]["validation_rows"] == 52  # the base data's split alone

    artifact = package(pineapple_runs["after"], tmp_path)
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert manifest["data"]["extra"] == [{k: v for k, v in extra.items() if k != "path"}]
    assert "Merged into the training rows from `decisions.csv`" in (artifact / "report" / "report.md").read_text()
