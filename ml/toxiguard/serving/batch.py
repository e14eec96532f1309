"""`toxiguard score`: score a CSV file of comments, streaming, in batches, keeping every input row.

The file is read row by row and scored a chunk at a time, so memory does not grow with the file. Every input row
appears in the output, in order, with `score_<label>` for the six labels, `flagged`, `flagged_labels` and the decision
policy's `action` (allow, review, block) added; a row
that cannot be scored (empty text, invalid UTF-8, wrong number of fields, too long for the API, or its request failed
after the client's retries) keeps its fields, gets a `score_error`, and is reported by row number (the header is row
1, as in `toxiguard train`'s messages).
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from tqdm import tqdm

from toxiguard.config import LABELS, TEXT_COLUMN
from toxiguard.errors import Problem
from toxiguard.serving.client import ApiError

log = logging.getLogger("toxiguard.serving.batch")

OUTPUT_COLUMNS = (*(f"score_{label}" for label in LABELS), "flagged", "flagged_labels", "action", "score_error")
MAX_REPORTED_ROWS = 20


class Scorer(Protocol):
    model_version: str

    def results(self, texts: list[str]) -> list[dict | ApiError]:
        """One result per text in the API's shape, or the ApiError that kept it from being scored."""
        ...


class ScoreFileError(ValueError):
    """The input cannot be scored at all (missing file or text column); names the file."""


@dataclasses.dataclass
class ScoreSummary:
    rows: int = 0
    scored: int = 0
    flagged: int = 0
    blocked: int = 0
    flagged_by_label: Counter[str] = dataclasses.field(default_factory=Counter)  # scored rows flagged per label
    actions: Counter[str] = dataclasses.field(default_factory=Counter)  # scored rows per action
    unscored_rows: list[Problem] = dataclasses.field(default_factory=list)  # file, row number, column, why
    api_error: ApiError | None = None  # the first request that failed for good


class _CountingReader(io.RawIOBase):
    """Counts the bytes read from the file on disk, so the progress bar is exact even through gzip."""

    def __init__(self, raw: BinaryIO, progress: tqdm):
        self.raw = raw
        self.progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.raw.readinto(buffer)
        self.progress.update(count)
        return count


def _text_rows(path: Path, progress: tqdm) -> Iterator[list[str]]:
    counted = io.BufferedReader(_CountingReader(path.open("rb"), progress))
    binary = gzip.GzipFile(fileobj=counted) if path.suffix == ".gz" else counted
    # utf-8-sig drops a leading byte-order mark (Excel writes one) that would otherwise prefix the first column's name.
    # surrogateescape keeps undecodable bytes visible (as surrogates) so that one bad row is reported, not the file.
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
    with text:
        yield from csv.reader(text)


def _row_problem(row: list[str], width: int, text: str | None, max_chars: int | None) -> str | None:
    """Why a row cannot be sent (the row's shape, or its text column's value); None when it can."""
    if len(row) != width:
        return f"has {len(row)} fields, the header has {width}"
    if not text or not text.strip():
        return "empty comment text"
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        return "comment text is not valid UTF-8"
    # The API refuses NUL too (lambda/handler.py, check_text), with the same words: no real comment holds one.
    if "\x00" in text:
        return "comment text contains a NUL character (U+0000)"
    if max_chars is not None and len(text) > max_chars:
        return f"comment text has {len(text)} characters, the API accepts at most {max_chars}"
    return None


