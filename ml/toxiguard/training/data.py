"""Loading and validating the Jigsaw files users download from Kaggle, and the train/validation split.

Supported inputs: `train.csv`, gzip CSVs (`*.csv.gz`), the competition `.zip` (whose members are themselves
zipped CSVs) and the evaluation pair `test.csv` + `test_labels.csv`; extra training rows in the same format (e.g.
moderators' decisions) join the training split (`add_extra_rows`). Every problem is reported with the file, the
row (the header is row 1, as in a spreadsheet, plus the physical line where a record starts) and the column.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import io
import logging
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from toxiguard.config import ID_COLUMN, LABELS, TEXT_COLUMN
from toxiguard.errors import DataError, Problem

log = logging.getLogger(__name__)

MAX_REPORTED_PROBLEMS = 20
UNSCORED = "-1"  # test_labels.csv marks rows Kaggle did not score with -1 in every label

csv.field_size_limit(2**31 - 1)


@dataclasses.dataclass
class LabelledData:
    """Comments with their six 0/1 labels, in file order."""

    source: str
    sha256: str
    ids: list[str]
    texts: list[str]
    labels: np.ndarray  # shape (rows, len(LABELS)), uint8
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: np.ndarray) -> LabelledData:
        return LabelledData(
            source=self.source,
            sha256=self.sha256,
            ids=[self.ids[i] for i in index],
            texts=[self.texts[i] for i in index],
            labels=self.labels[index],
            dropped=dict(self.dropped),
        )

    def summary(self) -> dict:
        return {
            "source": self.source,
            "sha256": self.sha256,
            "rows": len(self),
            "positives": {name: int(self.labels[:, i].sum()) for i, name in enumerate(LABELS)},
            "dropped": dict(self.dropped),
        }


# --------------------------------------------------------------------------------------------------
# Reading bytes: plain, gzip or (nested) zip
# --------------------------------------------------------------------------------------------------


def _find_in_zip(archive: zipfile.ZipFile, wanted: str, source: str) -> tuple[str, bytes]:
    """Return (display name, bytes) of `wanted` in a zip, looking into zipped members like `train.csv.zip`."""
    by_basename = {Path(n).name: n for n in archive.namelist() if not n.endswith("/")}
    if wanted in by_basename:
        member = by_basename[wanted]
        return f"{source}!{member}", archive.read(member)
    nested = by_basename.get(wanted + ".zip")
    if nested:
        with zipfile.ZipFile(io.BytesIO(archive.read(nested))) as inner:
            return _find_in_zip(inner, wanted, f"{source}!{nested}")
    raise DataError([Problem(source, None, None, f"no member named '{wanted}' (or '{wanted}.zip') in the zip")])


def read_bytes(path: Path, zip_member: str) -> tuple[str, bytes]:
    """Read a CSV's bytes from a plain, gzip or zip file. `zip_member` names the CSV to take from a zip."""
    source = str(path)
    if not path.exists():
        raise DataError([Problem(source, None, None, "file not found")])
    raw = path.read_bytes()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return _find_in_zip(archive, zip_member, source)
    if raw[:2] == b"\x1f\x8b":
        try:
            return source, gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError([Problem(source, None, None, f"corrupt gzip file: {exc}")]) from exc
    return source, raw


