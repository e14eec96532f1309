"""Pretrained word vectors: the file formats, their errors, and the table training starts from."""

from __future__ import annotations

import dataclasses
import gzip
import json

import keras
import numpy as np
import pytest

from toxiguard.cli import main
from toxiguard.training.data import DataError, load_split
from toxiguard.training.embeddings import INITIAL_SPREAD, INITIAL_STD, initial_word_table, read_vectors
from toxiguard.training.train import fit


def write(path, text: str):
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_fasttext_file_with_header_prefers_the_lower_case_entry(tmp_path):
    vec = write(tmp_path / "wiki.vec", "4 3\nWorld 5 6 7\nworld 1 2 3\nHello 4 4 4\nHELLO 9 9 9\n")
    vectors = read_vectors(vec, ["world", "hello", "absent"])
    assert vectors.dim == 3 and vectors.words_in_file == 4
    np.testing.assert_array_equal(vectors.vectors[0], [1, 2, 3])  # exact lower-case entry wins over "World"
    np.testing.assert_array_equal(vectors.vectors[1], [4, 4, 4])  # else the first (most frequent) case variant
    assert vectors.covered.tolist() == [True, True, False]
    assert vectors.summary()["vocabulary_coverage"] == pytest.approx(2 / 3, abs=1e-4)


def test_gzipped_glove_file_without_header_and_words_with_spaces(tmp_path):
    glove = write(tmp_path / "glove.txt.gz", "the 0.5 -1.0\n. . . 2 2\nidiot 1e-1 3\n")
    vectors = read_vectors(glove, ["idiot", ". . .", "the"])
    assert vectors.dim == 2 and vectors.words_in_file == 3
    np.testing.assert_allclose(vectors.vectors, [[0.1, 3], [2, 2], [0.5, -1.0]])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("2 3\nhi 1 2 3\nyou 1 x 3\n", "row 3, column 'value 2': not a number: 'x'"),
        ("hi 1 2 3\nyou 1 2\n", "row 2: 2 values where the first vector has 3"),
        ("", "no vectors in the file"),
        ("hi\n", "row 1: expected a word followed by its vector's values"),
    ],
)
def test_bad_vector_files_name_the_file_and_line(tmp_path, content, message):
    vec = write(tmp_path / "bad.vec", content)
    with pytest.raises(DataError) as exc:
        read_vectors(vec, ["hi", "you"])
    assert f"{vec}, {message}" in str(exc.value) or f"{vec}: {message}" in str(exc.value)


def test_invalid_utf8_is_reported_with_its_line(tmp_path):
    vec = tmp_path / "latin1.vec"
    vec.write_bytes(b"hi 1 2\ncaf\xe9 3 4\n")
    with pytest.raises(DataError, match=r"row 2: not valid UTF-8"):
        read_vectors(vec, ["hi"])


def test_initial_table_reduces_scales_and_keeps_random_rows(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(5, 6))
    values[4] = values[3]  # two words with the same vector must keep the same row
    lines = [f"w{i} " + " ".join(f"{v:.6f}" for v in row) for i, row in enumerate(values)]
    vectors = read_vectors(write(tmp_path / "v.vec", "\n".join(lines) + "\n"), ["w0", "w1", "w2", "w3", "w4", "none"])

    table = initial_word_table(vectors, rows=10, dim=4, first_row=2, seed=1)
    random_rows = np.random.default_rng(1).uniform(-INITIAL_SPREAD, INITIAL_SPREAD, size=(10, 4))
    assert table.shape == (10, 4) and table.dtype == np.float32
    np.testing.assert_allclose(table[[0, 1, 7, 8, 9]], random_rows[[0, 1, 7, 8, 9]], rtol=1e-6)  # pad, OOV, no vector
    pretrained = table[2:7]
    np.testing.assert_array_equal(pretrained[3], pretrained[4])
    assert pretrained.std() == pytest.approx(INITIAL_STD, rel=1e-4)
    # PCA keeps the geometry: pairwise distances in 4-d follow those in 6-d.
    original = np.linalg.norm(values[:, None] - values[None], axis=-1)
    reduced = np.linalg.norm(pretrained[:, None] - pretrained[None], axis=-1)
    assert np.corrcoef(original.ravel(), reduced.ravel())[0, 1] > 0.9