def score_file(
    source: Path,
    target: Path,
    scorer: Scorer,
    column: str = TEXT_COLUMN,
    chunk_rows: int = 1024,
    max_chars: int | None = None,
    show_progress: bool = True,
) -> ScoreSummary:
    """Score `source` into `target` (written to `<target>.partial`, renamed when complete)."""
    if not source.is_file():
        raise ScoreFileError(f"{source}: no such file")
    summary = ScoreSummary()
    partial = target.with_name(target.name + ".partial")
    progress = tqdm(total=source.stat().st_size, unit="B", unit_scale=True, desc=source.name,
                    disable=not show_progress, file=sys.stderr)  # fmt: skip
    with progress, partial.open("w", newline="", encoding="utf-8", errors="surrogateescape") as out:
        rows = _text_rows(source, progress)
        header = next(rows, None)
        if header is None:
            raise ScoreFileError(f"{source}: the file is empty (expected a header row with {column!r})")
        if column not in header:
            raise ScoreFileError(f"{source}: row 1 (header) has no column {column!r}; columns: {', '.join(header)}")
        clashing = [name for name in OUTPUT_COLUMNS if name in header]
        if clashing:
            raise ScoreFileError(f"{source}: row 1 (header) already has output column(s) {', '.join(clashing)}")
        text_index = header.index(column)
        writer = csv.writer(out)
        writer.writerow([*header, *OUTPUT_COLUMNS])
        chunk: list[tuple[int, list[str], str | None]] = []
        for row_number, row in enumerate(rows, start=2):
            text = row[text_index] if len(row) > text_index else None
            chunk.append((row_number, row, _row_problem(row, len(header), text, max_chars)))
            if len(chunk) >= chunk_rows:
                _score_chunk(chunk, source, header, text_index, scorer, writer, summary)
                chunk = []
                progress.set_postfix(rows=summary.rows, flagged=summary.flagged, refresh=False)
        _score_chunk(chunk, source, header, text_index, scorer, writer, summary)
    partial.replace(target)
    return summary


def _score_chunk(
    chunk, source: Path, header: list[str], text_index: int, scorer: Scorer, writer, summary: ScoreSummary
) -> None:
    width = len(header)
    good = [row[text_index] for _, row, problem in chunk if problem is None]
    results = iter(scorer.results(good) if good else [])
    for number, row, problem in chunk:
        summary.rows += 1
        # Short rows are padded so the added columns line up; surplus fields go last rather than being dropped.
        fields, surplus = [*row[:width], *[""] * (width - len(row))], row[width:]
        result = next(results) if problem is None else None
        if isinstance(result, ApiError):
            problem = f"not scored: {result}"
            summary.api_error = summary.api_error or result
        if problem is not None:
            # Field-count problems are the row's; every other one is about the text column's value.
            column = None if len(row) != width else header[text_index]
            summary.unscored_rows.append(Problem(str(source), number, column, problem))
            writer.writerow([*fields, *[""] * len(LABELS), "", "", "", problem, *surplus])
            continue
        summary.scored += 1
        summary.flagged += result["flagged"]
        summary.blocked += result["action"] == "block"
        scores = [f"{result['scores'][label]:.6f}" for label in LABELS]
        flagged, labels = str(result["flagged"]).lower(), " ".join(result["labels"])
        writer.writerow([*fields, *scores, flagged, labels, result["action"], ""])


def report(source: Path, target: Path, summary: ScoreSummary, model_version: str) -> None:
    """Human summary on stderr: counts, and the first rows not scored by number."""
    print(
        f"{source} -> {target}: {summary.rows} rows, {summary.scored} scored, {summary.flagged} flagged, "
        f"{summary.blocked} blocked, "
        f"{len(summary.unscored_rows)} not scored (model {model_version or 'unknown'})",
        file=sys.stderr,
    )
    for problem in summary.unscored_rows[:MAX_REPORTED_ROWS]:
        print(f"  {problem}", file=sys.stderr)
    if len(summary.unscored_rows) > MAX_REPORTED_ROWS:
        print(f"  ... and {len(summary.unscored_rows) - MAX_REPORTED_ROWS} more rows (see the `score_error` column)",
              file=sys.stderr)  # fmt: skip
    if summary.api_error is not None:
        print(f"  the API failed: {summary.api_error}", file=sys.stderr)


def default_output(source: Path) -> Path:
    name = source.name.removesuffix(".gz").removesuffix(".csv")
    return source.with_name(f"{name}.scored.csv")
