"""Pretrained word vectors to start the word embedding from (`toxiguard train --embeddings FILE`).

Reads the text formats the common English vector sets come in: fastText `.vec` and word2vec text (a
"<words> <dimensions>" header line, then "<word> <v1> ... <vN>" per line) and GloVe `.txt` (no header), plain or
gzipped. Only the training vocabulary's words are kept, so a 2-million-word file costs one pass, not 2 GB of memory.
Vectors wider than the model's `embedding_dim` are reduced to it by PCA; words without a vector keep the random
initialisation. Vectors only start training: the embedding is fine-tuned like any other weight.
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from toxiguard.config import file_sha256
from toxiguard.errors import DataError, Problem

log = logging.getLogger(__name__)

# Keras' default Embedding initialiser is uniform(-0.05, 0.05); pretrained rows are scaled to its spread so
# they neither dwarf nor vanish next to the randomly initialised rows and the subword embeddings they are added to.
INITIAL_SPREAD = 0.05
INITIAL_STD = INITIAL_SPREAD / np.sqrt(3.0)
PROGRESS_EVERY = 500_000


@dataclasses.dataclass(frozen=True)
class WordVectors:
    """The vectors of the vocabulary words found in a vectors file."""

    source: str
    sha256: str
    dim: int
    words_in_file: int
    vectors: np.ndarray  # (len(vocabulary), dim); zeros where `covered` is False
    covered: np.ndarray  # (len(vocabulary),) bool

    def summary(self) -> dict:
        return {
            "file": Path(self.source).name,
            "sha256": self.sha256,
            "dimensions": self.dim,
            "words_in_file": self.words_in_file,
            "vocabulary_coverage": round(float(self.covered.mean()), 4) if len(self.covered) else 0.0,
        }


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a plain or gzipped UTF-8 file, with errors naming the file and line."""
    source = str(path)
    if not path.is_file():
        raise DataError([Problem(source, None, None, "file not found")])
    opener = gzip.open if path.suffix == ".gz" else open
    number = 0
    try:
        with opener(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):  # decoded line by line, so errors know their line
                yield number, raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise DataError([Problem(source, number, None, f"not valid UTF-8 at byte {exc.start} ({exc.reason})")]) from exc
    except (OSError, EOFError) as exc:
        raise DataError([Problem(source, number + 1, None, f"unreadable: {exc}")]) from exc


def _is_header(fields: list[str]) -> bool:
    return len(fields) == 2 and all(field.isdigit() for field in fields)


def read_vectors(path: Path, vocabulary: list[str]) -> WordVectors:
    """The vectors of `vocabulary`'s words (lower-case, as TextVectorization makes them) in a vectors file.

    A vocabulary word takes the file's lower-case entry, else its first case variant ("Wikipedia" for
    "wikipedia"): vector files list words by frequency, so the first variant is the most common one.
    """
    path = Path(path)
    source = str(path)
    index = {word: i for i, word in enumerate(vocabulary)}
    vectors: np.ndarray | None = None
    covered = np.zeros(len(vocabulary), dtype=bool)
    exact = np.zeros(len(vocabulary), dtype=bool)
    dim, words_in_file = 0, 0
    for number, text in _lines(path):
        fields = text.rstrip().split(" ")
        if number == 1 and _is_header(fields):
            continue
        if not text.strip():
            continue
        if dim == 0:
            dim = len(fields) - 1
            if dim < 1:
                raise DataError([Problem(source, number, None, "expected a word followed by its vector's values")])
            vectors = np.zeros((len(vocabulary), dim), dtype=np.float32)
        if len(fields) < dim + 1:
            message = f"{len(fields) - 1} values where the first vector has {dim}"
            raise DataError([Problem(source, number, None, message)])
        words_in_file += 1
        if words_in_file % PROGRESS_EVERY == 0:
            log.info("read %d vectors from %s", words_in_file, path.name)
        # GloVe's larger sets have a few "words" with spaces in them: the last `dim` fields are the vector.
        word = " ".join(fields[:-dim])
        lowered = word.lower()
        row = index.get(lowered)
        if row is None or exact[row] or (covered[row] and word != lowered):
            continue
        try:
            vectors[row] = np.asarray(fields[-dim:], dtype=np.float32)
        except ValueError:
            values = fields[-dim:]
            bad = next(i for i, value in enumerate(values, start=1) if not _is_number(value))
            raise DataError([Problem(source, number, f"value {bad}", f"not a number: {values[bad - 1]!r}")]) from None
        covered[row] = True
        exact[row] = word == lowered
    if dim == 0:
        raise DataError([Problem(source, None, None, "no vectors in the file")])
    log.info(
        "%s: %d vectors of %d dimensions; %.1f%% of the %d vocabulary words have one",
        path.name, words_in_file, dim, 100 * covered.mean(), len(vocabulary),
    )  # fmt: skip
    return WordVectors(source, file_sha256(path), dim, words_in_file, vectors, covered)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def initial_word_table(word_vectors: WordVectors, rows: int, dim: int, first_row: int, seed: int) -> np.ndarray:
    """A (rows, dim) embedding table: the vectors (PCA-reduced to `dim`, scaled) from `first_row` on, random elsewhere.

    `first_row` skips the rows the vectors have no word for (padding and out-of-vocabulary come first).
    """
    if word_vectors.dim < dim:
        raise ValueError(
            f"{word_vectors.source}: vectors have {word_vectors.dim} dimensions, fewer than embedding_dim {dim}; "
            f"set embedding_dim to {word_vectors.dim} or less in the hyperparameters"
        )
    covered = word_vectors.covered
    rng = np.random.default_rng(seed)
    table = rng.uniform(-INITIAL_SPREAD, INITIAL_SPREAD, size=(rows, dim)).astype(np.float32)
    if covered.sum() < 2:
        log.warning("%s covers %d vocabulary words: random initialisation kept", word_vectors.source, covered.sum())
        return table
    found = word_vectors.vectors[covered].astype(np.float64)
    centred = found - found.mean(axis=0)
    if word_vectors.dim > dim:
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        # Fewer words than dimensions span fewer components: the missing ones have no variance, so zeros.
        centred = np.pad(centred @ components[:dim].T, [(0, 0), (0, dim - min(dim, len(components)))])
    scaled = centred / max(centred.std(), 1e-12) * INITIAL_STD
    table[first_row + np.flatnonzero(covered)] = scaled.astype(np.float32)
    return table
