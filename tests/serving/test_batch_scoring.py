"""`toxiguard score`: streaming CSV scoring keeps every row, in order, and reports bad rows by number."""

from __future__ import annotations

import csv
import gzip

import numpy as np
import pytest

from toxiguard import cli
from toxiguard.config import LABELS
from toxiguard.serving import batch
from toxiguard.serving.client import LocalScorer

pytestmark = pytest.mark.slow

FRIENDLY = "Thanks for fixing the references, the article reads much better now."
RUDE = "You are a pathetic idiot and nobody wants you here."


@pytest.fixture(scope="module")
def scorer(shipped_artifact):
    return LocalScorer(shipped_artifact)


def write_csv(path, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def read_csv(path) -> list[dict]:
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as f:
        return list(csv.DictReader(f))


def test_scores_every_row_in_order_with_the_models_verdicts(tmp_path, scorer, shipped_artifact):
    source = tmp_path / "comments.csv"
    write_csv(source, [["id", "comment_text", "source"], ["a", FRIENDLY, "web"], ["b", RUDE, "app"],
                       ["c", "multi-line\ncomment, with a comma", "web"]])  # fmt: skip
    summary = batch.score_file(source, tmp_path / "out.csv", scorer, show_progress=False)

    rows = read_csv(tmp_path / "out.csv")
    assert [r["id"] for r in rows] == ["a", "b", "c"] and rows[2]["source"] == "web"
    expected = shipped_artifact.score([FRIENDLY, RUDE, "multi-line\ncomment, with a comma"])
    got = np.array([[float(r[f"score_{label}"]) for label in LABELS] for r in rows])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert rows[0]["flagged"] == "false" and rows[1]["flagged"] == "true"
    assert "insult" in rows[1]["flagged_labels"].split()
    assert (summary.rows, summary.scored, summary.flagged, summary.bad_rows) == (3, 3, 1, [])


def test_bad_rows_are_kept_with_an_error_and_reported_by_row_number(tmp_path, scorer):
    source = tmp_path / "mixed.csv"
    source.write_bytes(
        b"id,comment_text\n"
        b"1,fine comment\n"
        b"2,\n"  # row 3: empty
        b"3,bad \xff bytes\n"  # row 4: invalid UTF-8
        b"4,too,many\n"  # row 5: three fields
        b'5,"   "\n'  # row 6: whitespace only
        b"6,another fine comment\n"
    )
    summary = batch.score_file(source, tmp_path / "out.csv", scorer, show_progress=False)

    assert [number for number, _ in summary.bad_rows] == [3, 4, 5, 6]
    problems = dict(summary.bad_rows)
    assert problems[3] == "empty comment text" and "UTF-8" in problems[4] and "3 fields" in problems[5]
    rows = read_csv(tmp_path / "out.csv")
    assert [r["id"] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    assert b"3,bad \xff bytes," in (tmp_path / "out.csv").read_bytes()  # the undecodable row is copied byte for byte
    assert rows[0]["score_error"] == "" and rows[0]["score_toxic"] != ""
    assert rows[3]["score_error"] == problems[5] and rows[3]["score_toxic"] == ""
    assert rows[5]["score_toxic"] != ""


def test_small_chunks_give_the_same_file_as_one_chunk(tmp_path, scorer):
    source = tmp_path / "many.csv"
    texts = [FRIENDLY, RUDE, "", "what a lovely photo", "shut up, moron"] * 7
    write_csv(source, [["id", "comment_text"], *([str(i), t] for i, t in enumerate(texts))])
    batch.score_file(source, tmp_path / "one.csv", scorer, chunk_rows=1024, show_progress=False)
    batch.score_file(source, tmp_path / "small.csv", scorer, chunk_rows=3, show_progress=False)
    one, small = read_csv(tmp_path / "one.csv"), read_csv(tmp_path / "small.csv")
    assert len(one) == len(texts) and [r["id"] for r in small] == [r["id"] for r in one]
    for a, b in zip(one, small, strict=True):
        for label in LABELS:  # batches of other lengths pad differently; scores must not notice beyond float noise
            assert (a[f"score_{label}"] == "") == (b[f"score_{label}"] == "")
            if a[f"score_{label}"]:
                assert abs(float(a[f"score_{label}"]) - float(b[f"score_{label}"])) < 1e-5


def test_streams_a_chunk_at_a_time(tmp_path, scorer):
    """However long the file, the scorer never sees more than one chunk, so memory stays flat."""
    source = tmp_path / "long.csv"
    with source.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "comment_text"])
        writer.writerows([i, f"comment number {i}"] for i in range(2500))
    calls = []

    class Spy:
        model_version = scorer.model_version

        def moderate(self, texts):
            calls.append(len(texts))
            return scorer.moderate(texts)

    summary = batch.score_file(source, tmp_path / "out.csv", Spy(), chunk_rows=1000, show_progress=False)
    assert calls == [1000, 1000, 500] and summary.scored == 2500
    assert not (tmp_path / "out.csv.partial").exists()


def test_reads_gzip_and_a_custom_column(tmp_path, scorer):
    source = tmp_path / "posts.csv.gz"
    with gzip.open(source, "wt", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["post", "body"], ["p1", RUDE]])
    batch.score_file(source, tmp_path / "out.csv", scorer, column="body", show_progress=False)
    assert read_csv(tmp_path / "out.csv")[0]["flagged"] == "true"


def test_a_missing_column_or_file_names_the_file(tmp_path, scorer):
    source = tmp_path / "nocol.csv"
    write_csv(source, [["id", "text"], ["1", "hi"]])
    with pytest.raises(batch.ScoreFileError, match=r"nocol\.csv: row 1 \(header\) has no column 'comment_text'"):
        batch.score_file(source, tmp_path / "out.csv", scorer, show_progress=False)
    with pytest.raises(batch.ScoreFileError, match=r"missing\.csv: no such file"):
        batch.score_file(tmp_path / "missing.csv", tmp_path / "out.csv", scorer, show_progress=False)


def test_cli_exit_codes_and_report(tmp_path, capsys, shipped_artifact):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    write_csv(good, [["id", "comment_text"], ["1", FRIENDLY]])
    write_csv(bad, [["id", "comment_text"], ["1", FRIENDLY], ["2", ""]])
    artifact = ["--artifact", str(shipped_artifact.directory), "--quiet"]

    assert cli.main(["score", str(good), *artifact]) == 0
    assert (tmp_path / "good.scored.csv").exists()
    assert cli.main(["score", str(bad), "--out", str(tmp_path / "b.csv"), *artifact]) == 2
    err = capsys.readouterr().err
    assert "2 rows, 1 scored, 0 flagged, 1 not scored" in err and "bad.csv: row 3: empty comment text" in err
    assert cli.main(["score", str(tmp_path / "nope.csv"), *artifact]) == 2
    assert "nope.csv: no such file" in capsys.readouterr().err