def _decode(source: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Locate the record holding the bad byte by parsing the valid prefix.
        prefix = raw[: exc.start].decode("utf-8-sig", errors="replace")
        records = sum(1 for _ in csv.reader(io.StringIO(prefix)))
        line = prefix.count("\n") + 1
        raise DataError(
            [Problem(source, max(records, 1), None, f"not valid UTF-8 at byte {exc.start} ({exc.reason})", line)]
        ) from exc


# --------------------------------------------------------------------------------------------------
# Parsing and validation
# --------------------------------------------------------------------------------------------------


class _ProblemLog:
    """Collects problems and stops the read once too many pile up."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)
        if len(self.problems) >= MAX_REPORTED_PROBLEMS:
            raise DataError(self.problems, truncated=True)

    def raise_if_any(self) -> None:
        if self.problems:
            raise DataError(self.problems)


def _records(
    source: str, text: str, required: Sequence[str], problems: _ProblemLog
) -> Iterator[tuple[int, int, dict[str, str]]]:
    """Yield (row, line, record) after checking the header holds every required column.

    Rows with the wrong shape go to `problems`; the caller raises once the whole file is read.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError([Problem(source, 1, None, "file is empty: expected a header row")]) from None
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError([Problem(source, 1, c, f"missing column (header has: {', '.join(header)})") for c in missing])
    position = {name: header.index(name) for name in required}
    row, next_line = 1, reader.line_num + 1
    try:
        for fields in reader:
            row += 1
            line, next_line = next_line, reader.line_num + 1
            if not fields:
                problems.add(Problem(source, row, None, "blank row", line))
                continue
            if len(fields) != len(header):
                problems.add(Problem(source, row, None, f"has {len(fields)} fields, header has {len(header)}", line))
                continue
            yield row, line, {name: fields[i] for name, i in position.items()}
    except csv.Error as exc:
        problems.add(Problem(source, row + 1, None, f"malformed CSV: {exc}", next_line))


def _check_id(source: str, row: int, line: int, value: str, seen: dict[str, int], problems: _ProblemLog) -> bool:
    if not value.strip():
        problems.add(Problem(source, row, ID_COLUMN, "empty id", line))
        return False
    if value in seen:
        problems.add(Problem(source, row, ID_COLUMN, f"duplicate id '{value}' (first at row {seen[value]})", line))
        return False
    seen[value] = row
    return True


def _check_text(source: str, row: int, line: int, value: str, problems: _ProblemLog) -> bool:
    if not value.strip():
        problems.add(Problem(source, row, TEXT_COLUMN, "empty comment", line))
        return False
    if "\x00" in value:
        problems.add(Problem(source, row, TEXT_COLUMN, "comment is not text (contains NUL bytes)", line))
        return False
    return True


def _parse_labels(
    source: str, row: int, line: int, record: dict[str, str], allowed: frozenset[str], problems: _ProblemLog
) -> list[str] | None:
    values = []
    for name in LABELS:
        value = record[name].strip()
        if value not in allowed:
            expected = " or ".join(sorted(allowed))
            problems.add(Problem(source, row, name, f"label must be {expected}, got '{record[name]}'", line))
            return None
        values.append(value)
    return values


def _sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def load_labelled(path: Path | str) -> LabelledData:
    """Load a Kaggle `train.csv` (plain, gzip or inside the competition zip) and validate every row."""
    source, raw = read_bytes(Path(path), "train.csv")
    text = _decode(source, raw)
    ids: list[str] = []
    texts: list[str] = []
    labels: list[list[str]] = []
    seen: dict[str, int] = {}
    problems = _ProblemLog()
    for row, line, record in _records(source, text, (ID_COLUMN, TEXT_COLUMN, *LABELS), problems):
        ok_id = _check_id(source, row, line, record[ID_COLUMN], seen, problems)
        ok_text = _check_text(source, row, line, record[TEXT_COLUMN], problems)
        values = _parse_labels(source, row, line, record, frozenset({"0", "1"}), problems)
        if ok_id and ok_text and values is not None:
            ids.append(record[ID_COLUMN])
            texts.append(record[TEXT_COLUMN])
            labels.append(values)
    problems.raise_if_any()
    if not ids:
        raise DataError([Problem(source, None, None, "no data rows")])
    log.info("loaded %d labelled rows from %s", len(ids), source)
    return LabelledData(source, _sha256(raw), ids, texts, np.asarray(labels, dtype=np.uint8))


def load_evaluation(test_path: Path | str, labels_path: Path | str | None = None) -> LabelledData:
    """Join Kaggle's `test.csv` with `test_labels.csv` on id, dropping (and counting) unscored -1 rows.

    With `labels_path` omitted, both files are taken from `test_path`, which must then be the competition zip.
    """
    test_path = Path(test_path)
    labels_path = Path(labels_path) if labels_path is not None else test_path
    text_source, text_raw = read_bytes(test_path, "test.csv")
    label_source, label_raw = read_bytes(labels_path, "test_labels.csv")

    problems = _ProblemLog()
    texts: dict[str, str] = {}
    seen: dict[str, int] = {}
    text_records = _records(text_source, _decode(text_source, text_raw), (ID_COLUMN, TEXT_COLUMN), problems)
    for row, line, record in text_records:
        if _check_id(text_source, row, line, record[ID_COLUMN], seen, problems) and _check_text(
            text_source, row, line, record[TEXT_COLUMN], problems
        ):
            texts[record[ID_COLUMN]] = record[TEXT_COLUMN]
    problems.raise_if_any()

    ids: list[str] = []
    labels: list[list[str]] = []
    unscored = 0
    seen = {}
    allowed = frozenset({"0", "1", UNSCORED})
    label_records = _records(label_source, _decode(label_source, label_raw), (ID_COLUMN, *LABELS), problems)
    for row, line, record in label_records:
        if not _check_id(label_source, row, line, record[ID_COLUMN], seen, problems):
            continue
        values = _parse_labels(label_source, row, line, record, allowed, problems)
        if values is None:
            continue
        if record[ID_COLUMN] not in texts:
            problems.add(
                Problem(label_source, row, ID_COLUMN, f"id '{record[ID_COLUMN]}' is not in {text_source}", line)
            )
            continue
        if UNSCORED in values:
            if any(v != UNSCORED for v in values):
                problems.add(Problem(label_source, row, None, "mixes -1 (unscored) with 0/1 labels", line))
            unscored += 1
            continue
        ids.append(record[ID_COLUMN])
        labels.append(values)
    problems.raise_if_any()
    unlabelled = len(texts) - len(seen)
    if unlabelled:
        log.warning("%d rows of %s have no labels in %s and are not evaluated", unlabelled, text_source, label_source)
    log.info("dropped %d unscored (-1) rows of %s", unscored, label_source)
    if not ids:
        raise DataError([Problem(label_source, None, None, "no scored rows (every row is -1)")])
    log.info("loaded %d scored evaluation rows", len(ids))
    return LabelledData(
        source=f"{text_source} + {label_source}",
        sha256=_sha256(text_raw + label_raw),
        ids=ids,
        texts=[texts[i] for i in ids],
        labels=np.asarray(labels, dtype=np.uint8),
        dropped={"unscored": unscored, "unlabelled": unlabelled},
    )


# --------------------------------------------------------------------------------------------------
# Split
# --------------------------------------------------------------------------------------------------


def load_split(
    path: Path | str, validation_fraction: float, seed: int, expected_sha256: str | None = None
) -> tuple[LabelledData, LabelledData, LabelledData]:
    """(all rows, training split, validation split) of a training file.

    With `expected_sha256`, any other file is refused: a model's split only exists for its own data.
    """
    data = load_labelled(path)
    if expected_sha256 is not None and data.sha256 != expected_sha256:
        raise ValueError(f"{data.source} is not the data the model was trained on (sha256 differs)")
    train_index, val_index = stratified_split(data.labels, validation_fraction, seed)
    log.info("split %d rows: %d train, %d validation (seed %d)", len(data), len(train_index), len(val_index), seed)
    return data, data.subset(train_index), data.subset(val_index)


def add_extra_rows(
    train: LabelledData, validation: LabelledData, paths: Sequence[Path]
) -> tuple[LabelledData, list[dict]]:
    """The training split with the rows of `paths` (training-format files, e.g. `toxiguard export-decisions`'s)
    merged in, file by file: a row whose id is already there replaces that row (the later label is the newer
    judgement, a moderator's over a rater's), other rows are added. Rows whose id is in the validation split are left
    out, so that the split every model is measured on stays the same.

    Returns the merged rows (source and hash stay the base file's) and per file: its name, SHA-256, rows read, rows
    added, base rows replaced, rows of an earlier extra file replaced (duplicates) and rows left out (in_validation).
    """
    ids, texts, labels = list(train.ids), list(train.texts), list(train.labels)
    position = {row_id: i for i, row_id in enumerate(ids)}
    validation_ids, from_extra = set(validation.ids), set()
    summaries = []
    for path in paths:
        extra = load_labelled(path)
        counts = dict.fromkeys(("added", "replaced", "duplicates", "in_validation"), 0)
        for row_id, text, row in zip(extra.ids, extra.texts, extra.labels, strict=True):
            if row_id in validation_ids:
                counts["in_validation"] += 1
                continue
            if row_id in position:
                counts["duplicates" if row_id in from_extra else "replaced"] += 1
                texts[position[row_id]], labels[position[row_id]] = text, row
            else:
                counts["added"] += 1
                position[row_id] = len(ids)
                ids.append(row_id)
                texts.append(text)
                labels.append(row)
            from_extra.add(row_id)
        log.info(
            "extra training rows from %s: %d read, %d added, %d replaced base rows, %d replaced rows of earlier extra "
            "files (duplicates), %d left out (their id is in the validation split)", extra.source, len(extra),
            counts["added"], counts["replaced"], counts["duplicates"], counts["in_validation"],
        )  # fmt: skip
        summaries.append({"file": Path(path).name, "sha256": extra.sha256, "rows": len(extra), **counts})
    merged = np.asarray(labels, dtype=np.uint8)
    return LabelledData(train.source, train.sha256, ids, texts, merged, dict(train.dropped)), summaries


def stratified_split(labels: np.ndarray, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded multi-label stratified split by label combination.

    Rows are grouped by their exact combination of labels; combinations too rare to split are pooled
    by their rarest positive label, then all-rare leftovers together, so every label keeps its share.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError("validation_fraction must be between 0 and 1")
    keys = np.array(["".join(map(str, row)) for row in labels])
    combos, counts = np.unique(keys, return_counts=True)
    min_count = int(np.ceil(2 / validation_fraction))
    rare = set(combos[counts < min_count])
    label_totals = labels.sum(axis=0)
    strata = []
    for key, row in zip(keys, labels, strict=True):
        if key not in rare:
            strata.append(key)
        elif row.any():
            positives = np.flatnonzero(row)
            strata.append(f"rare-{positives[np.argmin(label_totals[positives])]}")
        else:
            strata.append("rare")
    strata = np.array(strata)

    rng = np.random.default_rng(seed)
    train, validation = [], []
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        rng.shuffle(members)
        n_val = round(len(members) * validation_fraction)
        validation.extend(members[:n_val])
        train.extend(members[n_val:])
    return np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(validation, dtype=np.int64))
