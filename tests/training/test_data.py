"""Loading Kaggle-format files: every kind of bad input names its file, row and column."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from toxiguard.config import DEFAULT_DATA, LABELS
from toxiguard.training.data import DataError, load_evaluation, load_labelled, stratified_split

HEADER = "id,comment_text," + ",".join(LABELS)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(exc: pytest.ExceptionInfo) -> list[str]:
    return [str(p) for p in exc.value.problems]


def test_loads_the_fixture(fixtures):
    data = load_labelled(fixtures / "train_small.csv")
    assert len(data) == 40
    assert data.labels.shape == (40, 6)
    assert data.texts[37].count("\n") == 2  # a quoted multi-line comment stays one row
    assert data.texts[38] == 'He said "thanks" and moved on, which was polite.'
    assert data.summary()["positives"]["threat"] == 3


def test_gzip_and_nested_competition_zip_give_the_same_rows(tmp_path, fixtures):
    raw = (fixtures / "train_small.csv").read_bytes()
    gz = tmp_path / "train.csv.gz"
    gz.write_bytes(gzip.compress(raw))
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("train.csv", raw)
    competition = tmp_path / "jigsaw-toxic-comment-classification-challenge.zip"
    with zipfile.ZipFile(competition, "w") as z:
        z.writestr("train.csv.zip", inner.getvalue())
        z.writestr("sample_submission.csv.zip", b"")
    plain = load_labelled(fixtures / "train_small.csv")
    for path in (gz, competition):
        loaded = load_labelled(path)
        assert loaded.ids == plain.ids and loaded.texts == plain.texts
        assert loaded.sha256 == plain.sha256  # the hash is of the CSV, whatever the container


def test_missing_column_names_file_row_and_column(tmp_path):
    path = write(tmp_path, "train.csv", "id,comment_text,toxic\na1,hello,0\n")
    with pytest.raises(DataError) as exc:
        load_labelled(path)
    assert f"{path}, row 1, column 'severe_toxic': missing column" in problems(exc)[0]
    assert len(exc.value.problems) == 5


@pytest.mark.parametrize(
    ("row", "column", "fragment"),
    [
        ("a2,hello,0,0,2,0,0,0", "obscene", "label must be 0 or 1, got '2'"),
        ("a2,hello,0,0,0,yes,0,0", "threat", "got 'yes'"),
        ("a2,   ,0,0,0,0,0,0", "comment_text", "empty comment"),
        ("a1,hello again,0,0,0,0,0,0", "id", "duplicate id 'a1' (first at row 2)"),
        (",hello,0,0,0,0,0,0", "id", "empty id"),
    ],
)
def test_bad_rows_are_reported_with_row_and_column(tmp_path, row, column, fragment):
    path = write(tmp_path, "train.csv", f"{HEADER}\na1,fine,0,0,0,0,0,0\n{row}\n")
    with pytest.raises(DataError) as exc:
        load_labelled(path)
    (message,) = problems(exc)
    assert message.startswith(f"{path}, row 3 (line 3), column '{column}'")
    assert fragment in message


def test_wrong_field_count_and_nul_bytes(tmp_path):
    path = write(tmp_path, "train.csv", f'{HEADER}\na1,fine,0,0\na2,"bin\x00ary",0,0,0,0,0,0\n')
    with pytest.raises(DataError) as exc:
        load_labelled(path)
    assert "row 2 (line 2): has 4 fields, header has 8" in problems(exc)[0]
    assert "row 3 (line 3), column 'comment_text': comment is not text" in problems(exc)[1]


def test_unreadable_encoding_points_at_the_row(tmp_path):
    body = f'{HEADER}\na1,"two\nlines",0,0,0,0,0,0\na2,caf\xe9,0,0,0,0,0,0\n'.encode("latin-1")
    path = tmp_path / "train.csv"
    path.write_bytes(body)
    with pytest.raises(DataError) as exc:
        load_labelled(path)
    assert "row 3 (line 4): not valid UTF-8" in problems(exc)[0]


def test_errors_are_collected_and_capped(tmp_path):
    rows = "\n".join(f"a{i},text,0,0,0,0,0,9" for i in range(50))
    with pytest.raises(DataError) as exc:
        load_labelled(write(tmp_path, "train.csv", f"{HEADER}\n{rows}\n"))
    assert len(exc.value.problems) == 20
    assert str(exc.value).endswith("stopped after 20 problems")


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(DataError, match="file is empty"):
        load_labelled(write(tmp_path, "empty.csv", ""))
    with pytest.raises(DataError, match="file not found"):
        load_labelled(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="no data rows"):
        load_labelled(write(tmp_path, "header.csv", HEADER + "\n"))


def test_evaluation_pair_drops_unscored_rows_with_a_count(fixtures, caplog):
    caplog.set_level("INFO")
    data = load_evaluation(fixtures / "test.csv", fixtures / "test_labels.csv")
    assert data.ids == ["b000000000000001", "b000000000000002", "b000000000000004", "b000000000000005",
                        "b000000000000006"]  # fmt: skip
    assert data.dropped == {"unscored": 1, "unlabelled": 0}
    assert "dropped 1 unscored (-1) rows" in caplog.text


def test_evaluation_pair_from_the_competition_zip(tmp_path, fixtures):
    competition = tmp_path / "competition.zip"
    with zipfile.ZipFile(competition, "w") as z:
        for name in ("test.csv", "test_labels.csv"):
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w") as member:
                member.writestr(name, (fixtures / name).read_bytes())
            z.writestr(f"{name}.zip", inner.getvalue())
    assert len(load_evaluation(competition)) == 5


def test_evaluation_labels_must_match_the_texts(tmp_path, fixtures):
    labels = write(
        tmp_path, "test_labels.csv", "id," + ",".join(LABELS) + "\nzz,0,0,0,0,0,0\nb000000000000001,1,-1,0,0,0,0\n"
    )
    with pytest.raises(DataError) as exc:
        load_evaluation(fixtures / "test.csv", labels)
    assert "row 2 (line 2), column 'id': id 'zz' is not in" in problems(exc)[0]
    assert "row 3 (line 3): mixes -1 (unscored) with 0/1 labels" in problems(exc)[1]


def test_split_is_seeded_disjoint_and_stratified():
    rng = np.random.default_rng(0)
    labels = (rng.random((2000, 6)) < [0.2, 0.02, 0.1, 0.01, 0.1, 0.02]).astype(np.uint8)
    train, val = stratified_split(labels, 0.2, seed=3)
    again = stratified_split(labels, 0.2, seed=3)
    assert np.array_equal(train, again[0]) and np.array_equal(val, again[1])
    assert not np.array_equal(val, stratified_split(labels, 0.2, seed=4)[1])
    assert len(set(train) & set(val)) == 0 and len(train) + len(val) == 2000
    share = labels[val].sum(0) / labels.sum(0)
    assert np.all(np.abs(share - 0.2) < 0.08), share


@pytest.mark.shared_data
def test_shared_training_file_is_valid():
    if not DEFAULT_DATA.exists():
        pytest.skip("../shared/data is not beside this checkout")
    data = load_labelled(DEFAULT_DATA)
    assert len(data) == 52_416
    assert data.summary()["positives"]["toxic"] == 11_581