def test_vectors_narrower_than_the_embedding_are_refused(tmp_path):
    vectors = read_vectors(write(tmp_path / "v.vec", "a 1 2\nb 3 4\n"), ["a", "b"])
    with pytest.raises(ValueError, match="fewer than embedding_dim 8"):
        initial_word_table(vectors, rows=4, dim=8, first_row=2, seed=0)


def _fixture_vectors(path, words: list[str], dim: int = 10):
    """Hand-made vectors: one direction for insults, another for the rest, plus noise."""
    rng = np.random.default_rng(3)
    insults = {"idiot", "stupid", "moron", "loser", "pathetic"}
    rows = []
    for word in words:
        base = np.eye(dim)[0] if word in insults else np.eye(dim)[1]
        rows.append(f"{word} " + " ".join(f"{v:.5f}" for v in base + 0.02 * rng.normal(size=dim)))
    return write(path, f"{len(rows)} {dim}\n" + "\n".join(rows) + "\n")


def test_training_starts_from_the_vectors_and_records_them(fixtures, tmp_path, tiny_hparams):
    _, train, validation = load_split(fixtures / "train_small.csv", 0.3, 7)
    words = ["you", "idiot", "stupid", "thanks", "article", "the", "moron", "please"]
    vec = _fixture_vectors(tmp_path / "fixture.vec", words)
    frozen = dataclasses.replace(tiny_hparams, learning_rate=1e-12, epochs=1)  # steps that cannot move the weights

    model, summary = fit(train, validation, frozen, seed=7, verbose=0, embeddings=vec)

    assert summary["embeddings"]["file"] == "fixture.vec" and summary["embeddings"]["dimensions"] == 10
    assert 0 < summary["embeddings"]["vocabulary_coverage"] < 1
    vocabulary = model.get_layer("vectorizer").get_vocabulary()
    network = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    table = network.get_layer("word_embedding").embeddings.numpy()
    row = {word: table[vocabulary.index(word)] for word in ("idiot", "stupid", "thanks", "article")}

    def cosine(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    assert cosine(row["idiot"], row["stupid"]) > 0.9
    assert cosine(row["thanks"], row["article"]) > 0.9
    assert cosine(row["idiot"], row["thanks"]) < 0


def test_cli_train_with_embeddings_writes_them_into_the_run(fixtures, tmp_path, tiny_hparams):
    hparams = tmp_path / "hparams.json"
    hparams.write_text(json.dumps({"hyperparameters": {**tiny_hparams.to_dict(), "epochs": 1}}))
    vec = _fixture_vectors(tmp_path / "fixture.vec.gz", ["you", "idiot", "thanks"])
    run = tmp_path / "run"
    argv = ["train", "--data", str(fixtures / "train_small.csv"), "--validation-fraction", "0.3",
            "--hparams", str(hparams), "--run-dir", str(run), "--embeddings", str(vec)]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((run / "train.json").read_text())
    assert record["training"]["embeddings"]["file"] == "fixture.vec.gz"
    assert len(record["training"]["embeddings"]["sha256"]) == 64


def test_cli_refuses_a_missing_vectors_file_before_training(fixtures, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", str(fixtures / "train_small.csv"), "--embeddings", str(tmp_path / "nope.vec")])
    assert exc.value.code == 2
    assert "nope.vec: file not found" in capsys.readouterr().err


def test_fewer_words_than_dimensions_still_fill_the_table(tmp_path):
    vectors = read_vectors(write(tmp_path / "v.vec", "a 1 0 0 0 0 0\nb 0 1 0 0 0 0\n"), ["a", "b"])
    table = initial_word_table(vectors, rows=4, dim=4, first_row=2, seed=0)
    np.testing.assert_allclose(table[2], -table[3], atol=1e-7)  # two words: opposite ends of one component
    np.testing.assert_allclose(table[2:, 1:], 0.0, atol=1e-7)  # no variance beyond the first component
